#!/usr/bin/env bash
# Runs the whole test suite. On PostgreSQL when TRYTOND_DATABASE__URI
# points at one (e.g. postgresql://postgres@127.0.0.1:5432/), else on an
# in-memory SQLite database.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# TEST_NO_INSTALL=1 skips pip (CI installs once, then runs both
# databases side by side).
[ "${TEST_NO_INSTALL:-0}" = 1 ] || .venv/bin/pip install -q -r requirements.txt \
    -e addons/utility_metering -e addons/utility_billing \
    -e addons/account_payment_paypal -e addons/utility_payment \
    -e addons/utility_portal
export DB_NAME=${DB_NAME:-}
if [[ "${TRYTOND_DATABASE__URI:-}" == postgresql* ]]; then
    export DB_NAME=${DB_NAME:-test_utility}
else
    export TRYTOND_DATABASE__URI=sqlite://
    export DB_NAME=${DB_NAME:-:memory:}
fi
export TRYTOND_DATABASE_URI="$TRYTOND_DATABASE__URI"
# Each test class starts from a new database: trytond restores the
# activated modules from this cache instead of installing them again. The
# cache lives for this run only, so it never hides a model change.
if [ -z "${DB_CACHE:-}" ]; then
    DB_CACHE="$(mktemp -d)"
    trap 'rm -rf "$DB_CACHE"' EXIT
fi
export DB_CACHE
echo "Testing on ${TRYTOND_DATABASE__URI} (database ${DB_NAME})"
ROOT="$PWD"
cd /tmp
"$ROOT/.venv/bin/python" -m pytest -p no:cacheprovider -q \
    --pyargs utility_metering.tests utility_billing.tests \
    account_payment_paypal.tests utility_payment.tests utility_portal.tests \
    "$@"
