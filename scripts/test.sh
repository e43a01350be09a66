#!/usr/bin/env bash
# Runs the whole test suite. On PostgreSQL when TRYTOND_DATABASE__URI
# points at one (e.g. postgresql://postgres@127.0.0.1:5432/), else on an
# in-memory SQLite database.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# TEST_JOBS=2 runs the suite as two processes side by side (below).
# TEST_NO_INSTALL=1 skips pip (CI installs once, then runs both
# databases side by side).
[ "${TEST_NO_INSTALL:-0}" = 1 ] || .venv/bin/pip install -q -r requirements.txt \
    -e addons/utility_metering -e addons/utility_billing \
    -e addons/account_payment_paypal -e addons/utility_payment \
    -e addons/utility_portal -e addons/utility_reporting -e addons/utility_ops \
    -e addons/utility_care -e addons/utility_statement \
    -e addons/utility_integration -e addons/utility_notification \
    -e addons/utility_privacy
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
# Two groups of about equal run time. Each activates the module sets it
# needs (the second repeats billing's); TEST_JOBS=2 runs them side by
# side, each on its own database and cache.
GROUP_1=(utility_metering.tests utility_billing.tests
    account_payment_paypal.tests utility_statement.tests
    utility_integration.tests utility_ops.tests)
GROUP_2=(utility_payment.tests utility_portal.tests utility_reporting.tests
    utility_care.tests utility_notification.tests utility_privacy.tests)
run_tests() {
    (cd /tmp && "$ROOT/.venv/bin/python" -m pytest -p no:cacheprovider -q \
        -p utility_metering.tests.activation --pyargs "$@")
}
echo "Testing on ${TRYTOND_DATABASE__URI} (database ${DB_NAME})"
if [ "${TEST_JOBS:-1}" = 1 ]; then
    run_tests "${GROUP_1[@]}" "${GROUP_2[@]}" "$@"
    exit
fi
JOBS_DIR="$(mktemp -d)"
pids=()
packages() {
    if [ "$1" = 1 ]; then echo "${GROUP_1[@]}"; else echo "${GROUP_2[@]}"; fi
}
for group in 1 2; do
    cache="$DB_CACHE"
    if [[ "$TRYTOND_DATABASE__URI" != postgresql* ]]; then
        cache="$JOBS_DIR/cache-$group"
    fi
    # An in-memory SQLite database is each process's own.
    name="$DB_NAME"
    [ "$DB_NAME" = :memory: ] || name="${DB_NAME}_$group"
    # shellcheck disable=SC2046
    DB_CACHE="$cache" DB_NAME="$name" run_tests $(packages $group) "$@" \
        > "$JOBS_DIR/$group.log" 2>&1 &
    pids+=($!)
done
status=0
for group in 1 2; do
    wait "${pids[$((group - 1))]}" || status=$?
    echo "=== $(packages $group)"
    cat "$JOBS_DIR/$group.log"
done
rm -rf "$JOBS_DIR"
exit $status
