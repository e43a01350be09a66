"""Two bill runs racing over the same agreements in two connections.

Only PostgreSQL runs transactions side by side (SQLite serialises writers
on one file and the test database is in memory), so this test needs it.
"""
import datetime as dt
import threading
import unittest

from trytond import backend
from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, activate_module, drop_db
from trytond.transaction import Transaction, TransactionError
from trytond.worker import run_task

from .tools import (
    create_customer, create_cycle, create_plan, create_products, read,
    setup_accounting)

CUSTOMERS = 6


def in_new_transaction(func, context):
    "Run func in its own committed transaction, as trytond's workers do"
    extras = {}
    while True:
        with Transaction().start(DB_NAME, 1, context=context,
                **extras) as transaction:
            try:
                result = func()
            except TransactionError as e:
                transaction.rollback()
                e.fix(extras)
                continue
            transaction.commit()
            return result


@unittest.skipUnless(backend.name == 'postgresql',
    "concurrent transactions need PostgreSQL")
class BillRunConcurrencyTestCase(unittest.TestCase):
    "Two runs billing the same period at the same time bill it once"

    @classmethod
    def setUpClass(cls):
        drop_db()
        activate_module('utility_billing')

    @classmethod
    def tearDownClass(cls):
        # The data were committed: leave a clean database behind.
        drop_db()

    def setup(self):
        "Committed: a provider, customers read over January, two runs"
        pool = Pool()
        Run = pool.get('utility.bill.run')
        company = create_company()
        with set_company(company):
            revenue, tax = setup_accounting(company)
            products = create_products(revenue, tax)
            plan = create_plan(company, products)
            cycle = create_cycle(company)
            for i in range(CUSTOMERS):
                _, meter = create_customer(company, i, plan, cycle)
                read(meter, dt.datetime(2024, 1, 1), 1000)
                read(meter, dt.datetime(2024, 2, 1), 1200 + i)
            runs = Run.create([{
                        'company': company.id,
                        'cycle': cycle.id,
                        'period_end': dt.date(2024, 1, 31),
                        'invoice_date': dt.date(2024, 2, 1),
                        } for _ in range(2)])
            Run.preview(runs)
            return company.id, [r.id for r in runs]

    def test_two_runs_at_once_bill_each_period_once(self):
        "Two runs' queued batches run at the same moment: one bill each"
        company_id, run_ids = in_new_transaction(self.setup, {})
        context = {'company': company_id, '_skip_warnings': True}

        def process():
            pool = Pool()
            Run = pool.get('utility.bill.run')
            Queue = pool.get('ir.queue')
            Run.process(Run.browse(run_ids))
            tasks = Queue.search([], order=[('id', 'ASC')])
            return [t.id for t in tasks if t.data['method'] == 'bill_lines']
        # One batch per run, each an ir.queue task as a worker runs them.
        task_ids = in_new_transaction(process, context)
        self.assertEqual(len(task_ids), 2)

        barrier = threading.Barrier(2)
        errors = []

        def work(task_id):
            try:
                barrier.wait(timeout=30)
                run_task(DB_NAME, task_id)
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,))
            for t in task_ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        self.assertEqual(errors, [])

        def unfinished():
            Queue = Pool().get('ir.queue')
            return [t.id for t in Queue.search([
                        ('id', 'in', task_ids),
                        ('finished_at', '=', None),
                        ])]
        # A batch that could not get its locks in time is put back in the
        # queue; a worker runs it again later, as here.
        for _ in range(3):
            for task_id in in_new_transaction(unfinished, {}):
                run_task(DB_NAME, task_id)
        self.assertEqual(in_new_transaction(unfinished, {}), [])

        def check():
            pool = Pool()
            Bill = pool.get('utility.bill')
            Invoice = pool.get('account.invoice')
            Run = pool.get('utility.bill.run')
            bills = Bill.search([])
            self.assertEqual(len(bills), CUSTOMERS)
            self.assertEqual(len({b.agreement for b in bills}), CUSTOMERS)
            invoices = Invoice.search([('type', '=', 'out')])
            self.assertEqual(len(invoices), CUSTOMERS)
            self.assertEqual({i.state for i in invoices}, {'posted'})
            # Gapless numbering survives the race.
            numbers = sorted(int(i.number) for i in invoices)
            self.assertEqual(numbers,
                list(range(numbers[0], numbers[0] + CUSTOMERS)))
            runs = Run.browse(run_ids)
            self.assertEqual({r.state for r in runs}, {'done'})
            self.assertEqual(sum(r.bill_count for r in runs), CUSTOMERS)
            # The loser lists every agreement as already billed.
            loser = min(runs, key=lambda r: r.bill_count)
            self.assertEqual(loser.exception_count,
                CUSTOMERS - loser.bill_count)
        in_new_transaction(check, {'company': company_id})
