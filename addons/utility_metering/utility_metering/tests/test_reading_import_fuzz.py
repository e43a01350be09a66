"""Reading import under generated bad input (hypothesis).

Whatever a file holds, the import either refuses it as a whole with a
clear ReadingImportError or accounts for every data line: stored (valid
or rejected with a reason), already stored, or reported with its line
number. It never crashes and never stores a line it reported.
"""
import datetime as dt
import unittest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction

from utility_metering.exceptions import ReadingImportError
from utility_metering.reading_import import import_readings

from .test_module import setup_meter

# Cells as meter-reading systems send them, good and bad.
meters = st.sampled_from(['M1', 'M1 ', 'm1', 'NOPE', '', 'M1;M2', '∑'])
times = st.one_of(
    st.datetimes(min_value=dt.datetime(2020, 1, 1),
        max_value=dt.datetime(2030, 1, 1)).map(
        lambda d: d.replace(microsecond=0).isoformat()),
    st.sampled_from([
            '2024-02-29T12:00:00', '2023-02-29T00:00:00', '2024-03-31T02:30:00',
            '9999-12-31T23:59:59-05:00', '0001-01-01T00:00:00+05:00',
            '31/01/2024', '2024-13-01', '', 'now', '2024-01-01T25:00']),
    st.text(max_size=20))
values = st.one_of(
    st.decimals(min_value=-10**6, max_value=10**9, places=3).map(str),
    st.sampled_from(['NaN', 'Infinity', '-0', '1e400', '1,5', '', '12abc',
            '0x10', '١٢٣']),
    st.text(max_size=10))
kinds = st.sampled_from(['actual', 'estimated', 'customer', 'smart', '',
        'ACTUAL', 'guess'])


def csv_cell(text):
    return '"%s"' % text.replace('"', '""')


@st.composite
def files(draw):
    rows = draw(st.lists(st.tuples(meters, times, values, kinds),
            min_size=1, max_size=15))
    lines = ['meter,date_time,value,kind'] + [
        ','.join(csv_cell(c) for c in row) for row in rows]
    return ('\n'.join(lines) + '\n').encode('utf-8'), len(rows)


class ReadingImportFuzzTestCase(unittest.TestCase):
    "Generated files against a provider with one meter, M1"

    @classmethod
    def setUpClass(cls):
        activate_module(['utility_metering'])

    @with_transaction()
    def test_every_line_is_accounted_for(self):
        Reading = Pool().get('utility.meter.reading')

        @settings(max_examples=30, deadline=None, database=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow])
        @given(files())
        def check(generated):
            data, count = generated
            # A provider of its own per example: no state carried over.
            company = create_company()
            with set_company(company):
                setup_meter(company)
                domain = [('company', '=', company.id)]
                try:
                    result = import_readings(data, company)
                except ReadingImportError as error:
                    # Refused as a whole: a message, nothing stored.
                    self.assertTrue(str(error))
                    self.assertEqual(Reading.search_count(domain), 0)
                    return
                stored = Reading.search_count(domain)
                self.assertEqual(stored, result.created + result.rejected)
                self.assertEqual(
                    stored + result.already_stored + len(result.errors),
                    count)
                for line, message in result.errors:
                    # A quoted cell may span lines: the physical line.
                    self.assertGreaterEqual(line, 2)
                    self.assertTrue(str(message))
                self.assertTrue(result.summary())

        check()
