"""Margin per service through analytic accounts: bill lines booked on their
service's analytic account, supplier invoices as expenses, the margin
report against the journal items, and Tryton's income statement and
balance sheet untouched by the analytic lines."""
import datetime as dt
import unittest
from collections import defaultdict
from decimal import Decimal
from unittest import mock

from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError, SQLConstraintError
from trytond.modules.company.tests import set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

from utility_billing.tests.tools import (
    create_customer, create_cycle, create_plan, create_products, provider,
    read, setup_accounting)
from utility_metering.tests.activation import activate_fixture

from .test_reports import export

ADMIN = 'utility_metering.group_utility_admin'
BILLING = 'utility_billing.group_billing'
METERING = 'utility_metering.group_metering'
ACCOUNTANT = 'account.group_account'
# January 2024 is billed on 1 February, the supplier invoice is of 10 March.
YEAR = (dt.date(2024, 1, 1), dt.date(2024, 12, 31))


def month(date):
    return date.replace(day=1)


def water_plan(company, products):
    "A water rate: 5.00 per bill period and 1.80 per m³"
    pool = Pool()
    Template = pool.get('product.template')
    Uom = pool.get('product.uom')
    Plan = pool.get('utility.rate.plan')
    ServiceType = pool.get('utility.service.type')
    ModelData = pool.get('ir.model.data')
    fixed = products['fixed']
    template = Template(name="Water", type='service',
        default_uom=Uom(ModelData.get_id('product', 'uom_cubic_meter')),
        account_category=fixed.template.account_category, list_price=Decimal(0),
        products=[{'code': 'water'}])
    template.save()
    water, = ServiceType.search([('code', '=', 'water')])
    plan, = Plan.create([{
                'company': company.id,
                'code': 'WAT',
                'name': "Water",
                'service_type': water.id,
                'versions': [('create', [{
                                'name': '2024',
                                'start_date': dt.date(2024, 1, 1),
                                'components': [('create', [{
                                                'sequence': 1,
                                                'code': 'base',
                                                'name': "Base charge",
                                                'kind': 'fixed',
                                                'per': 'period',
                                                'price': Decimal('5.00'),
                                                'product': fixed.id,
                                                }, {
                                                'sequence': 2,
                                                'code': 'water',
                                                'name': "Water",
                                                'kind': 'variable',
                                                'price': Decimal('1.80'),
                                                'product': template.products[0].id,
                                                }])],
                                }])],
                }])
    return plan


def margin_fixture():
    """A provider selling electricity and water, its analytic accounts
    per service, January 2024 billed, a supplier invoice of March"""
    pool = Pool()
    Analytic = pool.get('analytic_account.account')
    ServiceAnalytic = pool.get('utility.service.analytic_account')
    ServiceType = pool.get('utility.service.type')
    Run = pool.get('utility.bill.run')
    company = provider()
    with set_company(company), Transaction().set_context(
            bill_run_inline=True, _skip_warnings=True):
        revenue, tax = setup_accounting(company)
        products = create_products(revenue, tax)
        electricity_plan = create_plan(company, products)
        water = water_plan(company, products)
        cycle = create_cycle(company)
        services, regions = Analytic.create([{
                    'name': "Services", 'code': 'SRV', 'type': 'root',
                    'state': 'opened', 'company': company.id,
                    }, {
                    'name': "Regions", 'code': 'REG', 'type': 'root',
                    'state': 'opened', 'company': company.id,
                    }])
        Analytic.create([{
                    'name': name, 'code': code, 'type': 'normal',
                    'state': 'opened', 'company': company.id,
                    'root': root.id, 'parent': root.id,
                    } for name, code, root in [
                    ("Electricity", 'SRV-E', services),
                    ("Water", 'SRV-W', services),
                    ("Overhead", 'SRV-O', services),
                    ("North", 'REG-N', regions),
                    ]])
        accounts = {a.code: a for a in Analytic.search([])}
        ServiceAnalytic.create([{
                    'company': company.id,
                    'service_type': ServiceType.search(
                        [('code', '=', code)])[0].id,
                    'account': accounts[account].id,
                    } for code, account in [
                    ('electricity', 'SRV-E'), ('water', 'SRV-W')]])

        # Two electricity and one water customers, read on the first of
        # January, February and March: the February run is left to tests.
        for index, plan in [(1, electricity_plan), (2, electricity_plan),
                (3, water)]:
            agreement, meter = create_customer(company, index, plan, cycle)
            for day, value in [(dt.datetime(2024, 1, 1), 1000),
                    (dt.datetime(2024, 2, 1), 1000 + 300 * index),
                    (dt.datetime(2024, 3, 1), 1000 + 550 * index)]:
                read(meter, day, value)
        run = Run(company=company, cycle=cycle,
            period_end=dt.date(2024, 1, 31), invoice_date=dt.date(2024, 2, 1))
        run.save()
        Run.preview([run])
        Run.process([run])
        supplier_invoice(company, accounts)


def supplier_invoice(company, accounts):
    """Posted on 10 March 2024: chemicals booked on Water, grid repair
    on Electricity, office rent on no service"""
    pool = Pool()
    Party = pool.get('party.party')
    Account = pool.get('account.account')
    Invoice = pool.get('account.invoice')
    Line = pool.get('account.invoice.line')
    Entry = pool.get('analytic.account.entry')
    supplier = Party(name="Acme Supplies",
        addresses=[{'street': "1 Industrial Way", 'city': "Springfield"}])
    supplier.save()
    expense, = Account.search([
            ('company', '=', company.id),
            ('type.expense', '=', True),
            ('closed', '!=', True),
            ], limit=1)
    invoice = Invoice(company=company, type='in', party=supplier,
        invoice_date=dt.date(2024, 3, 10), currency=company.currency)
    invoice.on_change_type()
    invoice.on_change_party()
    lines = []
    for description, amount, code in [
            ("Water treatment chemicals", Decimal('150.00'), 'SRV-W'),
            ("Grid repair", Decimal('80.25'), 'SRV-E'),
            ("Office rent", Decimal('200.00'), None)]:
        line = Line(invoice_type='in', type='line', company=company,
            currency=company.currency, party=supplier, account=expense,
            quantity=1, unit_price=amount, description=description)
        if code:
            account = accounts[code]
            line.analytic_accounts = [
                Entry(root=account.root, account=account)]
        lines.append(line)
    invoice.lines = lines
    invoice.save()
    Invoice.post([invoice])
    return invoice


class MarginTestCase(unittest.TestCase):
    "Margin per service from analytic lines, against the ledger"

    @classmethod
    def setUpClass(cls):
        activate_fixture(cls, 'utility_reporting', margin_fixture)

    @property
    def company(self):
        "The fixture's provider (in the test's transaction)"
        return provider()

    def context(self, **kwargs):
        return Transaction().set_context(company=self.company.id,
            companies=[self.company.id], **kwargs)

    def service_accounts(self):
        "{service type: analytic account} of the provider"
        ServiceAnalytic = Pool().get('utility.service.analytic_account')
        return {r.service_type: r.account for r in ServiceAnalytic.search([
                    ('company', '=', self.company.id)])}

    def check_bill(self, bill, accounts):
        "Every line of bill's invoice is on its service's account"
        account = accounts[bill.service_point.service_type]
        invoice = bill.invoice
        self.assertTrue(invoice.lines)
        for line in invoice.lines:
            entries = {e.root.code: e.account for e in line.analytic_accounts}
            # The other root gets an entry without account, as a new line
            # does by default.
            self.assertEqual(entries, {'SRV': account, 'REG': None})
        for move_line in invoice.move.lines:
            if move_line.account.type.revenue:
                self.assertEqual(
                    [(l.account, l.credit - l.debit, l.date)
                        for l in move_line.analytic_lines],
                    [(account, move_line.credit - move_line.debit,
                            invoice.invoice_date)])
            else:
                # Receivable and tax lines are not analytic.
                self.assertEqual(move_line.analytic_lines, ())

    @with_transaction()
    def test_bill_lines_carry_service_account(self):
        "After a bill run each bill line is on its service's account"
        Bill = Pool().get('utility.bill')
        accounts = self.service_accounts()
        bills = Bill.search([('company', '=', self.company.id)])
        self.assertEqual(
            sorted(b.service_point.service_type.code for b in bills),
            ['electricity', 'electricity', 'water'])
        for bill in bills:
            with self.subTest(bill=bill.rec_name):
                self.check_bill(bill, accounts)

    @with_transaction()
    def test_bill_run_reads_configuration_once(self):
        "A batch reads the service accounts once, not per bill or line"
        pool = Pool()
        Run = pool.get('utility.bill.run')
        Bill = pool.get('utility.bill')
        Cycle = pool.get('utility.billing.cycle')
        ServiceAnalytic = pool.get('utility.service.analytic_account')
        accounts = self.service_accounts()
        cycle, = Cycle.search([('company', '=', self.company.id)])
        with set_company(self.company), Transaction().set_context(
                bill_run_inline=True, _skip_warnings=True):
            run = Run(company=self.company, cycle=cycle,
                period_end=dt.date(2024, 2, 29),
                invoice_date=dt.date(2024, 3, 15))
            run.save()
            Run.preview([run])
            with mock.patch.object(ServiceAnalytic, 'accounts',
                    wraps=ServiceAnalytic.accounts) as read_accounts:
                Run.process([run])
        self.assertEqual(read_accounts.call_count, 1)
        bills = Bill.search([('bill_run', '=', run.id)])
        self.assertEqual(len(bills), 3)
        for bill in bills:
            self.check_bill(bill, accounts)

    @with_transaction()
    def test_supplier_invoice_is_expense(self):
        "A supplier invoice line on a service's account is its expense"
        pool = Pool()
        Margin = pool.get('utility.reporting.margin')
        Analytic = pool.get('analytic_account.account')
        ServiceType = pool.get('utility.service.type')
        water, = ServiceType.search([('code', '=', 'water')])
        electricity, = ServiceType.search([('code', '=', 'electricity')])
        with self.context(from_date=dt.date(2024, 3, 1),
                to_date=dt.date(2024, 3, 31)):
            rows = Margin.search([])
            self.assertEqual(
                {(r.month, r.service_type): (r.revenue, r.expenses, r.margin)
                    for r in rows}, {
                    (dt.date(2024, 3, 1), water): (
                        Decimal(0), Decimal('150.00'), Decimal('-150.00')),
                    (dt.date(2024, 3, 1), electricity): (
                        Decimal(0), Decimal('80.25'), Decimal('-80.25')),
                    })
            self.assertEqual({r.margin_rate for r in rows}, {None})
        account, = Analytic.search([('code', '=', 'SRV-W')])
        with Transaction().set_context(start_date=dt.date(2024, 3, 1),
                end_date=dt.date(2024, 3, 31)):
            account = Analytic(account.id)
            self.assertEqual(account.debit, Decimal('150.00'))
            self.assertEqual(account.balance, Decimal('-150.00'))

    def expected_margins(self):
        """{(month, service type): [revenue, expenses]} computed from the
        journal items of the bills and of the supplier invoice lines"""
        pool = Pool()
        Bill = pool.get('utility.bill')
        InvoiceLine = pool.get('account.invoice.line')
        accounts = self.service_accounts()
        services = {a: s for s, a in accounts.items()}
        expected = defaultdict(lambda: [Decimal(0), Decimal(0)])
        for bill in Bill.search([('company', '=', self.company.id)]):
            for invoice in filter(None, [bill.invoice, bill.credit_note]):
                for line in invoice.move.lines:
                    if line.account.type.revenue:
                        key = (month(line.date),
                            bill.service_point.service_type)
                        expected[key][0] += line.credit - line.debit
        for line in InvoiceLine.search([
                    ('invoice.type', '=', 'in'),
                    ('invoice.company', '=', self.company.id),
                    ]):
            service = None
            for entry in line.analytic_accounts:
                service = services.get(entry.account, service)
            if service is None:
                continue
            for move_line in line.invoice.move.lines:
                if move_line.origin != line:
                    continue
                key = (month(move_line.date), service)
                expected[key][1] += move_line.debit - move_line.credit
        return expected

    def check_margins(self, expected):
        pool = Pool()
        Margin = pool.get('utility.reporting.margin')
        Analytic = pool.get('analytic_account.account')
        accounts = self.service_accounts()
        with self.context():
            rows = Margin.search([])
        got = {(r.month, r.service_type): [r.revenue, r.expenses]
            for r in rows}
        self.assertEqual(got, dict(expected))
        for row in rows:
            self.assertEqual(row.margin, row.revenue - row.expenses)
            self.assertEqual(row.analytic_account,
                accounts[row.service_type])
            if row.revenue:
                self.assertAlmostEqual(row.margin_rate,
                    float(row.margin / row.revenue), places=4)
            # The margin of a month is the analytic account's balance.
            start = row.month
            end = (start + dt.timedelta(days=31)).replace(day=1) \
                - dt.timedelta(days=1)
            with Transaction().set_context(start_date=start, end_date=end):
                self.assertEqual(
                    Analytic(row.analytic_account.id).balance, row.margin)
        return rows

    @with_transaction()
    def test_margin_equals_ledger(self):
        "Margin per month and service equals the bills' and expenses' items"
        pool = Pool()
        Margin = pool.get('utility.reporting.margin')
        ServiceType = pool.get('utility.service.type')
        expected = self.expected_margins()
        # The bills of both services dated February, their expenses March
        self.assertEqual(len(expected), 4)
        rows = self.check_margins(expected)
        electricity, = ServiceType.search([('code', '=', 'electricity')])
        key = (dt.date(2024, 2, 1), electricity)
        # 300 and 600 kWh: 2 × 31 × 0.40 + 900 × 0.11
        self.assertEqual(expected[key], [Decimal('123.80'), Decimal(0)])
        with self.subTest("filters"):
            with self.context(service_type=electricity.id):
                self.assertEqual(
                    {r.service_type for r in Margin.search([])},
                    {electricity})
            with self.context(from_date=dt.date(2024, 2, 1),
                    to_date=dt.date(2024, 2, 29)):
                self.assertEqual({r.month for r in Margin.search([])},
                    {dt.date(2024, 2, 1)})
        with self.subTest("CSV export"):
            with self.context():
                content = export('utility.reporting.margin',
                    'report_margin_csv', [r.id for r in rows])[1]
            lines = content.decode('utf-8').splitlines()
            self.assertEqual(lines[0],
                'Month,Service,Analytic Account,Revenue,Expenses,Margin,'
                'Margin Rate')
            self.assertEqual(len(lines), len(rows) + 1)
            total = sum(Decimal(l.split(',')[5]) for l in lines[1:])
            self.assertEqual(total, sum(r.margin for r in rows))

    @with_transaction()
    def test_rebill_keeps_service_account(self):
        "A rebill's credit note and new bill stay on the service's account"
        pool = Pool()
        Bill = pool.get('utility.bill')
        with set_company(self.company):
            accounts = self.service_accounts()
            bill = Bill.search([('company', '=', self.company.id),
                    ('service_point.service_type.code', '=', 'water')])[0]
            new, = Bill.rebill([bill])
            bill = Bill(bill.id)
            self.check_bill(new, accounts)
            account = accounts[bill.service_point.service_type]
            for line in bill.credit_note.lines:
                self.assertEqual(
                    {e.root.code: e.account for e in line.analytic_accounts},
                    {'SRV': account, 'REG': None})
            self.check_margins(self.expected_margins())

    @with_transaction()
    def test_income_statement_unchanged(self):
        "Income statement and balance sheet are the journal items' alone"
        pool = Pool()
        AccountType = pool.get('account.account.type')
        Account = pool.get('account.account')
        MoveLine = pool.get('account.move.line')
        AnalyticLine = pool.get('analytic_account.line')
        Margin = pool.get('utility.reporting.margin')
        company = self.company
        # The statements' top types: not under a type of the same statement
        tops = [t for t in AccountType.search([
                    ('company', '=', company.id),
                    ('statement', 'in', ['income', 'balance']),
                    ])
            if not t.parent or t.parent.statement != t.statement]
        self.assertEqual({t.statement for t in tops}, {'income', 'balance'})

        def figures():
            with self.context(from_date=YEAR[0], to_date=YEAR[1]):
                types = {t.id: t.amount for t in AccountType.browse(tops)}
                accounts = {a.id: (a.debit, a.credit)
                    for a in Account.search([
                            ('company', '=', company.id),
                            ('type', '!=', None)])}
            return types, accounts

        types, accounts = figures()
        # The income statement from the journal items of the year
        net_income = Decimal(0)
        for line in MoveLine.search([
                    ('move.company', '=', company.id),
                    ('account.type.statement', '=', 'income'),
                    ('date', '>=', YEAR[0]), ('date', '<=', YEAR[1]),
                    ]):
            net_income += line.credit - line.debit
        income = sum(amount for id_, amount in types.items()
            if AccountType(id_).statement == 'income')
        self.assertEqual(income, net_income)
        # Only part of it is analytic: office rent is booked on no service.
        with self.context(from_date=YEAR[0], to_date=YEAR[1]):
            margins = sum(r.margin for r in Margin.search([]))
        self.assertEqual(margins - Decimal('200.00'), net_income)
        # The ledger balances.
        self.assertEqual(sum(d for d, _ in accounts.values()),
            sum(c for _, c in accounts.values()))

        # Without the analytic lines every figure stays the same.
        lines = AnalyticLine.search([])
        self.assertTrue(lines)
        AnalyticLine.delete(lines)
        self.assertEqual(figures(), (types, accounts))
        with self.context():
            self.assertEqual(Margin.search([]), [])

    @with_transaction()
    def test_configuration_rules(self):
        "One account per service and one service per account, same provider"
        pool = Pool()
        ServiceAnalytic = pool.get('utility.service.analytic_account')
        Analytic = pool.get('analytic_account.account')
        ServiceType = pool.get('utility.service.type')
        electricity, = ServiceType.search([('code', '=', 'electricity')])
        gas, = ServiceType.search([('code', '=', 'gas')])
        overhead, = Analytic.search([('code', '=', 'SRV-O')])
        water_account, = Analytic.search([('code', '=', 'SRV-W')])
        root, = Analytic.search([('code', '=', 'SRV')])
        for values in [
                {'service_type': electricity.id, 'account': overhead.id},
                {'service_type': gas.id, 'account': water_account.id}]:
            with self.subTest(values=values):
                with self.assertRaises(SQLConstraintError), \
                        Transaction().set_context(_skip_warnings=True):
                    ServiceAnalytic.create([dict(values,
                                company=self.company.id)])
                Transaction().rollback()
        # Lines are booked on normal accounts only.
        with self.assertRaises(UserError):
            ServiceAnalytic.create([{'company': self.company.id,
                        'service_type': gas.id, 'account': root.id}])

    def user(self, *groups):
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        user = User(login='user%s' % len(User.search([])),
            companies=[self.company], company=self.company,
            groups=[ModelData.get_id(*g.split('.')) for g in groups])
        user.save()
        return user

    @with_transaction()
    def test_access(self):
        "Billing staff and accountants read margins; metering staff do not"
        pool = Pool()
        Access = pool.get('ir.model.access')
        Margin = pool.get('utility.reporting.margin')
        expected = {
            'utility.reporting.margin': {
                ADMIN: 'r', BILLING: 'r', ACCOUNTANT: 'r', METERING: ''},
            'utility.service.analytic_account': {
                ADMIN: 'rwcd', BILLING: 'r', ACCOUNTANT: 'r',
                METERING: '',
                'analytic_account.group_analytic_admin': 'rwcd'},
            }
        modes = {'r': 'read', 'w': 'write', 'c': 'create', 'd': 'delete'}
        for model, grants in expected.items():
            for group, allowed in grants.items():
                user = self.user(group)
                with Transaction().set_user(user.id), \
                        Transaction().set_context(_check_access=True):
                    for letter, mode in modes.items():
                        with self.subTest(model=model, group=group,
                                mode=mode):
                            self.assertEqual(Access.check(model, mode,
                                    raise_exception=False),
                                letter in allowed)
        clerk = self.user(BILLING)
        metering = self.user(METERING)
        with Transaction().set_user(clerk.id), self.context(
                _check_access=True):
            self.assertTrue(Margin.search([]))
        with Transaction().set_user(metering.id), self.context(
                _check_access=True):
            with self.assertRaises(AccessError):
                Margin.search([])

    @with_transaction()
    def test_billing_user_bill_run(self):
        "A billing clerk's bill run books the analytic lines"
        pool = Pool()
        Run = pool.get('utility.bill.run')
        Bill = pool.get('utility.bill')
        Cycle = pool.get('utility.billing.cycle')
        accounts = self.service_accounts()
        cycle, = Cycle.search([('company', '=', self.company.id)])
        clerk = self.user(BILLING)
        with Transaction().set_user(clerk.id), self.context(
                bill_run_inline=True, _skip_warnings=True,
                _check_access=True):
            run, = Run.create([{'company': self.company.id,
                        'cycle': cycle.id,
                        'period_end': dt.date(2024, 2, 29),
                        'invoice_date': dt.date(2024, 3, 15)}])
            Run.preview([run])
            Run.process([run])
        bills = Bill.search([('bill_run', '=', run.id)])
        self.assertEqual(len(bills), 3)
        for bill in bills:
            self.check_bill(bill, accounts)
