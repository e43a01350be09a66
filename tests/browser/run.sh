#!/usr/bin/env bash
# Portal browser tests: a PostgreSQL database with the billing and portal
# demo data, trytond serving it on a loopback port, Playwright driving
# Debian's Chromium (apt-get install chromium), axe-core from npm, and a
# fake Stripe (localstripe, tests/browser/stripe_server.py) for paying.
#   tests/browser/run.sh [pytest args]
# Environment: PORTAL_DB (default portal_browser), PORTAL_PORT (8123),
# STRIPE_PORT (8124), PORTAL_REUSE_DB=1 keeps an existing database,
# PORTAL_SCREENSHOTS.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
DB="${PORTAL_DB:-portal_browser}"
PORT="${PORTAL_PORT:-8123}"
STRIPE_PORT="${STRIPE_PORT:-8124}"
WORK="$(mktemp -d)"
trap 'kill "$SERVER" "$STRIPE" 2>/dev/null || true; rm -rf "$WORK"' EXIT
SERVER=
STRIPE=
(cd "$ROOT/tests" && npm install --no-audit --no-fund --silent)
# Gateway secrets are encrypted: the set-up and the server share a key.
SECRETS_KEY="$("$VENV/bin/python" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
cat > "$WORK/trytond.conf" <<CONF
[database]
uri = postgresql://postgres@127.0.0.1:5432/
language = en
[web]
listen = 127.0.0.1:$PORT
[utility_portal]
# plain http on loopback: browsers drop Secure cookies there
secure_cookie = False
# the fake Stripe's Stripe.js
stripe_js = http://127.0.0.1:$STRIPE_PORT/js.stripe.com/v3/
[utility]
secrets_key = $SECRETS_KEY
CONF
echo admin > "$WORK/pass"
# The demo commands pick the backend when trytond is imported, before
# reading -c: give them the URI in the environment.
export TRYTOND_DATABASE__URI=postgresql://postgres@127.0.0.1:5432/
if [ -z "${PORTAL_REUSE_DB:-}" ] || ! psql -h 127.0.0.1 -U postgres -lqt | cut -d'|' -f1 | grep -qw "$DB"; then
    dropdb -h 127.0.0.1 -U postgres --if-exists "$DB"
    createdb -h 127.0.0.1 -U postgres "$DB"
    TRYTONPASSFILE="$WORK/pass" "$VENV/bin/trytond-admin" -c "$WORK/trytond.conf" \
        -d "$DB" -u utility_portal --activate-dependencies --email admin@example.com
    "$VENV/bin/python" -m utility_billing.demo -c "$WORK/trytond.conf" -d "$DB" --customers 4
    "$VENV/bin/python" -m utility_portal.demo -c "$WORK/trytond.conf" -d "$DB"
else
    "$VENV/bin/trytond-admin" -c "$WORK/trytond.conf" -d "$DB" -u utility_portal
fi
# Payments go to the fake Stripe, which forgets everything when it stops:
# a reused database keeps only its provider settings.
"$VENV/bin/python" "$ROOT/tests/browser/setup_payment.py" -c "$WORK/trytond.conf" -d "$DB"
"$VENV/bin/python" "$ROOT/tests/browser/stripe_server.py" --port "$STRIPE_PORT" > "$WORK/stripe.log" 2>&1 &
STRIPE=$!
STRIPE_API_BASE="http://127.0.0.1:$STRIPE_PORT" \
    "$VENV/bin/python" "$ROOT/tests/browser/serve_trytond.py" -c "$WORK/trytond.conf" -d "$DB" > "$WORK/trytond.log" 2>&1 &
SERVER=$!
for _ in $(seq 60); do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/$DB/portal/login" && break
    sleep 1
done
for _ in $(seq 30); do
    curl -sf -o /dev/null "http://127.0.0.1:$STRIPE_PORT/js.stripe.com/v3/" && break
    sleep 1
done
PORTAL_URL="http://127.0.0.1:$PORT/$DB/portal" \
    "$VENV/bin/python" -m pytest -p no:cacheprovider -q "$ROOT/tests/browser" "$@"
