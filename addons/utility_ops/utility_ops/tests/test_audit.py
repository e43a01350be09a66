import datetime as dt
import json
import unittest
from decimal import Decimal

from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    activate_module, drop_db, with_transaction)
from trytond.transaction import Transaction

from utility_billing.tests.tools import (
    create_customer, create_cycle, create_plan, create_products, read,
    setup_accounting)

from .tools import MODULES


class AuditTestCase(unittest.TestCase):
    "Who changed rates and readings, when, from what to what"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        drop_db()
        activate_module(MODULES)

    @classmethod
    def tearDownClass(cls):
        drop_db()
        super().tearDownClass()

    def logs(self, record, event=None):
        Log = Pool().get('utility.audit.log')
        domain = [
            ('model', '=', record.__name__),
            ('record_id', '=', record.id),
            ]
        if event:
            domain.append(('event', '=', event))
        return Log.search(domain, order=[('id', 'ASC')])

    def setup(self):
        pool = Pool()
        User = pool.get('res.user')
        company = create_company()
        with set_company(company):
            revenue, tax = setup_accounting(company)
            products = create_products(revenue, tax)
            plan = create_plan(company, products)
            cycle = create_cycle(company)
            agreement, meter = create_customer(company, 1, plan, cycle)
        clerk = User(login='clerk', name="Billing clerk",
            companies=[company], company=company)
        clerk.save()
        return company, plan, agreement, meter, clerk

    @with_transaction()
    def test_price_and_reading_changes_logged(self):
        "A rate price and a reading value change keep user, time, old, new"
        pool = Pool()
        Component = pool.get('utility.rate.component')
        Block = pool.get('utility.rate.block')
        Reading = pool.get('utility.meter.reading')
        Agreement = pool.get('utility.service.agreement')
        Log = pool.get('utility.audit.log')
        company, plan, agreement, meter, clerk = self.setup()
        transaction = Transaction()
        with set_company(company):
            reading = read(meter, dt.datetime(2024, 1, 1), 1000)
        component, = Component.search([('code', '=', 'customer')])
        block = Component.search([('code', '=', 'energy')])[0].blocks[1]

        created, = self.logs(component, 'create')
        old, new = json.loads(created.changes)['price']
        self.assertEqual((old, Decimal(new)), (None, Decimal('0.40')))
        self.assertEqual(created.user.id, transaction.user)

        # Tryton timestamps are naive UTC
        before = (dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
            - dt.timedelta(minutes=5))
        with transaction.set_user(clerk.id), \
                transaction.set_context(company=company.id):
            Component.write([component], {'price': Decimal('0.45')})
            Block.write([block], {'price': Decimal('0.14')})
            Reading.write([reading], {'value': Decimal('1010')})
            Agreement.write([agreement], {'deposit': Decimal('50')})

        log, = self.logs(component, 'write')
        self.assertEqual(log.user, clerk)
        self.assertEqual(log.event, 'write')
        self.assertEqual(log.field_names, 'price')
        old, new = json.loads(log.changes)['price']
        self.assertEqual(Decimal(old), Decimal('0.40'))
        self.assertEqual(Decimal(new), Decimal('0.45'))
        self.assertGreaterEqual(log.date, before)
        self.assertIn('price: ', log.changes_text)
        self.assertEqual(log.resource, component)

        log, = self.logs(block, 'write')
        self.assertEqual([Decimal(v) for v in
                json.loads(log.changes)['price']],
            [Decimal('0.135'), Decimal('0.14')])

        # validation writes the reading too (state, consumption)
        log, = [l for l in self.logs(reading, 'write')
            if 'value' in l.field_names.split(',')]
        self.assertEqual(log.user, clerk)
        self.assertEqual([Decimal(v) for v in
                json.loads(log.changes)['value']],
            [Decimal(1000), Decimal(1010)])

        # activation wrote the agreement's state before
        log = self.logs(agreement, 'write')[-1]
        self.assertEqual(log.user, clerk)
        self.assertEqual(Decimal(json.loads(log.changes)['deposit'][1]),
            Decimal(50))
        self.assertIn('state', json.loads(
                self.logs(agreement, 'write')[0].changes))

        # A state change is a money-relevant change too.
        Reading.write([reading], {'state': 'rejected'})
        log = self.logs(reading, 'write')[-1]
        self.assertEqual(json.loads(log.changes)['state'],
            ['valid', 'rejected'])

        # Deletion keeps the old values; the record link is gone.
        with transaction.set_user(clerk.id):
            Block.delete([block])
        log, = self.logs(block, 'delete')
        self.assertEqual(log.user, clerk)
        self.assertEqual(Decimal(json.loads(log.changes)['price'][0]),
            Decimal('0.14'))
        self.assertIsNone(log.resource)
        self.assertTrue(Log.search([('event', '=', 'delete')]))

    @with_transaction()
    def test_rollback_leaves_no_log(self):
        "A change that is rolled back leaves no audit row"
        pool = Pool()
        Component = pool.get('utility.rate.component')
        _, plan, _, _, _ = self.setup()
        component, = Component.search([('code', '=', 'customer')])
        transaction = Transaction()
        savepoint = 'audit_test'
        cursor = transaction.connection.cursor()
        cursor.execute('SAVEPOINT %s' % savepoint)
        Component.write([component], {'price': Decimal('9')})
        self.assertEqual(len(self.logs(component, 'write')), 1)
        cursor.execute('ROLLBACK TO SAVEPOINT %s' % savepoint)
        self.assertEqual(self.logs(component, 'write'), [])

    @with_transaction()
    def test_only_administrators_read_nobody_writes(self):
        "A non-admin cannot read the log; an admin reads, nobody writes"
        pool = Pool()
        Log = pool.get('utility.audit.log')
        User = pool.get('res.user')
        company, plan, _, _, clerk = self.setup()
        admin = User(Transaction().user)
        self.assertIn('Utility Administrator',
            [g.name for g in admin.groups])
        transaction = Transaction()
        with transaction.set_context(_check_access=True):
            with transaction.set_user(clerk.id):
                with self.assertRaises(AccessError):
                    Log.search([])
                with self.assertRaises(AccessError):
                    Log.read([1], ['changes'])
            logs = Log.search([])
            self.assertTrue(logs)
            Log.read([l.id for l in logs[:5]], ['changes', 'user'])
            with self.assertRaises(AccessError):
                Log.write(logs[:1], {'changes': '{}'})
            with self.assertRaises(AccessError):
                Log.delete(logs[:1])
            with self.assertRaises(AccessError):
                Log.create([{'event': 'write', 'model': 'x',
                            'record_id': 1}])
