"""Rating engine properties over generated plans, periods and quantities.

The example tests (test_tariff.py) pin published tariffs to the cent;
these check what must hold for any input: periods are covered exactly,
quantities are split without losing a unit, every amount is in the
currency's unit, more consumption never costs less, and bad input is
refused with an exception the bill run turns into a run exception
(never a crash deep in the engine, never a silent wrong bill).
"""
import datetime as dt
import unittest
from decimal import Decimal as D

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from utility_billing.tariff import (
    Block, Component, Plan, Version, days, months, rate, split)

DAY = dt.timedelta(days=1)
# Leap days, month and year ends are all inside this range.
dates = st.dates(min_value=dt.date(2023, 1, 1), max_value=dt.date(2026, 12, 31))
prices = st.decimals(min_value=D('0'), max_value=D('5'), places=4)
quantities = st.decimals(min_value=D('0'), max_value=D('100000'), places=4)
month_days = st.tuples(st.integers(1, 12), st.integers(1, 28))
# Derandomized: CI runs the same examples each time (a failure there is
# reproducible); run with a --hypothesis-seed to explore further.
PROFILE = settings(max_examples=150, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def periods(draw, max_days=400):
    start = draw(dates)
    length = draw(st.integers(0, max_days))
    return start, start + dt.timedelta(days=length)


@st.composite
def blocks(draw):
    thresholds = sorted(set(draw(st.lists(
                    st.decimals(min_value=D('1'), max_value=D('2000'),
                        places=0), max_size=3))))
    return [Block(D(0), draw(prices))] + [
        Block(t, draw(prices)) for t in thresholds]


@st.composite
def components(draw):
    "One component of any kind but surcharge and minimum (added apart)"
    kind = draw(st.sampled_from(
            ['fixed', 'variable', 'blocks', 'levy', 'credit', 'demand']))
    season = draw(st.none() | st.tuples(month_days, month_days))
    code = 'c%d' % draw(st.integers(0, 10**6))
    if kind == 'fixed':
        return Component(code, code, kind, draw(prices),
            per=draw(st.sampled_from(['period', 'day', 'month'])),
            season=season)
    if kind == 'blocks':
        return Component(code, code, kind, blocks=draw(blocks()),
            season=season)
    if kind == 'credit':
        return Component(code, code, kind, draw(prices),
            units=draw(st.decimals(min_value=D('0'), max_value=D('500'),
                    places=0)))
    return Component(code, code, kind, draw(prices), season=season)


@st.composite
def plans(draw):
    first = dt.date(2022, 1, 1)
    starts = sorted(set(draw(st.lists(dates, max_size=3))))
    versions = [Version('v%d' % i, s, draw(st.lists(components(),
                    min_size=1, max_size=4)))
        for i, s in enumerate([first] + starts)]
    return Plan(versions,
        rounding=draw(st.sampled_from(['half_up', 'half_even'])),
        proration=draw(st.sampled_from(['actual', 'average_month'])),
        block_basis=draw(st.sampled_from(['period', 'month', 'day'])),
        quantity_digits=draw(st.none() | st.integers(0, 4)))


class TariffPropertiesTestCase(unittest.TestCase):
    "Invariants of the rating engine"

    @PROFILE
    @given(plans(), periods(), quantities)
    def test_segments_cover_the_period_and_keep_every_unit(
            self, plan, period, quantity):
        start, end = period
        segments = split(plan, start, end, {'total': quantity})
        self.assertEqual(segments[0].start, start)
        self.assertEqual(segments[-1].end, end)
        for before, after in zip(segments, segments[1:]):
            self.assertEqual(before.end + DAY, after.start)
        self.assertEqual(sum(s.days for s in segments), days(start, end))
        self.assertEqual(
            sum(s.quantities['total'] for s in segments), quantity)
        for segment in segments:
            # The version in force on the segment's first day prices it.
            in_force = [v for v in plan.versions if v.start <= segment.start]
            self.assertIs(segment.version,
                max(in_force, key=lambda v: v.start))

    @PROFILE
    @given(plans(), periods(), quantities)
    def test_amounts_are_in_the_currency_unit(self, plan, period, quantity):
        start, end = period
        bill = rate(plan, start, end, {'total': quantity}, demand=D('12.5'))
        for line in bill.lines:
            self.assertEqual(line.amount, line.amount.quantize(D('0.01')),
                line.explanation)
            self.assertTrue(line.explanation)
            self.assertGreaterEqual(line.start, start)
            self.assertLessEqual(line.end, end)
        self.assertEqual(bill.total, sum(l.amount for l in bill.lines))

    @PROFILE
    @given(plans(), periods(), quantities, quantities)
    def test_more_consumption_never_costs_less(
            self, plan, period, first, second):
        # A credit on the first units alone lowers the bill as use grows
        # (in a real tariff it offsets a per-unit charge): leave it out.
        assume(not any(c.kind == 'credit'
                for v in plan.versions for c in v.components))
        start, end = period
        low, high = sorted([first, second])
        cheaper = rate(plan, start, end, {'total': low}).total
        dearer = rate(plan, start, end, {'total': high}).total
        # Each line rounds on its own: a larger quantity split over
        # segments and blocks can lose at most half a cent per line.
        slack = D('0.01') * len(rate(plan, start, end,
                {'total': high}).lines)
        self.assertLessEqual(cheaper, dearer + slack)

    @PROFILE
    @given(periods(), quantities, prices,
        st.decimals(min_value=D('0'), max_value=D('200'), places=2))
    def test_minimum_bill_is_reached(self, period, quantity, price, minimum):
        start, end = period
        plan = Plan([Version('v', dt.date(2022, 1, 1), [
                        Component('use', "Use", 'variable', price),
                        Component('min', "Minimum", 'minimum', minimum),
                        ])])
        bill = rate(plan, start, end, {'total': quantity})
        owed = (minimum * months(start, end, 'actual')).quantize(D('0.01'))
        self.assertGreaterEqual(bill.total, owed)
        usage = (quantity * price).quantize(D('0.01'))
        self.assertEqual(bill.total, max(usage, owed))

    @PROFILE
    @given(periods(), quantities, prices)
    def test_variable_price_split_by_versions_adds_up(
            self, period, quantity, price):
        "A price change mid-period splits the units, never adds or loses"
        start, end = period
        assume(end > start)
        middle = start + dt.timedelta(days=days(start, end) // 2)
        assume(middle > start)
        plan = Plan([
                Version('old', dt.date(2022, 1, 1),
                    [Component('use', "Use", 'variable', price)]),
                Version('new', middle,
                    [Component('use2', "Use", 'variable', price)]),
                ])
        bill = rate(plan, start, end, {'total': quantity})
        self.assertEqual(len(bill.lines), 2)
        self.assertEqual(sum(l.quantity for l in bill.lines), quantity)
        self.assertLessEqual(
            abs(bill.total - (quantity * price).quantize(D('0.01'))),
            D('0.01'))

    @PROFILE
    @given(dates, st.integers(1, 30))
    def test_consecutive_months_add_up(self, start, count):
        "Monthly proration of back-to-back periods adds up to their union"
        first = start.replace(day=1)
        total = D(0)
        cursor = first
        for _ in range(count):
            following = (cursor.replace(day=28) + dt.timedelta(days=4)
                ).replace(day=1)
            total += months(cursor, following - DAY, 'actual')
            cursor = following
        self.assertEqual(total, count)
        self.assertEqual(months(first, cursor - DAY, 'actual'), count)

    @PROFILE
    @given(plans(), periods())
    def test_period_ending_before_it_starts_is_refused(self, plan, period):
        start, end = period
        assume(end > start)
        with self.assertRaises(ValueError):
            rate(plan, end, start, {'total': D(1)})

    @PROFILE
    @given(periods())
    def test_period_before_the_first_version_is_refused(self, period):
        start, end = period
        plan = Plan([Version('v', end + DAY,
                    [Component('use', "Use", 'variable', D('0.1'))])])
        with self.assertRaises(LookupError):
            rate(plan, start, end, {'total': D(1)})
