#!/usr/bin/env bash
# Back up a Tryton database and its filestore into one timestamped folder
# with a manifest (sha256 of each file), then apply retention.
#
#   scripts/backup.sh [-c CONF] -d DB [--dest DIR] [--keep-daily N] [--keep-weekly M]
#
# PostgreSQL (pg_dump -Fc) when the configuration's [database] uri is
# postgresql://..., SQLite (online backup API) otherwise. The configuration
# is -c CONF, else $TRYTOND_CONFIG, else var/trytond.conf (made by
# scripts/demo.sh) when it exists; TRYTOND_DATABASE__URI/__PATH also apply.
# Backups go to --dest, else $BACKUP_DIR, else ./backups. Prints the new
# backup's folder. Cron (daily at 02:30, 7 daily and 4 weekly kept):
#   30 2 * * * /srv/utility/scripts/backup.sh -d demo --dest /var/backups/tryton --keep-daily 7 --keep-weekly 4 >>/var/log/tryton-backup.log 2>&1
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
umask 077
exec "$PY" -m utility_ops.backup "${config[@]}" backup "$@"
