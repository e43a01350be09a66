import csv
import datetime as dt
import io
import unittest
from collections import defaultdict
from decimal import Decimal

from trytond.exceptions import UserError
from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction

from utility_billing.tests.tools import (
    create_customer, create_cycle, create_plan, create_products, read,
    setup_accounting)

from .test_reports import export, read_xlsx

# Monthly use per customer in 2024 and from January 2025.
USE = {1: (300, 360), 2: (200, 100), 3: (1000, 1000)}
PERIOD = {'from_date': dt.date(2025, 1, 1), 'to_date': dt.date(2025, 3, 31)}


def month(date):
    return date.replace(day=1)


def setup_customers(company):
    """Three electricity customers (the third on a second plan) read at
    noon on the 10th of each month from January 2024 to March 2025"""
    revenue, tax = setup_accounting(company)
    products = create_products(revenue, tax)
    plan = create_plan(company, products)
    commercial = create_plan(company, products, name='Commercial')
    cycle = create_cycle(company)
    customers, meters = {}, {}
    for index, (before, after) in USE.items():
        agreement, meter = create_customer(company, index,
            commercial if index == 3 else plan, cycle)
        value = 1000
        date = dt.date(2024, 1, 10)
        while date <= dt.date(2025, 3, 10):
            read(meter, dt.datetime.combine(date, dt.time(12)), value)
            value += after if date >= dt.date(2024, 12, 10) else before
            date = (date + dt.timedelta(days=31)).replace(day=10)
        customers[index], meters[index] = agreement, meter
    return plan, commercial, cycle, customers, meters


class ConsumptionTestCase(unittest.TestCase):
    "Consumption analysis against the readings"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('utility_reporting')

    @with_transaction()
    def test_consumption(self):
        "monthly totals, last year, top consumers, filters and exports"
        pool = Pool()
        Reading = pool.get('utility.meter.reading')
        Consumption = pool.get('utility.reporting.consumption')
        Top = pool.get('utility.reporting.consumption.agreement')
        company = create_company()
        with set_company(company):
            plan, commercial, cycle, customers, meters = setup_customers(
                company)
            # A draft reading does not count.
            Reading.create([{'meter': meters[1].id,
                        'company': company.id,
                        'date_time': dt.datetime(2025, 3, 20, 12),
                        'value': Decimal(99999), 'kind': 'actual'}])

            readings = Reading.search([
                    ('company', '=', company.id),
                    ('state', 'in', ['valid', 'billed']),
                    ])
            self.assertEqual(len(readings), 3 * 15)
            # Independent totals from the readings, per month.
            totals = defaultdict(Decimal)
            points = defaultdict(set)
            for reading in readings:
                if reading.consumption is None:
                    continue
                key = month(reading.date_time.date())
                totals[key] += reading.consumption
                points[key].add(reading.service_point.id)
            electricity = plan.service_type

            context = dict(PERIOD, company=company.id,
                companies=[company.id], threshold=Decimal(30))
            with Transaction().set_context(context):
                rows = Consumption.search([])
                self.assertEqual([(r.month, r.service_type)
                        for r in rows], [
                        (dt.date(2025, 3, 1), electricity),
                        (dt.date(2025, 2, 1), electricity),
                        (dt.date(2025, 1, 1), electricity)])
                for row in rows:
                    with self.subTest(month=row.month):
                        self.assertEqual(row.consumption, totals[row.month])
                        self.assertEqual(row.agreements,
                            len(points[row.month]))
                        last = month(row.month.replace(
                                year=row.month.year - 1))
                        self.assertEqual(row.last_year, totals.get(last))
                        self.assertEqual(row.unit, electricity.unit)
                march, february, january = rows
                # Known figures.
                self.assertEqual(february.consumption, Decimal(1460))
                self.assertEqual(february.agreements, 3)
                self.assertEqual(february.average, Decimal('486.6667'))
                self.assertEqual(february.last_year, Decimal(1500))
                self.assertEqual(february.change_percent, Decimal('-2.67'))
                self.assertFalse(february.unusual)
                # January 2024 holds the first readings (no use): a
                # change from nothing has no percentage but is unusual.
                self.assertEqual(january.last_year, Decimal(0))
                self.assertIsNone(january.change_percent)
                self.assertTrue(january.unusual)

                top = Top.search([])
                self.assertEqual(
                    [(r.rank, r.agreement, r.consumption, r.last_year,
                            r.change_percent, r.unusual) for r in top], [
                        (1, customers[3], Decimal(3000), Decimal(2000),
                            Decimal('50.00'), True),
                        (2, customers[1], Decimal(1080), Decimal(600),
                            Decimal('80.00'), True),
                        (3, customers[2], Decimal(300), Decimal(400),
                            Decimal('-25.00'), False),
                        ])
                self.assertEqual(top[0].party, customers[3].party)
                self.assertEqual(top[0].service_point,
                    customers[3].service_point)
                self.assertEqual(Top.search([('rank', '<=', 2)]), top[:2])

            with self.subTest("threshold"), Transaction().set_context(
                    context, threshold=Decimal(20)):
                self.assertEqual([r.unusual for r in Top.search([])],
                    [True, True, True])
                self.assertTrue(Consumption.search([])[0].unusual is False)

            with self.subTest("rate plan filter"), Transaction().set_context(
                    context, rate_plan=commercial.id):
                rows = Consumption.search([])
                self.assertEqual([r.consumption for r in rows],
                    [Decimal(1000)] * 3)
                self.assertEqual([r.agreements for r in rows], [1] * 3)
                self.assertEqual([r.agreement for r in Top.search([])],
                    [customers[3]])

            with self.subTest("cycle and service filter"), \
                    Transaction().set_context(context, cycle=cycle.id,
                        service_type=electricity.id):
                self.assertEqual(
                    [r.consumption for r in Consumption.search([])],
                    [Decimal(1460)] * 3)
            others = pool.get('utility.service.type').search([
                    ('id', '!=', electricity.id)], limit=1)
            self.assertTrue(others)
            with Transaction().set_context(context,
                    service_type=others[0].id):
                self.assertEqual(Consumption.search([]), [])

            with self.subTest("period filter"), Transaction().set_context(
                    context, from_date=dt.date(2025, 2, 10),
                    to_date=dt.date(2025, 2, 10)):
                row, = Consumption.search([])
                self.assertEqual(row.consumption, Decimal(1460))
                self.assertEqual(row.last_year, Decimal(1500))
                # The reading of 10 February 2025 is counted, not the 11th.
            with Transaction().set_context(context,
                    from_date=dt.date(2025, 2, 11),
                    to_date=dt.date(2025, 3, 9)):
                self.assertEqual(Consumption.search([]), [])

            with self.subTest("exports"), Transaction().set_context(context):
                for Model, name, prefix in [
                        (Consumption, 'utility.reporting.consumption',
                            'report_consumption'),
                        (Top, 'utility.reporting.consumption.agreement',
                            'report_consumption_agreement'),
                        ]:
                    check_exports(self, Model, name, prefix)

            with self.subTest("other provider sees nothing"):
                other = create_company(name="Other")
                with set_company(other), Transaction().set_context(
                        PERIOD, company=other.id, companies=[other.id]):
                    self.assertEqual(Consumption.search([]), [])
                    self.assertEqual(Top.search([]), [])

    @with_transaction()
    def test_correction_counted_once(self):
        "a corrected reading counts through its correction only"
        pool = Pool()
        Reading = pool.get('utility.meter.reading')
        Consumption = pool.get('utility.reporting.consumption')
        Top = pool.get('utility.reporting.consumption.agreement')
        company = create_company()
        with set_company(company):
            _, _, _, customers, meters = setup_customers(company)
            # Customer 2's last read (10 March 2025, 100 units of use)
            # was 40 too high.
            original, = Reading.search([
                    ('meter', '=', meters[2].id),
                    ('date_time', '=', dt.datetime(2025, 3, 10, 12)),
                    ])
            self.assertEqual(original.consumption, Decimal(100))
            correction = Reading(meter=meters[2], company=company,
                date_time=original.date_time,
                value=original.value - 40, kind='actual',
                corrects=original)
            correction.save()
            Reading.validate_reading([correction])
            self.assertEqual(correction.state, 'valid')
            self.assertEqual(correction.consumption, Decimal(60))

            with Transaction().set_context(PERIOD, company=company.id,
                    companies=[company.id]):
                march = Consumption.search([
                        ('month', '=', dt.date(2025, 3, 1))])[0]
                self.assertEqual(march.consumption,
                    Decimal(360 + 60 + 1000))
                self.assertEqual(march.agreements, 3)
                second, = [r for r in Top.search([])
                    if r.agreement == customers[2]]
                self.assertEqual(second.consumption, Decimal(100 + 100 + 60))

    @with_transaction()
    def test_access_denied(self):
        "a user outside the utility groups cannot read consumption"
        pool = Pool()
        User = pool.get('res.user')
        Group = pool.get('res.group')
        ModelData = pool.get('ir.model.data')
        Consumption = pool.get('utility.reporting.consumption')
        company = create_company()
        stranger, = User.create([{'name': "Stranger", 'login': 'stranger',
                    'companies': [('add', [company.id])],
                    'company': company.id}])
        metering, = User.create([{'name': "Reader", 'login': 'reader',
                    'companies': [('add', [company.id])],
                    'company': company.id,
                    'groups': [('add', [Group(ModelData.get_id(
                                        'utility_metering',
                                        'group_metering')).id])]}])
        context = dict(PERIOD, company=company.id, companies=[company.id],
            _check_access=True)
        with Transaction().set_user(stranger.id), \
                Transaction().set_context(context):
            with self.assertRaises(UserError):
                Consumption.search([])
        with Transaction().set_user(metering.id), \
                Transaction().set_context(context):
            self.assertEqual(Consumption.search([]), [])


def check_exports(test, Model, name, prefix):
    "The XLSX and CSV exports hold the list's rows cell by cell"
    records = Model.search([])
    test.assertTrue(records)
    columns = Model._export_columns
    strings = Model.fields_get([c for c, _ in columns])
    header = [strings[c]['string'] for c, _ in columns]
    ids = [r.id for r in records]

    def value_of(record, column):
        value = getattr(record, column)
        return value.rec_name if hasattr(value, 'rec_name') else value

    ext, content, _, _ = export(name, prefix + '_xlsx', ids)
    test.assertEqual(ext, 'xlsx')
    sheet = read_xlsx(content)
    test.assertEqual([c.value for c in sheet[1]], header)
    test.assertEqual(sheet.freeze_panes, 'A2')
    test.assertEqual(sheet.max_row, len(records) + 1)
    for row, record in enumerate(records, 2):
        for col, (column, kind) in enumerate(columns, 1):
            cell = sheet.cell(row=row, column=col)
            value = value_of(record, column)
            if value is None:
                test.assertIsNone(cell.value, (row, column))
            elif kind == 'date':
                test.assertEqual(cell.value.date(), value)
            elif kind == 'quantity':
                test.assertEqual(cell.data_type, 'n')
                test.assertEqual(Decimal(str(cell.value)).quantize(
                        Decimal('0.0001')), value.quantize(
                        Decimal('0.0001')), (row, column))
                test.assertEqual(cell.number_format, '#,##0.0000')
            elif kind == 'integer':
                test.assertEqual(cell.value, value)
            elif kind == 'boolean':
                test.assertEqual(cell.data_type, 'b')
                test.assertIs(cell.value, value)
            else:
                test.assertEqual(cell.value, value)

    ext, content, _, _ = export(name, prefix + '_csv', ids)
    test.assertEqual(ext, 'csv')
    rows = list(csv.reader(io.StringIO(content.decode('utf-8'))))
    test.assertEqual(rows[0], header)
    test.assertEqual(len(rows), len(records) + 1)
    for values, record in zip(rows[1:], records):
        for text, (column, kind) in zip(values, columns):
            value = value_of(record, column)
            if value is None:
                test.assertEqual(text, '')
            elif kind == 'date':
                test.assertEqual(dt.date.fromisoformat(text), value)
            elif kind == 'quantity':
                test.assertEqual(Decimal(text), value)
            elif kind == 'integer':
                test.assertEqual(int(text), value)
            elif kind == 'boolean':
                test.assertEqual(text, 'true' if value else 'false')
            else:
                test.assertEqual(text, value)

    check_pdf(test, Model, name, prefix, records)


def pdf_text(content):
    "The PDF's text with white space runs made single spaces"
    from pypdf import PdfReader
    reader = PdfReader(io.BytesIO(content))
    return ' '.join(' '.join(
            page.extract_text() for page in reader.pages).split())


def check_pdf(test, Model, name, prefix, records):
    """The PDF export shows the report's title and every row's numbers,
    dates and flags formatted as the list shows them"""
    from ..export import PdfExport
    ext, content, _, _ = export(name, prefix + '_pdf',
        [r.id for r in records])
    test.assertEqual(ext, 'pdf')
    test.assertTrue(content.startswith(b'%PDF'))
    text = pdf_text(content)
    test.assertIn(Model.__names__()['model'], text)
    digits = records[0].currency.digits if records[0].currency else 2
    found = 0
    for record in records:
        for column, kind in Model._export_columns:
            if kind in {'char', 'many2one'}:
                # Long names wrap inside their cell.
                continue
            value = getattr(record, column)
            if value is None:
                continue
            formatted = PdfExport._pdf_value(kind, value, digits)
            test.assertIn(formatted, text, (record.id, column))
            found += 1
    test.assertTrue(found)
