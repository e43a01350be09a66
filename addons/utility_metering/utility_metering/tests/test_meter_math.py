import datetime as dt
import unittest
from decimal import Decimal as D

from utility_metering import meter_math as mm


def history(**kw):
    base = dict(dials=5, multiplier=D(1),
        installed=dt.datetime(2024, 1, 1),
        previous_time=dt.datetime(2024, 1, 31), previous_value=D(100),
        average_daily=D(10))
    base.update(kw)
    return mm.MeterHistory(**base)


NOW = dt.datetime(2025, 1, 1)


class MeterMathTestCase(unittest.TestCase):

    def test_rollover(self):
        self.assertEqual(mm.register_delta(D(99990), D(15), 5), (D(25), True))

    def test_drop_too_large_is_not_rollover(self):
        delta, rolled = mm.register_delta(D(40000), D(100), 5)
        self.assertFalse(rolled)
        self.assertEqual(delta, D(-39900))

    def test_no_dials_no_rollover(self):
        self.assertEqual(mm.register_delta(D(10), D(5), None), (D(-5), False))

    def test_multiplier(self):
        check = mm.check_reading(history(multiplier=D(40)),
            dt.datetime(2024, 2, 29), D(110), NOW)
        self.assertTrue(check.ok)
        self.assertEqual(check.consumption, D(400))

    def test_rollover_with_multiplier(self):
        check = mm.check_reading(
            history(previous_value=D(99995), multiplier=D(2)),
            dt.datetime(2024, 2, 29), D(5), NOW)
        self.assertTrue(check.rollover)
        self.assertEqual(check.consumption, D(20))

    def test_lower_than_previous(self):
        check = mm.check_reading(history(dials=None),
            dt.datetime(2024, 2, 29), D(90), NOW)
        self.assertEqual(check.errors[0][0], 'msg_reading_lower_than_previous')

    def test_spike(self):
        # 29 days at 10/day is 290; 3000 is more than 5x
        check = mm.check_reading(history(), dt.datetime(2024, 2, 29),
            D(3100), NOW, spike_factor=D(5))
        self.assertEqual(check.errors[0][0], 'msg_reading_spike')
        check = mm.check_reading(history(), dt.datetime(2024, 2, 29),
            D(1500), NOW, spike_factor=D(5))
        self.assertTrue(check.ok)

    def test_zero_too_long(self):
        h = history(last_nonzero_time=dt.datetime(2023, 10, 1),
            installed=dt.datetime(2023, 1, 1))
        check = mm.check_reading(h, dt.datetime(2024, 2, 29), D(100), NOW,
            max_zero_days=90)
        self.assertEqual(check.errors[0][0], 'msg_reading_zero_too_long')
        self.assertTrue(mm.check_reading(h, dt.datetime(2024, 2, 29),
                D(100), NOW, max_zero_days=200).ok)

    def test_future_and_before_installation(self):
        check = mm.check_reading(history(), dt.datetime(2025, 1, 2),
            D(110), NOW)
        self.assertEqual(check.errors[0][0], 'msg_reading_future')
        check = mm.check_reading(history(previous_value=None,
                previous_time=None), dt.datetime(2023, 12, 31), D(1), NOW)
        self.assertEqual(check.errors[0][0], 'msg_reading_before_installation')

    def test_day_position_dst(self):
        "Both sides of a DST change count one day per calendar day"
        before = mm.day_position(dt.datetime(2024, 3, 31, 0, 0))
        after = mm.day_position(dt.datetime(2024, 4, 1, 0, 0))
        self.assertEqual(after - before, 1)

    def test_prorate_month_end_leap_day(self):
        # readings on Jan 31 and Mar 31 2024: 60 days, 600 units
        p0 = mm.day_position(dt.date(2024, 1, 31))
        p1 = mm.day_position(dt.date(2024, 3, 31))
        points = [(p0, D(0)), (p1, D(600))]
        feb = mm.prorate(points, mm.day_position(dt.date(2024, 2, 1)),
            mm.day_position(dt.date(2024, 3, 1)))
        self.assertEqual(feb, D(290))  # 29 days in a leap February

    def test_prorate_outside_is_none(self):
        points = [(D(10), D(0)), (D(20), D(100))]
        self.assertIsNone(mm.prorate(points, D(5), D(15)))
        self.assertEqual(mm.prorate(points, D(12), D(15)), D(30))
