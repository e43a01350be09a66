import datetime as dt
from decimal import Decimal

from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    activate_module, drop_db, with_transaction)
import unittest

from utility_metering.exceptions import ReadingImportError
from utility_metering.reading_import import import_readings

from .test_module import setup_meter

GOOD = (b"meter,date_time,value,kind\n"
    b"M1,2024-01-01T00:00:00+00:00,100,actual\n"
    b"M1,2024-01-31T00:00:00+00:00,400,actual\n")


class ReadingImportTestCase(unittest.TestCase):
    "Test the CSV import of meter readings"

    @classmethod
    def setUpClass(cls):
        drop_db()
        activate_module(['utility_metering'])

    def _company(self):
        company = create_company()
        return company

    @with_transaction()
    def test_good_file_and_reimport(self):
        "Good rows are stored and a re-import creates no duplicate"
        Reading = Pool().get('utility.meter.reading')
        company = self._company()
        with set_company(company):
            _, meter = setup_meter(company)
            result = import_readings(GOOD, company)
            self.assertEqual((result.created, result.errors), (2, []))
            readings = Reading.search([('meter', '=', meter.id)],
                order=[('date_time', 'ASC')])
            self.assertEqual([r.consumption for r in readings],
                [Decimal(0), Decimal(300)])
            self.assertEqual({r.state for r in readings}, {'valid'})
            again = import_readings(GOOD, company)
            self.assertEqual((again.created, again.already_stored), (0, 2))
            self.assertEqual(
                Reading.search_count([('meter', '=', meter.id)]), 2)

    @with_transaction()
    def test_malformed_rows(self):
        "Each bad row is reported with its line and reason, not stored"
        Reading = Pool().get('utility.meter.reading')
        company = self._company()
        with set_company(company):
            setup_meter(company)
            data = (b"meter,date_time,value\n"
                b"M1,2024-01-01T00:00:00,100\n"          # 2 good
                b"M1,31/01/2024,200\n"                   # 3 bad date
                b"M1,2024-02-01T00:00:00,abc\n"          # 4 text
                b"NOPE,2024-02-01T00:00:00,5\n"          # 5 unknown meter
                b"M1,2024-01-01T00:00:00,100\n"          # 6 duplicate
                b"M1,2024-03-01T00:00:00,300\n")         # 7 good
            result = import_readings(data, company)
            self.assertEqual(result.created, 2)
            self.assertEqual([line for line, _ in result.errors],
                [3, 4, 5, 6])
            messages = dict(result.errors)
            self.assertIn('31/01/2024', messages[3])
            self.assertIn('abc', messages[4])
            self.assertIn('NOPE', messages[5])
            self.assertIn('line 2', messages[6])
            self.assertEqual(Reading.search_count([]), 2)
            self.assertIn('Line 3:', result.summary())

    @with_transaction()
    def test_spike_stored_rejected(self):
        "A well-formed but implausible reading is stored as rejected"
        Reading = Pool().get('utility.meter.reading')
        company = self._company()
        with set_company(company):
            setup_meter(company)
            import_readings(GOOD + b"M1,2024-03-01T00:00:00+00:00,700\n"
                b"M1,2024-03-31T00:00:00+00:00,90000\n", company)
            rejected, = Reading.search([('state', '=', 'rejected')])
            self.assertEqual(rejected.value, Decimal(90000))
            self.assertIn('times', rejected.rejection_reason)

    @with_transaction()
    def test_empty_and_encoding(self):
        "Empty files, wrong encodings and missing columns are refused"
        company = self._company()
        with set_company(company):
            setup_meter(company)
            for data in [b'', b'meter,date_time,value\n']:
                with self.assertRaisesRegex(ReadingImportError, 'no readings'):
                    import_readings(data, company)
            with self.assertRaisesRegex(ReadingImportError, 'UTF-8'):
                import_readings('meter,date_time,value\nMé,2024-01-01,1\n'
                    .encode('latin-1'), company)
            with self.assertRaisesRegex(ReadingImportError, 'value'):
                import_readings(b'meter,date_time\nM1,2024-01-01\n', company)

    @with_transaction()
    def test_local_time_is_provider_timezone(self):
        "Naive times are read in the provider's timezone"
        Reading = Pool().get('utility.meter.reading')
        company = self._company()
        company.timezone = 'Europe/Paris'
        company.save()
        with set_company(company):
            setup_meter(company)
            import_readings(b"meter,date_time,value\n"
                b"M1,2024-07-01T08:00:00,1\n", company)
            reading, = Reading.search([])
            self.assertEqual(reading.date_time, dt.datetime(2024, 7, 1, 6))
