"""Supply zones (district metered areas): the part of a network whose
input a provider measures with bulk meters.

A zone has one service type; its bulk (system input) meters measure what
enters it and its service points are the customers it supplies.  What
enters the zone and is not billed to its points is the zone's
unaccounted-for water or energy (utility_reporting's report).

Rules, each refused with an error naming the records:
- bulk meters and service points are of the zone's provider and service;
- a service point belongs to at most one zone (a point has one service
  type, so this is one zone per service type), a meter is the bulk meter
  of at most one zone: both also as database constraints, which refuse
  two concurrent transactions too;
- a bulk meter is never installed (now or before) at one of the zone's
  service points: its use would count as input and as billed.
"""
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.model.exceptions import ValidationError
from trytond.pool import Pool
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access

from .model import CodeNameMixin
from .reading import in_max


class SupplyZoneValidationError(ValidationError):
    pass


class SupplyZone(CodeNameMixin, ModelSQL, ModelView):
    "Supply Zone"
    __name__ = 'utility.supply.zone'
    company = fields.Many2One('company.company', "Provider", required=True)
    code = fields.Char("Code", required=True)
    name = fields.Char("Name", required=True)
    service_type = fields.Many2One('utility.service.type', "Service",
        required=True)
    unit = fields.Function(fields.Many2One('product.uom', "Unit"),
        'on_change_with_unit')
    bulk_meters = fields.Many2Many('utility.supply.zone-utility.meter',
        'zone', 'meter', "Bulk Meters",
        help="The system input meters that measure what enters the zone.")
    service_points = fields.Many2Many(
        'utility.supply.zone-utility.service.point', 'zone', 'service_point',
        "Service Points",
        help="The customer points the zone supplies; a point belongs to "
        "one zone only.")
    notes = fields.Text("Notes")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.company, t.code),
                'utility_metering.msg_supply_zone_code_unique'),
            ]
        cls._order.insert(0, ('code', 'ASC'))

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @fields.depends('service_type')
    def on_change_with_unit(self, name=None):
        return self.service_type.unit if self.service_type else None

    @classmethod
    def copy(cls, zones, default=None):
        # A copy supplying the same points would put them in two zones.
        default = default.copy() if default is not None else {}
        default.setdefault('bulk_meters', None)
        default.setdefault('service_points', None)
        return super().copy(zones, default=default)

    @classmethod
    def validate_fields(cls, zones, field_names):
        super().validate_fields(zones, field_names)
        # A change of members is checked by the links themselves.
        if field_names and not (field_names & {'company', 'service_type'}):
            return
        cls.check_members(zones)

    @classmethod
    @without_check_access
    def check_members(cls, zones):
        "Raise when a bulk meter or point does not fit its zone"
        pool = Pool()
        Installation = pool.get('utility.meter.installation')
        for zone in zones:
            for meter in zone.bulk_meters:
                if meter.company != zone.company:
                    raise SupplyZoneValidationError(gettext(
                            'utility_metering.msg_supply_zone_meter_company',
                            meter=meter.rec_name, zone=zone.rec_name))
                if meter.service_type != zone.service_type:
                    raise SupplyZoneValidationError(gettext(
                            'utility_metering'
                            '.msg_supply_zone_meter_service_type',
                            meter=meter.rec_name, zone=zone.rec_name,
                            meter_service=meter.service_type.rec_name,
                            zone_service=zone.service_type.rec_name))
            for point in zone.service_points:
                if point.company != zone.company:
                    raise SupplyZoneValidationError(gettext(
                            'utility_metering.msg_supply_zone_point_company',
                            point=point.rec_name, zone=zone.rec_name))
                if point.service_type != zone.service_type:
                    raise SupplyZoneValidationError(gettext(
                            'utility_metering'
                            '.msg_supply_zone_point_service_type',
                            point=point.rec_name, zone=zone.rec_name,
                            point_service=point.service_type.rec_name,
                            zone_service=zone.service_type.rec_name))
            meters = [m.id for m in zone.bulk_meters]
            points = {p.id for p in zone.service_points}
            if not meters or not points:
                continue
            for sub in grouped_slice(meters, in_max()):
                for installation in Installation.search([
                            ('meter', 'in', list(sub)),
                            ]):
                    if installation.service_point.id in points:
                        cls._raise_meter_at_point(zone, installation)

    @classmethod
    @without_check_access
    def check_installations(cls, installations):
        "Raise when a bulk meter is installed at a point of its zone"
        pool = Pool()
        ZoneMeter = pool.get('utility.supply.zone-utility.meter')
        ZonePoint = pool.get('utility.supply.zone-utility.service.point')
        zones_of = {}  # meter id: zone
        meter_ids = list({i.meter.id for i in installations})
        for sub in grouped_slice(meter_ids, in_max()):
            for relation in ZoneMeter.search([('meter', 'in', list(sub))]):
                zones_of[relation.meter.id] = relation.zone
        installations = [i for i in installations if i.meter.id in zones_of]
        if not installations:
            return
        members = set()  # (zone id, point id)
        point_ids = list({i.service_point.id for i in installations})
        for sub in grouped_slice(point_ids, in_max()):
            for relation in ZonePoint.search([
                        ('service_point', 'in', list(sub)),
                        ]):
                members.add((relation.zone.id, relation.service_point.id))
        for installation in installations:
            zone = zones_of[installation.meter.id]
            if (zone.id, installation.service_point.id) in members:
                cls._raise_meter_at_point(zone, installation)

    @staticmethod
    def _raise_meter_at_point(zone, installation):
        raise SupplyZoneValidationError(gettext(
                'utility_metering.msg_supply_zone_meter_at_point',
                meter=installation.meter.rec_name, zone=zone.rec_name,
                point=installation.service_point.rec_name))


class _ZoneMember(ModelSQL):
    """A zone's link to a record that may be in one zone only.

    The link is checked before it is written, so the error names the
    record and its other zone; the database constraint still refuses a
    second zone written by a concurrent transaction."""
    _member = None  # the field name of the linked record
    _member_message = None

    @classmethod
    def create(cls, vlist):
        cls.check_one_zone([(v.get('zone'), v.get(cls._member))
                for v in vlist])
        return super().create(vlist)

    @classmethod
    def write(cls, *args):
        actions = iter(args)
        for records, values in zip(actions, actions):
            if 'zone' in values or cls._member in values:
                cls.check_one_zone([(values.get('zone', r.zone.id),
                            values.get(cls._member,
                                getattr(r, cls._member).id))
                        for r in records],
                    ignore=[r.id for r in records])
        super().write(*args)

    @classmethod
    @without_check_access
    def check_one_zone(cls, links, ignore=()):
        "Raise when a member of links (zone id, member id) has another zone"
        pool = Pool()
        Zone = pool.get('utility.supply.zone')
        Member = pool.get(cls._fields[cls._member].model_name)
        zone_of = {}
        member_ids = list({m for _, m in links if m is not None})
        for sub in grouped_slice(member_ids, in_max()):
            for relation in cls.search([
                        (cls._member, 'in', list(sub)),
                        ('id', 'not in', list(ignore)),
                        ]):
                zone_of[getattr(relation, cls._member).id] = (
                    relation.zone.id)
        for zone_id, member_id in links:
            if member_id is None:
                continue
            other = zone_of.setdefault(member_id, zone_id)
            if other != zone_id:
                raise SupplyZoneValidationError(gettext(
                        cls._member_message,
                        member=Member(member_id).rec_name,
                        zone=Zone(zone_id).rec_name,
                        other=Zone(other).rec_name))

    @classmethod
    def validate(cls, links):
        super().validate(links)
        Zone = Pool().get('utility.supply.zone')
        Zone.check_members(list({link.zone for link in links}))


class SupplyZoneMeter(_ZoneMember):
    "Supply Zone - Bulk Meter"
    __name__ = 'utility.supply.zone-utility.meter'
    zone = fields.Many2One('utility.supply.zone', "Zone", required=True,
        ondelete='CASCADE')
    meter = fields.Many2One('utility.meter', "Meter", required=True,
        ondelete='CASCADE')
    _member = 'meter'
    _member_message = 'utility_metering.msg_supply_zone_meter_other_zone'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('meter_unique', Unique(t, t.meter),
                'utility_metering.msg_supply_zone_meter_unique'),
            ]


class SupplyZoneServicePoint(_ZoneMember):
    "Supply Zone - Service Point"
    __name__ = 'utility.supply.zone-utility.service.point'
    zone = fields.Many2One('utility.supply.zone', "Zone", required=True,
        ondelete='CASCADE')
    service_point = fields.Many2One('utility.service.point',
        "Service Point", required=True, ondelete='CASCADE')
    _member = 'service_point'
    _member_message = 'utility_metering.msg_supply_zone_point_other_zone'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('service_point_unique', Unique(t, t.service_point),
                'utility_metering.msg_supply_zone_point_unique'),
            ]
