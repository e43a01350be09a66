import datetime as dt
import functools
import unittest
from decimal import Decimal

from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

from utility_metering.tests.activation import activate_fixture

from .tools import (
    accounting_fixture, create_customer, create_cycle, create_payment_term,
    create_plan, create_products, pay_invoice, provider, read,
    setup_accounting, setup_dunning)

# The bill of January 2024 is dated 1 February and due 14 days later.
DUE = dt.date(2024, 2, 15)


def in_company(func):
    "Run the test as a user of a new provider"
    @functools.wraps(func)
    def wrapper(self):
        self.company = provider()
        with set_company(self.company):
            return func(self)
    return wrapper


def day(n):
    "n days after the due date"
    return DUE + dt.timedelta(days=n)


class DunningTestCase(unittest.TestCase):
    "Overdue bills: reminder, late fee, final notice"

    @classmethod
    def setUpClass(cls):
        activate_fixture(cls, 'utility_billing', accounting_fixture)

    def setup(self, company=None, **dunning):
        company = company or self.company
        revenue, tax = setup_accounting(company)
        self.revenue = revenue
        products = create_products(revenue, tax)
        self.plan = create_plan(company, products)
        self.cycle = create_cycle(company)
        self.term = create_payment_term(14)
        self.procedure = setup_dunning(company, revenue, **dunning)

    def bill(self, company=None, index=1):
        "Bill January 2024 to a new customer: 117.08 due on DUE"
        pool = Pool()
        Run = pool.get('utility.bill.run')
        Bill = pool.get('utility.bill')
        company = company or self.company
        agreement, meter = create_customer(company, index, self.plan,
            self.cycle, serial='M%s-%s' % (company.id, index))
        # On the party: get_invoice's on_change_type resets the invoice's
        # payment term to the party's.
        party = agreement.party
        party.customer_payment_term = self.term
        party.save()
        read(meter, dt.datetime(2024, 1, 1), 1000)
        read(meter, dt.datetime(2024, 2, 1), 1742)
        run = Run(company=company, cycle=self.cycle,
            period_end=dt.date(2024, 1, 31), invoice_date=dt.date(2024, 2, 1))
        run.save()
        Run.preview([run])
        # Posting warns that the 2024 due date is past (the cron skips
        # warnings); batches run here, not as tasks run after a commit.
        with Transaction().set_context(
                _skip_warnings=True, bill_run_inline=True):
            Run.process([run])
        bill, = Bill.search([('agreement', '=', agreement.id)])
        invoice = bill.invoice
        self.assertEqual(invoice.state, 'posted')
        self.assertEqual(invoice.total_amount, Decimal('117.08'))
        line, = invoice.lines_to_pay
        self.assertEqual(line.maturity_date, DUE)
        return invoice

    def run_cron(self, date):
        Dunning = Pool().get('account.dunning')
        Dunning.utility_process_dunnings(date)

    def dunning(self, invoice):
        "The dunning of the invoice, paid or not"
        Dunning = Pool().get('account.dunning')
        line, = invoice.lines_to_pay
        with Transaction().set_context(active_test=False):
            dunnings = Dunning.search([('line', '=', line.id)])
        return dunnings[0] if dunnings else None

    def fee_moves(self):
        Move = Pool().get('account.move')
        return Move.search([
                ('origin', 'like', 'account.dunning.fee.dunning_level,%')])

    @with_transaction()
    @in_company
    def test_reminder_fee_final_notice(self):
        "Levels follow the days overdue; the fixed fee posts a move once"
        self.setup(fee_amount=Decimal('5.00'))
        invoice = self.bill()

        self.run_cron(DUE)
        self.assertIsNone(self.dunning(invoice))

        self.run_cron(day(1))
        dunning = self.dunning(invoice)
        self.assertEqual(dunning.procedure, self.procedure)
        self.assertEqual(dunning.utility_notice, 'reminder')
        self.assertEqual(dunning.state, 'waiting')
        self.assertEqual(dunning.amount, Decimal('117.08'))
        self.assertEqual(self.fee_moves(), [])

        self.run_cron(day(14))
        self.assertEqual(self.dunning(invoice).utility_notice, 'reminder')

        self.run_cron(day(15))
        dunning = self.dunning(invoice)
        self.assertEqual(dunning.utility_notice, 'late_fee')
        self.assertEqual(dunning.state, 'waiting')
        fee, = dunning.fees
        self.assertEqual(fee.amount, Decimal('5.00'))
        move, = self.fee_moves()
        self.assertEqual(move.state, 'posted')
        self.assertEqual(move.company, self.company)
        lines = {(l.account, l.party, l.debit, l.credit) for l in move.lines}
        self.assertEqual(lines, {
                (invoice.account, invoice.party, Decimal('5.00'), Decimal(0)),
                (self.revenue, None, Decimal(0), Decimal('5.00')),
                })

        # Running again the same day adds no second fee.
        self.run_cron(day(15))
        self.assertEqual(len(self.fee_moves()), 1)

        self.run_cron(day(30))
        dunning = self.dunning(invoice)
        self.assertEqual(dunning.utility_notice, 'final_notice')
        self.assertEqual(dunning.state, 'waiting')
        Dunning = Pool().get('account.dunning')
        self.assertEqual(
            Dunning.search([('utility_notice', '=', 'final_notice')]),
            [dunning])

        self.run_cron(day(45))
        self.assertEqual(self.dunning(invoice).state, 'final')
        self.assertEqual(len(self.fee_moves()), 1)

    @with_transaction()
    @in_company
    def test_percentage_fee(self):
        "A percentage fee is charged on the overdue amount"
        self.setup(fee_percentage=Decimal('0.10'))
        invoice = self.bill()
        self.run_cron(day(1))
        self.run_cron(day(15))
        fee, = self.dunning(invoice).fees
        # 10 % of 117.08
        self.assertEqual(fee.amount, Decimal('11.71'))
        move, = self.fee_moves()
        self.assertEqual(move.state, 'posted')
        self.assertEqual(sum(l.debit for l in move.lines), Decimal('11.71'))

    @with_transaction()
    @in_company
    def test_payment_stops_escalation(self):
        "A customer who pays after the reminder gets no fee and no notice"
        FeeLevel = Pool().get('account.dunning.fee.dunning_level')
        self.setup()
        invoice = self.bill()
        self.run_cron(day(1))
        self.assertEqual(self.dunning(invoice).utility_notice, 'reminder')

        invoice = pay_invoice(invoice, day(5))
        self.assertEqual(invoice.state, 'paid')
        for n in [15, 30, 45]:
            self.run_cron(day(n))
        dunning = self.dunning(invoice)
        self.assertFalse(dunning.active)
        self.assertEqual(dunning.utility_notice, 'reminder')
        self.assertEqual(dunning.state, 'waiting')
        self.assertEqual(FeeLevel.search([]), [])
        self.assertEqual(self.fee_moves(), [])

    @with_transaction()
    @in_company
    def test_payment_before_due_no_dunning(self):
        "A bill paid on time is never dunned"
        self.setup()
        invoice = self.bill()
        pay_invoice(invoice, DUE)
        self.run_cron(day(1))
        self.run_cron(day(15))
        self.assertIsNone(self.dunning(invoice))

    @with_transaction()
    @in_company
    def test_party_procedure_wins(self):
        "A customer's own procedure overrides the provider's default"
        pool = Pool()
        Procedure = pool.get('account.dunning.procedure')
        self.setup()
        invoice = self.bill()
        hardship = Procedure(name="Hardship", levels=[
                {'overdue': dt.timedelta(days=10)}])
        hardship.save()
        party = invoice.party
        party.dunning_procedure = hardship
        party.save()
        self.run_cron(day(1))
        self.assertIsNone(self.dunning(invoice))
        self.run_cron(day(10))
        self.assertEqual(self.dunning(invoice).procedure, hardship)

    @with_transaction()
    @in_company
    def test_provider_without_procedure(self):
        "Nothing is dunned for a provider without a procedure"
        self.setup()
        self.company.utility_dunning_procedure = None
        self.company.save()
        invoice = self.bill()
        self.run_cron(day(15))
        self.assertIsNone(self.dunning(invoice))

    @with_transaction()
    def test_cron_per_provider(self):
        "The scheduled job duns each provider's bills with its own procedure"
        pool = Pool()
        Cron = pool.get('ir.cron')
        ModelData = pool.get('ir.model.data')
        company_a = create_company("Provider A")
        company_b = create_company("Provider B", currency=company_a.currency)
        with set_company(company_b):
            self.setup(company_b)
            procedure_b = self.procedure
            invoice_b = self.bill(company_b, index=2)
        with set_company(company_a):
            self.setup(company_a)
            procedure_a = self.procedure
            invoice_a = self.bill(company_a, index=1)

        cron = Cron(ModelData.get_id(
                'utility_billing', 'cron_process_dunnings'))
        cron.companies = [company_a]
        cron.save()
        # As trytond-cron does: root, no record rule. Today is long after
        # 2024's due dates: the first level applies.
        with Transaction().set_user(0):
            cron.run_once()
        dunning_a = self.dunning(invoice_a)
        self.assertEqual(dunning_a.procedure, procedure_a)
        self.assertEqual(dunning_a.utility_notice, 'reminder')
        self.assertEqual(dunning_a.state, 'waiting')
        self.assertIsNone(self.dunning(invoice_b))

        # Without a company in the context, every provider is dunned.
        with Transaction().set_user(0), \
                Transaction().set_context(company=None):
            self.run_cron(None)
        self.assertEqual(self.dunning(invoice_b).procedure, procedure_b)
        self.assertEqual(self.dunning(invoice_b).company, company_b)
        self.assertEqual(self.dunning(invoice_a).utility_notice, 'late_fee')

    @with_transaction()
    @in_company
    def test_default_procedure_levels(self):
        "The default procedure: reminder, late fee, final notice in order"
        self.setup(reminder_days=2, fee_days=10, final_days=20)
        levels = self.procedure.levels
        self.assertEqual([l.utility_notice for l in levels],
            ['reminder', 'late_fee', 'final_notice'])
        self.assertEqual([l.overdue.days for l in levels], [2, 10, 20])
        self.assertEqual([bool(l.fee) for l in levels], [False, True, False])
        self.assertEqual(levels[1].fee.compute_method, 'list_price')
        self.assertEqual(self.company.utility_dunning_procedure,
            self.procedure)
        Procedure = Pool().get('account.dunning.procedure')
        with self.assertRaises(ValueError):
            Procedure.create_default_procedure(self.company,
                levels[1].fee.product, levels[1].fee.journal,
                fee_days=30, final_days=30)
