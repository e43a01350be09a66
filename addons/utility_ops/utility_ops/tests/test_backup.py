"""Back up a database holding the billing demo, restore it into a new
database and prove ledger, readings, bills and attachments are equal.

On PostgreSQL the test database itself (DB_NAME) is backed up with
pg_dump; on SQLite the suite's in-memory database is first copied into a
file database (``<tmp>/db/ops_src.sqlite``, its filestore beside it), since
a backup is of a file database. ``[database] path`` points at a temporary
folder for the whole class, so filestores and SQLite files stay there.
"""
import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import unittest

from trytond import backend, config
from trytond.cache import Cache
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, activate_module, drop_db
from trytond.transaction import Transaction, TransactionError

from utility_billing import demo

from .. import backup
from .tools import MODULES

TODAY = dt.date(2025, 6, 15)
REPO = os.path.abspath(os.path.join(
        os.path.dirname(__file__), '..', '..', '..', '..'))


def _stop(database):
    "Close trytond's connections and pool of database"
    backend.Database(database).close()
    Pool.stop(database)
    Cache.drop(database)


class BackupRestoreTestCase(unittest.TestCase):
    "A restored backup has the same ledger, readings, bills and files"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix='utility-ops-')
        cls.old_path = config.get('database', 'path')
        config.set('database', 'path', os.path.join(cls.tmp, 'db'))
        os.makedirs(os.path.join(cls.tmp, 'db'))
        drop_db()
        activate_module(MODULES)
        cls.load_demo()
        cls.backend = backup.backend_name()
        if cls.backend == 'sqlite':
            cls.origin = 'ops_src'
            cls.copy_memory_database(cls.origin)
        else:
            cls.origin = DB_NAME
        cls.restored = '%s_restored' % cls.origin.strip(':')
        if backup.database_exists(cls.restored):
            backup.drop_database(cls.restored)

    @classmethod
    def tearDownClass(cls):
        for name in [cls.restored, 'ops_forced']:
            try:
                _stop(name)
                backup.drop_database(name)
            except Exception:
                pass
        if cls.backend == 'sqlite':
            _stop(cls.origin)
        drop_db()
        config.set('database', 'path', cls.old_path)
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    @classmethod
    def load_demo(cls):
        "A small billing demo plus filestore-backed attachments, committed"
        extras = {'_lock_tables': list(demo.LOCKED_TABLES)}
        while True:
            with Transaction().start(DB_NAME, 0, context={},
                    **extras) as transaction:
                try:
                    demo.generate(customers=4, seed=2, months=13,
                        today=TODAY)
                except TransactionError as e:
                    transaction.rollback()
                    e.fix(extras)
                    continue
                pool = Pool()
                Attachment = pool.get('ir.attachment')
                Invoice = pool.get('account.invoice')
                Reading = pool.get('utility.meter.reading')
                invoice = Invoice.search([('state', '=', 'posted')],
                    limit=1)[0]
                reading = Reading.search([], limit=1)[0]
                Attachment.create([{
                            'resource': str(invoice),
                            'name': 'signed-bill.txt',
                            'type': 'data',
                            'data': b'signed copy of the bill\n',
                            }, {
                            'resource': str(reading),
                            'name': 'meter-photo.png',
                            'type': 'data',
                            'data': bytes(range(256)) * 40,
                            }, {
                            'resource': str(invoice),
                            'name': 'dispute',
                            'type': 'link',
                            'link': 'https://example.com/dispute/1',
                            }])
                transaction.commit()
                break

    @classmethod
    def copy_memory_database(cls, name):
        "Copy the in-memory test database and its filestore to file name"
        database = backend.Database(DB_NAME).connect()
        connection = database.get_connection()
        try:
            target = sqlite3.connect(backup.sqlite_file(name))
            with target:
                connection.backup(target)
            target.close()
        finally:
            database.put_connection(connection)
        memory_store = backup.filestore_dir(DB_NAME)
        if os.path.isdir(memory_store):
            shutil.copytree(memory_store, backup.filestore_dir(name))

    def test_backup_restore_equal(self):
        "Backup, restore into a new database: everything equal"
        dest = os.path.join(self.tmp, 'backups')
        archive = backup.backup(self.origin, dest)

        with self.subTest("archive and manifest"):
            self.assertEqual(sorted(os.listdir(archive)),
                sorted([backup.DUMP, backup.FILESTORE, backup.MANIFEST]))
            with open(os.path.join(archive, backup.MANIFEST)) as fp:
                manifest = json.load(fp)
            self.assertEqual(manifest['database'], self.origin)
            self.assertEqual(manifest['backend'], self.backend)
            self.assertTrue(manifest['trytond'].startswith('8.0.'))
            self.assertIn('utility_ops', manifest['modules'])
            self.assertIn('utility_billing', manifest['modules'])
            self.assertTrue(manifest['created_at'].endswith('+00:00'))
            for filename in [backup.DUMP, backup.FILESTORE]:
                self.assertEqual(manifest['files'][filename]['sha256'],
                    backup.sha256_file(os.path.join(archive, filename)))
            self.assertEqual(backup.list_backups(dest, self.origin)[0][1],
                archive)

        backup.restore(archive, self.restored)

        with self.subTest("refuses to overwrite"):
            with self.assertRaises(backup.BackupError):
                backup.restore(archive, self.restored)
            with self.assertRaises(backup.BackupError):
                backup.restore(archive, self.origin)

        original = backup.fingerprint(self.origin)
        restored = backup.fingerprint(self.restored)
        with self.subTest("the original has data"):
            self.assertGreater(len(original['ledger']), 3)
            self.assertTrue(any(l[3] != '0' for l in original['ledger']))
            self.assertGreater(sum(r[1] for r in original['readings']), 50)
            self.assertGreater(original['bills'], 20)
            self.assertEqual(len(original['attachments']), 3)
            self.assertEqual(
                sum(1 for a in original['attachments'] if a[3]), 2)
            self.assertGreaterEqual(len(original['filestore']), 2)
        for key in sorted(original):
            with self.subTest(key):
                self.assertEqual(restored[key], original[key])
        self.assertEqual(set(restored), set(original))

    def test_tampered_backup_refused(self):
        "A backup whose file changed is refused before anything is restored"
        dest = os.path.join(self.tmp, 'tampered')
        archive = backup.backup(self.origin, dest)
        path = os.path.join(archive, backup.FILESTORE)
        with open(path, 'r+b') as fp:
            fp.seek(20)
            byte = fp.read(1)
            fp.seek(20)
            fp.write(bytes([byte[0] ^ 0xff]))
        with self.assertRaisesRegex(backup.BackupError, 'sha256'):
            backup.verify(archive)
        with self.assertRaises(backup.BackupError):
            backup.restore(archive, 'ops_tampered')
        self.assertFalse(backup.database_exists('ops_tampered'))
        shutil.rmtree(dest)

    @unittest.skipUnless(os.path.exists(os.path.join(
                REPO, 'scripts', 'backup.sh')), "scripts/ not found")
    def test_scripts(self):
        "backup.sh with retention, restore.sh with --force"
        dest = os.path.join(self.tmp, 'cron')
        env = dict(os.environ,
            TRYTOND_DATABASE__URI=config.get('database', 'uri'),
            TRYTOND_DATABASE__PATH=config.get('database', 'path'),
            TRYTOND_CONFIG='/dev/null')
        # Two "older" backups of the same day: the cron run keeps 1 day.
        for stamp in ['20240101T010000Z', '20240101T020000Z']:
            old = os.path.join(dest, '%s-%s' % (self.origin, stamp))
            os.makedirs(old)
            with open(os.path.join(old, backup.MANIFEST), 'w') as fp:
                fp.write('{}')
        result = subprocess.run([os.path.join(REPO, 'scripts', 'backup.sh'),
                '-d', self.origin, '--dest', dest, '--keep-daily', '1',
                '--keep-weekly', '0'], env=env, capture_output=True,
            text=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        archive = result.stdout.splitlines()[0]
        self.assertEqual([p for _, p in backup.list_backups(
                    dest, self.origin)], [archive])
        self.assertEqual(len(result.stdout.splitlines()), 3)
        if self.backend != 'sqlite':
            return  # a second full restore on PostgreSQL costs time
        for args, code in [
                (['-d', 'ops_forced'], 0),
                (['-d', 'ops_forced'], 2),  # exists now
                (['-d', 'ops_forced', '--force'], 0),
                ]:
            result = subprocess.run([
                    os.path.join(REPO, 'scripts', 'restore.sh'), archive,
                    *args], env=env, capture_output=True, text=True)
            self.assertEqual(result.returncode, code, result.stderr)
        self.assertTrue(backup.database_exists('ops_forced'))
