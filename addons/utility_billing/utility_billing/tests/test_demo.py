import datetime as dt
import unittest
from decimal import Decimal

from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction

from .. import demo

TODAY = dt.date(2025, 6, 15)


class DemoTestCase(unittest.TestCase):
    "The billing demo: rate plans, a year of bill runs, payments, fees"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('utility_billing')

    @with_transaction()
    def test_generate(self):
        "generate bills 12 months, pays most and leaves some overdue"
        pool = Pool()
        Plan = pool.get('utility.rate.plan')
        Agreement = pool.get('utility.service.agreement')
        ServicePoint = pool.get('utility.service.point')
        Run = pool.get('utility.bill.run')
        Bill = pool.get('utility.bill')
        Invoice = pool.get('account.invoice')

        # seed 2: six customers with water and gas (seed 1 has no gas)
        summary = demo.generate(customers=6, seed=2, months=13, today=TODAY)

        with self.subTest("rate plans"):
            plans = {p.code: p for p in Plan.search([])}
            self.assertEqual(set(plans), set(demo.PLAN_CODES.values()))

            def components(code):
                version = max(plans[code].versions,
                    key=lambda v: v.start_date)
                return {c.code: c for c in version.components}

            electricity = components('E-RES')
            self.assertEqual(
                (electricity['customer'].kind, electricity['customer'].per),
                ('fixed', 'day'))
            summer = electricity['summer']
            self.assertEqual((summer.kind, summer.season_start,
                    summer.season_end), ('blocks', '06-01', '09-30'))
            for component in [summer, electricity['winter']]:
                prices = [b.price for b in component.blocks]
                self.assertEqual(len(prices), 2)
                self.assertLess(prices[0], prices[1])  # inclining
            self.assertGreater(summer.blocks[1].price,
                electricity['winter'].blocks[1].price)
            tou = components('E-TOU')
            self.assertEqual({c.register for c in tou.values()},
                {None, 'peak', 'offpeak'})
            water = components('W-RES')
            self.assertEqual(
                (water['meter'].kind, water['meter'].attribute),
                ('fixed', 'meter_size'))
            self.assertEqual(len(water['water'].blocks), 3)
            self.assertTrue(plans['G-RES'].convert_heat_factor)
            self.assertEqual(len(plans['E-RES'].versions), 2)
            self.assertIn('kWh on peak', summary['tou_example'])

        with self.subTest("agreements"):
            points = ServicePoint.search([])
            agreements = Agreement.search([])
            self.assertEqual(len(agreements), len(points))
            self.assertEqual({a.state for a in agreements}, {'active'})
            self.assertEqual(summary['agreements'], len(agreements))
            for agreement in agreements:
                self.assertEqual(agreement.rate_plan.service_type,
                    agreement.service_point.service_type)
                self.assertEqual(agreement.invoice_address.party,
                    agreement.party)

        with self.subTest("twelve months of bills"):
            runs = Run.search([], order=[('period_end', 'ASC')])
            self.assertEqual(len(runs), 12)
            self.assertEqual({r.state for r in runs}, {'done'})
            self.assertEqual(runs[0].period_end, dt.date(2024, 6, 30))
            self.assertEqual(runs[-1].period_end, dt.date(2025, 5, 31))
            bills = Bill.search([])
            self.assertEqual(len(bills), summary['bills'])
            self.assertEqual(
                len({b.period_start for b in bills}), 12)
            billed = [a for a in agreements if a.billed_until]
            self.assertEqual({a.billed_until for a in billed},
                {dt.date(2025, 5, 31)})
            self.assertEqual(len(bills), 12 * len(billed))
            self.assertEqual({b.invoice.state for b in bills},
                {'posted', 'paid'})

        with self.subTest("paid and overdue"):
            invoices = Invoice.search([('type', '=', 'out')])
            paid = [i for i in invoices if i.state == 'paid']
            overdue = [i for i in invoices if i.state == 'posted'
                and min(l.maturity_date for l in i.lines_to_pay) < TODAY]
            self.assertGreater(len(paid), len(invoices) // 2)
            self.assertTrue(overdue)
            self.assertEqual(summary['paid'], len(paid))
            self.assertEqual(summary['overdue'], len(overdue))
            for invoice in paid:
                self.assertEqual(invoice.amount_to_pay, 0)
            # Only customers with an overdue bill are dunned.
            if summary.get('dunnings') is not None:
                Dunning = pool.get('account.dunning')
                self.assertGreater(summary['late_fees'], 0)
                self.assertLessEqual(
                    {d.party for d in Dunning.search([])},
                    {i.party for i in overdue})

        with self.subTest("water meter-size charge"):
            water_bills = [b for b in bills
                if b.service_point.service_type.code == 'water']
            self.assertTrue(water_bills)
            for bill in water_bills:
                meter, = [l for l in bill.invoice.lines
                    if l.description.startswith("Meter charge")]
                self.assertIn('meter size %s' % bill.service_point.meter_size,
                    meter.utility_trace)
            factors = {Decimal(b.service_point.meter_size): b
                for b in water_bills}
            for size, bill in factors.items():
                meter, = [l for l in bill.invoice.lines
                    if l.description.startswith("Meter charge")]
                expected = dict((Decimal(s), Decimal(f))
                    for s, f in demo.METER_SIZE_FACTORS)[size]
                version = meter.utility_rate_version
                price = {c.code: c for c in version.components}[
                    'meter'].price
                self.assertEqual(meter.amount, price * expected)

        with self.subTest("gas in therms"):
            gas_bills = [b for b in bills
                if b.service_point.service_type.code == 'gas']
            self.assertTrue(gas_bills)
            for bill in gas_bills:
                self.assertEqual(bill.unit.symbol, 'CCF')
                supply, = [l for l in bill.invoice.lines
                    if l.description.startswith("Gas supply")]
                self.assertEqual(supply.unit.symbol, 'thm')
                self.assertIn('CCF ×', supply.utility_trace)
                # therms = CCF × a heat factor a little above 1
                self.assertGreater(supply.quantity, bill.consumption)
                self.assertLess(supply.quantity,
                    bill.consumption * Decimal('1.06'))

        with self.subTest("exceptions stay visible"):
            point = ServicePoint.search([
                    ('code', '=', summary['missing_meter_size'])])[0]
            self.assertFalse(point.meter_size)
            agreement, = Agreement.search([
                    ('service_point', '=', point.id)])
            self.assertIsNone(agreement.billed_until)
            self.assertEqual(summary['exceptions'], 12)
            for run in runs:
                self.assertEqual(run.exception_count, 1)
                line, = [l for l in run.lines if l.state == 'exception']
                self.assertEqual(line.agreement, agreement)
                self.assertIn('meter_size', line.reason)
            # The spike reading was rejected: its period was estimated.
            self.assertGreaterEqual(summary['estimated_bills'], 1)

        with self.subTest("supply zone"):
            Zone = pool.get('utility.supply.zone')
            zone, = Zone.search([])
            self.assertEqual(summary['supply_zone'], zone.rec_name)
            self.assertEqual(set(zone.service_points),
                {p for p in points if p.service_type.code == 'water'})
            meter, = zone.bulk_meters
            # Installed at no customer's point, read once more than billed.
            self.assertIsNone(meter.service_point)
            self.assertEqual(len(meter.readings), 13)
            self.assertEqual(summary['bulk_readings'], 13)

        with self.subTest("idempotent"):
            self.assertIsNone(demo.generate(
                    customers=6, seed=2, months=13, today=TODAY))
            self.assertEqual(len(Bill.search([])), len(bills))

    def test_months_too_short(self):
        "A year of bills needs 13 months of readings"
        with self.assertRaises(ValueError):
            demo.generate(customers=1, months=6, today=TODAY)
