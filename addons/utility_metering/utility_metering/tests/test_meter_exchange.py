import datetime as dt
import unittest
from decimal import Decimal

from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    activate_module, drop_db, with_transaction)

from utility_metering.exceptions import ReadingValidationError
from utility_metering.meter import MeterExchangeError

from .test_module import read, setup_meter


def stock_meter(company, serial='M2', service='electricity'):
    pool = Pool()
    Meter = pool.get('utility.meter')
    ServiceType = pool.get('utility.service.type')
    stype, = ServiceType.search([('code', '=', service)])
    meter = Meter(serial_number=serial, service_type=stype, dials=6,
        company=company)
    meter.save()
    return meter


class MeterExchangeTestCase(unittest.TestCase):
    "Test the checks of Meter.exchange"

    @classmethod
    def setUpClass(cls):
        drop_db()
        activate_module(['utility_metering'])

    @with_transaction()
    def test_new_meter_not_in_stock(self):
        "Only a meter in stock can be installed"
        Meter = Pool().get('utility.meter')
        company = create_company()
        with set_company(company):
            _, old = setup_meter(company)
            new = stock_meter(company)
            new.status = 'retired'
            new.save()
            with self.assertRaises(MeterExchangeError) as cm:
                Meter.exchange(old, new, dt.datetime(2024, 1, 16),
                    Decimal(1150), Decimal(0))
            self.assertIn('not in stock', cm.exception.message)

    @with_transaction()
    def test_old_meter_not_installed(self):
        "A meter in stock cannot be exchanged"
        Meter = Pool().get('utility.meter')
        company = create_company()
        with set_company(company):
            first = stock_meter(company, 'M2')
            second = stock_meter(company, 'M3')
            with self.assertRaises(MeterExchangeError) as cm:
                Meter.exchange(first, second, dt.datetime(2024, 1, 16),
                    Decimal(0), Decimal(0))
            self.assertIn('not installed', cm.exception.message)

    @with_transaction()
    def test_other_service_or_provider(self):
        "The new meter must measure the same service for the same provider"
        Meter = Pool().get('utility.meter')
        company = create_company()
        other = create_company('Other Provider')
        with set_company(company):
            _, old = setup_meter(company)
            water = stock_meter(company, 'W1', service='water')
            with self.assertRaises(MeterExchangeError) as cm:
                Meter.exchange(old, water, dt.datetime(2024, 1, 16),
                    Decimal(0), Decimal(0))
            self.assertIn('measures', cm.exception.message)
            foreign = stock_meter(other, 'M9')
            with self.assertRaises(MeterExchangeError) as cm:
                Meter.exchange(old, foreign, dt.datetime(2024, 1, 16),
                    Decimal(0), Decimal(0))
            self.assertIn('another provider', cm.exception.message)

    @with_transaction()
    def test_before_installation(self):
        "An exchange before the installation is refused"
        Meter = Pool().get('utility.meter')
        company = create_company()
        with set_company(company):
            _, old = setup_meter(company)  # installed 2023-01-01
            new = stock_meter(company)
            with self.assertRaises(MeterExchangeError):
                Meter.exchange(old, new, dt.datetime(2022, 12, 1),
                    Decimal(0), Decimal(0))

    @with_transaction()
    def test_rejected_readings(self):
        "A rejected final or initial reading raises with its reason"
        Meter = Pool().get('utility.meter')
        company = create_company()
        with set_company(company):
            _, old = setup_meter(company)
            read(old, dt.datetime(2024, 1, 1), 1000)
            new = stock_meter(company)
            with self.assertRaises(ReadingValidationError) as cm:
                Meter.exchange(old, new, dt.datetime(2024, 1, 16),
                    Decimal(900), Decimal(0))
            self.assertIn('lower than the previous', cm.exception.message)
            with self.assertRaises(ReadingValidationError) as cm:
                Meter.exchange(old, new, dt.datetime(2024, 1, 16),
                    Decimal(1150), Decimal(-1))
            self.assertIn('initial reading', cm.exception.message)
            self.assertIn('negative', cm.exception.message)
