#!/usr/bin/env bash
# Portal browser tests: a PostgreSQL database with the billing and portal
# demo data, trytond serving it on a loopback port, Playwright driving
# Debian's Chromium (apt-get install chromium), axe-core from npm.
#   tests/browser/run.sh [pytest args]
# Environment: PORTAL_DB (default portal_browser), PORTAL_PORT (8123),
# PORTAL_REUSE_DB=1 keeps an existing database, PORTAL_SCREENSHOTS.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
DB="${PORTAL_DB:-portal_browser}"
PORT="${PORTAL_PORT:-8123}"
WORK="$(mktemp -d)"
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT
SERVER=
(cd "$ROOT/tests" && npm install --no-audit --no-fund --silent)
cat > "$WORK/trytond.conf" <<CONF
[database]
uri = postgresql://postgres@127.0.0.1:5432/
language = en
[web]
listen = 127.0.0.1:$PORT
[utility_portal]
# plain http on loopback: browsers drop Secure cookies there
secure_cookie = False
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
"$VENV/bin/trytond" -c "$WORK/trytond.conf" -d "$DB" > "$WORK/trytond.log" 2>&1 &
SERVER=$!
for _ in $(seq 60); do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/$DB/portal/login" && break
    sleep 1
done
PORTAL_URL="http://127.0.0.1:$PORT/$DB/portal" \
    "$VENV/bin/python" -m pytest -p no:cacheprovider -q "$ROOT/tests/browser" "$@"
