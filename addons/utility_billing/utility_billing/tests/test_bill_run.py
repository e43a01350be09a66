import datetime as dt
import functools
import unittest
from decimal import Decimal

from trytond.exceptions import UserError, UserWarning
from trytond.model.exceptions import SQLConstraintError
from trytond.modules.company.tests import set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

from utility_metering.reading_import import import_readings

from utility_metering.tests.activation import activate_fixture

from .tools import (
    accounting_fixture, create_customer, create_cycle, create_payment_term,
    create_plan, create_products, provider, read, setup_accounting)


def in_company(func):
    "Run the test as a user of a new provider"
    @functools.wraps(func)
    def wrapper(self):
        self.company = provider()
        # Batches run in this transaction instead of queued tasks that
        # would only run after a commit.
        # Runs are back-dated: their past-due-date warning is skipped.
        with set_company(self.company), Transaction().set_context(
                bill_run_inline=True, _skip_warnings=True):
            return func(self)
    return wrapper


class BillRunTestCase(unittest.TestCase):
    "Meter readings to posted invoices through a bill run"

    @classmethod
    def setUpClass(cls):
        activate_fixture(cls, 'utility_billing', accounting_fixture)

    def setup(self):
        company = self.company
        revenue, tax = setup_accounting(company)
        self.products = create_products(revenue, tax)
        self.plan = create_plan(company, self.products)
        self.cycle = create_cycle(company)
        return company

    def new_run(self, period_end=dt.date(2024, 1, 31)):
        Run = Pool().get('utility.bill.run')
        run = Run(company=self.company, cycle=self.cycle,
            period_end=period_end, invoice_date=period_end
            + dt.timedelta(days=1))
        run.save()
        return run

    @with_transaction()
    @in_company
    def test_run_posts_invoices_and_locks_readings(self):
        "Preview prices, processing posts one invoice per agreement"
        pool = Pool()
        Run = pool.get('utility.bill.run')
        Bill = pool.get('utility.bill')
        Reading = pool.get('utility.meter.reading')
        self.setup()
        agreement, meter = create_customer(self.company, 1, self.plan,
            self.cycle)
        # Reads at midnight local bracket January exactly: 742 kWh.
        r0 = read(meter, dt.datetime(2024, 1, 1), 1000)
        r1 = read(meter, dt.datetime(2024, 2, 1), 1742)
        missing, _ = create_customer(self.company, 2, self.plan, self.cycle)
        run = self.new_run()
        Run.preview([run])
        run = Run(run.id)
        states = {l.agreement: l for l in run.lines}
        self.assertEqual(states[agreement].state, 'priced')
        # 31 × 0.40 + 600 × 0.11 + 142 × 0.135
        self.assertEqual(states[agreement].amount, Decimal('97.57'))
        self.assertEqual(states[missing].state, 'exception')
        self.assertIn(missing.number, states[missing].reason)
        self.assertEqual(Bill.search([]), [])

        Run.process([run])
        run = Run(run.id)
        self.assertEqual(run.state, 'done')
        self.assertEqual((run.bill_count, run.exception_count), (1, 1))
        bill, = Bill.search([])
        invoice = bill.invoice
        self.assertEqual(invoice.state, 'posted')
        self.assertEqual(invoice.untaxed_amount, Decimal('97.57'))
        self.assertEqual(invoice.tax_amount, Decimal('19.51'))
        self.assertEqual(invoice.total_amount, Decimal('117.08'))
        self.assertEqual([l.amount for l in invoice.lines],
            [Decimal('12.40'), Decimal('66.00'), Decimal('19.17')])
        self.assertIn('142 units over 600 units × 0.135',
            invoice.lines[2].utility_trace)
        self.assertEqual(invoice.lines[0].utility_rate_version.name, '2024')
        self.assertEqual(set(bill.readings), {r0, r1})
        self.assertEqual({r.state for r in Reading.browse([r0, r1])},
            {'billed'})
        self.assertEqual(agreement.__class__(agreement.id).billed_until,
            dt.date(2024, 1, 31))

    @with_transaction()
    @in_company
    def test_back_dated_run_warns_once_and_keeps_terms(self):
        "A run dated in the past asks once; bills keep the agreement terms"
        pool = Pool()
        Run = pool.get('utility.bill.run')
        Bill = pool.get('utility.bill')
        Address = pool.get('party.address')
        self.setup()
        agreement, meter = create_customer(self.company, 1, self.plan,
            self.cycle)
        term = create_payment_term(14)
        billing_address = Address(party=agreement.party,
            street="PO Box 7", city="Shelbyville")
        billing_address.save()
        agreement.payment_term = term
        agreement.invoice_address = billing_address
        agreement.save()
        read(meter, dt.datetime(2024, 1, 1), 1000)
        read(meter, dt.datetime(2024, 2, 1), 1100)
        run = self.new_run()
        Run.preview([run])
        with Transaction().set_context(_skip_warnings=False):
            with self.assertRaises(UserWarning) as cm:
                Run.process([run])
        self.assertIn(run.rec_name, cm.exception.message)
        self.assertEqual(Run(run.id).state, 'previewed')
        Run.process([run])
        bill, = Bill.search([])
        self.assertEqual(bill.invoice.payment_term, term)
        self.assertEqual(bill.invoice.invoice_address, billing_address)
        self.assertEqual(bill.invoice.lines_to_pay[0].maturity_date,
            dt.date(2024, 2, 15))

    def tou_plan(self):
        "Peak 16-21 on weekdays at 0.215, else off-peak at 0.075"
        Plan = Pool().get('utility.rate.plan')
        plan, = Plan.create([{
                    'company': self.company.id,
                    'code': 'TOU',
                    'name': "Time of use",
                    'service_type': self.plan.service_type.id,
                    'tou_default_register': 'offpeak',
                    'tou_periods': [('create', [{
                                    'register': 'peak',
                                    'weekdays': ['0', '1', '2', '3', '4'],
                                    'start_hour': 16,
                                    'end_hour': 21,
                                    }])],
                    'tou_holidays': [('create', [{
                                    'date': dt.date(2024, 1, 1),
                                    'name': "New Year's Day",
                                    }])],
                    'versions': [('create', [{
                                    'name': '2024',
                                    'start_date': dt.date(2024, 1, 1),
                                    'components': [('create', [{
                                                    'sequence': 1,
                                                    'code': 'customer',
                                                    'name': "Customer charge",
                                                    'kind': 'fixed',
                                                    'per': 'day',
                                                    'price': Decimal('0.40'),
                                                    'product':
                                                    self.products['fixed'].id,
                                                    }, {
                                                    'sequence': 2,
                                                    'code': 'peak',
                                                    'name': "Energy, peak",
                                                    'kind': 'variable',
                                                    'register': 'peak',
                                                    'price': Decimal('0.215'),
                                                    'product':
                                                    self.products['energy'].id,
                                                    }, {
                                                    'sequence': 3,
                                                    'code': 'offpeak',
                                                    'name': "Energy, off-peak",
                                                    'kind': 'variable',
                                                    'register': 'offpeak',
                                                    'price': Decimal('0.075'),
                                                    'product':
                                                    self.products['energy'].id,
                                                    }])],
                                    }])],
                    }])
        self.assertTrue(plan.time_of_use)
        return plan

    @with_transaction()
    @in_company
    def test_time_of_use_from_hourly_readings(self):
        "Hourly reads are priced per register; a monthly read is refused"
        pool = Pool()
        Run = pool.get('utility.bill.run')
        Bill = pool.get('utility.bill')
        self.setup()
        plan = self.tou_plan()
        hourly, _ = create_customer(self.company, 1, plan, self.cycle,
            serial='HOURLY')
        monthly, monthly_meter = create_customer(self.company, 2, plan,
            self.cycle, serial='MONTHLY')
        # One kWh every hour of January 2024, read on the hour.
        rows = ['meter,date_time,value']
        when = dt.datetime(2024, 1, 1)
        value = 1000
        while when <= dt.datetime(2024, 2, 1):
            rows.append('HOURLY,%s,%s' % (when.isoformat(), value))
            when += dt.timedelta(hours=1)
            value += 1
        result = import_readings(('\n'.join(rows) + '\n').encode(),
            self.company)
        self.assertEqual(result.errors, [])
        read(monthly_meter, dt.datetime(2024, 1, 1), 1000)
        read(monthly_meter, dt.datetime(2024, 2, 1), 1744)
        run = self.new_run()
        Run.preview([run])
        Run.process([run])
        run = Run(run.id)
        lines = {l.agreement: l for l in run.lines}
        self.assertEqual(lines[monthly].state, 'exception')
        self.assertIn('interval', lines[monthly].reason)
        self.assertIn(monthly.number, lines[monthly].reason)
        bill, = Bill.search([('agreement', '=', hourly.id)])
        # 23 weekdays less New Year's Day, 5 peak hours each: 110 kWh.
        self.assertEqual(bill.consumption, Decimal(744))
        self.assertEqual([(l.quantity, l.amount) for l in bill.invoice.lines],
            [(31, Decimal('12.40')), (110, Decimal('23.65')),
                (634, Decimal('47.55'))])

    @with_transaction()
    @in_company
    def test_rerun_and_second_run_do_not_bill_twice(self):
        "A period is billed once: re-run and another run skip it"
        pool = Pool()
        Run = pool.get('utility.bill.run')
        Bill = pool.get('utility.bill')
        Line = pool.get('utility.bill.run.line')
        self.setup()
        agreement, meter = create_customer(self.company, 1, self.plan,
            self.cycle)
        read(meter, dt.datetime(2024, 1, 1), 1000)
        read(meter, dt.datetime(2024, 2, 1), 1500)
        first, second = self.new_run(), self.new_run()
        Run.preview([first, second])
        first, second = Run.browse([first, second])
        Run.process([first])
        # The second run was previewed before the first billed.
        Line.bill_lines(list(second.lines))
        self.assertEqual(len(Bill.search([])), 1)
        line, = Run(second.id).lines
        self.assertEqual(line.state, 'exception')
        # Processing the first run again changes nothing.
        Line.bill_lines(list(Run(first.id).lines))
        self.assertEqual(len(Bill.search([])), 1)
        # The database refuses a second bill for the period.
        bill, = Bill.search([])
        with self.assertRaises(SQLConstraintError):
            Bill.copy([bill])

    @with_transaction()
    @in_company
    def test_next_period_after_billing(self):
        "After January the agreement is due for February"
        pool = Pool()
        Run = pool.get('utility.bill.run')
        Bill = pool.get('utility.bill')
        self.setup()
        agreement, meter = create_customer(self.company, 1, self.plan,
            self.cycle, start=dt.date(2024, 1, 10))
        read(meter, dt.datetime(2024, 1, 10), 1000)
        read(meter, dt.datetime(2024, 2, 1), 1300)
        read(meter, dt.datetime(2024, 3, 1), 1700)
        run = self.new_run(dt.date(2024, 2, 29))
        Run.preview([run])
        Run.process([run])
        # Both the partial first month and February, oldest first.
        bills = Bill.search([], order=[('period_start', 'ASC')])
        self.assertEqual([(b.period_start, b.period_end) for b in bills],
            [(dt.date(2024, 1, 10), dt.date(2024, 1, 31))])
        run = self.new_run(dt.date(2024, 2, 29))
        Run.preview([run])
        Run.process([run])
        bills = Bill.search([], order=[('period_start', 'ASC')])
        self.assertEqual([(b.period_start, b.period_end) for b in bills],
            [(dt.date(2024, 1, 10), dt.date(2024, 1, 31)),
                (dt.date(2024, 2, 1), dt.date(2024, 2, 29))])
        # 22 days partial: 22 × 0.40 + 300 × 0.11
        self.assertEqual(bills[0].invoice.untaxed_amount, Decimal('41.80'))

    @with_transaction()
    @in_company
    def test_missing_end_read_is_estimated(self):
        "Billing on time: an unread period end gets an estimated read"
        pool = Pool()
        Run = pool.get('utility.bill.run')
        Reading = pool.get('utility.meter.reading')
        self.setup()
        agreement, meter = create_customer(self.company, 1, self.plan,
            self.cycle, start=dt.date(2024, 2, 1))
        read(meter, dt.datetime(2023, 12, 1), 0)
        read(meter, dt.datetime(2024, 1, 1), 310)
        read(meter, dt.datetime(2024, 2, 1), 620)  # 10 kWh a day
        run = self.new_run(dt.date(2024, 2, 29))
        Run.preview([run])
        line, = Run(run.id).lines
        self.assertEqual(line.state, 'exception')
        Run.process([run])
        line, = Run(run.id).lines
        self.assertEqual(line.state, 'billed', line.reason)
        self.assertTrue(line.estimated)
        self.assertEqual(line.consumption, Decimal(290))
        estimate, = Reading.search([('kind', '=', 'estimated')])
        self.assertEqual(estimate.state, 'billed')
        self.assertEqual(estimate.date_time, dt.datetime(2024, 3, 1))
        self.assertTrue(line.bill.estimated)

    @with_transaction()
    @in_company
    def test_rebill_after_correction(self):
        "A corrected reading: credit note plus a new bill for the period"
        pool = Pool()
        Run = pool.get('utility.bill.run')
        Bill = pool.get('utility.bill')
        Reading = pool.get('utility.meter.reading')
        self.setup()
        agreement, meter = create_customer(self.company, 1, self.plan,
            self.cycle)
        read(meter, dt.datetime(2024, 1, 1), 1000)
        wrong = read(meter, dt.datetime(2024, 2, 1), 1900)
        run = self.new_run()
        Run.preview([run])
        Run.process([run])
        bill, = Bill.search([])
        self.assertEqual(bill.consumption, Decimal(900))
        with self.assertRaises(UserError):
            Reading.write([wrong], {'value': Decimal(1500)})
        correction = Reading(meter=meter, company=self.company,
            date_time=wrong.date_time, value=Decimal(1500), corrects=wrong)
        correction.save()
        Reading.validate_reading([correction])
        new, = Bill.rebill([bill])
        bill = Bill(bill.id)
        self.assertEqual(bill.state, 'credited')
        self.assertEqual(bill.credit_note.total_amount,
            -bill.invoice.total_amount)
        # Refunded: the credit note settles the original invoice.
        receivable = [l for i in [bill.invoice, bill.credit_note]
            for l in i.move.lines if l.account.type.receivable]
        self.assertEqual(len({l.reconciliation for l in receivable}), 1)
        self.assertIsNotNone(receivable[0].reconciliation)
        self.assertEqual(new.replaces, bill)
        self.assertEqual(new.consumption, Decimal(500))
        self.assertEqual((new.period_start, new.period_end),
            (bill.period_start, bill.period_end))
        self.assertEqual(new.invoice.state, 'posted')
        self.assertEqual(new.invoice.untaxed_amount, Decimal('67.40'))
        self.assertEqual(Reading(correction.id).state, 'billed')

    @with_transaction()
    @in_company
    def test_cron_runs_due_cycles(self):
        "The daily cron bills the periods that have ended, once"
        pool = Pool()
        Run = pool.get('utility.bill.run')
        Bill = pool.get('utility.bill')
        self.setup()
        agreement, meter = create_customer(self.company, 1, self.plan,
            self.cycle)
        read(meter, dt.datetime(2024, 1, 1), 1000)
        read(meter, dt.datetime(2024, 2, 1), 1300)
        self.assertEqual(Run.create_due_runs(dt.date(2024, 1, 31)), [])
        run, = Run.create_due_runs(dt.date(2024, 2, 2))
        self.assertEqual(run.state, 'done')
        self.assertEqual(len(Bill.search([])), 1)
        self.assertEqual(Run.create_due_runs(dt.date(2024, 2, 3)), [])

    @with_transaction()
    @in_company
    def test_process_queues_one_task_per_batch(self):
        "Without the inline switch, each batch becomes a queued task"
        pool = Pool()
        Run = pool.get('utility.bill.run')
        Queue = pool.get('ir.queue')
        Bill = pool.get('utility.bill')
        Configuration = pool.get('utility.billing.configuration')
        self.setup()
        config = Configuration(1)
        config.bill_batch_size = 2
        config.save()
        for i in range(5):
            agreement, meter = create_customer(self.company, i, self.plan,
                self.cycle)
            read(meter, dt.datetime(2024, 1, 1), 1000)
            read(meter, dt.datetime(2024, 2, 1), 1100 + i)
        run = self.new_run()
        Run.preview([run])
        with Transaction().set_context(bill_run_inline=False):
            Run.process([run])
        tasks = Queue.search([])
        tasks = [t for t in tasks if t.data['method'] == 'bill_lines']
        self.assertEqual(len(tasks), 3)
        self.assertEqual(Run(run.id).state, 'processing')
        self.assertEqual(Bill.search([]), [])
        for task in tasks:
            task.run()
        self.assertEqual(Run(run.id).state, 'done')
        self.assertEqual(len(Bill.search([])), 5)

    @with_transaction()
    @in_company
    def test_simulate(self):
        "Simulation prices without creating anything"
        pool = Pool()
        Plan = pool.get('utility.rate.plan')
        Invoice = pool.get('account.invoice')
        self.setup()
        result = Plan.simulate([self.plan], '2024-06-01', '2024-06-30',
            {'total': '742'})
        self.assertEqual(result['untaxed_amount'], Decimal('97.17'))
        self.assertEqual(result['tax_amount'], Decimal('19.43'))
        self.assertEqual(result['total_amount'], Decimal('116.60'))
        self.assertEqual(len(result['lines']), 3)
        self.assertEqual(Invoice.search([]), [])
        with self.assertRaises(UserError):
            Plan.simulate([self.plan], '2023-06-01', '2023-06-30',
                {'total': '742'})
