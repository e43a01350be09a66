import datetime as dt
import functools
import io
import os
import sys
import unittest
from decimal import Decimal
from unittest.mock import patch

from trytond.exceptions import UserError
from trytond.modules.company.tests import create_company, set_company
from trytond.modules.currency.tests import add_currency_rate
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction
from utility_metering.tests.activation import activate_fixture

from .tools import (
    create_customer, create_cycle, create_payment_term, create_plan,
    create_products, provider, read, setup_accounting)

try:
    import pypdf
except ImportError:  # pragma: no cover
    pypdf = None


def in_company(func):
    "Run the test as a user of the provider of springfield_fixture"
    @functools.wraps(func)
    def wrapper(self):
        self.company = provider("Springfield Power & Light")
        # Bill run batches run here, not as tasks queued after a commit.
        # Runs are back-dated: their past-due-date warning is skipped.
        with set_company(self.company), Transaction().set_context(
                bill_run_inline=True, _skip_warnings=True):
            return func(self)
    return wrapper


def springfield_fixture():
    """Springfield Power & Light: billing in dollars, with its address,
    contacts, logo and accounts"""
    pool = Pool()
    Company = pool.get('company.company')
    Currency = pool.get('currency.currency')
    Party = pool.get('party.party')
    usd, = Currency.create([{'name': "US Dollar", 'code': 'USD',
                'symbol': '$', 'digits': 2,
                'rounding': Decimal('0.01')}])
    add_currency_rate(usd, 1)
    company = create_company("Springfield Power & Light", usd)
    Party.write([company.party], {
            'addresses': [('write', [a.id for a in company.party.addresses],
                    {'street': "1 Power Plant Road",
                        'postal_code': '49007',
                        'city': "Springfield"})],
            'contact_mechanisms': [('create', [
                        {'type': 'phone', 'value': '+1 555 0100'},
                        {'type': 'email',
                            'value': 'billing@spl.example'}])],
            })
    Company.write([company], {'logo': logo(),
            'footer': "Springfield Power & Light · Customer service "
            "${phone} · ${email}"})
    # The bill's logo size, resized now: Company.get_logo would store it
    # in a new transaction, which on an in-memory SQLite database commits
    # the test's records too.
    image, width, height = company._logo_resize(600, 240)
    company._logo_store_cache(image, width, height).save()
    with set_company(company):
        setup_accounting(company)


def logo():
    """A provider's logo at the bill's logo size (600 x 200): a smaller
    one is resized on every bill (Tryton caches sizes it fits exactly)"""
    from PIL import Image, ImageDraw
    image = Image.new('RGB', (600, 200), '#0b5394')
    draw = ImageDraw.Draw(image)
    draw.polygon([(325, 20), (250, 110), (305, 110), (270, 185),
            (365, 80), (310, 80)], fill='#ffd966')
    data = io.BytesIO()
    image.save(data, format='png')
    return data.getvalue()


def pdf_text(content):
    reader = pypdf.PdfReader(io.BytesIO(content))
    return '\n'.join(p.extract_text() for p in reader.pages)


class BillReportTestCase(unittest.TestCase):
    "The bill document of a billed run"

    @classmethod
    def setUpClass(cls):
        activate_fixture(cls, 'utility_billing', springfield_fixture)

    def setup(self):
        company = self.company
        revenue, tax = setup_accounting(company)
        self.products = create_products(revenue, tax)
        self.plan = create_plan(company, self.products)
        self.cycle = create_cycle(company)
        self.term = create_payment_term(14)

    def customer(self, index, last_kind='actual'):
        """An agreement billed by the previous system until 2023, with a
        meter read monthly from February 2023 to April 2024"""
        pool = Pool()
        Agreement = pool.get('utility.service.agreement')
        Installation = pool.get('utility.meter.installation')
        agreement, meter = create_customer(self.company, index, self.plan,
            self.cycle, start=dt.date(2023, 3, 1))
        Installation.write(list(meter.installations),
            {'start': dt.datetime(2023, 2, 1)})
        Agreement.write([agreement], {'payment_term': self.term.id,
                'billed_until': dt.date(2023, 12, 31)})
        value = 10000
        month = dt.date(2023, 2, 1)
        while month <= dt.date(2024, 4, 1):
            read(meter, dt.datetime.combine(month, dt.time()), value,
                kind=last_kind if month == dt.date(2024, 4, 1) else 'actual')
            # winter use is higher
            value += 500 + (300 if month.month in {11, 12, 1, 2} else 0)
            month = (month + dt.timedelta(days=32)).replace(day=1)
        return agreement, meter

    def bill_month(self, end):
        Run = Pool().get('utility.bill.run')
        run = Run(company=self.company, cycle=self.cycle, period_end=end,
            invoice_date=end + dt.timedelta(days=1))
        run.save()
        Run.preview([run])
        Run.process([run])
        return Run(run.id)

    def pay(self, party, amount, date):
        "A payment received on the receivable account"
        pool = Pool()
        Move = pool.get('account.move')
        Journal = pool.get('account.journal')
        Period = pool.get('account.period')
        Account = pool.get('account.account')
        journal, = Journal.search([('type', '=', 'cash')], limit=1)
        cash, = Account.search([('code', '=', '1.1.1'),
                ('company', '=', self.company.id)])
        move = Move(journal=journal, date=date,
            period=Period.find(self.company, date), company=self.company,
            lines=[{'account': cash.id, 'debit': amount,
                    'credit': Decimal(0)},
                {'account': party.account_receivable_used.id,
                    'party': party.id, 'debit': Decimal(0),
                    'credit': amount}])
        move.save()
        Move.post([move])

    def render_html(self, report_name, ids):
        "The report's HTML, before WeasyPrint makes it a PDF"
        pool = Pool()
        ActionReport = pool.get('ir.action.report')
        Report = pool.get(report_name, type='report')
        action, = ActionReport.search([('report_name', '=', report_name)])
        records = Report._get_records(ids, action.model, {})
        context = Report.get_context(records, {}, {})
        return Report.render(action, context)

    def three_months(self):
        "Bills for January to March 2024; January paid in March"
        pool = Pool()
        Bill = pool.get('utility.bill')
        self.setup()
        agreement, meter = self.customer(1)
        runs = [self.bill_month(end) for end in [dt.date(2024, 1, 31),
                dt.date(2024, 2, 29), dt.date(2024, 3, 31)]]
        return agreement, meter, runs, Bill.search([],
            order=[('period_start', 'ASC')])

    @with_transaction()
    @in_company
    def test_bill_document(self):
        "The PDF and its HTML show what a customer needs to pay the bill"
        pool = Pool()
        Bill = pool.get('utility.bill')
        BillReport = pool.get('utility.bill.report', type='report')
        self.setup()
        # March ends on an estimated reading.
        agreement, meter = self.customer(1, last_kind='estimated')
        for end in [dt.date(2024, 1, 31), dt.date(2024, 2, 29),
                dt.date(2024, 3, 31)]:
            self.bill_month(end)
        january, february, march = Bill.search([],
            order=[('period_start', 'ASC')])
        self.pay(agreement.party, january.invoice.total_amount,
            dt.date(2024, 3, 10))
        invoice = march.invoice

        html = self.render_html('utility.bill.report', [march.id])
        self.assertIn(agreement.number, html)
        self.assertIn(invoice.number, html)
        self.assertIn('03/01/2024 – 03/31/2024', html)
        self.assertIn('Springfield Power &amp; Light', html)
        self.assertIn('1 Main St', html)
        self.assertIn('data:image/png;base64,', html)
        # readings: previous actual, current estimated
        self.assertIn('18,000', html)
        self.assertIn('18,500', html)
        self.assertIn('(Estimated)', html)
        self.assertIn('500 kWh', html)
        for line in invoice.lines:
            for text in line.utility_trace.splitlines():
                self.assertIn(text.replace('&', '&amp;'), html)
        self.assertIn(BillReport.format_currency(invoice.total_amount,
                None, invoice.currency), html)
        # 14 days after posting (Tryton counts payment terms from then)
        due = BillReport.format_date(min(
                l.maturity_date for l in invoice.lines_to_pay))
        self.assertIn('Please pay by <strong>%s</strong>' % due, html)
        self.assertIn(invoice.customer_payment_reference, html)
        # 13 months, March 2023 to March 2024, inline SVG
        self.assertEqual(html.count('<svg '), 1)
        self.assertEqual(html.count('<rect '), 13)
        self.assertIn('<title>Mar\xa02023 500 · ', html)
        self.assertIn('Mar\xa02024 500</title>', html)
        # only March used the estimated reading
        self.assertIn('>500*<', html)
        self.assertNotIn('800*', html)

        document, = BillReport.documents([march.id])
        feb = february.invoice.total_amount
        self.assertEqual(document.summary['previous_balance'],
            BillReport.format_currency(
                january.invoice.total_amount + feb, None, invoice.currency))
        self.assertEqual(document.summary['payments'],
            BillReport.format_currency(
                -january.invoice.total_amount, None, invoice.currency))
        self.assertEqual(document.amount_due_value,
            feb + invoice.total_amount)

        oext, content, _, name = BillReport.execute([march.id], {})
        self.assertEqual(oext, 'pdf')
        self.assertEqual(content[:5], b'%PDF-')
        if path := os.environ.get('UTILITY_BILL_SAMPLE'):
            with open(path, 'wb') as file:
                file.write(content)
        if pypdf:
            text = pdf_text(content)
            for value in [agreement.number, invoice.number,
                    invoice.customer_payment_reference.split()[0],
                    due, 'Meter readings', 'Your charges']:
                self.assertIn(value, text)

    @with_transaction()
    @in_company
    def test_account_summary(self):
        "Previous balance, payments and amount due from the receivable"
        pool = Pool()
        BillReport = pool.get('utility.bill.report', type='report')
        agreement, meter, runs, bills = self.three_months()
        january, february, march = bills
        jan, feb, mar = (b.invoice.total_amount for b in bills)
        # January: the first bill, nothing before it
        self.assertEqual(BillReport.account_summary(january), {
                'previous_balance': 0, 'payments': 0, 'other_charges': 0,
                'balance_forward': 0, 'new_charges': jan,
                'amount_due': jan})
        # A payment after January's bill, before February's
        self.pay(agreement.party, Decimal('50.00'), dt.date(2024, 2, 20))
        self.assertEqual(BillReport.account_summary(february), {
                'previous_balance': jan, 'payments': Decimal('50.00'),
                'other_charges': 0, 'balance_forward': jan - 50,
                'new_charges': feb, 'amount_due': jan - 50 + feb})
        # A later payment does not change a bill printed again.
        self.pay(agreement.party, Decimal('20.00'), dt.date(2024, 4, 5))
        summary = BillReport.account_summary(march)
        self.assertEqual(summary['previous_balance'], jan - 50 + feb)
        self.assertEqual(summary['payments'], 0)
        self.assertEqual(summary['amount_due'], jan - 50 + feb + mar)

    @with_transaction()
    @in_company
    def test_usage_history(self):
        "13 calendar months, nothing before the agreement started"
        pool = Pool()
        Agreement = pool.get('utility.service.agreement')
        BillReport = pool.get('utility.bill.report', type='report')
        agreement, meter, runs, bills = self.three_months()
        march = bills[-1]
        history = BillReport.usage_histories([march])[march.id]
        self.assertEqual([m for m, _, _ in history],
            [dt.date(2023, m, 1) for m in range(3, 13)]
            + [dt.date(2024, m, 1) for m in range(1, 4)])
        self.assertEqual([q for _, q, _ in history][:3],
            [Decimal(500), Decimal(500), Decimal(500)])
        self.assertEqual(history[-1][1], march.consumption)
        # Moved in later: the months before are someone else's use.
        Agreement.write([agreement], {'start_date': dt.date(2023, 6, 16)})
        history = BillReport.usage_histories([march])[march.id]
        self.assertEqual([q for _, q, _ in history][:3], [None] * 3)
        self.assertEqual(history[3][1], Decimal(250))  # 15 of 30 June days

    @with_transaction()
    @in_company
    def test_bill_run_report(self):
        "A run prints all its bills, one after the other, in one PDF"
        pool = Pool()
        Bill = pool.get('utility.bill')
        RunReport = pool.get('utility.bill.run.report', type='report')
        self.setup()
        first, _ = self.customer(1)
        second, _ = self.customer(2)
        second.payment_method = 'direct_debit'
        second.save()
        run = self.bill_month(dt.date(2024, 1, 31))
        self.assertEqual(run.bill_count, 2)
        html = self.render_html('utility.bill.run.report', [run.id])
        self.assertEqual(html.count('<section class="bill">'), 2)
        self.assertLess(html.index('Customer 1'), html.index('Customer 2'))
        self.assertEqual(html.count('Collected by direct debit'), 1)
        oext, content, _, _ = RunReport.execute([run.id], {})
        self.assertEqual((oext, content[:5]), ('pdf', b'%PDF-'))
        if path := os.environ.get('UTILITY_BILL_RUN_SAMPLE'):
            with open(path, 'wb') as file:
                file.write(content)
        if pypdf:
            text = pdf_text(content)
            self.assertIn(first.number, text)
            self.assertIn(second.number, text)

        # A credited bill is replaced, not sent.
        bill = Bill.search([('agreement', '=', first.id)])[0]
        new, = Bill.rebill([bill])
        bill = Bill(bill.id)
        html = self.render_html('utility.bill.report', [bill.id, new.id])
        self.assertIn('This bill has been cancelled by credit note %s'
            % bill.credit_note.number, html)
        self.assertIn('This bill replaces bill %s' % bill.invoice.number,
            html)
        self.assertEqual(RunReport.bill_ids([run.id]), [
                b.id for b in Bill.search([
                        ('agreement', '=', second.id)])])

    @with_transaction()
    @in_company
    def test_without_weasyprint(self):
        "A clear error when the server cannot make PDFs"
        pool = Pool()
        BillReport = pool.get('utility.bill.report', type='report')
        agreement, meter, runs, bills = self.three_months()
        with patch.dict(sys.modules, {'weasyprint': None}):
            with self.assertRaises(UserError):
                BillReport.execute([bills[0].id], {})
