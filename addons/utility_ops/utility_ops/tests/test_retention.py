"Retention of backups: which ones a cron run keeps, without a database"
import datetime as dt
import json
import os
import shutil
import tempfile
import unittest

from .. import backup

UTC = dt.timezone.utc


def at(day, hour=2, month=6, year=2025):
    return dt.datetime(year, month, day, hour, tzinfo=UTC)


class RetentionTestCase(unittest.TestCase):
    "keep_stamps and prune"

    def test_newest_per_day(self):
        "Several backups a day: the newest of each of the last N days"
        stamps = [at(d, h) for d in range(1, 11) for h in (1, 13)]
        keep = backup.keep_stamps(stamps, daily=3, weekly=0)
        self.assertEqual(keep, {at(10, 13), at(9, 13), at(8, 13)})

    def test_weekly(self):
        "The newest of each ISO week, beyond the daily ones"
        # 2025-06-01 is a Sunday: weeks 22 (to 1 June), 23, 24, 25, 26.
        stamps = [at(d) for d in range(1, 30)]
        keep = backup.keep_stamps(stamps, daily=2, weekly=3)
        self.assertEqual(keep, {
                at(29), at(28),  # daily
                at(22), at(15),  # newest of weeks 25, 24; week 26 is 29
                })

    def test_gaps_count_backups_not_calendar_days(self):
        "Days without a backup do not use up the daily count"
        stamps = [at(1), at(5), at(20)]
        self.assertEqual(backup.keep_stamps(stamps, daily=2, weekly=0),
            {at(20), at(5)})

    def test_newest_always_kept(self):
        "keep 0/0 still keeps the newest backup"
        stamps = [at(1), at(2)]
        self.assertEqual(backup.keep_stamps(stamps, daily=0, weekly=0),
            {at(2)})
        self.assertEqual(backup.keep_stamps([], daily=7, weekly=4), set())
        with self.assertRaises(ValueError):
            backup.keep_stamps(stamps, daily=-1)

    def test_prune_folder(self):
        """prune deletes only complete backups of that database outside
        the retention"""
        dest = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, dest)

        def make(name, manifest=True):
            path = os.path.join(dest, name)
            os.makedirs(path)
            if manifest:
                with open(os.path.join(path, backup.MANIFEST), 'w') as fp:
                    json.dump({}, fp)
            return path

        days = [make('demo-202506%02dT023000Z' % d) for d in range(1, 15)]
        other = make('demo2-20250601T023000Z')
        partial = make('.demo-20250615T023000Z.partial', manifest=False)
        incomplete = make('demo-20250615T023000Z', manifest=False)
        stray = make('notes')

        removed = backup.prune(dest, 'demo', daily=3, weekly=2,
            dry_run=True)
        self.assertTrue(all(os.path.exists(p) for p in days))
        self.assertEqual(sorted(removed), sorted(
                set(days) - {days[13], days[12], days[11], days[7]}))

        backup.prune(dest, 'demo', daily=3, weekly=2)
        self.assertEqual(sorted(os.listdir(dest)), sorted(
                os.path.basename(p) for p in [
                    days[7], days[11], days[12], days[13], other, partial,
                    incomplete, stray]))

    def test_verify_missing_manifest(self):
        "A folder without manifest is no backup"
        dest = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, dest)
        with self.assertRaises(backup.BackupError):
            backup.verify(dest)
        with open(os.path.join(dest, backup.MANIFEST), 'w') as fp:
            json.dump({'format': backup.FORMAT, 'files': {}}, fp)
        with self.assertRaisesRegex(backup.BackupError, 'lists no'):
            backup.verify(dest)
        with open(os.path.join(dest, backup.MANIFEST), 'w') as fp:
            json.dump({'format': backup.FORMAT, 'files': {
                        backup.DUMP: {'sha256': 'x'},
                        backup.FILESTORE: {'sha256': 'x'},
                        '../etc/passwd': {'sha256': 'x'}}}, fp)
        with self.assertRaisesRegex(backup.BackupError, 'missing'):
            backup.verify(dest)
