import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from . import meter_math
from .exceptions import ReadingValidationError

try:
    from zoneinfo import ZoneInfo
except ImportError:  # pragma: no cover
    ZoneInfo = None


def company_timezone(company):
    tz = company.timezone if company and company.timezone else 'UTC'
    return ZoneInfo(tz)


def to_local(utc_naive, tzinfo):
    return utc_naive.replace(tzinfo=dt.timezone.utc).astimezone(
        tzinfo).replace(tzinfo=None)


class MeterExchangeError(UserError):
    pass


@dataclass
class Consumption:
    "What billing receives for a meter or service point and a period"
    start: dt.date
    end: dt.date
    quantity: Decimal = Decimal(0)
    unit: object = None
    readings: list = field(default_factory=list)
    estimated: bool = False
    complete: bool = True


class Meter(ModelSQL, ModelView):
    "Meter"
    __name__ = 'utility.meter'
    _rec_name = 'serial_number'
    company = fields.Many2One('company.company', "Provider", required=True)
    serial_number = fields.Char("Serial Number", required=True)
    service_type = fields.Many2One('utility.service.type', "Service",
        required=True)
    dials = fields.Integer("Dials",
        help="Digits of the register: it rolls over at 10^dials.")
    multiplier = fields.Numeric("Multiplier", digits=(16, 4), required=True)
    status = fields.Selection([
            ('stock', "In Stock"),
            ('installed', "Installed"),
            ('removed', "Removed"),
            ('retired', "Retired"),
            ], "Status", required=True)
    installations = fields.One2Many('utility.meter.installation', 'meter',
        "Installations")
    service_point = fields.Function(fields.Many2One(
            'utility.service.point', "Service Point"),
        'get_service_point', searcher='search_service_point')
    readings = fields.One2Many('utility.meter.reading', 'meter', "Readings",
        readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('serial_unique', Unique(t, t.company, t.serial_number),
                'utility_metering.msg_meter_serial_unique'),
            ]
        cls._buttons.update({
                'start_exchange': {
                    'invisible': Eval('status') != 'installed',
                    'depends': ['status'],
                    },
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_multiplier():
        return Decimal(1)

    @staticmethod
    def default_status():
        return 'stock'

    @classmethod
    def get_service_point(cls, meters, name):
        result = {m.id: None for m in meters}
        for meter in meters:
            for inst in meter.installations:
                if inst.end is None:
                    result[meter.id] = inst.service_point.id
        return result

    @classmethod
    def search_service_point(cls, name, clause):
        return [('installations', 'where', [
                    ('service_point',) + tuple(clause[1:]),
                    ('end', '=', None),
                    ])]

    @classmethod
    def consumption_for(cls, meters, start, end, service_point=None):
        """Consumption over the dates [start, end] summed over meters.

        Each meter counts only while installed; usage between two readings
        is pro-rated by calendar days of the provider's timezone.
        """
        readings = cls._billable_readings(meters)
        return cls._consumption(meters, start, end, readings)

    @classmethod
    def consumptions(cls, requests):
        """Consumption for each (service point, start, end) of requests.

        The batched form of ServicePoint.get_consumption for bill runs: the
        installations and readings of all points are read at once.
        """
        pool = Pool()
        Installation = pool.get('utility.meter.installation')
        point_ids = {p.id for p, _, _ in requests}
        meters_of = defaultdict(set)
        meters = {}
        for sub in grouped_slice(list(point_ids), 900):
            for inst in Installation.search([
                        ('service_point', 'in', list(sub)),
                        ]):
                meters_of[inst.service_point.id].add(inst.meter.id)
                meters[inst.meter.id] = inst.meter
        readings = cls._billable_readings(list(meters.values()))
        result = []
        for point, start, end in requests:
            point_meters = [meters[m] for m in sorted(meters_of[point.id])]
            result.append(cls._consumption(point_meters, start, end,
                    readings))
        return result

    @classmethod
    def _billable_readings(cls, meters):
        "Valid and billed readings by meter id in time order"
        Reading = Pool().get('utility.meter.reading')
        by_meter = defaultdict(list)
        for sub in grouped_slice([m.id for m in meters], 900):
            for reading in Reading.search([
                        ('meter', 'in', list(sub)),
                        ('state', 'in', ['valid', 'billed']),
                        ('corrected_by', '=', None),
                        ], order=[('meter', 'ASC'), ('date_time', 'ASC')]):
                by_meter[reading.meter.id].append(reading)
        return by_meter

    @classmethod
    def _consumption(cls, meters, start, end, by_meter):
        result = Consumption(start=start, end=end)
        if not meters:
            result.complete = False
            return result
        result.unit = meters[0].service_type.unit
        tzinfo = company_timezone(meters[0].company)
        p_start = meter_math.day_position(start)
        p_end = meter_math.day_position(end + dt.timedelta(days=1))
        for meter in meters:
            points, cumul, used = [], Decimal(0), []
            for reading in by_meter[meter.id]:
                if points:
                    cumul += reading.consumption or 0
                points.append((meter_math.day_position(
                            to_local(reading.date_time, tzinfo)), cumul))
                used.append(reading)
            if not points:
                continue
            lo, hi = max(p_start, points[0][0]), min(p_end, points[-1][0])
            inst_lo, inst_hi = meter.installed_range(tzinfo)
            want_lo = max(p_start, inst_lo) if inst_lo else p_start
            want_hi = min(p_end, inst_hi) if inst_hi else p_end
            if lo > want_lo or hi < want_hi:
                result.complete = False
            if lo >= hi:
                continue
            quantity = meter_math.prorate(points, lo, hi)
            result.quantity += quantity
            inside = [(r, p) for r, (p, _) in zip(used, points)
                if lo <= p <= hi]
            selected = [r for r, _ in inside]
            # The readings bracketing the period are used too, unless a
            # reading falls exactly on its start or end.
            if not inside or inside[0][1] > lo:
                selected = [r for r, (p, _) in zip(used, points)
                    if p < lo][-1:] + selected
            if not inside or inside[-1][1] < hi:
                selected += [r for r, (p, _) in zip(used, points)
                    if p > hi][:1]
            result.readings.extend(selected)
            if any(r.kind == 'estimated' for r in selected):
                result.estimated = True
        if not result.readings:
            result.complete = False
        result.quantity = result.quantity.quantize(Decimal('0.0001'))
        return result

    def installed_range(self, tzinfo):
        "First install and last removal positions or None when open"
        starts = [i.start for i in self.installations]
        ends = [i.end for i in self.installations]
        lo = (meter_math.day_position(to_local(min(starts), tzinfo))
            if starts else None)
        hi = (None if not ends or None in ends
            else meter_math.day_position(to_local(max(ends), tzinfo)))
        return lo, hi

    def get_consumption(self, start, end):
        return self.consumption_for([self], start, end)

    @classmethod
    @ModelView.button_action('utility_metering.wizard_meter_exchange')
    def start_exchange(cls, meters):
        pass

    def current_installation(self):
        "The open installation or raise when the meter is not installed"
        installations = [i for i in self.installations if i.end is None]
        if self.status != 'installed' or len(installations) != 1:
            raise MeterExchangeError(gettext(
                    'utility_metering.msg_meter_exchange_not_installed',
                    meter=self.rec_name))
        return installations[0]

    @classmethod
    def check_exchange(cls, old, new, date_time):
        "Raise when new cannot replace old at date_time"
        current = old.current_installation()
        if new.status != 'stock':
            raise MeterExchangeError(gettext(
                    'utility_metering.msg_meter_exchange_not_stock',
                    meter=new.rec_name))
        if new.company != old.company:
            raise MeterExchangeError(gettext(
                    'utility_metering.msg_meter_exchange_company',
                    new=new.rec_name, old=old.rec_name))
        if new.service_type != old.service_type:
            raise MeterExchangeError(gettext(
                    'utility_metering.msg_meter_exchange_service_type',
                    new=new.rec_name, new_service=new.service_type.rec_name,
                    old=old.rec_name, old_service=old.service_type.rec_name))
        if date_time <= current.start:
            raise MeterExchangeError(gettext(
                    'utility_metering.msg_meter_exchange_before_installation',
                    meter=old.rec_name, installed=current.start))
        return current

    @classmethod
    def exchange(cls, old, new, date_time, final_value, initial_value):
        """Replace old by new at date_time on old's service point.

        The old meter closes at a final reading and the new one opens at an
        initial reading at the same time, so consumption stays continuous.
        A rejected reading raises so the caller's transaction rolls back
        instead of keeping a half-done exchange.
        """
        pool = Pool()
        Installation = pool.get('utility.meter.installation')
        Reading = pool.get('utility.meter.reading')
        current = cls.check_exchange(old, new, date_time)
        # Validated while still installed so it gets the service point.
        final = Reading(meter=old, company=old.company, date_time=date_time,
            value=final_value, kind='actual')
        final.save()
        Reading.validate_reading([final])
        if final.state != 'valid':
            raise ReadingValidationError(gettext(
                    'utility_metering.msg_meter_exchange_final_rejected',
                    meter=old.rec_name, reason=final.rejection_reason))
        current.end = date_time
        current.save()
        Installation(meter=new, service_point=current.service_point,
            start=date_time).save()
        initial = Reading(meter=new, company=new.company,
            date_time=date_time, value=initial_value, kind='actual')
        initial.save()
        Reading.validate_reading([initial])
        if initial.state != 'valid':
            raise ReadingValidationError(gettext(
                    'utility_metering.msg_meter_exchange_initial_rejected',
                    meter=new.rec_name, reason=initial.rejection_reason))
        old.status = 'removed'
        new.status = 'installed'
        cls.save([old, new])
        return final, initial


class MeterInstallation(ModelSQL, ModelView):
    "Meter Installation"
    __name__ = 'utility.meter.installation'
    meter = fields.Many2One('utility.meter', "Meter", required=True,
        ondelete='CASCADE')
    service_point = fields.Many2One('utility.service.point',
        "Service Point", required=True, ondelete='RESTRICT',
        domain=[('service_type', '=', Eval('service_type', -1))])
    service_type = fields.Function(fields.Many2One(
            'utility.service.type', "Service"), 'on_change_with_service_type')
    start = fields.DateTime("Installed", required=True)
    end = fields.DateTime("Removed",
        domain=['OR', ('end', '=', None), ('end', '>', Eval('start'))])

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('start', 'DESC'))

    @fields.depends('meter', '_parent_meter.service_type')
    def on_change_with_service_type(self, name=None):
        return self.meter.service_type if self.meter else None

    @classmethod
    def validate(cls, installations):
        super().validate(installations)
        # A zone's bulk meter never measures one of the zone's customers.
        Zone = Pool().get('utility.supply.zone')
        Zone.check_installations(installations)
