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
    -e addons/utility_portal -e addons/utility_reporting -e addons/utility_ops \
    -e addons/utility_care -e addons/utility_statement \
    -e addons/utility_integration -e addons/utility_notification
ROOT="$PWD"
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
    if [[ "$TRYTOND_DATABASE__URI" == postgresql* ]]; then
        # On PostgreSQL the cache is template databases ("test-<hash>"):
        # CREATE DATABASE ... TEMPLATE copies one much faster than
        # pg_restore. Templates of an earlier run may hold old models.
        DB_CACHE="${TRYTOND_DATABASE__URI%/}"
        drop_templates() {
            "$ROOT/.venv/bin/python" - "$DB_CACHE" <<'PYEOF'
import sys
import psycopg
with psycopg.connect(sys.argv[1] + '/postgres', autocommit=True) as conn:
    names = [n for n, in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'test-%'")]
    for name in names:
        conn.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
PYEOF
        }
        drop_templates
        trap drop_templates EXIT
    else
        DB_CACHE="$(mktemp -d)"
        trap 'rm -rf "$DB_CACHE"' EXIT
    fi
fi
export DB_CACHE
echo "Testing on ${TRYTOND_DATABASE__URI} (database ${DB_NAME})"
cd /tmp
"$ROOT/.venv/bin/python" -m pytest -p no:cacheprovider -q \
    --pyargs utility_metering.tests utility_billing.tests \
    account_payment_paypal.tests utility_payment.tests utility_portal.tests \
    utility_reporting.tests utility_ops.tests utility_care.tests \
    utility_statement.tests utility_integration.tests \
    utility_notification.tests \
    -p utility_metering.tests.activation "$@"
