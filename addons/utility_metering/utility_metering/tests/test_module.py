import datetime as dt
from decimal import Decimal

from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import (
    CompanyTestMixin, create_company, set_company)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction
from trytond.transaction import Transaction


def setup_meter(company, dials=5, multiplier=1, service='electricity'):
    pool = Pool()
    Party = pool.get('party.party')
    ServiceType = pool.get('utility.service.type')
    ServicePoint = pool.get('utility.service.point')
    Meter = pool.get('utility.meter')
    party, = Party.create([{'name': 'Customer', 'addresses': [('create', [{
                            'street': '1 Main St', 'city': 'Springfield'}])]}])
    stype, = ServiceType.search([('code', '=', service)])
    point = ServicePoint(code='SP1', service_type=stype, party=party,
        address=party.addresses[0], company=company)
    point.save()
    meter = Meter(serial_number='M1', service_type=stype, dials=dials,
        multiplier=Decimal(multiplier), status='installed', company=company,
        installations=[{'service_point': point,
                'start': dt.datetime(2023, 1, 1)}])
    meter.save()
    return point, meter


def read(meter, when, value, kind='actual', validate=True):
    Reading = Pool().get('utility.meter.reading')
    reading = Reading(meter=meter, company=meter.company, date_time=when,
        value=Decimal(value), kind=kind)
    reading.save()
    if validate:
        Reading.validate_reading([reading])
    return reading


class UtilityMeteringTestCase(CompanyTestMixin, ModuleTestCase):
    "Test Utility Metering module"
    module = 'utility_metering'

    @with_transaction()
    def test_reading_workflow_and_consumption(self):
        "Readings validate, roll over, reject spikes and give consumption"
        pool = Pool()
        Meter = pool.get('utility.meter')
        company = create_company()
        with set_company(company):
            point, meter = setup_meter(company, dials=4)
            r0 = read(meter, dt.datetime(2024, 1, 1), 9000)
            r1 = read(meter, dt.datetime(2024, 1, 31), 9300)
            r2 = read(meter, dt.datetime(2024, 3, 1), 9590)
            r3 = read(meter, dt.datetime(2024, 3, 31), 200)  # rolls over
            self.assertEqual([r.state for r in [r0, r1, r2, r3]],
                ['valid'] * 4)
            self.assertTrue(r3.rollover)
            self.assertEqual(r3.consumption, Decimal(610))
            spike = read(meter, dt.datetime(2024, 4, 30), 9000)
            self.assertEqual(spike.state, 'rejected')
            self.assertIn('times', spike.rejection_reason)

            usage = point.get_consumption(dt.date(2024, 2, 1),
                dt.date(2024, 2, 29))
            # Jan 31 -> Mar 1 is 30 days of 290: Feb 1..29 is 29 days
            self.assertEqual(usage.quantity, Decimal(280) + Decimal('0.3333'))
            self.assertTrue(usage.complete)
            self.assertFalse(usage.estimated)
            usage = Meter.consumption_for([meter], dt.date(2024, 3, 1),
                dt.date(2024, 4, 30))
            self.assertFalse(usage.complete)

    @with_transaction()
    def test_meter_exchange_keeps_consumption_continuous(self):
        "Consumption spans an exchange on a read day"
        pool = Pool()
        Meter = pool.get('utility.meter')
        company = create_company()
        with set_company(company):
            point, old = setup_meter(company)
            read(old, dt.datetime(2024, 1, 1), 1000)
            new = Meter(serial_number='M2', service_type=old.service_type,
                dials=6, company=company)
            new.save()
            final, initial = Meter.exchange(old, new,
                dt.datetime(2024, 1, 16), Decimal(1150), Decimal(0))
            self.assertEqual((final.state, initial.state), ('valid', 'valid'))
            read(new, dt.datetime(2024, 2, 1), 160)
            self.assertEqual(old.status, 'removed')
            self.assertEqual(new.service_point, point)
            usage = point.get_consumption(
                dt.date(2024, 1, 1), dt.date(2024, 1, 31))
            self.assertEqual(usage.quantity, Decimal(310))
            self.assertTrue(usage.complete)
            # a reading on the removed meter after the exchange is refused
            late = read(old, dt.datetime(2024, 1, 20), 1200)
            self.assertEqual(late.state, 'rejected')

    @with_transaction()
    def test_billed_reading_immutable(self):
        "A billed reading cannot be written or deleted"
        Reading = Pool().get('utility.meter.reading')
        company = create_company()
        with set_company(company):
            _, meter = setup_meter(company)
            reading = read(meter, dt.datetime(2024, 1, 1), 10)
            Reading.bill([reading])
            with self.assertRaises(AccessError):
                Reading.write([reading], {'value': Decimal(11)})
            with self.assertRaises(AccessError):
                Reading.delete([reading])

    @with_transaction()
    def test_consumption_readings_on_period_edges(self):
        "Reads on a period's midnights bracket it alone"
        company = create_company()
        with set_company(company):
            point, meter = setup_meter(company)
            earlier = read(meter, dt.datetime(2023, 12, 1), 100)
            start = read(meter, dt.datetime(2024, 1, 1), 400)
            end = read(meter, dt.datetime(2024, 2, 1), 700)
            later = read(meter, dt.datetime(2024, 2, 15), 850)
            usage = point.get_consumption(dt.date(2024, 1, 1),
                dt.date(2024, 1, 31))
            self.assertEqual(usage.quantity, Decimal(300))
            self.assertEqual(usage.readings, [start, end])
            usage = point.get_consumption(dt.date(2024, 1, 10),
                dt.date(2024, 1, 31))
            self.assertEqual(usage.readings, [start, end])
            usage = point.get_consumption(dt.date(2023, 12, 15),
                dt.date(2024, 2, 5))
            self.assertEqual(usage.readings, [earlier, start, end, later])

    @with_transaction()
    def test_estimate_and_true_up(self):
        "An estimated read is superseded by the next actual read"
        Reading = Pool().get('utility.meter.reading')
        company = create_company()
        with set_company(company):
            point, meter = setup_meter(company)
            read(meter, dt.datetime(2024, 1, 1), 0)
            read(meter, dt.datetime(2024, 1, 31), 300)
            estimate = Reading.estimate(meter, dt.datetime(2024, 3, 1))
            self.assertEqual(estimate.kind, 'estimated')
            self.assertEqual(estimate.state, 'valid')
            self.assertEqual(estimate.value, Decimal(600))
            usage = point.get_consumption(
                dt.date(2024, 2, 1), dt.date(2024, 2, 29))
            self.assertTrue(usage.estimated)
            actual = read(meter, dt.datetime(2024, 3, 10), 700)
            estimate = Reading(estimate.id)
            self.assertEqual(estimate.state, 'superseded')
            self.assertEqual(actual.consumption, Decimal(400))

    @with_transaction()
    def test_duplicate_reading_refused(self):
        "Two readings of a meter at the same time are refused"
        company = create_company()
        with set_company(company):
            _, meter = setup_meter(company)
            read(meter, dt.datetime(2024, 1, 1), 10, validate=False)
            with self.assertRaises(UserError):
                read(meter, dt.datetime(2024, 1, 1), 11, validate=False)

    @with_transaction()
    def test_provider_isolation(self):
        "A user sees only the meters of their own provider"
        pool = Pool()
        Meter = pool.get('utility.meter')
        User = pool.get('res.user')
        Group = pool.get('res.group')
        ModelData = pool.get('ir.model.data')
        company_a = create_company('Provider A')
        company_b = create_company('Provider B')
        with set_company(company_a):
            setup_meter(company_a)
        group = Group(ModelData.get_id('utility_metering', 'group_metering'))
        user = User(login='meter_reader', companies=[company_b],
            company=company_b, groups=[group])
        user.save()
        with Transaction().set_user(user.id), \
                Transaction().set_context(_check_access=True,
                    company=company_b.id, companies=[company_b.id]):
            self.assertEqual(Meter.search([]), [])
            Installation = pool.get('utility.meter.installation')
            self.assertEqual(Installation.search([]), [])

    @with_transaction()
    def test_access_denied_without_group(self):
        "A user outside the metering groups cannot read meters"
        pool = Pool()
        Meter = pool.get('utility.meter')
        User = pool.get('res.user')
        company = create_company()
        user = User(login='clerk', companies=[company], company=company)
        user.save()
        with Transaction().set_user(user.id), \
                Transaction().set_context(_check_access=True,
                    company=company.id):
            with self.assertRaises(AccessError):
                Meter.search([])


del ModuleTestCase
