"Rating engine: each component, splits, rounding, to the cent"
import datetime as dt
import unittest
from decimal import Decimal as D

from utility_billing.tariff import (
    Block, Component, Plan, TimeOfUseRule, TimeOfUseSpanError, Version,
    bucket_intervals, months, rate, split, time_of_use_bucket)

d = dt.date


def plan(*components, start=d(2020, 1, 1), **kw):
    return Plan([Version('v1', start, list(components))], **kw)


def amounts(bill):
    return [l.amount for l in bill.lines]


class TariffTestCase(unittest.TestCase):

    def test_fixed_per_period_day_month(self):
        p = plan(
            Component('base', "Base", 'fixed', D('10'), per='period'),
            Component('daily', "Daily", 'fixed', D('0.3333'), per='day'),
            Component('monthly', "Monthly", 'fixed', D('12'), per='month'))
        bill = rate(p, d(2024, 2, 1), d(2024, 2, 29), {'total': D(0)})
        # A whole February is one month whatever its length.
        self.assertEqual(amounts(bill), [D('10.00'), D('9.67'), D('12.00')])
        bill = rate(p, d(2024, 2, 15), d(2024, 3, 14), {'total': D(0)})
        # 15/29 of February + 14/31 of March
        self.assertEqual(bill.lines[2].amount, D('11.63'))

    def test_average_month_proration(self):
        p = plan(Component('m', "Monthly", 'fixed', D('12'), per='month'),
            proration='average_month')
        bill = rate(p, d(2024, 2, 1), d(2024, 2, 29), {'total': D(0)})
        self.assertEqual(bill.total, D('11.44'))  # 12 × 29 / 30.4167
        self.assertEqual(months(d(2023, 1, 1), d(2023, 12, 31),
                'average_month'), D(12))

    def test_variable_levy_and_register(self):
        p = plan(
            Component('energy', "Energy", 'variable', D('0.123456')),
            Component('peak', "Peak", 'variable', D('0.2'), register='peak'),
            Component('levy', "Levy", 'levy', D('0.001')))
        bill = rate(p, d(2024, 1, 1), d(2024, 1, 31),
            {'peak': D(100), 'offpeak': D(300)})
        self.assertEqual(amounts(bill), [D('49.38'), D('20.00'), D('0.40')])

    def test_inclining_blocks_at_threshold_edges(self):
        blocks = Component('e', "Energy", 'blocks', blocks=[
                Block(D(0), D('0.10')), Block(D(500), D('0.15'))])
        p = plan(blocks, block_basis='period')
        for used, expected in [(D(499), D('49.90')), (D(500), D('50.00')),
                (D(501), D('50.15'))]:
            bill = rate(p, d(2024, 1, 1), d(2024, 1, 31), {'total': used})
            self.assertEqual(bill.total, expected, used)
        bill = rate(p, d(2024, 1, 1), d(2024, 1, 31), {'total': D(501)})
        self.assertEqual([l.block for l in bill.lines],
            [(D(0), D(500)), (D(500), None)])

    def test_declining_blocks(self):
        p = plan(Component('e', "Energy", 'blocks', blocks=[
                    Block(D(0), D('0.20')), Block(D(1000), D('0.12'))]),
            block_basis='period')
        bill = rate(p, d(2024, 1, 1), d(2024, 1, 31), {'total': D(1500)})
        self.assertEqual(amounts(bill), [D('200.00'), D('60.00')])

    def test_block_basis_scales_thresholds(self):
        blocks = [Block(D(0), D('0.10')), Block(D(300), D('0.20'))]
        period = (d(2024, 1, 1), d(2024, 2, 15))  # 1 + 15/29 months
        by_month = rate(plan(Component('e', "E", 'blocks', blocks=blocks)),
            *period, {'total': D(600)})
        self.assertEqual(by_month.lines[0].block[1], D('455.1724'))
        by_day = rate(plan(Component('e', "E", 'blocks', blocks=[
                        Block(D(0), D('0.10')), Block(D(10), D('0.20'))]),
                block_basis='day'), *period, {'total': D(600)})
        self.assertEqual(by_day.lines[0].block[1], D(460))

    def test_version_change_splits_by_days(self):
        v1 = Version('2023', d(2023, 1, 1), [
                Component('e', "Energy", 'variable', D('0.10'))])
        v2 = Version('2024', d(2024, 3, 15), [
                Component('e', "Energy", 'variable', D('0.20'))])
        bill = rate(Plan([v2, v1]), d(2024, 3, 1), d(2024, 3, 31),
            {'total': D(310)})
        self.assertEqual([(l.version.name, l.quantity, l.amount)
                for l in bill.lines],
            [('2023', D(140), D('14.00')), ('2024', D(170), D('34.00'))])

    def test_season_boundary_and_year_wrap(self):
        summer = Component('s', "Summer", 'variable', D('0.30'),
            season=((6, 1), (9, 30)))
        winter = Component('w', "Winter", 'variable', D('0.10'),
            season=((10, 1), (5, 31)))
        p = plan(summer, winter)
        bill = rate(p, d(2024, 9, 16), d(2024, 10, 15), {'total': D(300)})
        self.assertEqual([(l.component.code, l.quantity) for l in bill.lines],
            [('s', D(150)), ('w', D(150))])
        self.assertEqual(bill.total, D('60.00'))
        # A winter season wrapping the year end stays one line.
        bill = rate(p, d(2024, 12, 15), d(2025, 1, 14), {'total': D(100)})
        self.assertEqual(len(bill.lines), 1)

    def test_allocation_keeps_the_total(self):
        v1 = Version('a', d(2020, 1, 1), [
                Component('e', "E", 'variable', D('1'))])
        v2 = Version('b', d(2024, 1, 2), [
                Component('e', "E", 'variable', D('1'))])
        bill = rate(Plan([v1, v2]), d(2024, 1, 1), d(2024, 1, 3),
            {'total': D(100)})
        self.assertEqual(sum(l.quantity for l in bill.lines), D(100))

    def test_minimum_bill(self):
        p = plan(Component('e', "Energy", 'variable', D('0.10')),
            Component('min', "Minimum", 'minimum', D('15')))
        low = rate(p, d(2024, 4, 1), d(2024, 4, 30), {'total': D(100)})
        self.assertEqual(amounts(low), [D('10.00'), D('5.00')])
        high = rate(p, d(2024, 4, 1), d(2024, 4, 30), {'total': D(200)})
        self.assertEqual(amounts(high), [D('20.00')])

    def test_surcharge_on_chosen_base(self):
        p = plan(Component('e', "Energy", 'variable', D('0.10')),
            Component('f', "Base", 'fixed', D('10'), per='period'),
            Component('fuel', "Fuel rider", 'surcharge', percentage=D('5'),
                base=('e',)),
            Component('all', "City tax", 'surcharge', percentage=D('2')))
        bill = rate(p, d(2024, 4, 1), d(2024, 4, 30), {'total': D(1000)})
        # 5% of 100.00, then 2% of 100 + 10 + 5
        self.assertEqual(amounts(bill), [D('100.00'), D('10.00'), D('5.00'),
                D('2.30')])

    def test_credit_first_units(self):
        p = plan(Component('e', "Energy", 'variable', D('0.20')),
            Component('c', "Lifeline", 'credit', D('0.05'), units=D(100)))
        bill = rate(p, d(2024, 4, 1), d(2024, 4, 30), {'total': D(250)})
        self.assertEqual(amounts(bill), [D('50.00'), D('-5.00')])
        bill = rate(p, d(2024, 4, 1), d(2024, 4, 30), {'total': D(40)})
        self.assertEqual(amounts(bill), [D('8.00'), D('-2.00')])
        self.assertFalse(bill.lines[1].taxable is False)

    def test_meter_size_scaled_fixed_charge(self):
        p = plan(Component('svc', "Service charge", 'fixed', D('8'),
                per='month', attribute='meter_size', blocks=[
                    Block(D('0.625'), D(1)), Block(D('1'), D('2.5'))]))
        bill = rate(p, d(2024, 4, 1), d(2024, 4, 30), {'total': D(0)},
            attributes={'meter_size': '1'})
        self.assertEqual(bill.total, D('20.00'))
        with self.assertRaises(LookupError):
            rate(p, d(2024, 4, 1), d(2024, 4, 30), {'total': D(0)},
                attributes={'meter_size': '2'})

    def test_converted_quantity_rounded_before_pricing(self):
        # 42 CCF × 1.0371 = 43.5582 therms, billed as 43.6
        p = plan(Component('g', "Gas", 'variable', D('1.25')),
            quantity_digits=1)
        bill = rate(p, d(2024, 1, 1), d(2024, 1, 31),
            {'total': D(42) * D('1.0371')})
        self.assertEqual(bill.lines[0].quantity, D('43.6'))
        self.assertEqual(bill.total, D('54.50'))

    def test_half_up_and_half_even(self):
        c = Component('e', "E", 'variable', D('0.125'))
        up = rate(plan(c), d(2024, 1, 1), d(2024, 1, 1), {'total': D(1)})
        even = rate(plan(c, rounding='half_even'), d(2024, 1, 1),
            d(2024, 1, 1), {'total': D(1)})
        self.assertEqual((up.total, even.total), (D('0.13'), D('0.12')))

    def test_demand_charge(self):
        p = plan(Component('kw', "Demand", 'demand', D('9.50')))
        bill = rate(p, d(2024, 4, 1), d(2024, 4, 30), {'total': D(0)},
            demand=D('12.4'))
        self.assertEqual(bill.total, D('117.80'))
        self.assertEqual(rate(p, d(2024, 4, 1), d(2024, 4, 30),
                {'total': D(0)}).lines, [])

    def test_no_version_in_force(self):
        p = plan(Component('e', "E", 'variable', D(1)), start=d(2024, 5, 1))
        with self.assertRaises(LookupError):
            rate(p, d(2024, 4, 20), d(2024, 5, 19), {'total': D(1)})

    def test_time_of_use_bucket(self):
        rules = [TimeOfUseRule('peak', frozenset(range(5)), 16, 21)]
        self.assertEqual(time_of_use_bucket(dt.datetime(2024, 7, 3, 17),
                rules, 'offpeak'), 'peak')
        self.assertEqual(time_of_use_bucket(dt.datetime(2024, 7, 4, 17),
                rules, 'offpeak', holidays={d(2024, 7, 4)}), 'offpeak')
        self.assertEqual(time_of_use_bucket(dt.datetime(2024, 7, 6, 17),
                rules, 'offpeak'), 'offpeak')
        self.assertEqual(time_of_use_bucket(dt.datetime(2024, 7, 3, 21),
                rules, 'offpeak'), 'offpeak')

    def test_bucket_intervals(self):
        "Hourly reads sum per register; holidays count off-peak"
        rules = [TimeOfUseRule('peak', frozenset(range(5)), 16, 21),
            TimeOfUseRule('shoulder', frozenset(range(5)), 7, 16)]
        hour = dt.timedelta(hours=1)
        day = dt.datetime(2024, 7, 3)  # a Wednesday
        intervals = [(day + i * hour, day + (i + 1) * hour, D('1.5'))
            for i in range(24)]
        self.assertEqual(bucket_intervals(intervals, rules, 'offpeak'), {
                'peak': D('7.5'), 'shoulder': D('13.5'),
                'offpeak': D('15.0')})
        self.assertEqual(bucket_intervals(intervals, rules, 'offpeak',
                holidays={d(2024, 7, 3)}), {'offpeak': D('36.0')})
        # 15-minute reads inside one hour, and a 6-hour night read that
        # stays off-peak, are fine.
        quarter = [(day + dt.timedelta(minutes=15 * i),
                day + dt.timedelta(minutes=15 * (i + 1)), D('0.25'))
            for i in range(68, 72)]
        night = [(day, day + 6 * hour, D(3))]
        self.assertEqual(bucket_intervals(quarter + night, rules, 'offpeak'),
            {'peak': D('1.00'), 'offpeak': D(3)})

    def test_bucket_intervals_refuses_a_read_over_two_registers(self):
        "A daily read cannot be split into peak and off-peak"
        rules = [TimeOfUseRule('peak', frozenset(range(5)), 16, 21)]
        day = dt.datetime(2024, 7, 3)
        with self.assertRaises(TimeOfUseSpanError) as cm:
            bucket_intervals([(day, day + dt.timedelta(days=1), D(20))],
                rules, 'offpeak')
        self.assertEqual(cm.exception.start, day)

    def test_published_residential_tariff_to_the_cent(self):
        """A residential bill worked by hand:
        customer charge 0.40/day × 30 = 12.00; first 600 kWh/month at
        0.1100 = 66.00 and 142 kWh at 0.1350 = 19.17; fuel rider 3% of
        energy (85.17) = 2.56; total 99.73."""
        p = plan(
            Component('cust', "Customer charge", 'fixed', D('0.40'),
                per='day'),
            Component('energy', "Energy", 'blocks', blocks=[
                    Block(D(0), D('0.1100')), Block(D(600), D('0.1350'))]),
            Component('fuel', "Fuel rider", 'surcharge', percentage=D(3),
                base=('energy',)))
        bill = rate(p, d(2024, 6, 1), d(2024, 6, 30), {'total': D(742)})
        self.assertEqual(amounts(bill),
            [D('12.00'), D('66.00'), D('19.17'), D('2.56')])
        self.assertEqual(bill.total, D('99.73'))
        self.assertIn('142 units over 600 units × 0.1350 = 19.17',
            bill.lines[2].explanation)

    def test_split_reports_segments(self):
        segments = split(plan(Component('e', "E", 'variable', D(1))),
            d(2024, 2, 28), d(2024, 3, 1), {'total': D(3)})
        self.assertEqual([(s.start, s.days) for s in segments],
            [(d(2024, 2, 28), 3)])
