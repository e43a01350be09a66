import datetime as dt
import unittest
from decimal import Decimal

from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    activate_module, drop_db, with_transaction)

from utility_metering.heat_factor import (
    HeatFactorMissingError, HeatFactorOverlapError)


def gas():
    ServiceType = Pool().get('utility.service.type')
    gas, = ServiceType.search([('code', '=', 'gas')])
    return gas


def add_factor(company, service_type, start, end, factor):
    HeatFactor = Pool().get('utility.heat.factor')
    record = HeatFactor(company=company, service_type=service_type,
        start_date=start, end_date=end, factor=Decimal(factor))
    record.save()
    return record


class HeatFactorTestCase(unittest.TestCase):
    "Test the CCF to therm conversion by heat factor periods"

    @classmethod
    def setUpClass(cls):
        drop_db()
        activate_module(['utility_metering'])

    @with_transaction()
    def test_whole_period(self):
        "One factor covering the whole period"
        HeatFactor = Pool().get('utility.heat.factor')
        company = create_company()
        with set_company(company):
            add_factor(company, gas(), dt.date(2024, 1, 1), None, '1.0370')
            therms, parts = HeatFactor.convert(company, gas(),
                dt.date(2024, 1, 1), dt.date(2024, 1, 31), Decimal(100))
            self.assertEqual(therms, Decimal('103.7000'))
            self.assertEqual(parts, [(dt.date(2024, 1, 1),
                        dt.date(2024, 1, 31), 31, Decimal('1.0370'),
                        Decimal(100))])

    @with_transaction()
    def test_split_across_change(self):
        "A period crossing a factor change is split by days"
        HeatFactor = Pool().get('utility.heat.factor')
        company = create_company()
        with set_company(company):
            add_factor(company, gas(), dt.date(2023, 10, 1),
                dt.date(2024, 1, 15), '1.0300')
            add_factor(company, gas(), dt.date(2024, 1, 16), None, '1.0500')
            therms, parts = HeatFactor.convert(company, gas(),
                dt.date(2024, 1, 1), dt.date(2024, 1, 31), Decimal(310))
            self.assertEqual(parts, [
                    (dt.date(2024, 1, 1), dt.date(2024, 1, 15), 15,
                        Decimal('1.0300'), Decimal(150)),
                    (dt.date(2024, 1, 16), dt.date(2024, 1, 31), 16,
                        Decimal('1.0500'), Decimal(160)),
                    ])
            # 150 * 1.03 + 160 * 1.05
            self.assertEqual(therms, Decimal('322.5000'))

    @with_transaction()
    def test_rounding_rest(self):
        "Rounded parts still add up to the quantity"
        HeatFactor = Pool().get('utility.heat.factor')
        company = create_company()
        with set_company(company):
            add_factor(company, gas(), dt.date(2024, 1, 1),
                dt.date(2024, 1, 1), '1.0000')
            add_factor(company, gas(), dt.date(2024, 1, 2), None, '2.0000')
            therms, parts = HeatFactor.convert(company, gas(),
                dt.date(2024, 1, 1), dt.date(2024, 1, 3), Decimal(100))
            self.assertEqual([p.quantity for p in parts],
                [Decimal('33.3333'), Decimal('66.6667')])
            self.assertEqual(therms, Decimal('166.6667'))

    @with_transaction()
    def test_leap_year_february(self):
        "February 2024 has 29 days to prorate over"
        HeatFactor = Pool().get('utility.heat.factor')
        company = create_company()
        with set_company(company):
            add_factor(company, gas(), dt.date(2024, 1, 1),
                dt.date(2024, 2, 14), '1.0370')
            add_factor(company, gas(), dt.date(2024, 2, 15), None, '1.0410')
            therms, parts = HeatFactor.convert(company, gas(),
                dt.date(2024, 2, 1), dt.date(2024, 2, 29), Decimal(290))
            self.assertEqual([(p.days, p.quantity) for p in parts],
                [(14, Decimal(140)), (15, Decimal(150))])
            # 140 * 1.0370 + 150 * 1.0410
            self.assertEqual(therms, Decimal('301.3300'))

    @with_transaction()
    def test_missing_factor(self):
        "A day without factor is refused, naming the uncovered days"
        HeatFactor = Pool().get('utility.heat.factor')
        company = create_company()
        with set_company(company):
            add_factor(company, gas(), dt.date(2024, 1, 1),
                dt.date(2024, 1, 10), '1.0370')
            add_factor(company, gas(), dt.date(2024, 1, 21), None, '1.0410')
            with self.assertRaises(HeatFactorMissingError) as cm:
                HeatFactor.convert(company, gas(), dt.date(2024, 1, 1),
                    dt.date(2024, 1, 31), Decimal(100))
            self.assertIn('2024-01-11', cm.exception.message)
            self.assertIn('2024-01-20', cm.exception.message)
            with self.assertRaises(HeatFactorMissingError):
                HeatFactor.convert(company, gas(), dt.date(2023, 12, 31),
                    dt.date(2024, 1, 5), Decimal(100))
            # another provider has no factor at all
            other = create_company('Other Provider')
            with self.assertRaises(HeatFactorMissingError):
                HeatFactor.convert(other, gas(), dt.date(2024, 1, 1),
                    dt.date(2024, 1, 5), Decimal(100))

    @with_transaction()
    def test_overlap(self):
        "Periods of a provider and service cannot overlap"
        ServiceType = Pool().get('utility.service.type')
        company = create_company()
        with set_company(company):
            water, = ServiceType.search([('code', '=', 'water')])
            add_factor(company, gas(), dt.date(2024, 1, 1),
                dt.date(2024, 6, 30), '1.0370')
            # adjacent periods and other services are fine
            current = add_factor(
                company, gas(), dt.date(2024, 7, 1), None, '1.0410')
            add_factor(company, water, dt.date(2024, 1, 1), None, '1')
            current.end_date = dt.date(2024, 12, 31)
            current.save()
            add_factor(company, gas(), dt.date(2025, 1, 1), None, '1.0500')
            with self.assertRaises(HeatFactorOverlapError) as cm:
                add_factor(company, gas(), dt.date(2024, 6, 30),
                    dt.date(2024, 7, 1), '1.0410')
            self.assertIn('overlap', cm.exception.message)

    @with_transaction()
    def test_overlap_open_period(self):
        "An open period overlaps any later one"
        company = create_company()
        with set_company(company):
            add_factor(company, gas(), dt.date(2024, 1, 1), None, '1.0370')
            with self.assertRaises(HeatFactorOverlapError):
                add_factor(company, gas(), dt.date(2025, 1, 1), None,
                    '1.0410')

    @with_transaction()
    def test_overlap_earlier_open_period(self):
        "A new open period starting earlier overlaps existing ones"
        company = create_company()
        with set_company(company):
            add_factor(company, gas(), dt.date(2024, 1, 1),
                dt.date(2024, 1, 31), '1.0370')
            with self.assertRaises(HeatFactorOverlapError):
                add_factor(company, gas(), dt.date(2023, 1, 1), None,
                    '1.0410')
