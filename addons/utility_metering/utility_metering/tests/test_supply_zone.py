"""Supply zones: their members, the rules that keep input and billed use
apart, and who may see and change them."""
import datetime as dt
import unittest
from contextlib import contextmanager
from decimal import Decimal
from unittest.mock import patch

from trytond.model.exceptions import AccessError, SQLConstraintError
from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

from utility_metering.supply_zone import SupplyZoneValidationError

from .activation import activate_fixture

OURS = "Springfield Utilities"
THEIRS = "Shelbyville Water"
METERING = ('utility_metering', 'group_metering')


def _point(company, code, service):
    "A service point with a meter installed (serial M-<code>)"
    pool = Pool()
    Party = pool.get('party.party')
    ServiceType = pool.get('utility.service.type')
    ServicePoint = pool.get('utility.service.point')
    Meter = pool.get('utility.meter')
    stype, = ServiceType.search([('code', '=', service)])
    party, = Party.create([{'name': "Customer %s" % code,
                'addresses': [('create', [{'street': "%s Main St" % code,
                                'city': "Springfield"}])]}])
    point, = ServicePoint.create([{'company': company.id, 'code': code,
                'service_type': stype.id, 'party': party.id,
                'address': party.addresses[0].id}])
    Meter.create([{'company': company.id, 'serial_number': 'M-' + code,
                'service_type': stype.id, 'status': 'installed',
                'installations': [('create', [{'service_point': point.id,
                                'start': dt.datetime(2023, 1, 1)}])]}])
    return point


def _bulk_meter(company, serial, service):
    "A meter installed at no customer point"
    pool = Pool()
    ServiceType = pool.get('utility.service.type')
    Meter = pool.get('utility.meter')
    stype, = ServiceType.search([('code', '=', service)])
    Meter.create([{'company': company.id, 'serial_number': serial,
                'service_type': stype.id, 'status': 'installed',
                'dials': 7, 'multiplier': Decimal(1)}])


def zone_fixture():
    """Two providers: ours with water points W1 to W3, an electricity
    point E1 and bulk meters BW1, BW2 (water) and BE1 (electricity);
    theirs with a water point X1 and a bulk meter BX1"""
    ours = create_company(OURS)
    theirs = create_company(THEIRS)
    with set_company(ours):
        for code in ['W1', 'W2', 'W3']:
            _point(ours, code, 'water')
        _point(ours, 'E1', 'electricity')
        _bulk_meter(ours, 'BW1', 'water')
        _bulk_meter(ours, 'BW2', 'water')
        _bulk_meter(ours, 'BE1', 'electricity')
    with set_company(theirs):
        _point(theirs, 'X1', 'water')
        _bulk_meter(theirs, 'BX1', 'water')


class SupplyZoneTestCase(unittest.TestCase):
    "Supply zones with their bulk meters and service points"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_fixture(cls, 'utility_metering', zone_fixture)

    def company(self, name=OURS):
        Company = Pool().get('company.company')
        company, = Company.search([('party.name', '=', name)])
        return company

    def point(self, code):
        ServicePoint = Pool().get('utility.service.point')
        point, = ServicePoint.search([('code', '=', code)])
        return point

    def meter(self, serial):
        Meter = Pool().get('utility.meter')
        meter, = Meter.search([('serial_number', '=', serial)])
        return meter

    def zone(self, code, meters=(), points=(), company=None, service='water'):
        pool = Pool()
        Zone = pool.get('utility.supply.zone')
        ServiceType = pool.get('utility.service.type')
        stype, = ServiceType.search([('code', '=', service)])
        zone, = Zone.create([{
                    'company': (company or self.company()).id,
                    'code': code,
                    'name': "Zone %s" % code,
                    'service_type': stype.id,
                    'bulk_meters': [('add',
                            [self.meter(m).id for m in meters])],
                    'service_points': [('add',
                            [self.point(p).id for p in points])],
                    }])
        return zone

    @contextmanager
    def assertRefused(self, *names):
        "The block raises a zone error whose message names all names"
        with self.assertRaises(SupplyZoneValidationError) as cm:
            yield cm
        for name in names:
            self.assertIn(name, str(cm.exception))

    @with_transaction()
    def test_zone(self):
        "A zone lists its bulk meters and points and shows its unit"
        Zone = Pool().get('utility.supply.zone')
        zone = self.zone('DMA1', meters=['BW1', 'BW2'],
            points=['W1', 'W2', 'W3'])
        self.assertEqual(zone.rec_name, '[DMA1] Zone DMA1')
        self.assertEqual(zone.unit.symbol, 'm³')
        self.assertEqual(sorted(m.serial_number for m in zone.bulk_meters),
            ['BW1', 'BW2'])
        self.assertEqual(sorted(p.code for p in zone.service_points),
            ['W1', 'W2', 'W3'])
        self.assertEqual(Zone.search([('rec_name', 'ilike', '%dma1%')]),
            [zone])
        electricity = self.zone('DMA-E', meters=['BE1'], points=['E1'],
            service='electricity')
        self.assertEqual(electricity.unit, electricity.service_type.unit)
        # Points leave and join again.
        Zone.write([zone], {'service_points': [
                    ('remove', [self.point('W3').id])]})
        Zone.write([zone], {'service_points': [
                    ('add', [self.point('W3').id])]})
        self.assertEqual(len(zone.service_points), 3)

    @with_transaction()
    def test_code_unique_per_provider(self):
        "Two zones of a provider cannot share a code; providers can"
        self.zone('DMA1')
        self.zone('DMA1', company=self.company(THEIRS))
        with self.assertRaises(SQLConstraintError):
            self.zone('DMA1')

    @with_transaction()
    def test_point_in_two_zones(self):
        "A point already in a zone is refused by another, named"
        Zone = Pool().get('utility.supply.zone')
        first = self.zone('DMA1', points=['W1'])
        with self.assertRefused('W1', '[DMA1]', '[DMA9]'):
            self.zone('DMA9', points=['W2', 'W1'])
        second = self.zone('DMA2', points=['W2'])
        with self.assertRefused('W1', '[DMA1]', '[DMA2]'):
            Zone.write([second], {'service_points': [
                        ('add', [self.point('W1').id])]})
        # Twice in one creation is refused too.
        with self.assertRefused('W3', '[DMA1]', '[DMA2]'):
            Zone.write([first, second], {'service_points': [
                        ('add', [self.point('W3').id])]})
        # Moving a point: out of one zone, then into the other.
        Zone.write([first], {'service_points': [
                    ('remove', [self.point('W1').id])]})
        Zone.write([second], {'service_points': [
                    ('add', [self.point('W1').id])]})
        self.assertEqual(sorted(p.code for p in second.service_points),
            ['W1', 'W2'])

    @with_transaction()
    def test_meter_in_two_zones(self):
        "A bulk meter measures the input of one zone only"
        self.zone('DMA1', meters=['BW1'])
        with self.assertRefused('BW1', '[DMA1]', '[DMA2]'):
            self.zone('DMA2', meters=['BW1'])

    def second_zone_past_check(self, relation, field, member):
        "Link member to a second zone without the check before writing"
        Relation = Pool().get(relation)
        self.zone('DMA1', meters=['BW1'], points=['W1'])
        second = self.zone('DMA2')
        with patch.object(Relation, 'check_one_zone'):
            # The last statement: a database error ends the transaction.
            with self.assertRaises(SQLConstraintError):
                Relation.create([{'zone': second.id, field: member.id}])

    @with_transaction()
    def test_database_refuses_point_in_second_zone(self):
        "The database refuses a point in a second zone"
        self.second_zone_past_check(
            'utility.supply.zone-utility.service.point', 'service_point',
            self.point('W1'))

    @with_transaction()
    def test_database_refuses_meter_in_second_zone(self):
        "The database refuses a bulk meter in a second zone"
        self.second_zone_past_check('utility.supply.zone-utility.meter',
            'meter', self.meter('BW1'))

    @with_transaction()
    def test_service_type(self):
        "Members of another service are refused, named with both services"
        Zone = Pool().get('utility.supply.zone')
        ServiceType = Pool().get('utility.service.type')
        # A refused zone stays in the test's transaction: new codes and
        # members for each attempt.
        with self.assertRefused('BE1', '[BAD1]', 'Electricity', 'Water'):
            self.zone('BAD1', meters=['BE1'])
        with self.assertRefused('E1', '[BAD2]', 'Electricity', 'Water'):
            self.zone('BAD2', points=['E1'])
        zone = self.zone('DMA1', meters=['BW1'], points=['W1'])
        electricity, = ServiceType.search([('code', '=', 'electricity')])
        with self.assertRefused('BW1', '[DMA1]', 'Electricity', 'Water'):
            Zone.write([zone], {'service_type': electricity.id})

    @with_transaction()
    def test_other_provider(self):
        "Members of another provider are refused"
        with self.assertRefused('BX1', '[BAD1]'):
            self.zone('BAD1', meters=['BX1'])
        with self.assertRefused('X1', '[BAD2]'):
            self.zone('BAD2', points=['X1'])

    @with_transaction()
    def test_bulk_meter_at_customer_point(self):
        "A bulk meter is never installed at a point of its zone"
        pool = Pool()
        Installation = pool.get('utility.meter.installation')
        # W1's own meter cannot measure the input of W1's zone.
        with self.assertRefused('M-W1', 'W1', '[BAD1]'):
            self.zone('BAD1', meters=['M-W1'], points=['W1'])
        # Nor can a bulk meter be installed at a point of its zone later,
        # even for a past period.
        zone = self.zone('DMA1', meters=['BW1'], points=['W2'])
        with self.assertRefused('BW1', 'W2', '[DMA1]'):
            Installation.create([{'meter': self.meter('BW1').id,
                        'service_point': self.point('W2').id,
                        'start': dt.datetime(2022, 1, 1),
                        'end': dt.datetime(2022, 6, 1)}])
        # Installed at a point outside the zone it is fine.
        Installation.create([{'meter': self.meter('BW1').id,
                    'service_point': self.point('W3').id,
                    'start': dt.datetime(2024, 1, 1)}])
        with self.assertRefused('BW1', 'W3', '[DMA1]'):
            zone.__class__.write([zone], {'service_points': [
                        ('add', [self.point('W3').id])]})

    @with_transaction()
    def test_copy_has_no_members(self):
        "A copy starts empty instead of taking the zone's points"
        Zone = Pool().get('utility.supply.zone')
        zone = self.zone('DMA1', meters=['BW1'], points=['W1'])
        copy, = Zone.copy([zone], default={'code': 'DMA1-COPY'})
        self.assertEqual((copy.bulk_meters, copy.service_points), ((), ()))
        self.assertEqual(len(zone.service_points), 1)

    def user(self, company, *groups):
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        user = User(login='user%s' % len(User.search([])),
            companies=[company], company=company,
            groups=[ModelData.get_id(*g) for g in groups])
        user.save()
        return user

    @with_transaction()
    def test_access(self):
        "Metering manages its provider's zones; others are refused"
        pool = Pool()
        Zone = pool.get('utility.supply.zone')
        ZonePoint = pool.get('utility.supply.zone-utility.service.point')
        ours, theirs = self.company(), self.company(THEIRS)
        zone = self.zone('DMA1', meters=['BW1'], points=['W1'])
        other = self.zone('DMA9', company=theirs, meters=['BX1'],
            points=['X1'])
        metering = self.user(ours, METERING)
        nobody = self.user(ours)
        with Transaction().set_user(metering.id), Transaction().set_context(
                _check_access=True, company=ours.id):
            self.assertEqual(Zone.search([]), [zone])
            self.assertEqual(len(ZonePoint.search([])), 1)
            created, = Zone.create([{'company': ours.id, 'code': 'DMA2',
                        'name': "North", 'service_type':
                        zone.service_type.id,
                        'service_points': [('add',
                                [self.point('W2').id])]}])
            Zone.write([created], {'name': "North hill"})
            # Another provider's zone is refused by id.
            with self.assertRaises(AccessError):
                Zone.read([other.id], ['name'])
            with self.assertRaises(AccessError):
                Zone.write([Zone(other.id)], {'name': "Taken"})
            Zone.delete([created])
        with Transaction().set_user(nobody.id), Transaction().set_context(
                _check_access=True, company=ours.id):
            with self.assertRaises(AccessError):
                Zone.search([])
            with self.assertRaises(AccessError):
                Zone.create([{'company': ours.id, 'code': 'DMA3',
                            'name': "South",
                            'service_type': zone.service_type.id}])
