import datetime as dt
import unittest

from trytond.pool import Pool
from trytond.tests.test_tryton import (
    activate_module, drop_db, with_transaction)

from .. import demo, meter_math


class DemoTestCase(unittest.TestCase):
    "Test the demo data generator"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        drop_db()
        activate_module(['utility_metering'])

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        drop_db()

    @with_transaction()
    def test_generate(self):
        "generate creates customers, meters, readings and anomalies"
        pool = Pool()
        Company = pool.get('company.company')
        ServicePoint = pool.get('utility.service.point')
        Meter = pool.get('utility.meter')
        Installation = pool.get('utility.meter.installation')
        Reading = pool.get('utility.meter.reading')
        User = pool.get('res.user')

        today = dt.date(2025, 6, 15)
        summary = demo.generate(customers=5, seed=1, today=today)

        company, = Company.search([('party.name', '=', demo.COMPANY_NAME)])
        self.assertEqual(company.timezone, 'America/New_York')
        self.assertEqual(company.currency.code, 'USD')
        self.assertEqual(User(1).company, company)

        points = ServicePoint.search([('company', '=', company.id)])
        self.assertEqual(summary['customers'], 5)
        self.assertEqual(len(points), summary['service_points'])
        electricity = [p for p in points
            if p.service_type.code == 'electricity']
        self.assertEqual(len(electricity), 5)
        for party in {p.party for p in points}:
            self.assertTrue(party.addresses)
            self.assertTrue(party.email)
            self.assertTrue(party.phone)

        meters = Meter.search([])
        # one meter per point plus the exchanged one
        self.assertEqual(len(meters), len(points) + 1)
        self.assertEqual(len(meters), summary['meters'])
        self.assertEqual(len({m.serial_number for m in meters}), len(meters))
        self.assertEqual(len(Installation.search([])), len(meters))

        readings = Reading.search([])
        self.assertEqual(len(readings), summary['readings'])
        # 24 months and the initial read, minus a few anomalies
        self.assertGreater(len(readings), len(points) * 24)

        # Anomalies
        self.assertTrue(Reading.search([('rollover', '=', True)]))
        removed, = Meter.search([('status', '=', 'removed')])
        old_inst, = removed.installations
        self.assertIsNotNone(old_inst.end)
        new_inst, = Installation.search([
                ('service_point', '=', old_inst.service_point.id),
                ('start', '=', old_inst.end),
                ])
        self.assertNotEqual(new_inst.meter, removed)
        self.assertTrue(Reading.search([
                    ('meter', '=', removed.id),
                    ('date_time', '=', old_inst.end),
                    ]))
        self.assertTrue(Reading.search([
                    ('meter', '=', new_inst.meter.id),
                    ('date_time', '=', old_inst.end),
                    ]))
        rejected, = Reading.search([('state', '=', 'rejected')])
        self.assertIn('times', rejected.rejection_reason)
        self.assertEqual(summary['rejected'], 1)
        self.assertFalse(Reading.search([('state', '=', 'draft')]))

        # Consumption over a month, also across the exchange
        for point in [electricity[0], old_inst.service_point]:
            usage = point.get_consumption(
                dt.date(2025, 1, 1), dt.date(2025, 1, 31))
            self.assertGreater(usage.quantity, 0)
            self.assertTrue(usage.complete)

        # Idempotent
        self.assertIsNone(demo.generate(customers=5, seed=1, today=today))
        self.assertEqual(len(Meter.search([])), len(meters))

    @with_transaction()
    def test_stored_consumption_matches_validation(self):
        "Stored consumption agrees with register deltas and multipliers"
        pool = Pool()
        Meter = pool.get('utility.meter')
        Reading = pool.get('utility.meter.reading')

        demo.generate(customers=5, seed=2, today=dt.date(2025, 6, 15))
        for meter in Meter.search([]):
            readings = Reading.search([
                    ('meter', '=', meter.id),
                    ('state', '=', 'valid'),
                    ], order=[('date_time', 'ASC')])
            self.assertTrue(readings)
            self.assertEqual(readings[0].consumption, 0)
            for prev, cur in zip(readings, readings[1:]):
                delta, rolled = meter_math.register_delta(
                    prev.value, cur.value, meter.dials)
                self.assertEqual(cur.consumption, delta * meter.multiplier)
                self.assertEqual(cur.rollover, rolled)
                self.assertGreater(cur.consumption, 0)

    def test_season(self):
        "Seasonal factors peak in the right months"
        self.assertGreater(demo.season('gas', 1), demo.season('gas', 7))
        self.assertGreater(demo.season('water', 7), demo.season('water', 1))
        self.assertGreater(
            demo.season('electricity', 7), demo.season('electricity', 4))
        self.assertGreater(
            demo.season('electricity', 1), demo.season('electricity', 10))
