#!/usr/bin/env bash
# Restore a backup made by scripts/backup.sh into a NEW database.
#
#   scripts/restore.sh [-c CONF] BACKUP_DIR -d NEW_DB [--force]
#
# Verifies the sha256 of every file against the manifest first, then
# restores the database (pg_restore, or SQLite's backup API) and unpacks
# the filestore under the new name. Refuses a database or filestore that
# exists unless --force (which replaces them). Same configuration rules as
# scripts/backup.sh. Check the result against the original with:
#   .venv/bin/python -m utility_ops.backup compare ORIGINAL_DB NEW_DB
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY=python3
if [ -z "${TRYTOND_CONFIG:-}" ] && [ -f "$ROOT/var/trytond.conf" ]; then
    export TRYTOND_CONFIG="$ROOT/var/trytond.conf"
fi
config=()
if [ "${1:-}" = -c ] || [ "${1:-}" = --config ]; then
    config=(-c "$2"); shift 2
fi
exec "$PY" -m utility_ops.backup "${config[@]}" restore "$@"
