"""Unaccounted-for consumption per supply zone and month, against figures
computed here from the bulk meter's register values and the bills."""
import datetime as dt
import unittest
from collections import defaultdict
from decimal import Decimal
from zoneinfo import ZoneInfo

from trytond.exceptions import UserError
from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

from utility_billing.tests.tools import (
    create_customer, create_cycle, create_products, provider, read,
    setup_accounting)
from utility_metering.tests.activation import activate_fixture

from .test_consumption import check_exports
from .test_margin import water_plan

TIMEZONE = 'America/New_York'
TZ = ZoneInfo(TIMEZONE)
ADMIN = 'utility_metering.group_utility_admin'
BILLING = 'utility_billing.group_billing'
METERING = 'utility_metering.group_metering'
SERVICE = 'utility_billing.group_customer_service'
ACCOUNTANT = 'account.group_account'
PERIOD = {'from_date': dt.date(2024, 1, 1), 'to_date': dt.date(2024, 4, 30)}
OTHER = "Shelbyville Water"

# Use of the water customers in January to April 2024, read at local
# midnight starting each month; customer 2 is not read on 1 April.
USE = {1: [10, 12, 11, 13], 2: [20, 18, 22, 25], 3: [5, 6, 7, 8],
    4: [40, 40, 40, 40]}
# The bulk meter of zone DMA1, in local time: (time, value, counted).
# The reading at midnight starting 1 February closes January; the one of
# 29 February 23:30 (1 March 04:30 UTC) is February's; one second after
# midnight starting April is April's; midnight starting May closes April,
# and its value is corrected: the correction counts instead.
BULK = [
    (dt.datetime(2024, 1, 1), 5000, True),  # the first: measures nothing
    (dt.datetime(2024, 2, 1), 5048, True),
    (dt.datetime(2024, 2, 29, 23, 30), 5090, True),
    (dt.datetime(2024, 3, 31, 12), 5140, True),
    (dt.datetime(2024, 4, 1, 0, 0, 1), 5141, True),
    (dt.datetime(2024, 5, 1), 5200, False),  # corrected below
    ]
CORRECTION = (dt.datetime(2024, 5, 1), 5197)
# Zone DMA2 has a bulk meter and no customer yet; nothing entered it in
# the first days of April.
BULK2 = [(dt.datetime(2024, 3, 1), 100), (dt.datetime(2024, 3, 31, 12), 130),
    (dt.datetime(2024, 4, 2), 130)]


def utc(local):
    "The naive UTC time of a local time of the provider"
    return local.replace(tzinfo=TZ).astimezone(dt.timezone.utc).replace(
        tzinfo=None)


def month_of(local):
    "The month a use ending at local counts in: midnight closes a month"
    return (local - dt.timedelta(microseconds=1)).date().replace(day=1)


def first_days(year, months):
    return [dt.date(year, m, 1) for m in months]


def bulk_meter(company, serial):
    pool = Pool()
    Meter = pool.get('utility.meter')
    ServiceType = pool.get('utility.service.type')
    water, = ServiceType.search([('code', '=', 'water')])
    meter, = Meter.create([{'company': company.id, 'serial_number': serial,
                'service_type': water.id, 'status': 'installed',
                'dials': 7, 'multiplier': Decimal(1)}])
    return meter


def create_zone(company, code, meters, points):
    pool = Pool()
    Zone = pool.get('utility.supply.zone')
    zone, = Zone.create([{'company': company.id, 'code': code,
                'name': "Zone %s" % code,
                'service_type': meters[0].service_type.id,
                'bulk_meters': [('add', [m.id for m in meters])],
                'service_points': [('add', [p.id for p in points])]}])
    return zone


def unaccounted_fixture():
    """A water provider in New York time: customers 1 to 3 in zone DMA1
    (3 on a cycle billed from the 15th), 4 outside any zone, January to
    April 2024 billed; zone DMA2 with its own bulk meter. Another
    provider with a zone of its own."""
    pool = Pool()
    Reading = pool.get('utility.meter.reading')
    Run = pool.get('utility.bill.run')
    Cycle = pool.get('utility.billing.cycle')
    company = provider()
    company.timezone = TIMEZONE
    company.save()
    with set_company(company), Transaction().set_context(
            bill_run_inline=True, _skip_warnings=True):
        revenue, tax = setup_accounting(company)
        plan = water_plan(company, create_products(revenue, tax))
        monthly = create_cycle(company)
        mid_month, = Cycle.create([{'company': company.id, 'code': 'M15',
                    'name': "Monthly, 15th", 'frequency': 'monthly',
                    'billing_day': 15}])
        points, meters = {}, {}
        for index in USE:
            agreement, meters[index] = create_customer(company, index, plan,
                mid_month if index == 3 else monthly)
            points[index] = agreement.service_point
        # Read at midnight starting each month, then bill what ended: the
        # run of March estimates customer 2's unread 1 April.
        for month in range(1, 6):
            for index, use in USE.items():
                if not (index == 2 and month == 4):
                    read(meters[index], utc(dt.datetime(2024, month, 1)),
                        1000 + sum(use[:month - 1]))
            if month == 1:
                continue
            # Invoice numbers follow invoice dates: the 14th's run first.
            for cycle, end in [
                    (mid_month, dt.date(2024, month - 1, 14)),
                    (monthly, dt.date(2024, month, 1) - dt.timedelta(days=1))]:
                run = Run(company=company, cycle=cycle, period_end=end,
                    invoice_date=end + dt.timedelta(days=5))
                run.save()
                Run.preview([run])
                Run.process([run])

        meter = bulk_meter(company, 'BULK-1')
        readings = {}
        for when, value, _ in BULK:
            readings[when] = read(meter, utc(when), value)
        # Neither a rejected nor a draft reading counts.
        rejected = read(meter, utc(dt.datetime(2024, 3, 20, 12)), 4000)
        assert rejected.state == 'rejected'
        Reading.create([{'company': company.id, 'meter': meter.id,
                    'date_time': utc(dt.datetime(2024, 3, 25, 12)),
                    'value': Decimal(5200)}])
        when, value = CORRECTION
        correction = Reading(meter=meter, company=company,
            date_time=utc(when), value=Decimal(value),
            corrects=readings[when])
        correction.save()
        Reading.validate_reading([correction])
        create_zone(company, 'DMA1', [meter],
            [points[1], points[2], points[3]])

        meter2 = bulk_meter(company, 'BULK-2')
        for when, value in BULK2:
            read(meter2, utc(when), value)
        create_zone(company, 'DMA2', [meter2], [])

    other = create_company(OTHER)
    with set_company(other):
        meter = bulk_meter(other, 'BULK-X')
        # Its timezone is UTC.
        read(meter, dt.datetime(2024, 1, 1), 0)
        read(meter, dt.datetime(2024, 2, 1), 70)
        create_zone(other, 'DMA1', [meter], [])


class UnaccountedTestCase(unittest.TestCase):
    "Unaccounted-for consumption per supply zone and month"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_fixture(cls, 'utility_reporting', unaccounted_fixture)

    @property
    def company(self):
        return provider()

    def context(self, **kwargs):
        values = dict(PERIOD, company=self.company.id,
            companies=[self.company.id])
        values.update(kwargs)
        return Transaction().set_context(values)

    def zones(self):
        Zone = Pool().get('utility.supply.zone')
        return {z.code: z for z in Zone.search([
                    ('company', '=', self.company.id)])}

    def expected_input(self):
        "{(zone code, month): input} from the register values"
        result = defaultdict(Decimal)
        counted = [(when, value) for when, value, ok in BULK if ok]
        counted.append(CORRECTION)
        for series, code in [(counted, 'DMA1'), (BULK2, 'DMA2')]:
            previous = None
            for when, value in sorted(series):
                # The first reading measures nothing.
                if previous is not None:
                    result[(code, month_of(when))] += Decimal(
                        value - previous)
                previous = value
        return result

    def expected_billed(self):
        "{(zone code, month): (billed, bills, estimated)} from the bills"
        Bill = Pool().get('utility.bill')
        result = {}
        for code, zone in self.zones().items():
            for bill in Bill.search([
                        ('service_point', 'in',
                            [p.id for p in zone.service_points]),
                        ('state', '=', 'billed'),
                        ]):
                key = (code, bill.period_end.replace(day=1))
                billed, bills, estimated = result.get(
                    key, (Decimal(0), 0, 0))
                result[key] = (billed + bill.consumption, bills + 1,
                    estimated + bill.estimated)
        return result

    def expected(self, months):
        "{(zone code, month): row values} of months"
        inputs = self.expected_input()
        billed = self.expected_billed()
        result = {}
        for key in set(inputs) | set(billed):
            if key[1] not in months:
                continue
            system_input = inputs.get(key)
            total, bills, estimated = billed.get(key, (Decimal(0), 0, 0))
            unaccounted = (system_input - total
                if system_input is not None else None)
            result[key] = {
                'system_input': system_input,
                'billed': total,
                'unaccounted': unaccounted,
                'loss_rate': ((unaccounted / system_input * 100).quantize(
                        Decimal('0.01')) if system_input else None),
                'bills': bills,
                'estimated_bills': estimated,
                }
        return result

    def rows(self):
        Unaccounted = Pool().get('utility.reporting.unaccounted')
        return {(r.zone.code, r.month): {
                n: getattr(r, n) for n in ['system_input', 'billed',
                    'unaccounted', 'loss_rate', 'bills', 'estimated_bills']}
            for r in Unaccounted.search([])}

    def assertRows(self, rows, expected):
        self.assertEqual(set(rows), set(expected))
        for key, values in expected.items():
            for name, value in values.items():
                self.assertEqual(rows[key][name], value, (key, name))

    @with_transaction()
    def test_figures(self):
        "Input, billed, unaccounted and loss rate as readings and bills give"
        Bill = Pool().get('utility.bill')
        bills = Bill.search([('company', '=', self.company.id)])
        # 4 months of the 4 customers; customer 2's March was estimated.
        self.assertEqual(len(bills), 16)
        self.assertTrue(any(b.estimated for b in bills))
        # Customer 3's periods cross month ends, one holds 29 February.
        crossing = [b for b in bills
            if b.period_start.month != b.period_end.month]
        self.assertEqual([(b.period_start, b.period_end) for b in sorted(
                    crossing, key=lambda b: b.period_start)], [
                (dt.date(2024, 1, 15), dt.date(2024, 2, 14)),
                (dt.date(2024, 2, 15), dt.date(2024, 3, 14)),
                (dt.date(2024, 3, 15), dt.date(2024, 4, 14)),
                ])
        expected = self.expected(first_days(2024, range(1, 5)))
        with self.context():
            rows = self.rows()
        self.assertRows(rows, expected)

        # The edges, spelled out: midnight starting a month closes the
        # month before, 29 February 23:30 New York time (1 March in UTC)
        # is February's, one second after midnight is the new month's.
        january, february, march, april = first_days(2024, range(1, 5))
        self.assertEqual(rows[('DMA1', january)]['system_input'], 48)
        self.assertEqual(rows[('DMA1', february)]['system_input'], 42)
        self.assertEqual(rows[('DMA1', march)]['system_input'], 50)
        self.assertEqual(rows[('DMA1', april)]['system_input'], 1 + 56)
        # February's bills: customers 1 and 2's February and customer 3's
        # 15 January to 14 February.
        zone_points = self.zones()['DMA1'].service_points
        in_february = [b for b in bills if b.service_point in zone_points
            and b.period_end.month == 2]
        self.assertEqual(sorted((b.service_point.code, b.period_start)
                for b in in_february), [
                ('SP1', february), ('SP2', february),
                ('SP3', dt.date(2024, 1, 15))])
        self.assertEqual(rows[('DMA1', february)]['bills'], 3)
        self.assertEqual(rows[('DMA1', february)]['billed'],
            sum(b.consumption for b in in_february))
        # Customer 4 is in no zone: its bills are nowhere.
        total_billed = sum(r['billed'] for r in rows.values())
        self.assertEqual(total_billed, sum(b.consumption for b in bills
                if b.service_point.code != 'SP4'))
        # A zone read but not billed loses everything; the month of a
        # meter's first reading only has no row.
        self.assertEqual(rows[('DMA2', march)]['loss_rate'], Decimal(100))
        self.assertNotIn(('DMA2', february), rows)
        # A month read with no use has an input of 0 and no rate.
        self.assertEqual(rows[('DMA2', april)], {'system_input': 0,
                'billed': 0, 'unaccounted': 0, 'loss_rate': None,
                'bills': 0, 'estimated_bills': 0})

    @with_transaction()
    def test_months_and_filters(self):
        "The context's dates choose whole months; zone and service filter"
        pool = Pool()
        ServiceType = pool.get('utility.service.type')
        zones = self.zones()
        february, march = first_days(2024, [2, 3])
        expected = self.expected(first_days(2024, range(1, 5)))
        with self.subTest("a day of a month shows the whole month"), \
                self.context(from_date=dt.date(2024, 2, 29),
                    to_date=dt.date(2024, 2, 29)):
            self.assertRows(self.rows(), {k: v for k, v in expected.items()
                    if k[1] == february})
        with self.subTest("zone"), self.context(zone=zones['DMA2'].id):
            self.assertRows(self.rows(), {k: v for k, v in expected.items()
                    if k[0] == 'DMA2'})
        electricity, = ServiceType.search([('code', '=', 'electricity')])
        with self.subTest("service"), self.context(
                service_type=electricity.id):
            self.assertEqual(self.rows(), {})
        with self.subTest("no dates: the months of the data"), \
                self.context(from_date=None, to_date=None):
            months = [dt.date(2023, 12, 1)] + first_days(2024, range(1, 6))
            self.assertRows(self.rows(), self.expected(months))
        with self.subTest("months without data"), self.context(
                from_date=dt.date(2025, 1, 1), to_date=dt.date(2025, 3, 1)):
            self.assertEqual(self.rows(), {})
        with self.subTest("dates reversed"), self.context(
                from_date=march, to_date=february):
            self.assertEqual(self.rows(), {})

    @with_transaction()
    def test_rebill_counts_once(self):
        "A credited bill does not count, its rebill does"
        Bill = Pool().get('utility.bill')
        with self.context():
            before = self.rows()
        # Records read in the provider's context: the fixture ended in
        # the other provider's.
        with set_company(self.company), Transaction().set_context(
                _skip_warnings=True):
            bill, = Bill.search([
                    ('service_point.code', '=', 'SP1'),
                    ('period_end', '=', dt.date(2024, 2, 29)),
                    ])
            new, = Bill.rebill([bill])
        self.assertEqual(Bill(bill.id).state, 'credited')
        self.assertEqual(new.period_end, bill.period_end)
        with self.context():
            after = self.rows()
        self.assertRows(after, self.expected(first_days(2024, range(1, 5))))
        self.assertEqual(after, before)

    @with_transaction()
    def test_exports(self):
        "CSV, Excel and PDF hold the list's rows"
        Unaccounted = Pool().get('utility.reporting.unaccounted')
        with self.context():
            check_exports(self, Unaccounted, 'utility.reporting.unaccounted',
                'report_unaccounted')

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
        "Utility groups read the report of their provider only"
        pool = Pool()
        Access = pool.get('ir.model.access')
        Company = pool.get('company.company')
        Unaccounted = pool.get('utility.reporting.unaccounted')
        model = 'utility.reporting.unaccounted'
        expected = self.expected(first_days(2024, range(1, 5)))
        for group in [ADMIN, METERING, BILLING, SERVICE, ACCOUNTANT, None]:
            user = self.user(*([group] if group else []))
            with Transaction().set_user(user.id), self.context(
                    _check_access=True):
                for mode in ['read', 'write', 'create', 'delete']:
                    with self.subTest(group=group, mode=mode):
                        self.assertEqual(Access.check(model, mode,
                                raise_exception=False),
                            mode == 'read' and group is not None)
                if group is None:
                    with self.assertRaises(UserError):
                        Unaccounted.search([])
                else:
                    with self.subTest(group=group):
                        self.assertRows(self.rows(), expected)
        clerk = self.user(BILLING)
        other, = Company.search([('party.name', '=', OTHER)])
        with Transaction().set_user(clerk.id), self.context(
                _check_access=True):
            ours = Unaccounted.search([])
        with Transaction().set_user(clerk.id), self.context(
                _check_access=True, company=other.id):
            # The rule keeps another provider's rows away.
            self.assertEqual(Unaccounted.search([]), [])
        with self.context(company=other.id, companies=[other.id]):
            theirs = Unaccounted.search([])
            self.assertEqual([(r.zone.company, r.month, r.system_input)
                    for r in theirs],
                [(other, dt.date(2024, 1, 1), Decimal(70))])
        self.assertFalse({r.id for r in ours} & {r.id for r in theirs})
