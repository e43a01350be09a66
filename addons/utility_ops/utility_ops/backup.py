"""Backups that restore: database plus filestore, verified, with retention.

One backup is one directory ``<dest>/<database>-<YYYYmmddTHHMMSSZ>/``:

- ``database.dump``: ``pg_dump --format=custom`` on PostgreSQL, or a copy
  made with SQLite's online backup API (``sqlite3.Connection.backup``,
  consistent while trytond is running) on SQLite;
- ``filestore.tar.gz``: the database's Tryton filestore
  (``[database] path``/<database>, or ``[attachment] store_prefix``):
  attachments' data, cached invoice reports and other Binary fields kept
  outside the database;
- ``manifest.json``: database, backend, creation time (UTC), trytond and
  module versions, size and sha256 of each file. It is written last and
  the directory is renamed from ``.<name>.partial`` only when complete, so a
  crashed or running backup is never taken for a good one.

``restore`` verifies every sha256 first, then restores into a *new*
database (it refuses an existing one, database or filestore, unless
``--force``) and unpacks the filestore under the new name.

``prune`` keeps the newest backup of each of the last N days and of each of
the last M ISO weeks that have backups (as restic's --keep-daily and
--keep-weekly), and always the newest one; the rest of that database's
backups in the folder are deleted.

Command line (``scripts/backup.sh`` and ``scripts/restore.sh`` wrap it)::

    python -m utility_ops.backup backup -d DB [-c CONF] [--dest DIR]
        [--keep-daily N --keep-weekly M]
    python -m utility_ops.backup restore ARCHIVE_DIR -d NEW_DB [--force]
    python -m utility_ops.backup verify ARCHIVE_DIR
    python -m utility_ops.backup prune -d DB --dest DIR --keep-daily N
        --keep-weekly M [--dry-run]
    python -m utility_ops.backup compare DB1 DB2   # ledger, readings, bills,
                                                   # attachments equal?

The database URI and path come from trytond's configuration (``-c`` file
and ``TRYTOND_DATABASE__URI``/``TRYTOND_DATABASE__PATH``). PostgreSQL
credentials from the URI are passed to pg_dump/pg_restore through PG*
environment variables (never on their command line); ~/.pgpass works too.
"""
import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tarfile
from decimal import Decimal
from importlib import metadata
from urllib.parse import parse_qs, unquote, urlsplit

MANIFEST = 'manifest.json'
DUMP = 'database.dump'
FILESTORE = 'filestore.tar.gz'
FORMAT = 1
STAMP_FORMAT = '%Y%m%dT%H%M%SZ'
_STAMP_RE = re.compile(r'^(?P<db>.+)-(?P<stamp>\d{8}T\d{6}Z)$')


class BackupError(Exception):
    pass


# --- configuration ---------------------------------------------------------

def load_config(config_file=None):
    from trytond import config
    config_file = config_file or os.environ.get('TRYTOND_CONFIG')
    if config_file:
        config.update_etc(config_file)
    return config


def database_uri():
    from trytond import config
    return config.get('database', 'uri')


def backend_name(uri=None):
    scheme = urlsplit(uri or database_uri()).scheme
    if scheme.startswith('postgresql'):
        return 'postgresql'
    if scheme.startswith('sqlite'):
        return 'sqlite'
    raise BackupError("unsupported database URI scheme: %r" % scheme)


def database_path():
    from trytond import config
    return config.get('database', 'path')


def filestore_dir(database):
    "The filestore folder of database (see trytond.model.fields.Binary)"
    from trytond import config
    prefix = config.get('attachment', 'store_prefix', default=None)
    return os.path.join(database_path(), prefix or database)


def sqlite_file(database):
    if database == ':memory:' or os.sep in database:
        raise BackupError("not a SQLite file database: %r" % database)
    return os.path.join(database_path(), database + '.sqlite')


def pg_environ(uri=None):
    "Environment for libpq tools from the trytond URI (no secret in argv)"
    parts = urlsplit(uri or database_uri())
    env = dict(os.environ)
    if parts.hostname:
        env['PGHOST'] = unquote(parts.hostname)
    if parts.port:
        env['PGPORT'] = str(parts.port)
    if parts.username:
        env['PGUSER'] = unquote(parts.username)
    if parts.password:
        env['PGPASSWORD'] = unquote(parts.password)
    query = parse_qs(parts.query)
    for key, var in [('host', 'PGHOST'), ('port', 'PGPORT'),
            ('sslmode', 'PGSSLMODE'), ('user', 'PGUSER'),
            ('passfile', 'PGPASSFILE')]:
        if key in query:
            env[var] = query[key][-1]
    return env


def _pg_connect(database='postgres', uri=None):
    import psycopg
    env = pg_environ(uri)
    kwargs = {k: env[v] for k, v in [('host', 'PGHOST'), ('port', 'PGPORT'),
            ('user', 'PGUSER'), ('password', 'PGPASSWORD'),
            ('sslmode', 'PGSSLMODE')] if v in env}
    return psycopg.connect(dbname=database, autocommit=True, **kwargs)


def _run(args, env=None):
    result = subprocess.run(args, env=env, capture_output=True, text=True)
    if result.returncode:
        raise BackupError("%s failed (%s): %s" % (
                args[0], result.returncode, result.stderr.strip()))
    return result


# --- helpers ----------------------------------------------------------------

def sha256_file(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, 'rb') as fp:
        for block in iter(lambda: fp.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def database_exists(database):
    if backend_name() == 'postgresql':
        with _pg_connect() as conn:
            return bool(conn.execute(
                    'SELECT 1 FROM pg_database WHERE datname = %s',
                    (database,)).fetchone())
    return os.path.exists(sqlite_file(database))


def activated_modules(database):
    "{module: package version} of the modules activated in database"
    query = "SELECT name FROM ir_module WHERE state = 'activated'"
    if backend_name() == 'postgresql':
        with _pg_connect(database) as conn:
            names = [r[0] for r in conn.execute(query)]
    else:
        conn = sqlite3.connect(
            'file:%s?mode=ro' % sqlite_file(database), uri=True)
        try:
            names = [r[0] for r in conn.execute(query)]
        finally:
            conn.close()
    versions = {}
    for name in sorted(names):
        version = None
        for dist in ['trytond_%s' % name, name]:
            try:
                version = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
        versions[name] = version
    return versions


# --- backup -----------------------------------------------------------------

def backup(database, dest, now=None):
    "Back up database and its filestore into a new folder of dest"
    backend = backend_name()
    now = (now or dt.datetime.now(dt.timezone.utc)).astimezone(
        dt.timezone.utc)
    name = '%s-%s' % (database, now.strftime(STAMP_FORMAT))
    os.makedirs(dest, exist_ok=True)
    final = os.path.join(dest, name)
    if os.path.exists(final):
        raise BackupError("%s exists already" % final)
    partial = os.path.join(dest, '.%s.partial' % name)
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial, mode=0o700)
    try:
        dump = os.path.join(partial, DUMP)
        if backend == 'postgresql':
            if not database_exists(database):
                raise BackupError("database %r does not exist" % database)
            _run(['pg_dump', '--format=custom', '--file', dump,
                    '--dbname', database], env=pg_environ())
        else:
            source = sqlite_file(database)
            if not os.path.isfile(source):
                raise BackupError("%s does not exist" % source)
            src = sqlite3.connect('file:%s?mode=ro' % source, uri=True)
            dst = sqlite3.connect(dump)
            try:
                with dst:
                    src.backup(dst)
                check, = dst.execute('PRAGMA integrity_check').fetchone()
                if check != 'ok':
                    raise BackupError("SQLite copy not consistent: %s"
                        % check)
            finally:
                dst.close()
                src.close()
        store = filestore_dir(database)
        with tarfile.open(os.path.join(partial, FILESTORE), 'w:gz') as tar:
            if os.path.isdir(store):
                for entry in sorted(os.listdir(store)):
                    tar.add(os.path.join(store, entry), arcname=entry)
        files = {}
        for filename in [DUMP, FILESTORE]:
            path = os.path.join(partial, filename)
            files[filename] = {
                'sha256': sha256_file(path),
                'size': os.path.getsize(path),
                }
        manifest = {
            'format': FORMAT,
            'database': database,
            'backend': backend,
            'created_at': now.isoformat(timespec='seconds'),
            'host': socket.gethostname(),
            'trytond': metadata.version('trytond'),
            'python': sys.version.split()[0],
            'modules': activated_modules(database),
            'filestore': os.path.basename(store),
            'files': files,
            }
        with open(os.path.join(partial, MANIFEST), 'w') as fp:
            json.dump(manifest, fp, indent=2, sort_keys=True)
            fp.write('\n')
        os.rename(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return final


def read_manifest(archive):
    path = os.path.join(archive, MANIFEST)
    try:
        with open(path) as fp:
            manifest = json.load(fp)
    except (OSError, ValueError) as e:
        raise BackupError("no readable manifest in %s: %s" % (archive, e))
    if manifest.get('format') != FORMAT:
        raise BackupError("unknown backup format %r" % manifest.get('format'))
    return manifest


def verify(archive):
    "Check every file of the manifest against its sha256; return manifest"
    manifest = read_manifest(archive)
    files = manifest.get('files') or {}
    for required in [DUMP, FILESTORE]:
        if required not in files:
            raise BackupError("manifest lists no %s" % required)
    for filename, info in sorted(files.items()):
        path = os.path.join(archive, filename)
        if os.path.basename(filename) != filename or not os.path.isfile(
                path):
            raise BackupError("%s is missing" % path)
        digest = sha256_file(path)
        if digest != info['sha256']:
            raise BackupError("%s: sha256 %s, manifest says %s" % (
                    path, digest, info['sha256']))
    return manifest


# --- restore ----------------------------------------------------------------

def drop_database(database):
    if backend_name() == 'postgresql':
        from psycopg import sql
        with _pg_connect() as conn:
            conn.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)')
                .format(sql.Identifier(database)))
    else:
        path = sqlite_file(database)
        for suffix in ['', '-wal', '-shm', '-journal']:
            if os.path.exists(path + suffix):
                os.remove(path + suffix)


def _extract(tar, target):
    if hasattr(tarfile, 'data_filter'):
        tar.extractall(target, filter='data')
        return
    root = os.path.realpath(target)
    for member in tar.getmembers():
        path = os.path.realpath(os.path.join(target, member.name))
        if not (path == root or path.startswith(root + os.sep)) or not (
                member.isfile() or member.isdir()):
            raise BackupError("unsafe filestore member %r" % member.name)
    tar.extractall(target)


def restore(archive, database, force=False):
    """Restore archive into the new database; refuse an existing database
    or filestore unless force (then both are replaced)"""
    manifest = verify(archive)
    backend = backend_name()
    if manifest['backend'] != backend:
        raise BackupError("backup is of a %s database, configuration is %s"
            % (manifest['backend'], backend))
    from trytond import config
    if config.get('attachment', 'store_prefix', default=None):
        raise BackupError("[attachment] store_prefix is set: restoring "
            "would share the filestore with the original database")
    store = filestore_dir(database)
    exists = database_exists(database)
    store_exists = os.path.isdir(store) and bool(os.listdir(store))
    if (exists or store_exists) and not force:
        raise BackupError("database %r%s exists already: choose a new name "
            "or use --force to replace it" % (database,
                ' (filestore %s)' % store if store_exists else ''))
    if exists:
        drop_database(database)
    if os.path.isdir(store):
        shutil.rmtree(store)
    dump = os.path.join(archive, DUMP)
    try:
        if backend == 'postgresql':
            from psycopg import sql
            with _pg_connect() as conn:
                conn.execute(sql.SQL(
                        "CREATE DATABASE {} ENCODING 'UTF8' "
                        "TEMPLATE template0").format(
                        sql.Identifier(database)))
            _run(['pg_restore', '--exit-on-error', '--no-owner',
                    '--dbname', database, dump], env=pg_environ())
        else:
            target = sqlite_file(database)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            tmp = target + '.restoring'
            src = sqlite3.connect('file:%s?mode=ro' % dump, uri=True)
            dst = sqlite3.connect(tmp)
            try:
                with dst:
                    src.backup(dst)
            finally:
                dst.close()
                src.close()
            os.rename(tmp, target)
        os.makedirs(store, mode=0o770, exist_ok=True)
        with tarfile.open(os.path.join(archive, FILESTORE), 'r:gz') as tar:
            _extract(tar, store)
    except BaseException:
        try:
            drop_database(database)
        finally:
            shutil.rmtree(store, ignore_errors=True)
        raise
    return manifest


# --- retention --------------------------------------------------------------

def keep_stamps(stamps, daily=7, weekly=4):
    """The stamps (datetimes) to keep: the newest of each of the last
    `daily` days and of the last `weekly` ISO weeks having backups, and
    always the newest one"""
    if daily < 0 or weekly < 0:
        raise ValueError("retention counts must be positive")
    ordered = sorted(set(stamps), reverse=True)
    keep = set(ordered[:1])
    for count, bucket in [
            (daily, lambda s: s.date()),
            (weekly, lambda s: s.isocalendar()[:2]),
            ]:
        seen = []
        for stamp in ordered:
            key = bucket(stamp)
            if seen and seen[-1] == key:
                continue
            if len(seen) >= count:
                break
            seen.append(key)
            keep.add(stamp)
    return keep


def list_backups(dest, database):
    "[(stamp, path)] of database's complete backups in dest, newest first"
    result = []
    if not os.path.isdir(dest):
        return result
    for entry in os.listdir(dest):
        match = _STAMP_RE.match(entry)
        path = os.path.join(dest, entry)
        if (not match or match.group('db') != database
                or not os.path.isfile(os.path.join(path, MANIFEST))):
            continue
        stamp = dt.datetime.strptime(match.group('stamp'), STAMP_FORMAT
            ).replace(tzinfo=dt.timezone.utc)
        result.append((stamp, path))
    result.sort(reverse=True)
    return result


def prune(dest, database, daily, weekly, dry_run=False):
    "Delete database's backups in dest outside the retention; return them"
    backups = list_backups(dest, database)
    keep = keep_stamps([s for s, _ in backups], daily=daily, weekly=weekly)
    removed = [p for s, p in backups if s not in keep]
    if not dry_run:
        for path in removed:
            shutil.rmtree(path)
    return removed


# --- fingerprint: what must be equal after a restore --------------------------

def _dec(value):
    if value is None:
        return '0'
    if isinstance(value, float):
        value = Decimal(repr(value))
    return str(Decimal(value).normalize())


def fingerprint(database):
    """What a restore must keep: ledger per account, readings, bills,
    invoices, attachments (data hashed through the ORM, so filestore-backed
    data are read back) and every filestore file"""
    from sql.aggregate import Count, Sum

    from trytond.pool import Pool
    from trytond.transaction import Transaction

    pool = Pool(database)
    pool.init()
    result = {}
    with Transaction().start(database, 0, readonly=True,
            context={'active_test': False}) as transaction:
        cursor = transaction.connection.cursor()

        def models(*names):
            for name in names:
                try:
                    pool.get(name)
                except KeyError:
                    return False
            return True

        if models('account.move.line', 'account.account'):
            line = pool.get('account.move.line').__table__()
            account = pool.get('account.account').__table__()
            cursor.execute(*line.join(account,
                    condition=line.account == account.id).select(
                    account.code, account.name, Count(line.id),
                    Sum(line.debit), Sum(line.credit),
                    group_by=[account.id, account.code, account.name],
                    order_by=[account.code, account.name]))
            result['ledger'] = [[code, name, count, _dec(d), _dec(c)]
                for code, name, count, d, c in cursor]
        if models('utility.meter.reading'):
            reading = pool.get('utility.meter.reading').__table__()
            cursor.execute(*reading.select(
                    reading.state, Count(reading.id), Sum(reading.value),
                    group_by=[reading.state], order_by=[reading.state]))
            result['readings'] = [[s, n, _dec(v)] for s, n, v in cursor]
        if models('utility.bill'):
            bill = pool.get('utility.bill').__table__()
            cursor.execute(*bill.select(Count(bill.id)))
            result['bills'] = cursor.fetchone()[0]
        if models('account.invoice'):
            invoice = pool.get('account.invoice').__table__()
            cursor.execute(*invoice.select(invoice.type, invoice.state,
                    Count(invoice.id), Sum(invoice.total_amount_cache),
                    group_by=[invoice.type, invoice.state],
                    order_by=[invoice.type, invoice.state]))
            result['invoices'] = [[t, s, n, _dec(a)]
                for t, s, n, a in cursor]
        Attachment = pool.get('ir.attachment')
        attachments = []
        for sub in _slices(Attachment.search([], order=[('id', 'ASC')]),
                100):
            for record in Attachment.read([a.id for a in sub],
                    ['resource', 'name', 'type', 'data', 'file_id']):
                data = record['data']
                attachments.append([record['resource'], record['name'],
                        record['type'], bool(record['file_id']),
                        hashlib.sha256(data).hexdigest()
                        if data is not None else None])
        attachments.sort(key=lambda a: json.dumps(a))
        result['attachments'] = attachments
    store = filestore_dir(database)
    files = {}
    for root, _, filenames in os.walk(store):
        for filename in filenames:
            path = os.path.join(root, filename)
            files[os.path.relpath(path, store)] = sha256_file(path)
    result['filestore'] = files
    return result


def _slices(items, size):
    for i in range(0, len(items), size):
        yield items[i:i + size]


# --- command line -----------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(prog='utility-backup',
        description="Back up, verify, restore and prune Tryton databases "
        "with their filestore")
    parser.add_argument('-c', '--config', help="trytond configuration file")
    sub = parser.add_subparsers(dest='command', required=True)

    p = sub.add_parser('backup', help="back up a database and its filestore")
    p.add_argument('-d', '--database', required=True)
    p.add_argument('--dest', default=os.environ.get('BACKUP_DIR', 'backups'),
        help="folder of the backups (default $BACKUP_DIR or ./backups)")
    p.add_argument('--keep-daily', type=int,
        help="then prune: keep the newest backup of the last N days")
    p.add_argument('--keep-weekly', type=int,
        help="then prune: keep the newest backup of the last M weeks")

    p = sub.add_parser('restore', help="restore into a new database")
    p.add_argument('archive')
    p.add_argument('-d', '--database', required=True,
        help="the new database name")
    p.add_argument('--force', action='store_true',
        help="replace the database and filestore if they exist")

    p = sub.add_parser('verify', help="check a backup's sha256 sums")
    p.add_argument('archive')

    p = sub.add_parser('prune', help="apply retention to a backup folder")
    p.add_argument('-d', '--database', required=True)
    p.add_argument('--dest', default=os.environ.get('BACKUP_DIR', 'backups'))
    p.add_argument('--keep-daily', type=int, default=7)
    p.add_argument('--keep-weekly', type=int, default=4)
    p.add_argument('--dry-run', action='store_true')

    p = sub.add_parser('compare', help="compare ledger, readings, bills and "
        "attachments of two databases (e.g. after a restore)")
    p.add_argument('database')
    p.add_argument('other')

    args = parser.parse_args(argv)
    load_config(args.config)
    try:
        if args.command == 'backup':
            path = backup(args.database, args.dest)
            print(path)
            if args.keep_daily is not None or args.keep_weekly is not None:
                for removed in prune(args.dest, args.database,
                        daily=args.keep_daily or 0,
                        weekly=args.keep_weekly or 0):
                    print("pruned %s" % removed)
        elif args.command == 'restore':
            manifest = restore(args.archive, args.database, force=args.force)
            print("restored %s (%s of %s) into %s" % (args.archive,
                    manifest['backend'], manifest['database'],
                    args.database))
        elif args.command == 'verify':
            manifest = verify(args.archive)
            print("ok: %s of %s, %s" % (manifest['backend'],
                    manifest['database'], manifest['created_at']))
        elif args.command == 'prune':
            removed = prune(args.dest, args.database, args.keep_daily,
                args.keep_weekly, dry_run=args.dry_run)
            for path in removed:
                print(("would prune %s" if args.dry_run else "pruned %s")
                    % path)
        elif args.command == 'compare':
            first = fingerprint(args.database)
            second = fingerprint(args.other)
            differences = [k for k in sorted(set(first) | set(second))
                if first.get(k) != second.get(k)]
            for key in differences:
                print("differs: %s" % key)
            if differences:
                return 1
            print("equal: %s" % ', '.join(sorted(first)))
    except BackupError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
