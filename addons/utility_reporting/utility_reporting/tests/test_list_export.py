"""CSV, Excel and PDF exports of the main back-office lists"""
import csv
import datetime as dt
import io
import unittest
from decimal import Decimal

from trytond.model import fields
from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.tools import timezone as tz
from trytond.transaction import Transaction

from utility_billing import demo
from utility_metering.tests.activation import activate_fixture

from . import test_consumption, test_reports

TODAY = dt.date(2025, 6, 15)
# Model and export action prefix of each list.
LISTS = [
    ('utility.service.agreement', 'list_agreement'),
    ('utility.bill', 'list_bill'),
    ('utility.meter.reading', 'list_reading'),
    ('utility.service.point', 'list_service_point'),
    ('utility.meter', 'list_meter'),
    ]
ROWS = 6


def billing_demo():
    demo.generate(customers=2, months=13, today=TODAY)


def export_order(Model):
    "The order the export streams the rows in"
    names = {n for n, _ in Model._export_columns}
    order = [(n, d or 'ASC') for n, d in Model._order
        if n == 'id' or (n in names
            and not isinstance(Model._fields[n], fields.Function))]
    return order + [('id', 'ASC')]


def expected(record, column, company):
    "The value of the list's column as exported"
    field = record.__class__._fields[column]
    value = getattr(record, column)
    if isinstance(field, fields.Selection):
        return dict(field.selection).get(value, value)
    if isinstance(field, fields.DateTime) and value is not None:
        if company.timezone:
            value = value.replace(tzinfo=dt.timezone.utc).astimezone(
                tz.get_tzinfo(company.timezone))
        return value.date()
    if hasattr(value, 'rec_name'):
        return value.rec_name
    return value


class ListExportTestCase(unittest.TestCase):
    "The main lists export to Excel, CSV and PDF as the reports do"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_fixture(cls, 'utility_reporting', billing_demo)

    def provider(self):
        Company = Pool().get('company.company')
        company, = Company.search([
                ('party.name', '=', demo.metering_demo.COMPANY_NAME)])
        return company

    @with_transaction()
    def test_exports(self):
        "each list's rows cell by cell in each format"
        pool = Pool()
        company = self.provider()
        currency = company.currency
        cent = Decimal(1).scaleb(-currency.digits)
        with set_company(company), Transaction().set_context(
                company=company.id, companies=[company.id]):
            for name, prefix in LISTS:
                with self.subTest(model=name):
                    Model = pool.get(name)
                    records = Model.search([],
                        order=export_order(Model))[:ROWS]
                    self.assertTrue(records)
                    self.check(Model, name, prefix, records, company, cent)

    def check(self, Model, name, prefix, records, company, cent):
        from ..export import PdfExport, _money_format
        columns = Model._export_columns
        strings = Model.fields_get([c for c, _ in columns])
        header = [strings[c]['string'] for c, _ in columns]
        ids = [r.id for r in records]
        rows = [[expected(r, c, company) for c, _ in columns]
            for r in records]
        # Every kind of column has values in the exported rows.
        for col, (column, kind) in enumerate(columns):
            if kind in {'date', 'money', 'quantity', 'boolean'} and (
                    column not in {'end_date', 'consumption', 'deposit'}):
                self.assertTrue(any(r[col] is not None for r in rows),
                    column)

        ext, content, _, _ = test_reports.export(name, prefix + '_xlsx', ids)
        self.assertEqual(ext, 'xlsx')
        sheet = test_reports.read_xlsx(content)
        self.assertEqual([c.value for c in sheet[1]], header)
        self.assertEqual(sheet.freeze_panes, 'A2')
        self.assertEqual(sheet.max_row, len(records) + 1)
        for row, values in enumerate(rows, 2):
            for col, ((column, kind), value) in enumerate(
                    zip(columns, values), 1):
                cell = sheet.cell(row=row, column=col)
                where = (name, row, column)
                if value is None:
                    self.assertIsNone(cell.value, where)
                elif kind == 'date':
                    self.assertIsInstance(cell.value, dt.datetime, where)
                    self.assertEqual(cell.value.date(), value, where)
                    self.assertEqual(cell.number_format, 'yyyy-mm-dd')
                elif kind == 'money':
                    self.assertIsInstance(value, Decimal, where)
                    self.assertEqual(cell.data_type, 'n', where)
                    self.assertEqual(Decimal(str(cell.value)).quantize(cent),
                        value, where)
                    self.assertEqual(cell.number_format,
                        _money_format(company.currency))
                elif kind == 'quantity':
                    self.assertEqual(cell.data_type, 'n', where)
                    self.assertEqual(Decimal(str(cell.value)).quantize(
                            Decimal('0.0001')), value, where)
                elif kind == 'boolean':
                    self.assertIs(cell.value, bool(value), where)
                else:
                    self.assertEqual(cell.value, value, where)

        ext, content, _, _ = test_reports.export(name, prefix + '_csv', ids)
        self.assertEqual(ext, 'csv')
        lines = list(csv.reader(io.StringIO(content.decode('utf-8'))))
        self.assertEqual(lines[0], header)
        self.assertEqual(len(lines), len(records) + 1)
        for texts, values in zip(lines[1:], rows):
            for text, (column, kind), value in zip(texts, columns, values):
                where = (name, column)
                if value is None:
                    self.assertEqual(text, '', where)
                elif kind == 'date':
                    self.assertEqual(dt.date.fromisoformat(text), value, where)
                elif kind in {'money', 'quantity'}:
                    self.assertEqual(Decimal(text), value, where)
                elif kind == 'integer':
                    self.assertEqual(int(text), value, where)
                elif kind == 'boolean':
                    self.assertEqual(text, 'true' if value else 'false')
                else:
                    self.assertEqual(text, value, where)

        ext, content, _, _ = test_reports.export(name, prefix + '_pdf', ids)
        self.assertEqual(ext, 'pdf')
        self.assertTrue(content.startswith(b'%PDF'))
        text = test_consumption.pdf_text(content)
        self.assertIn(Model.__names__()['model'], text)
        for values in rows:
            for (column, kind), value in zip(columns, values):
                if value is None or kind in {'char', 'many2one'}:
                    # Long names wrap inside their cell.
                    continue
                self.assertIn(PdfExport._pdf_value(
                        kind, value, company.currency.digits), text,
                    (name, column))

    @with_transaction()
    def test_other_provider_refused(self):
        "another provider's records are not exported"
        pool = Pool()
        company = self.provider()
        other = create_company(name="Other Utility")
        for name, prefix in LISTS:
            Model = pool.get(name)
            with set_company(company), Transaction().set_context(
                    company=company.id, companies=[company.id]):
                ids = [r.id for r in Model.search([])[:2]]
            self.assertTrue(ids)
            with set_company(other), Transaction().set_context(
                    company=other.id, companies=[other.id]):
                with Transaction().set_context(_check_access=True):
                    self.assertEqual(Model.search([]), [])
                for ext in ['xlsx', 'csv', 'pdf']:
                    with self.subTest(model=name, ext=ext), \
                            self.assertRaises(AccessError):
                        test_reports.export(name, '%s_%s' % (prefix, ext),
                            ids)
