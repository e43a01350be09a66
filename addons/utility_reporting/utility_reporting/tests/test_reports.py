import csv
import datetime as dt
import functools
import io
import unittest
from collections import defaultdict
from decimal import Decimal
from zoneinfo import ZoneInfo

from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction

from utility_billing import demo
from utility_billing.tests.tools import (
    create_customer, create_cycle, create_payment_term, create_plan,
    create_products, pay_invoice, read, setup_accounting)

TODAY = dt.date(2025, 6, 15)
# The bill of January 2024 is dated 1 February and due 14 days later.
DUE = dt.date(2024, 2, 15)
CENT = Decimal('0.01')


def month(date):
    return date.replace(day=1)


def export(model, xml_id, ids):
    "Run the export action xml_id on ids of model"
    pool = Pool()
    ModelData = pool.get('ir.model.data')
    Report = pool.get('utility.reporting.export.%s' % xml_id.rsplit('_')[-1],
        type='report')
    action_id = ModelData.get_id('utility_reporting', xml_id)
    return Report.execute(ids, {'model': model, 'action_id': action_id})


def read_xlsx(content):
    import openpyxl
    return openpyxl.load_workbook(io.BytesIO(content)).active


class ReportsTestCase(unittest.TestCase):
    "Reports against the ledger, on the billing demo"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('utility_reporting')

    @with_transaction()
    def test_demo_reports(self):
        "billing, aging and collections equal the ledger; exports"
        pool = Pool()
        Company = pool.get('company.company')
        Bill = pool.get('utility.bill')
        RunLine = pool.get('utility.bill.run.line')
        Line = pool.get('account.move.line')
        Invoice = pool.get('account.invoice')
        Fee = pool.get('account.dunning.fee.dunning_level')
        Billing = pool.get('utility.reporting.billing')
        Aging = pool.get('utility.reporting.aging')
        Collection = pool.get('utility.reporting.collection')

        demo.generate(customers=4, months=13, today=TODAY)
        company, = Company.search([])
        context = {'company': company.id, 'companies': [company.id]}

        bills = Bill.search([('company', '=', company.id)])
        self.assertTrue(bills)

        def invoice_figures(invoice):
            "untaxed, tax, total from the invoice's move lines"
            tax_accounts = {t.account for t in invoice.taxes}
            total = tax = Decimal(0)
            for line in invoice.move.lines:
                if line.account == invoice.account:
                    total += line.debit - line.credit
                elif line.account in tax_accounts:
                    tax += line.credit - line.debit
            return total - tax, tax, total

        expected = defaultdict(lambda: defaultdict(Decimal))
        for bill in bills:
            key = (month(bill.invoice.invoice_date),
                bill.service_point.service_type.id)
            untaxed, tax, total = invoice_figures(bill.invoice)
            row = expected[key]
            row['bills'] += 1
            row['untaxed_amount'] += untaxed
            row['tax_amount'] += tax
            row['total_amount'] += total
            row['estimated_bills'] += bill.estimated
            if bill.credit_note:
                key = (month(bill.credit_note.invoice_date),
                    bill.service_point.service_type.id)
                expected[key]['credited_amount'] -= invoice_figures(
                    bill.credit_note)[0]
        for line in RunLine.search([('state', '=', 'exception')]):
            key = (month(line.run.invoice_date),
                line.agreement.service_point.service_type.id)
            expected[key]['exceptions'] += 1

        with Transaction().set_context(context):
            rows = Billing.search([])
            with self.subTest("billing per month and service"):
                got = {}
                for row in rows:
                    got[(row.month, row.service_type.id)] = {
                        n: getattr(row, n) or 0 for n in [
                            'bills', 'untaxed_amount', 'tax_amount',
                            'total_amount', 'estimated_bills',
                            'exceptions', 'credited_amount']}
                self.assertEqual(set(got), set(expected))
                for key, values in expected.items():
                    for name in got[key]:
                        self.assertEqual(got[key][name],
                            values.get(name, 0), (key, name))
                    self.assertEqual(got[key]['untaxed_amount']
                        - got[key]['credited_amount'],
                        Billing(Billing.search([
                                    ('month', '=', key[0]),
                                    ('service_type', '=', key[1]),
                                    ])[0].id).net_amount)
                self.assertEqual(sum(r.bills for r in rows), len(bills))
                row = rows[0]
                self.assertEqual(row.average_bill,
                    (row.total_amount / row.bills).quantize(CENT))
                self.assertAlmostEqual(row.estimated_share,
                    row.estimated_bills / row.bills, places=4)

        first = min(k[0] for k in expected)
        service = next(iter(expected))[1]
        with Transaction().set_context(context, from_date=first,
                to_date=first + dt.timedelta(days=40),
                service_type=service):
            with self.subTest("billing filters"):
                rows = Billing.search([])
                self.assertTrue(rows)
                self.assertEqual({r.service_type.id for r in rows},
                    {service})
                self.assertLessEqual(
                    {r.month for r in rows}, {first, month(
                            first + dt.timedelta(days=40))})

        def aging_expected(date):
            "Per party: balance and buckets from the receivable lines"
            balances = defaultdict(Decimal)
            buckets = defaultdict(lambda: defaultdict(Decimal))
            for line in Line.search([
                        ('account.type.receivable', '=', True),
                        ('move.state', '=', 'posted'),
                        ('move.company', '=', company.id),
                        ('move.date', '<=', date),
                        ]):
                amount = line.debit - line.credit
                balances[line.party.id] += amount
                if (line.reconciliation
                        and line.reconciliation.date <= date):
                    continue
                days = (date - (line.maturity_date or line.move.date)).days
                if days <= 0:
                    name = 'current'
                elif days <= 30:
                    name = 'days_1_30'
                elif days <= 60:
                    name = 'days_31_60'
                elif days <= 90:
                    name = 'days_61_90'
                elif days <= 120:
                    name = 'days_91_120'
                else:
                    name = 'days_over_120'
                buckets[line.party.id][name] += amount
            return balances, buckets

        for date in [TODAY, TODAY - dt.timedelta(days=75),
                dt.date.today()]:
            with self.subTest("aging", date=date), \
                    Transaction().set_context(context, date=date):
                balances, buckets = aging_expected(date)
                rows = Aging.search([])
                self.assertTrue(rows)
                got = {r.party.id: r for r in rows}
                for party, balance in balances.items():
                    if balance or party in got:
                        self.assertEqual(got[party].balance, balance)
                for party, row in got.items():
                    for name in ['current', 'days_1_30', 'days_31_60',
                            'days_61_90', 'days_91_120', 'days_over_120']:
                        self.assertEqual(getattr(row, name),
                            buckets[party][name], (party, name))
                    self.assertEqual(row.overdue,
                        row.balance - row.current)
                # Some customers of the demo stopped paying.
                if date == TODAY:
                    self.assertTrue(any(r.overdue > 0 for r in rows))

        with self.subTest("collections"):
            billed = defaultdict(Decimal)
            collected = defaultdict(Decimal)
            for invoice in Invoice.search([
                        ('company', '=', company.id),
                        ('type', '=', 'out'),
                        ('state', 'in', ['posted', 'paid']),
                        ]):
                billed[month(invoice.move.date)] += invoice.total_amount
                for line in invoice.payment_lines:
                    collected[month(line.move.date)] += (
                        line.credit - line.debit)
            charged = defaultdict(Decimal)
            fees_collected = defaultdict(Decimal)
            for fee in Fee.search([('dunning.company', '=', company.id)]):
                for move in fee.moves:
                    if move.state != 'posted':
                        continue
                    for line in move.lines:
                        if line.account.type.receivable:
                            charged[month(move.date)] += line.debit
                            if line.reconciliation:
                                fees_collected[month(
                                        line.reconciliation.date)] += (
                                    line.debit)
            self.assertTrue(charged, "the demo charges late fees")
            with Transaction().set_context(context):
                rows = {r.month: r for r in Collection.search([])}
            months = set(billed) | set(collected) | set(charged)
            self.assertEqual(set(rows), months | set(fees_collected))
            for key, row in rows.items():
                self.assertEqual(row.billed_amount, billed[key], key)
                self.assertEqual(row.collected_amount, collected[key], key)
                self.assertEqual(row.fees_charged, charged[key], key)
                self.assertEqual(row.fees_collected, fees_collected[key],
                    key)
                if row.billed_amount:
                    self.assertAlmostEqual(row.collection_rate,
                        float(row.collected_amount / row.billed_amount),
                        places=4)

        with self.subTest("unaccounted-for consumption"):
            self.check_unaccounted(company, context)

        with Transaction().set_context(context):
            for model, name, xml_prefix in [
                    (Billing, 'utility.reporting.billing', 'report_billing'),
                    (Aging, 'utility.reporting.aging', 'report_aging'),
                    (Collection, 'utility.reporting.collection',
                        'report_collection'),
                    ]:
                with self.subTest("exports", model=name):
                    self.check_exports(model, name, xml_prefix)

    def check_unaccounted(self, company, context):
        """The demo's supply zone: input from its bulk meter's register
        values, billed from the bills of its points, per local month"""
        pool = Pool()
        Zone = pool.get('utility.supply.zone')
        Reading = pool.get('utility.meter.reading')
        Bill = pool.get('utility.bill')
        Unaccounted = pool.get('utility.reporting.unaccounted')
        zone, = Zone.search([('company', '=', company.id)])
        self.assertTrue(zone.service_points)
        tzinfo = ZoneInfo(company.timezone)
        inputs = defaultdict(Decimal)
        readings = Reading.search([
                ('meter', 'in', [m.id for m in zone.bulk_meters]),
                ('state', 'in', ['valid', 'billed']),
                ], order=[('date_time', 'ASC')])
        self.assertEqual(len(readings), 13)
        # The first reading measures nothing; a reading at midnight
        # starting a month closes the month before.
        for previous, reading in zip(readings, readings[1:]):
            local = reading.date_time.replace(
                tzinfo=dt.timezone.utc).astimezone(tzinfo)
            key = month((local - dt.timedelta(microseconds=1)).date())
            inputs[key] += reading.value - previous.value
        billed = defaultdict(Decimal)
        for bill in Bill.search([
                    ('service_point', 'in',
                        [p.id for p in zone.service_points]),
                    ('state', '=', 'billed'),
                    ]):
            billed[month(bill.period_end)] += bill.consumption
        self.assertEqual(set(billed), set(inputs))
        with Transaction().set_context(context):
            rows = {r.month: r for r in Unaccounted.search([])}
        self.assertEqual(set(rows), set(inputs))
        for key, row in rows.items():
            self.assertEqual(row.zone, zone)
            self.assertEqual(row.system_input, inputs[key], key)
            self.assertEqual(row.billed, billed[key], key)
            self.assertEqual(row.unaccounted, inputs[key] - billed[key])
            # The bulk meter measured the points' use and some losses.
            self.assertGreater(row.unaccounted, 0, key)
            self.assertEqual(row.loss_rate, (row.unaccounted
                    / row.system_input * 100).quantize(CENT))

    def check_exports(self, Model, name, xml_prefix):
        records = Model.search([])
        ids = [r.id for r in records]
        columns = Model._export_columns
        strings = Model.fields_get([c for c, _ in columns])
        header = [strings[c]['string'] for c, _ in columns]

        def expected_value(record, column):
            value = getattr(record, column)
            if hasattr(value, 'rec_name'):
                value = value.rec_name
            return value

        ext, content, _, _ = export(name, xml_prefix + '_xlsx', ids)
        self.assertEqual(ext, 'xlsx')
        sheet = read_xlsx(content)
        self.assertEqual(sheet.freeze_panes, 'A2')
        self.assertEqual(sheet.auto_filter.ref, 'A1:%s%d' % (
                chr(ord('A') + len(columns) - 1), len(records) + 1))
        self.assertEqual([c.value for c in sheet[1]], header)
        self.assertTrue(all(c.font.b for c in sheet[1]))
        for col, (column, kind) in enumerate(columns):
            letter = chr(ord('A') + col)
            self.assertGreaterEqual(
                sheet.column_dimensions[letter].width, 10)
        self.assertEqual(sheet.max_row, len(records) + 1)
        for row, record in enumerate(records, 2):
            for col, (column, kind) in enumerate(columns, 1):
                cell = sheet.cell(row=row, column=col)
                value = expected_value(record, column)
                if value is None:
                    self.assertIsNone(cell.value, (row, column))
                elif kind == 'date':
                    self.assertEqual(cell.data_type, 'd')
                    self.assertEqual(cell.value.date(), value)
                    self.assertEqual(cell.number_format, 'yyyy-mm-dd')
                elif kind == 'money':
                    self.assertEqual(cell.data_type, 'n')
                    self.assertEqual(
                        Decimal(str(cell.value)).quantize(CENT), value,
                        (row, column))
                    self.assertIn('#,##0.00', cell.number_format)
                    self.assertIn(record.currency.symbol,
                        cell.number_format)
                elif kind == 'integer':
                    self.assertEqual(cell.data_type, 'n')
                    self.assertEqual(cell.value, value)
                    self.assertEqual(cell.number_format, '0')
                elif kind == 'percent':
                    self.assertEqual(cell.data_type, 'n')
                    self.assertAlmostEqual(cell.value, value, places=4)
                    self.assertEqual(cell.number_format, '0.00%')
                else:
                    self.assertEqual(cell.data_type, 's')
                    self.assertEqual(cell.value, value)

        ext, content, _, _ = export(name, xml_prefix + '_csv', ids)
        self.assertEqual(ext, 'csv')
        rows = list(csv.reader(io.StringIO(content.decode('utf-8'))))
        self.assertEqual(rows[0], header)
        self.assertEqual(len(rows), len(records) + 1)
        for values, record in zip(rows[1:], records):
            for text, (column, kind) in zip(values, columns):
                value = expected_value(record, column)
                if value is None:
                    self.assertEqual(text, '')
                elif kind == 'date':
                    self.assertEqual(dt.date.fromisoformat(text), value)
                elif kind == 'money':
                    self.assertEqual(Decimal(text), value)
                elif kind == 'integer':
                    self.assertEqual(int(text), value)
                elif kind == 'percent':
                    self.assertAlmostEqual(float(text), value, places=4)
                else:
                    self.assertEqual(text, value)

        from .test_consumption import check_pdf
        check_pdf(self, Model, name, xml_prefix, records)


def in_company(func):
    "Run the test as a user of a new provider"
    @functools.wraps(func)
    def wrapper(self):
        self.company = create_company()
        with set_company(self.company):
            return func(self)
    return wrapper


class AgingEdgesTestCase(unittest.TestCase):
    "Aging buckets at their edges, partial and later payments"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('utility_reporting')

    def method(self):
        "The cash payment method tools.pay_invoice created"
        Method = Pool().get('account.invoice.payment.method')
        method, = Method.search([], limit=1)
        return method

    @with_transaction()
    @in_company
    def test_edges(self):
        "a bill moves through the buckets; payments as of their dates"
        pool = Pool()
        Run = pool.get('utility.bill.run')
        Bill = pool.get('utility.bill')
        Aging = pool.get('utility.reporting.aging')
        Line = pool.get('account.move.line')
        Invoice = pool.get('account.invoice')
        company = self.company
        revenue, tax = setup_accounting(company)
        products = create_products(revenue, tax)
        plan = create_plan(company, products)
        cycle = create_cycle(company)
        term = create_payment_term(14)
        agreement, meter = create_customer(company, 1, plan, cycle)
        party = agreement.party
        party.customer_payment_term = term
        party.save()
        read(meter, dt.datetime(2024, 1, 1), 1000)
        read(meter, dt.datetime(2024, 2, 1), 1742)
        run = Run(company=company, cycle=cycle,
            period_end=dt.date(2024, 1, 31), invoice_date=dt.date(2024, 2, 1))
        run.save()
        Run.preview([run])
        with Transaction().set_context(
                _skip_warnings=True, bill_run_inline=True):
            Run.process([run])
        bill, = Bill.search([('agreement', '=', agreement.id)])
        invoice = bill.invoice
        total = invoice.total_amount
        self.assertEqual(invoice.lines_to_pay[0].maturity_date, DUE)

        def aging(days):
            date = DUE + dt.timedelta(days=days)
            with Transaction().set_context(date=date):
                rows = Aging.search([('party', '=', party.id)])
            if not rows:
                return None
            row, = rows
            return {n: getattr(row, n) for n in [
                    'current', 'days_1_30', 'days_31_60', 'days_61_90',
                    'days_91_120', 'days_over_120', 'overdue', 'balance']}

        def only(name, amount):
            values = {n: Decimal(0) for n in [
                    'current', 'days_1_30', 'days_31_60', 'days_61_90',
                    'days_91_120', 'days_over_120']}
            values[name] = amount
            values['balance'] = amount
            values['overdue'] = amount if name != 'current' else 0
            return values

        self.assertIsNone(aging(-15), "not posted yet")
        for days, name in [
                (-14, 'current'), (0, 'current'),
                (1, 'days_1_30'), (30, 'days_1_30'),
                (31, 'days_31_60'), (60, 'days_31_60'),
                (61, 'days_61_90'), (90, 'days_61_90'),
                (91, 'days_91_120'), (120, 'days_91_120'),
                (121, 'days_over_120'), (400, 'days_over_120'),
                ]:
            with self.subTest(days=days):
                self.assertEqual(aging(days), only(name, total))

        # 17.08 paid 40 days late, the rest 100 days late.
        partial = Decimal('17.08')
        pay_invoice(invoice, DUE + dt.timedelta(days=40), partial)
        with self.subTest("partial payment ages with its invoice"):
            self.assertEqual(aging(39), only('days_31_60', total))
            self.assertEqual(aging(40), only('days_31_60', total - partial))
            self.assertEqual(aging(61), only('days_61_90', total - partial))
        # Not tools.pay_invoice: it reconciles only the last payment.
        invoice.pay_invoice(invoice.amount_to_pay, self.method(),
            DUE + dt.timedelta(days=100))
        invoice = Invoice(invoice.id)
        Line.reconcile(list(invoice.lines_to_pay)
            + list(invoice.payment_lines))
        Invoice.process([invoice])
        invoice = Invoice(invoice.id)
        self.assertEqual(invoice.state, 'paid')
        with self.subTest("paid in full"):
            self.assertEqual(aging(99), only('days_91_120', total - partial))
            self.assertIsNone(aging(100))
            self.assertIsNone(aging(400))
