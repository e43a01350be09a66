import datetime as dt
import unittest
from decimal import Decimal
from unittest.mock import patch

from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    activate_module, drop_db, with_transaction)
from trytond.transaction import Transaction

from utility_metering.route import ExpectedReadsError, RouteValidationError

from .test_module import read, setup_meter

D = dt.date


def create_route(company, code='R1', **values):
    Route = Pool().get('utility.reading.route')
    values.setdefault('frequency', 'monthly')
    values.setdefault('start_date', D(2024, 1, 1))
    if values['frequency'] != 'days':
        values.setdefault('read_day', 15)
    route = Route(company=company, code=code, name="Route %s" % code,
        **values)
    route.save()
    return route


def read_ok(meter, when, value, **kwargs):
    "A reading that is not rejected, so only its date and kind matter"
    reading = read(meter, when, value, **kwargs)
    assert reading.state != 'rejected', reading.rejection_reason
    return reading


def add_point(point, code):
    "Another point with a meter installed, like the one of setup_meter"
    pool = Pool()
    ServicePoint = pool.get('utility.service.point')
    Meter = pool.get('utility.meter')
    other = ServicePoint(code=code, service_type=point.service_type,
        party=point.party, address=point.address, company=point.company)
    other.save()
    meter = Meter(serial_number='M-' + code, service_type=point.service_type,
        status='installed', company=point.company,
        installations=[{'service_point': other,
                'start': dt.datetime(2023, 1, 1)}])
    meter.save()
    return other, meter


def statuses(expected):
    return [(e.date, e.status) for e in expected]


class ReadingRouteTestCase(unittest.TestCase):
    "Test reading routes, their schedules and expected reads"

    @classmethod
    def setUpClass(cls):
        drop_db()
        activate_module(['utility_metering'])

    def schedule(self, start, end, **values):
        Route = Pool().get('utility.reading.route')
        return Route(**values).scheduled_dates(start, end)

    @with_transaction()
    def test_monthly_clamped_to_month_end(self):
        "Day 31 reads on the last day of shorter months, Feb 29 in 2024"
        self.assertEqual(self.schedule(D(2024, 1, 1), D(2024, 6, 30),
                frequency='monthly', start_date=D(2024, 1, 1), read_day=31),
            [D(2024, 1, 31), D(2024, 2, 29), D(2024, 3, 31), D(2024, 4, 30),
                D(2024, 5, 31), D(2024, 6, 30)])
        self.assertEqual(self.schedule(D(2023, 1, 1), D(2023, 4, 30),
                frequency='monthly', start_date=D(2022, 12, 1), read_day=30),
            [D(2023, 1, 30), D(2023, 2, 28), D(2023, 3, 30), D(2023, 4, 30)])
        # 29 is the leap day in 2024 only
        self.assertEqual(self.schedule(D(2023, 2, 1), D(2024, 3, 1),
                frequency='monthly', start_date=D(2023, 1, 1), read_day=29
                )[::12], [D(2023, 2, 28), D(2024, 2, 29)])

    @with_transaction()
    def test_bounds_and_start_date(self):
        "Both bounds are included and nothing is scheduled before the start"
        self.assertEqual(self.schedule(D(2024, 2, 15), D(2024, 4, 15),
                frequency='monthly', start_date=D(2024, 1, 1), read_day=15),
            [D(2024, 2, 15), D(2024, 3, 15), D(2024, 4, 15)])
        self.assertEqual(self.schedule(D(2024, 2, 16), D(2024, 4, 14),
                frequency='monthly', start_date=D(2024, 1, 1), read_day=15),
            [D(2024, 3, 15)])
        self.assertEqual(self.schedule(D(2024, 1, 1), D(2024, 3, 31),
                frequency='monthly', start_date=D(2024, 1, 20), read_day=15),
            [D(2024, 2, 15), D(2024, 3, 15)])
        self.assertEqual(self.schedule(D(2024, 5, 1), D(2024, 4, 1),
                frequency='monthly', start_date=D(2024, 1, 1), read_day=15),
            [])

    @with_transaction()
    def test_bimonthly_and_quarterly_follow_start_month(self):
        "Every two or three months from the month of the start date"
        self.assertEqual(self.schedule(D(2024, 4, 1), D(2024, 12, 31),
                frequency='bimonthly', start_date=D(2024, 1, 1), read_day=31),
            [D(2024, 5, 31), D(2024, 7, 31), D(2024, 9, 30),
                D(2024, 11, 30)])
        self.assertEqual(self.schedule(D(2023, 1, 1), D(2024, 12, 31),
                frequency='quarterly', start_date=D(2023, 11, 15),
                read_day=31),
            [D(2023, 11, 30), D(2024, 2, 29), D(2024, 5, 31),
                D(2024, 8, 31), D(2024, 11, 30)])

    @with_transaction()
    def test_every_n_days_from_anchor(self):
        "Every N days counts from the start date across Feb 29"
        self.assertEqual(self.schedule(D(2024, 2, 21), D(2024, 3, 21),
                frequency='days', start_date=D(2024, 2, 20),
                interval_days=10),
            [D(2024, 3, 1), D(2024, 3, 11), D(2024, 3, 21)])
        self.assertEqual(self.schedule(D(2024, 1, 1), D(2024, 1, 10),
                frequency='days', start_date=D(2023, 12, 25),
                interval_days=7),
            [D(2024, 1, 1), D(2024, 1, 8)])

    @with_transaction()
    def test_tolerance_shorter_than_half_interval(self):
        "A tolerance that lets windows overlap is refused, naming the route"
        company = create_company()
        with set_company(company):
            create_route(company, 'OK', tolerance_days=13)
            with self.assertRaisesRegex(RouteValidationError, 'Route LONG'):
                create_route(company, 'LONG', tolerance_days=14)
            create_route(company, 'D5', frequency='days', interval_days=5,
                tolerance_days=2)
            with self.assertRaises(RouteValidationError):
                create_route(company, 'D4', frequency='days',
                    interval_days=4, tolerance_days=2)

    @with_transaction()
    def test_route_code_unique_per_provider(self):
        "Two routes of a provider cannot share a code"
        company = create_company()
        other = create_company('Other Provider')
        with set_company(company):
            create_route(company, 'R1')
            create_route(other, 'R1')
            with self.assertRaisesRegex(Exception, 'unique per provider'):
                create_route(company, 'R1')

    @with_transaction()
    def test_expected_reads_statuses_and_window_edges(self):
        "Reads on the window edges count; after the window a read is missed"
        Route = Pool().get('utility.reading.route')
        company = create_company()
        with set_company(company):
            point, meter = setup_meter(company)
            route = create_route(company, tolerance_days=3)
            point.route = route
            point.save()
            read_ok(meter, dt.datetime(2024, 1, 12, 9), 100)  # first day
            read_ok(meter, dt.datetime(2024, 2, 19, 9), 200)  # a day late
            read_ok(meter, dt.datetime(2024, 3, 18, 9), 300)  # last day
            # an estimate or a rejected reading is not a read; a draft is
            read_ok(meter, dt.datetime(2024, 4, 15, 9), 400, kind='estimated')
            rejected = read(meter, dt.datetime(2024, 4, 16, 9), 99999)
            self.assertEqual(rejected.state, 'rejected')
            read_ok(meter, dt.datetime(2024, 5, 14, 9), 500, validate=False)
            start, end = D(2024, 1, 1), D(2024, 6, 30)
            expected = Route.expected_reads([route], start, end,
                today=D(2024, 6, 18))
            self.assertEqual(statuses(expected), [
                    (D(2024, 1, 15), 'read'),
                    (D(2024, 2, 15), 'missed'),
                    (D(2024, 3, 15), 'read'),
                    (D(2024, 4, 15), 'missed'),
                    (D(2024, 5, 15), 'read'),
                    (D(2024, 6, 15), 'due'),  # window ends today
                    ])
            first = expected[0]
            self.assertEqual((first.service_point, first.meter, first.route),
                (point, meter, route))
            self.assertEqual((first.window_start, first.window_end),
                (D(2024, 1, 12), D(2024, 1, 18)))
            self.assertEqual(first.reading.value, Decimal(100))
            self.assertEqual(expected[4].reading.state, 'draft')
            expected = Route.expected_reads([route], start, end,
                today=D(2024, 6, 19))
            self.assertEqual(expected[-1].status, 'missed')
            # before its window opens a read is due too
            expected = Route.expected_reads([route], start, end,
                today=D(2024, 6, 1))
            self.assertEqual(expected[-1].status, 'due')

    @with_transaction()
    def test_expected_reads_points_and_today_default(self):
        "Inactive points and points of other routes are left out"
        pool = Pool()
        Route = pool.get('utility.reading.route')
        Date = pool.get('ir.date')
        company = create_company()
        with set_company(company):
            point, meter = setup_meter(company)
            route = create_route(company)
            other = create_route(company, 'R2')
            point.route = route
            point.save()
            today = Date.today()
            start, end = today, today + dt.timedelta(days=62)
            expected = Route.expected_reads([route], start, end)
            self.assertTrue(expected)
            self.assertEqual({e.status for e in expected}, {'due'})
            self.assertEqual(Route.expected_reads([other], start, end), [])
            point.status = 'inactive'
            point.save()
            self.assertEqual(Route.expected_reads([route], start, end), [])

    @with_transaction()
    def test_expected_reads_batched(self):
        "Points, installations and readings are searched once for all"
        pool = Pool()
        Route = pool.get('utility.reading.route')
        ServicePoint = pool.get('utility.service.point')
        Installation = pool.get('utility.meter.installation')
        Reading = pool.get('utility.meter.reading')
        company = create_company()
        with set_company(company):
            point, meter = setup_meter(company)
            routes = [create_route(company, 'R1'),
                create_route(company, 'R2', read_day=20)]
            points = [(point, meter)] + [add_point(point, code)
                for code in ['SP2', 'SP3', 'SP4']]
            for i, (p, m) in enumerate(points):
                p.route = routes[i % 2]
                p.save()
                read_ok(m, dt.datetime(2024, 1, 15 + 5 * (i % 2), 9), 10)
            with patch.object(ServicePoint, 'search',
                        wraps=ServicePoint.search) as point_search, \
                    patch.object(Installation, 'search',
                        wraps=Installation.search) as inst_search, \
                    patch.object(Reading, 'search',
                        wraps=Reading.search) as reading_search:
                expected = Route.expected_reads(routes, D(2024, 1, 1),
                    D(2024, 3, 31), today=D(2024, 3, 1))
            self.assertEqual((point_search.call_count, inst_search.call_count,
                    reading_search.call_count), (1, 1, 1))
            self.assertEqual(len(expected), 4 * 3)
            self.assertEqual(
                [(e.service_point.code, e.status) for e in expected[:4]],
                [('SP1', 'read'), ('SP3', 'read'),
                    ('SP2', 'read'), ('SP4', 'read')])
            self.assertEqual({e.status for e in expected[4:]},
                {'missed', 'due'})

    @with_transaction()
    def test_expected_reads_follow_meter_exchange(self):
        "The meter installed on the scheduled date is the one to read"
        pool = Pool()
        Meter = pool.get('utility.meter')
        Route = pool.get('utility.reading.route')
        company = create_company()
        with set_company(company):
            point, old = setup_meter(company)
            route = create_route(company, tolerance_days=2)
            point.route = route
            point.save()
            read_ok(old, dt.datetime(2024, 1, 15, 9), 100)
            new = Meter(serial_number='M2', service_type=old.service_type,
                dials=6, company=company)
            new.save()
            Meter.exchange(old, new, dt.datetime(2024, 2, 1, 9),
                Decimal(200), Decimal(0))
            read_ok(new, dt.datetime(2024, 3, 16, 9), 100)
            expected = Route.expected_reads([route], D(2024, 1, 1),
                D(2024, 3, 31), today=D(2024, 4, 1))
            self.assertEqual(
                [(e.date, e.meter.serial_number, e.status)
                    for e in expected], [
                    (D(2024, 1, 15), 'M1', 'read'),
                    (D(2024, 2, 15), 'M2', 'missed'),
                    (D(2024, 3, 15), 'M2', 'read'),
                    ])

    @with_transaction()
    def test_expected_reads_local_date_across_dst(self):
        "A read is dated by the provider's local day, with its DST offset"
        pool = Pool()
        Route = pool.get('utility.reading.route')
        company = create_company()
        company.timezone = 'America/New_York'
        company.save()
        with set_company(company):
            point, meter = setup_meter(company)
            route = create_route(company, read_day=10, tolerance_days=0)
            point.route = route
            point.save()
            # 23:30 on Mar 10 in New York just after DST began (UTC-4)
            read_ok(meter, dt.datetime(2024, 3, 11, 3, 30), 100)
            # 00:30 on Apr 10 (UTC-4): the 9th in UTC-5
            read_ok(meter, dt.datetime(2024, 4, 10, 4, 30), 200)
            # 22:00 on May 9 in New York
            read_ok(meter, dt.datetime(2024, 5, 10, 2), 300)
            # 23:30 on Nov 10 after DST ended (UTC-5): the 11th in UTC-4
            read_ok(meter, dt.datetime(2024, 11, 11, 4, 30), 900)
            expected = Route.expected_reads([route], D(2024, 3, 1),
                D(2024, 5, 31), today=D(2024, 12, 31))
            self.assertEqual(statuses(expected), [
                    (D(2024, 3, 10), 'read'),
                    (D(2024, 4, 10), 'read'),
                    (D(2024, 5, 10), 'missed'),
                    ])
            expected = Route.expected_reads([route], D(2024, 11, 1),
                D(2024, 11, 30), today=D(2024, 12, 31))
            self.assertEqual(statuses(expected), [(D(2024, 11, 10), 'read')])

    @with_transaction()
    def test_route_rule_denies_other_provider(self):
        "A user of another provider neither finds nor reads a route"
        pool = Pool()
        Route = pool.get('utility.reading.route')
        User = pool.get('res.user')
        Group = pool.get('res.group')
        ModelData = pool.get('ir.model.data')
        company_a = create_company('Provider A')
        company_b = create_company('Provider B')
        with set_company(company_a):
            route = create_route(company_a)
        group = Group(ModelData.get_id('utility_metering', 'group_metering'))
        user = User(login='route_planner', companies=[company_b],
            company=company_b, groups=[group])
        user.save()
        with Transaction().set_user(user.id), \
                Transaction().set_context(_check_access=True,
                    company=company_b.id, companies=[company_b.id]):
            self.assertEqual(Route.search([]), [])
            with self.assertRaises(AccessError):
                Route.read([route.id], ['code'])

    @with_transaction()
    def test_expected_reads_wizard(self):
        "The wizard lists the reads of the provider's routes by status"
        pool = Pool()
        Wizard = pool.get('utility.reading.expected.list', type='wizard')
        company = create_company()
        with set_company(company):
            point, meter = setup_meter(company)
            route = create_route(company)
            point.route = route
            point.save()
            read_ok(meter, dt.datetime(2024, 1, 15, 9), 100)
            session_id, _, _ = Wizard.create()
            with Transaction().set_context(active_model='ir.ui.menu'):
                start = Wizard.execute(session_id, {}, 'start')
                defaults = start['view']['defaults']
                self.assertEqual(defaults['company'], company.id)
                self.assertLessEqual(defaults['from_date'],
                    defaults['to_date'])
                data = {'start': {
                        'company': company.id,
                        'routes': [],
                        'from_date': D(2024, 1, 1),
                        'to_date': D(2024, 2, 29),
                        'status': None,
                        }}
                result = Wizard.execute(session_id, data, 'result')
                values = result['view']['defaults']
                self.assertEqual(
                    (values['read'], values['due'], values['missed']),
                    (1, 0, 1))
                self.assertEqual([(line['date'], line['status'])
                        for line in values['lines']],
                    [(D(2024, 1, 15), 'read'), (D(2024, 2, 15), 'missed')])
                self.assertEqual(values['lines'][0]['route.']['rec_name'],
                    '[R1] Route R1')

                data['start']['status'] = 'missed'
                result = Wizard.execute(session_id, data, 'result')
                lines = result['view']['defaults']['lines']
                self.assertEqual([line['status'] for line in lines],
                    ['missed'])

                # Change goes back to the form as it was filled
                start = Wizard.execute(session_id, {}, 'start')
                self.assertEqual(start['view']['defaults']['status'],
                    'missed')

                data['start']['to_date'] = D(2025, 1, 1)
                with self.assertRaises(ExpectedReadsError):
                    Wizard.execute(session_id, data, 'result')
            Wizard.delete(session_id)

    @with_transaction()
    def test_expected_reads_wizard_from_routes(self):
        "Run from routes, the wizard starts with them"
        Wizard = Pool().get('utility.reading.expected.list', type='wizard')
        company = create_company()
        with set_company(company):
            route = create_route(company)
            session_id, _, _ = Wizard.create()
            with Transaction().set_context(
                    active_model='utility.reading.route',
                    active_id=route.id, active_ids=[route.id]):
                start = Wizard.execute(session_id, {}, 'start')
            self.assertEqual(start['view']['defaults']['routes'], [route.id])
