import datetime as dt
import functools
import unittest
from decimal import Decimal

import trytond.tools.misc
from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.model.modelview import AccessButtonError
from trytond.modules.company.tests import (
    create_company, create_employee, set_company)
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    DB_NAME, activate_module, drop_db, with_transaction)
from trytond.transaction import Transaction

from .test_webhook import committed
from utility_billing.tests.tools import (
    create_customer, create_cycle, create_plan, create_products, read,
    setup_accounting)

trytond.tools.misc.import_module = functools.cache(
    trytond.tools.misc.import_module)


def setup_customer(company, index=1):
    "A customer with an agreement, a meter read on 2024-01-01 at 1000"
    revenue, tax = setup_accounting(company)
    products = create_products(revenue, tax)
    plan = create_plan(company, products)
    cycle = create_cycle(company)
    agreement, meter = create_customer(company, index, plan, cycle,
        serial='M%s-%s' % (company.id, index))
    read(meter, dt.datetime(2024, 1, 1), 1000)
    return agreement, meter


def stock_meter(company, serial):
    pool = Pool()
    Meter = pool.get('utility.meter')
    ServiceType = pool.get('utility.service.type')
    electricity, = ServiceType.search([('code', '=', 'electricity')])
    meter = Meter(serial_number=serial, service_type=electricity, dials=6,
        company=company)
    meter.save()
    return meter


def open_request(company, agreement, kind='meter_repair'):
    Request = Pool().get('utility.service.request')
    request, = Request.create([{
                'company': company.id,
                'party': agreement.party.id,
                'agreement': agreement.id,
                'kind': kind,
                'subject': "Meter display is blank",
                }])
    return request


def scheduled_order(company, request):
    WorkOrder = Pool().get('utility.work.order')
    order, = request.work_orders
    order.employee = create_employee(company)
    order.scheduled_date = dt.date(2024, 1, 20)
    order.save()
    WorkOrder.schedule([order])
    return order


class WorkOrderTestCase(unittest.TestCase):
    "Work orders from requests, results into metering"

    @classmethod
    def setUpClass(cls):
        activate_module('utility_care')

    @with_transaction()
    def test_repair_request_reading(self):
        "A meter repair request drafts a work order; its reading is stored"
        pool = Pool()
        WorkOrder = pool.get('utility.work.order')
        Reading = pool.get('utility.meter.reading')
        company = create_company()
        with set_company(company):
            agreement, meter = setup_customer(company)
            request = open_request(company, agreement)
            order, = request.work_orders
            self.assertEqual(order.state, 'draft')
            self.assertEqual(order.service_point, agreement.service_point)
            self.assertEqual(order.meter, meter)
            self.assertEqual(order.number, 'WO%06d' % order.id)
            # An issue about billing sends nobody
            dispute = open_request(company, agreement, 'billing_dispute')
            self.assertEqual(dispute.work_orders, ())
            # The button does not draft a second one
            action = request.__class__.create_work_order([request])
            self.assertEqual(action['res_id'], [order.id])

            with self.assertRaises(UserError) as cm:
                WorkOrder.schedule([order])
            self.assertIn(order.number, cm.exception.message)
            order = scheduled_order(company, request)
            self.assertEqual(order.state, 'scheduled')

            with self.assertRaises(UserError) as cm:
                WorkOrder.do([order])
            self.assertIn('no result', cm.exception.message)
            order.reading_time = dt.datetime(2024, 1, 20, 10)
            order.reading_value = Decimal(1300)
            order.result = "Display replaced"
            order.save()
            WorkOrder.do([order])
            self.assertEqual(order.state, 'done')
            self.assertIsNotNone(order.done_date)
            reading = order.reading
            self.assertEqual(reading.state, 'valid')
            self.assertEqual(reading.meter, meter)
            self.assertEqual(reading.consumption, Decimal(300))
            self.assertEqual(reading.service_point, agreement.service_point)
            self.assertEqual(Reading.search([('meter', '=', meter.id)],
                    order=[('date_time', 'ASC')]),
                [Reading.search([('value', '=', 1000)])[0], reading])
            note = request.__class__(request.id).conversation[-1]
            self.assertTrue(note.internal)
            self.assertIn(order.number, note.body)
            self.assertIn("Display replaced", note.body)
            # Done is final
            with self.assertRaises(UserError):
                WorkOrder.delete([order])

    @with_transaction()
    def test_exchange(self):
        "A work order exchanges the meter and reads the new one"
        pool = Pool()
        WorkOrder = pool.get('utility.work.order')
        ServicePoint = pool.get('utility.service.point')
        company = create_company()
        with set_company(company):
            agreement, meter = setup_customer(company)
            new = stock_meter(company, 'NEW-1')
            request = open_request(company, agreement)
            order = scheduled_order(company, request)
            order.new_meter = new
            order.exchange_time = dt.datetime(2024, 1, 20, 9)
            order.final_value = Decimal(1250)
            order.initial_value = Decimal(0)
            order.reading_time = dt.datetime(2024, 1, 31, 23)
            order.reading_value = Decimal(40)
            order.save()
            WorkOrder.do([order])
            self.assertEqual(order.final_reading.meter, meter)
            self.assertEqual(order.final_reading.consumption, Decimal(250))
            self.assertEqual(order.initial_reading.meter, new)
            self.assertEqual(order.reading.meter, new)
            self.assertEqual(order.reading.consumption, Decimal(40))
            self.assertEqual(meter.__class__(meter.id).status, 'removed')
            self.assertEqual(new.__class__(new.id).status, 'installed')
            self.assertEqual(new.__class__(new.id).service_point,
                agreement.service_point)
            # Metering sees the whole month across the exchange
            point = ServicePoint(agreement.service_point.id)
            consumption = point.get_consumption(
                dt.date(2024, 1, 1), dt.date(2024, 1, 31))
            self.assertEqual(consumption.quantity, Decimal(290))

    @with_transaction()
    def test_incomplete_exchange(self):
        "An exchange needs its readings; a refused exchange names the order"
        pool = Pool()
        WorkOrder = pool.get('utility.work.order')
        company = create_company()
        with set_company(company):
            agreement, meter = setup_customer(company)
            new = stock_meter(company, 'NEW-1')
            request = open_request(company, agreement)
            order = scheduled_order(company, request)
            order.new_meter = new
            order.exchange_time = dt.datetime(2024, 1, 20, 9)
            order.final_value = Decimal(1250)
            with self.assertRaises(UserError):
                # initial value is required with a new meter
                order.save()
            order.initial_value = Decimal(0)
            # Before the meter was installed
            order.exchange_time = dt.datetime(2023, 11, 1)
            order.save()
            with self.assertRaises(UserError) as cm:
                WorkOrder.do([order])
            self.assertIn(order.number, cm.exception.message)
            self.assertIn('after its installation', cm.exception.message)

    @with_transaction()
    def test_access(self):
        "Metering and customer service work their provider's orders only"
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        WorkOrder = pool.get('utility.work.order')
        company_a = create_company()
        company_b = create_company(name="Other Provider")
        with set_company(company_a):
            agreement, meter = setup_customer(company_a)
            request = open_request(company_a, agreement)
            order = scheduled_order(company_a, request)
            order.reading_time = dt.datetime(2024, 1, 20, 10)
            order.reading_value = Decimal(1100)
            order.save()

        def user(company, group):
            user = User(login='wo%s' % len(User.search([])),
                companies=[company], company=company,
                groups=[ModelData.get_id(*group.split('.'))])
            user.save()
            return user

        def as_user(user, company):
            return Transaction().set_user(user.id), \
                Transaction().set_context(company=company.id,
                    companies=[company.id], _check_access=True)

        metering_b = user(company_b, 'utility_metering.group_metering')
        service_a = user(company_a, 'utility_billing.group_customer_service')
        metering_a = user(company_a, 'utility_metering.group_metering')
        billing_a = user(company_a, 'utility_billing.group_billing')

        u, c = as_user(metering_b, company_b)
        with u, c:
            self.assertEqual(WorkOrder.search([]), [])
            with self.assertRaises(AccessError):
                WorkOrder.read([order.id], ['number'])
        u, c = as_user(service_a, company_a)
        with u, c:
            self.assertEqual(WorkOrder.search([]), [order])
            WorkOrder.write([order], {'description': "Bring a ladder"})
            # Recording into metering is for metering staff
            with self.assertRaises(AccessButtonError):
                WorkOrder.do([order])
            with self.assertRaises(AccessError):
                WorkOrder.delete([order])
        u, c = as_user(billing_a, company_a)
        with u, c:
            self.assertEqual(WorkOrder.search([]), [order])
            with self.assertRaises(AccessError):
                WorkOrder.write([order], {'description': "No"})
        u, c = as_user(metering_a, company_a)
        with u, c:
            WorkOrder.do([order])
        self.assertEqual(WorkOrder(order.id).state, 'done')
        self.assertEqual(WorkOrder(order.id).reading.value, Decimal(1100))


class WorkOrderRollbackTestCase(unittest.TestCase):
    "A refused result leaves nothing behind (committed transactions)"

    @classmethod
    def setUpClass(cls):
        drop_db()
        activate_module('utility_care')

    @classmethod
    def tearDownClass(cls):
        drop_db()

    def test_rejected_reading_nothing_written(self):
        "A rejected reading after an exchange rolls the exchange back too"
        def create():
            company = create_company()
            with set_company(company):
                agreement, meter = setup_customer(company)
                new = stock_meter(company, 'NEW-1')
                request = open_request(company, agreement)
                order = scheduled_order(company, request)
                order.new_meter = new
                order.exchange_time = dt.datetime(2024, 1, 20, 9)
                order.final_value = Decimal(1250)
                order.initial_value = Decimal(0)
                # The new meter cannot read negative
                order.reading_time = dt.datetime(2024, 1, 31, 23)
                order.reading_value = Decimal(-5)
                order.save()
                return order.id, meter.id, new.id, request.id, company.id
        order_id, meter_id, new_id, request_id, company_id = committed(
            create)

        def counts():
            pool = Pool()
            return (
                pool.get('utility.meter.reading').search([], count=True),
                pool.get('utility.meter.installation').search(
                    [], count=True),
                pool.get('utility.service.request.message').search(
                    [], count=True))

        before = committed(counts, commit=False)

        def do():
            WorkOrder = Pool().get('utility.work.order')
            WorkOrder.do([WorkOrder(order_id)])
        with self.assertRaises(UserError) as cm:
            committed(do, context={'company': company_id})
        message = cm.exception.message
        self.assertIn('WO%06d' % order_id, message)
        self.assertIn('NEW-1', message)
        self.assertIn('negative', message)
        self.assertIn('Nothing was recorded', message)
        with Transaction().start(DB_NAME, 0):
            pool = Pool()
            WorkOrder = pool.get('utility.work.order')
            Meter = pool.get('utility.meter')
            self.assertEqual(counts(), before)
            self.assertEqual(Pool().get('utility.service.request')(
                    request_id).state, 'new')
            order = WorkOrder(order_id)
            self.assertEqual(order.state, 'scheduled')
            self.assertIsNone(order.final_reading)
            self.assertIsNone(order.reading)
            self.assertEqual(Meter(meter_id).status, 'installed')
            self.assertEqual(Meter(new_id).status, 'stock')
            self.assertEqual(len(Meter(meter_id).installations), 1)

        # Corrected, it goes through
        def correct():
            WorkOrder = Pool().get('utility.work.order')
            order = WorkOrder(order_id)
            order.reading_value = Decimal(40)
            order.save()
            WorkOrder.do([order])
            return order.state, order.reading.value
        self.assertEqual(committed(correct, context={'company': company_id}),
            ('done', Decimal(40)))
