import datetime as dt
import unittest

from utility_billing.periods import (
    boundary_on_or_before, next_boundary, next_period, periods_between)

D = dt.date


class PeriodsTestCase(unittest.TestCase):

    def test_monthly_full_and_partial_first(self):
        cycle = dict(months=1, billing_day=1)
        self.assertEqual(next_period(None, D(2024, 1, 15), **cycle),
            (D(2024, 1, 15), D(2024, 1, 31)))
        self.assertEqual(next_period(D(2024, 1, 31), D(2024, 1, 15),
                **cycle), (D(2024, 2, 1), D(2024, 2, 29)))

    def test_billing_day_31_clamps_to_month_end(self):
        cycle = dict(months=1, billing_day=31)
        self.assertEqual(boundary_on_or_before(D(2023, 2, 28), **cycle),
            D(2023, 2, 28))
        self.assertEqual(boundary_on_or_before(D(2024, 2, 28), **cycle),
            D(2024, 1, 31))
        self.assertEqual(next_boundary(D(2024, 1, 31), **cycle),
            D(2024, 2, 29))
        self.assertEqual(next_period(D(2024, 2, 28), D(2023, 1, 1),
                **cycle), (D(2024, 2, 29), D(2024, 3, 30)))

    def test_quarterly_anchor(self):
        cycle = dict(months=3, billing_day=1, anchor_month=2)
        self.assertEqual(boundary_on_or_before(D(2024, 1, 10), **cycle),
            D(2023, 11, 1))
        self.assertEqual(next_period(None, D(2024, 1, 10), **cycle),
            (D(2024, 1, 10), D(2024, 1, 31)))
        self.assertEqual(next_period(D(2024, 1, 31), D(2024, 1, 10),
                **cycle), (D(2024, 2, 1), D(2024, 4, 30)))

    def test_bimonthly_across_year_end(self):
        cycle = dict(months=2, billing_day=15, anchor_month=1)
        self.assertEqual(next_period(D(2024, 11, 14), D(2024, 1, 1),
                **cycle), (D(2024, 11, 15), D(2025, 1, 14)))

    def test_every_n_days(self):
        cycle = dict(days=28, anchor_date=D(2024, 1, 1))
        self.assertEqual(next_period(None, D(2024, 2, 10), **cycle),
            (D(2024, 2, 10), D(2024, 2, 25)))
        self.assertEqual(next_period(D(2024, 2, 25), D(2024, 2, 10),
                **cycle), (D(2024, 2, 26), D(2024, 3, 24)))

    def test_last_period_partial_and_nothing_after_end(self):
        cycle = dict(months=1, billing_day=1)
        self.assertEqual(next_period(D(2024, 5, 31), D(2024, 1, 1),
                D(2024, 6, 10), **cycle), (D(2024, 6, 1), D(2024, 6, 10)))
        self.assertIsNone(next_period(D(2024, 6, 10), D(2024, 1, 1),
                D(2024, 6, 10), **cycle))

    def test_periods_between_cover_without_gap(self):
        periods = periods_between(D(2023, 12, 20), D(2024, 12, 31),
            months=1, billing_day=5)
        self.assertEqual(periods[0], (D(2023, 12, 20), D(2024, 1, 4)))
        for (_, end), (start, _) in zip(periods, periods[1:]):
            self.assertEqual(end + dt.timedelta(days=1), start)
        self.assertEqual(periods[-1], (D(2024, 11, 5), D(2024, 12, 4)))
        self.assertEqual(len(periods), 12)
