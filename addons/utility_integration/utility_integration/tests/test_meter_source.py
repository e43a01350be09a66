"""Meter readings pulled over SOAP (zeep) from a local MultiSpeak-style
server described by multispeak_readings.wsdl, through the reading
import's validation and duplicate handling."""
import datetime as dt
import unittest
from decimal import Decimal

from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from utility_metering.tests.activation import activate_fixture

from utility_billing.tests.tools import read
from utility_integration.exceptions import MeterSourceError

from .soap_server import WSDL, MeterReadingServer
from .tools import (
    ADMIN, METERING, SERVICE, as_user, in_company, local, provider_fixture,
    user)

UTC = dt.timezone.utc


def aware(naive_utc):
    return naive_utc.replace(tzinfo=UTC)


class MeterSourceTestCase(unittest.TestCase):
    "SOAP meter-data import against a server on loopback"

    @classmethod
    def setUpClass(cls):
        activate_fixture(cls, 'utility_integration', provider_fixture)

    def setUp(self):
        self.server = MeterReadingServer()
        self.url = self.server.start()
        self.addCleanup(self.server.stop)

    def meters(self):
        "Meters M1 and M2 of two customers read on 1 January"
        pool = Pool()
        Meter = pool.get('utility.meter')
        from utility_billing.tests.tools import (
            create_customer, create_cycle, create_plan, create_products,
            setup_accounting)
        revenue, tax = setup_accounting(self.company)
        plan = create_plan(self.company, create_products(revenue, tax))
        cycle = create_cycle(self.company)
        _, m1 = create_customer(self.company, 1, plan, cycle)
        _, m2 = create_customer(self.company, 2, plan, cycle)
        read(m1, local(2024, 1, 1), 1000)
        read(m2, local(2024, 1, 1), 500)
        return Meter(m1.id), Meter(m2.id)

    def source(self, **values):
        Source = Pool().get('utility.meter.data.source')
        values.setdefault('password', 's3cret')
        source = Source(company=self.company, name="Head-end",
            wsdl=WSDL, endpoint=self.url, username='utility',
            initial_days=10, **values)
        source.save()
        return source

    def stored(self, meter):
        Reading = Pool().get('utility.meter.reading')
        return [(r.date_time, r.value, r.state, r.source, r.kind)
            for r in Reading.search([('meter', '=', meter.id)],
                order=[('date_time', 'ASC'), ('id', 'ASC')])]

    @with_transaction()
    @in_company
    def test_pull(self):
        "Good rows stored, bad rows reported by meter, repeats skipped"
        m1, m2 = self.meters()
        self.server.readings = {
            'M1': [
                (aware(local(2024, 1, 2)), '1010.5', 'actual'),
                (aware(local(2024, 1, 3)), '1021', None),
                ],
            'M2': [
                # Conflicts with the stored 500.
                (aware(local(2024, 1, 1)), '499', 'actual'),
                (aware(local(2024, 1, 2)), '520', 'guessed'),
                (aware(local(2024, 1, 3)), '400', 'actual'),
                ],
            }
        source = self.source()
        end = local(2024, 1, 5)
        created, rejected, skipped, errors = source.pull_readings(end=end)
        self.assertEqual((created, rejected, skipped), (2, 1, 0))
        self.assertEqual(len(errors), 2)
        self.assertIn('"M2"', errors[0])
        self.assertIn('499', errors[0])
        self.assertIn('guessed', errors[1])
        # Every meter was asked for the window since the first pull.
        self.assertEqual(sorted(c[0] for c in self.server.calls),
            ['M1', 'M2'])
        for _, start, stop in self.server.calls:
            self.assertEqual(stop, aware(end))
            self.assertEqual(start, aware(end - dt.timedelta(days=10)))
        self.assertEqual(self.stored(m1)[1:], [
                (local(2024, 1, 2), Decimal('1010.5'), 'valid',
                    'integration', 'actual'),
                (local(2024, 1, 3), Decimal('1021'), 'valid',
                    'integration', 'smart'),
                ])
        # Going backwards is stored rejected, as the CSV import does.
        self.assertEqual(self.stored(m2)[1][2:4], ('rejected', 'integration'))
        source = source.__class__(source.id)
        self.assertEqual(source.pulled_until, end)
        self.assertIn('2 stored', source.last_report)
        self.assertIn('"M2"', source.last_report)

        # The next pull starts where this one ended.
        self.server.calls.clear()
        self.server.readings['M1'].append(
            (aware(local(2024, 1, 6)), '1030', 'actual'))
        created, _, skipped, errors = source.pull_readings(
            end=local(2024, 1, 7))
        self.assertEqual((created, skipped), (1, 0))
        self.assertEqual({c[1] for c in self.server.calls}, {aware(end)})

        # Pulling the same window again stores no valid reading twice
        # (the import stores a rejected row again, as for a CSV file).
        source.pulled_until = None
        source.save()
        created, rejected, skipped, errors = source.pull_readings(
            end=local(2024, 1, 7))
        self.assertEqual((created, rejected, skipped), (0, 1, 3))
        self.assertEqual(len(self.stored(m1)), 4)

    @with_transaction()
    @in_company
    def test_failures_write_nothing(self):
        "A fault, bad credentials or a malformed answer store no reading"
        m1, m2 = self.meters()
        self.server.readings = {
            'M1': [(aware(local(2024, 1, 2)), '1010', 'actual')],
            'M2': [(aware(local(2024, 1, 2)), '510', 'actual')],
            }
        end = local(2024, 1, 5)
        before = self.stored(m1) + self.stored(m2)

        source = self.source()
        self.server.failing.add('M2')
        with self.assertRaises(MeterSourceError) as cm:
            source.pull_readings(end=end)
        self.assertIn('M2', cm.exception.message)
        self.assertIn('Head-end timeout', cm.exception.message)
        self.server.failing.clear()

        self.server.broken.add('M1')
        with self.assertRaises(MeterSourceError) as cm:
            source.pull_readings(end=end)
        self.assertIn('malformed', cm.exception.message)
        self.server.broken.clear()

        wrong = self.source(password='wrong')
        with self.assertRaises(MeterSourceError) as cm:
            wrong.pull_readings(end=end)
        self.assertIn('Invalid UserID or Pwd', cm.exception.message)

        self.assertEqual(self.stored(m1) + self.stored(m2), before)
        self.assertIsNone(source.__class__(source.id).pulled_until)

        # The cron records the failure and goes on with the next source.
        Source = Pool().get('utility.meter.data.source')
        Source.write([source], {'pulled_until': local(2024, 1, 1)})
        Source.pull_all()
        wrong = Source(wrong.id)
        self.assertIn('Invalid UserID or Pwd', wrong.last_report)
        self.assertIsNone(wrong.pulled_until)
        self.assertIsNotNone(Source(source.id).pulled_until)
        self.assertEqual(len(self.stored(m1)), 2)

    @with_transaction()
    @in_company
    def test_access(self):
        "Metering pulls; customer service cannot see sources"
        pool = Pool()
        Source = pool.get('utility.meter.data.source')
        self.meters()
        self.server.readings = {
            'M1': [(aware(local(2024, 1, 2)), '1010', 'actual')]}
        source = self.source()
        with as_user(user(self.company, METERING)):
            self.assertEqual(Source.search([]), [source])
            Source.pull([Source(source.id)])
            with self.assertRaises(AccessError):
                Source.create([{'company': self.company.id, 'name': "X",
                            'wsdl': WSDL}])
        self.assertIsNotNone(Source(source.id).pulled_until)
        with as_user(user(self.company, SERVICE)):
            with self.assertRaises(AccessError):
                Source.search([])
        with as_user(user(self.company, ADMIN)):
            other, = Source.create([{'company': self.company.id,
                        'name': "Other", 'wsdl': WSDL}])
            Source.delete([other])
