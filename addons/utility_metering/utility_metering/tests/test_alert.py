import datetime as dt
import unittest
from decimal import Decimal

from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    activate_module, drop_db, with_transaction)
from trytond.transaction import Transaction

from utility_metering.alert import continuous_use, shift_year

from .test_module import read, setup_meter


def read_at(meter, dates, daily, value=0):
    """Valid readings on dates, using daily between each.

    daily is one rate or one per interval; returns the last value.
    """
    rates = daily if isinstance(daily, list) else [daily] * len(dates)
    value = Decimal(value)
    previous = None
    for date, rate in zip(dates, [None] + rates):
        if previous is not None:
            value += Decimal(rate) * (date - previous).days
        previous = date
        reading = read(meter, dt.datetime.combine(date, dt.time()), value)
        assert reading.state == 'valid', reading.rejection_reason
    return value


def firsts(year, month, count):
    "The first day of count months from year-month"
    dates = []
    for i in range(count):
        y, m = divmod(month - 1 + i, 12)
        dates.append(dt.date(year + y, m + 1, 1))
    return dates


def days(start, count):
    return [start + dt.timedelta(days=i) for i in range(count)]


class ConsumptionAlertTestCase(unittest.TestCase):
    "Test high consumption and continuous use alerts"

    @classmethod
    def setUpClass(cls):
        drop_db()
        activate_module(['utility_metering'])

    @with_transaction()
    def test_high_use_vs_last_year_over_leap_day(self):
        "February 2024 at 3 times February 2023 (29 against 28 days)"
        Alert = Pool().get('utility.consumption.alert')
        company = create_company()
        with set_company(company):
            point, meter = setup_meter(company)
            value = read_at(meter, firsts(2023, 1, 14), 10)
            read(meter, dt.datetime(2024, 3, 1), value + 29 * 30)
            alert, = Alert.detect([point], dt.date(2024, 3, 10))
            self.assertEqual(alert.kind, 'high_consumption')
            self.assertEqual(alert.state, 'open')
            self.assertEqual(alert.company, company)
            self.assertEqual(alert.meter, meter)
            self.assertEqual((alert.period_start, alert.period_end),
                (dt.date(2024, 2, 1), dt.date(2024, 3, 1)))
            self.assertEqual(alert.measured_daily, Decimal(30))
            self.assertEqual(alert.reference_daily, Decimal(10))
            self.assertEqual(alert.ratio, Decimal(3))
            self.assertEqual(alert.reference_source, 'last_year')
            self.assertEqual(alert.detected_on, dt.date(2024, 3, 10))
            self.assertIn('3.0 ×', alert.details)
            self.assertIn('same period last year', alert.details)
            self.assertIn('30.00', alert.details)

    @with_transaction()
    def test_high_use_across_meter_exchange(self):
        "Last year's use on the old meter is the new meter's reference"
        pool = Pool()
        Alert = pool.get('utility.consumption.alert')
        Meter = pool.get('utility.meter')
        company = create_company()
        with set_company(company):
            point, old = setup_meter(company)
            value = read_at(old, firsts(2023, 1, 13), 10)
            new = Meter(serial_number='M2', service_type=old.service_type,
                dials=6, company=company)
            new.save()
            Meter.exchange(old, new, dt.datetime(2024, 1, 15),
                value + 14 * 10, Decimal(0))
            read_at(new, [dt.date(2024, 2, 1), dt.date(2024, 3, 1)], [30],
                value=17 * 10)
            alert, = Alert.detect([point], dt.date(2024, 3, 1))
            self.assertEqual(alert.meter, new)
            self.assertEqual(alert.reference_source, 'last_year')
            self.assertEqual(alert.reference_daily, Decimal(10))
            self.assertEqual(alert.ratio, Decimal(3))

    @with_transaction()
    def test_high_use_across_month_end(self):
        "Jan 15 to Feb 14 against Jan 15 to Feb 13 last year, pro-rated"
        Alert = Pool().get('utility.consumption.alert')
        company = create_company()
        with set_company(company):
            point, meter = setup_meter(company)
            read_at(meter, [dt.date(2023, 1, 10), dt.date(2023, 2, 20),
                    dt.date(2023, 6, 1), dt.date(2023, 12, 1),
                    dt.date(2024, 1, 15), dt.date(2024, 2, 14)],
                [10, 10, 10, 10, 40])
            alert, = Alert.detect([point], dt.date(2024, 2, 14))
            self.assertEqual(alert.reference_source, 'last_year')
            self.assertEqual(alert.measured_daily, Decimal(40))
            self.assertEqual(alert.reference_daily, Decimal(10))
            self.assertEqual(alert.ratio, Decimal(4))

    @with_transaction()
    def test_high_use_vs_recent_average(self):
        "Without reads last year the reference is the average since"
        Alert = Pool().get('utility.consumption.alert')
        company = create_company()
        with set_company(company):
            point, meter = setup_meter(company)
            value = read_at(meter, firsts(2024, 1, 5), 10)
            read(meter, dt.datetime(2024, 6, 1), value + 31 * 25)
            alert, = Alert.detect([point], dt.date(2024, 6, 1))
            self.assertEqual(alert.reference_source, 'average')
            self.assertEqual(alert.reference_daily, Decimal(10))
            self.assertEqual(alert.ratio, Decimal('2.5'))
            # January to April 2024: 31 + 29 + 31 + 30 days
            self.assertIn('previous 121 days', alert.details)

    @with_transaction()
    def test_no_alert_at_or_below_factor(self):
        "Twice the reference is not above the factor of 2"
        pool = Pool()
        Alert = pool.get('utility.consumption.alert')
        company = create_company()
        with set_company(company):
            point, meter = setup_meter(company)
            value = read_at(meter, firsts(2024, 1, 5), 10)
            read(meter, dt.datetime(2024, 6, 1), value + 31 * 20)
            self.assertEqual(Alert.detect([point], dt.date(2024, 6, 1)), [])
            self.assertEqual(Alert.search([]), [])

    @with_transaction()
    def test_short_interval_and_later_reads_ignored(self):
        "Intervals under the min days and reads after the date are ignored"
        Alert = Pool().get('utility.consumption.alert')
        company = create_company()
        with set_company(company):
            point, meter = setup_meter(company)
            value = read_at(meter, firsts(2024, 1, 5), 10)
            value += 3 * 40
            read(meter, dt.datetime(2024, 5, 4), value)
            self.assertEqual(Alert.detect([point], dt.date(2024, 5, 4)), [])
            read(meter, dt.datetime(2024, 6, 1), value + 28 * 30)
            # Seen from May 31 the June read does not exist yet
            self.assertEqual(Alert.detect([point], dt.date(2024, 5, 31)), [])
            alert, = Alert.detect([point], dt.date(2024, 6, 1))
            self.assertEqual(alert.period_start, dt.date(2024, 5, 4))

    @with_transaction()
    def test_leak_over_month_end_and_leap_day(self):
        "Water use that never stops from Feb 20 to Mar 5, 2024"
        Alert = Pool().get('utility.consumption.alert')
        company = create_company()
        with set_company(company):
            point, meter = setup_meter(company, service='water')
            dates = days(dt.date(2024, 2, 20), 15)
            self.assertEqual(dates[-1], dt.date(2024, 3, 5))
            read_at(meter, dates, ['0.05'] * 7 + ['0.08'] + ['0.05'] * 6)
            alert, = Alert.detect([point], dt.date(2024, 3, 5))
            self.assertEqual(alert.kind, 'continuous_use')
            self.assertEqual((alert.period_start, alert.period_end),
                (dt.date(2024, 2, 20), dt.date(2024, 3, 5)))
            self.assertEqual(alert.measured_daily, Decimal('0.05'))
            self.assertEqual(alert.reference_daily, Decimal(0))
            self.assertEqual(alert.reference_source, 'floor')
            self.assertIsNone(alert.ratio)
            self.assertEqual(alert.unit.symbol, 'm³')
            self.assertIn('14 days', alert.details)
            self.assertIn('0.0500 m³', alert.details)

    @with_transaction()
    def test_no_leak(self):
        "A zero-use day, a use at the floor, a short or coarse history"
        pool = Pool()
        Alert = pool.get('utility.consumption.alert')
        ServiceType = pool.get('utility.service.type')
        company = create_company()
        with set_company(company):
            point, meter = setup_meter(company, service='water')
            dates = days(dt.date(2024, 2, 20), 15)
            value = read_at(meter, dates, ['0.05'] * 6 + [0] + ['0.05'] * 7)
            self.assertEqual(Alert.detect([point], dt.date(2024, 3, 5)), [])
            # one read less than the 14 days
            self.assertEqual(Alert.detect([point], dt.date(2024, 3, 4)), [])
            water = point.service_type
            ServiceType.write([water], {'leak_floor': Decimal('0.05')})
            read_at(meter, days(dt.date(2024, 3, 6), 15), '0.05',
                value=value + Decimal('0.05'))
            self.assertEqual(Alert.detect([point], dt.date(2024, 3, 20)), [])
            ServiceType.write([water], {'leak_floor': Decimal('0.04')})
            self.assertEqual(len(Alert.detect(
                        [point], dt.date(2024, 3, 20))), 1)

    def test_continuous_use_windows(self):
        "Coverage, gaps and long intervals of the pure leak check"
        D = Decimal
        daily = [(D(i), D(i + 1), D('0.1')) for i in range(10)]
        self.assertEqual(continuous_use(daily, D(0), D(10), D(0)), D('0.1'))
        self.assertIsNone(continuous_use(daily, D(-1), D(10), D(0)))
        gap = daily[:4] + daily[5:]
        self.assertIsNone(continuous_use(gap, D(0), D(10), D(0)))
        weekly = [(D(0), D(7), D(1)), (D(7), D(14), D(1))]
        self.assertIsNone(continuous_use(weekly, D(0), D(14), D(0)))
        self.assertIsNone(continuous_use(daily, D(0), D(10), D('0.1')))

    def test_shift_year(self):
        self.assertEqual(shift_year(dt.date(2024, 2, 29)),
            dt.date(2023, 2, 28))
        self.assertEqual(shift_year(dt.date(2024, 3, 1)),
            dt.date(2023, 3, 1))

    @with_transaction()
    def test_rerun_updates_instead_of_duplicating(self):
        "Detection again updates the open alert"
        pool = Pool()
        Alert = pool.get('utility.consumption.alert')
        company = create_company()
        with set_company(company):
            point, meter = setup_meter(company)
            value = read_at(meter, firsts(2024, 1, 5), 10)
            value += 31 * 25
            read(meter, dt.datetime(2024, 6, 1), value)
            first, = Alert.detect([point], dt.date(2024, 6, 1))
            again, = Alert.detect([point], dt.date(2024, 6, 2))
            self.assertEqual(again.id, first.id)
            self.assertEqual(again.detected_on, dt.date(2024, 6, 2))
            read(meter, dt.datetime(2024, 7, 1), value + 30 * 30)
            later, = Alert.detect([point], dt.date(2024, 7, 1))
            self.assertEqual(later.id, first.id)
            self.assertEqual(later.period_start, dt.date(2024, 6, 1))
            self.assertEqual(Alert.search_count([]), 1)
            with self.assertRaises(UserError):
                Alert.copy([later])

    @with_transaction()
    def test_acknowledge_and_close(self):
        "Who and when; handled periods are not alerted again"
        pool = Pool()
        Alert = pool.get('utility.consumption.alert')
        company = create_company()
        with set_company(company):
            point, meter = setup_meter(company)
            value = read_at(meter, firsts(2024, 1, 5), 10)
            value += 31 * 25
            read(meter, dt.datetime(2024, 6, 1), value)
            alert, = Alert.detect([point], dt.date(2024, 6, 1))
            Alert.acknowledge([alert])
            self.assertEqual(alert.state, 'acknowledged')
            self.assertEqual(alert.acknowledged_by.id, Transaction().user)
            self.assertIsNotNone(alert.acknowledged_on)
            # acknowledged: someone is on it
            self.assertEqual(Alert.detect([point], dt.date(2024, 6, 2)), [])
            Alert.close([alert])
            self.assertEqual(alert.state, 'closed')
            self.assertEqual(alert.closed_by.id, Transaction().user)
            self.assertIsNotNone(alert.closed_on)
            # closed: its interval is done with
            self.assertEqual(Alert.detect([point], dt.date(2024, 6, 3)), [])
            Alert.acknowledge([alert])
            self.assertEqual(alert.state, 'closed')
            # a new high interval makes a new alert
            read(meter, dt.datetime(2024, 7, 1), value + 30 * 30)
            new, = Alert.detect([point], dt.date(2024, 7, 1))
            self.assertNotEqual(new.id, alert.id)
            self.assertEqual(new.period_start, dt.date(2024, 6, 1))
            self.assertEqual(Alert.search_count([]), 2)

    @with_transaction()
    def test_cron(self):
        "The cron detects for all providers as of today"
        pool = Pool()
        Alert = pool.get('utility.consumption.alert')
        Cron = pool.get('ir.cron')
        Date = pool.get('ir.date')
        ModelData = pool.get('ir.model.data')
        company = create_company()
        with set_company(company):
            point, meter = setup_meter(company)
            today = Date.today()
            dates = [today - dt.timedelta(days=d) for d in [91, 61, 31]]
            value = read_at(meter, dates, 10)
            read(meter, dt.datetime.combine(
                    today - dt.timedelta(days=1), dt.time()), value + 30 * 30)
        cron = Cron(ModelData.get_id('utility_metering',
                'cron_alert_detect_all'))
        self.assertEqual(cron.method, 'utility.consumption.alert|detect_all')
        Cron.run_once([cron])
        alert, = Alert.search([])
        self.assertEqual(alert.service_point, point)
        self.assertEqual(alert.ratio, Decimal(3))
        self.assertEqual(alert.detected_on, today)

    @with_transaction()
    def test_other_provider_denied(self):
        "A user of another provider cannot read the alert"
        pool = Pool()
        Alert = pool.get('utility.consumption.alert')
        User = pool.get('res.user')
        Group = pool.get('res.group')
        ModelData = pool.get('ir.model.data')
        company_a = create_company('Provider A')
        company_b = create_company('Provider B')
        with set_company(company_a):
            point, meter = setup_meter(company_a)
            value = read_at(meter, firsts(2024, 1, 5), 10)
            read(meter, dt.datetime(2024, 6, 1), value + 31 * 25)
            alert, = Alert.detect([point], dt.date(2024, 6, 1))
        group = Group(ModelData.get_id('utility_metering', 'group_metering'))
        user = User(login='meter_reader', companies=[company_b],
            company=company_b, groups=[group])
        user.save()
        with Transaction().set_user(user.id), \
                Transaction().set_context(_check_access=True,
                    company=company_b.id, companies=[company_b.id]):
            self.assertEqual(Alert.search([]), [])
            with self.assertRaises(AccessError):
                Alert.read([alert.id], ['details'])
