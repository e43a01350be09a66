"""Unaccounted-for consumption: per supply zone and month, what entered the
zone (system input, measured by its bulk meters) against what was billed
to its service points.

- System input: the metering module's stored per-reading use (value since
  the previous reading, after rollover and multiplier) of the zone's bulk
  meters, as the consumption report counts it: valid and billed readings;
  draft, rejected and superseded readings do not count, nor a reading
  replaced by a valid or billed correction (the correction counts).
  A meter's first reading measures nothing and does not count. A month
  without any counted bulk reading has no input (empty), not 0.
- Billed: the consumption of the bills (``utility.bill``) of the zone's
  service points; a credited bill does not count, its rebill does.
- Unaccounted = input - billed; loss rate = unaccounted / input.

Month attribution, one rule for both sides: a quantity counts, whole, in
the month in which the period it measures ends; months are the provider's
local calendar months.
- A reading measures the use since the previous reading, so it counts in
  the month of its own time in the provider's timezone. A month runs
  from local midnight starting its 1st (excluded) to local midnight
  starting the next month's 1st (included): a reading taken exactly at
  midnight on the 1st closes the previous month.
- A bill counts in the month of its period end (a period ending on
  29 February counts in February, one ending on 1 March in March).
Nothing is pro-rated: a reading or bill period that crosses a month end
counts in the month where it ends. Per month the figures are exact when
bulk meters are read at midnight ending the month and the zone is billed
monthly by calendar month; otherwise a month's input and billed use cover
shifted periods, and the shift evens out over a longer range.

The zone's current bulk meters and points count for every month shown.
The context's dates choose months: each month from the month of From Date
to the month of To Date is shown whole; without dates, the months of the
zones' readings and bills.
"""
import datetime as dt
from decimal import Decimal

from sql import Cast, Column, Literal, Null, Union, Values
from sql.aggregate import Max, Min, Sum
from sql.conditionals import Case, Coalesce
from sql.functions import Round
from sql.operators import Exists

from trytond.model import ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval, If
from trytond.transaction import Transaction

from utility_metering.meter import company_timezone

from .reporting import _DATE, PeriodContextMixin, ReportMixin

QUANTITY_DIGITS = 4
PERCENT = Decimal('0.01')
# Row ids are month number * ZONE_IDS + zone id: zone ids stay below it.
ZONE_IDS = 100000
# Reading states counted, as the consumption report does.
COUNTED = ['valid', 'billed']


class UnaccountedContext(PeriodContextMixin, ModelView):
    "Utility Unaccounted-for Consumption Context"
    __name__ = 'utility.reporting.unaccounted.context'
    zone = fields.Many2One('utility.supply.zone', "Supply Zone",
        domain=[('company', '=', Eval('company', -1)),
            If(Eval('service_type'),
                ('service_type', '=', Eval('service_type', -1)), ())])

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.from_date.help = "The report starts with this date's month."
        cls.to_date.help = "The report ends with this date's month."

    @classmethod
    def default_zone(cls):
        return Transaction().context.get('zone')


def _null():
    "A NULL quantity (a union's other branch gives its type)"
    return Cast(Literal(None), 'NUMERIC')


def month_number(date):
    "Months since December 1899: 1 for January 1900"
    return (date.year - 1900) * 12 + date.month


def next_month(date):
    return (date.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def local_midnight(date, tzinfo):
    "The UTC time (naive, as readings are stored) of date's local midnight"
    return dt.datetime.combine(date, dt.time(), tzinfo=tzinfo).astimezone(
        dt.timezone.utc).replace(tzinfo=None)


def months(from_date, to_date, tzinfo):
    """(number, first day, UTC start, UTC end, next first day) of each
    month from from_date's to to_date's; a reading at t is in the month
    when start < t <= end"""
    result = []
    month = from_date.replace(day=1)
    while month <= to_date:
        following = next_month(month)
        result.append((month_number(month), month,
                local_midnight(month, tzinfo),
                local_midnight(following, tzinfo), following))
        month = following
    return result


class Unaccounted(ReportMixin):
    "Utility Unaccounted-for Consumption Report"
    __name__ = 'utility.reporting.unaccounted'
    month = fields.Date("Month", readonly=True)
    zone = fields.Many2One('utility.supply.zone', "Supply Zone",
        readonly=True)
    service_type = fields.Many2One('utility.service.type', "Service",
        readonly=True)
    unit = fields.Many2One('product.uom', "Unit", readonly=True)
    system_input = fields.Numeric("System Input", digits=(16, 4),
        readonly=True,
        help="Use measured by the zone's bulk meters; empty when none was "
        "read in the month.")
    billed = fields.Numeric("Billed", digits=(16, 4), readonly=True,
        help="Consumption of the bills of the zone's points whose period "
        "ends in the month.")
    unaccounted = fields.Numeric("Unaccounted", digits=(16, 4),
        readonly=True, help="System input less billed.")
    loss_rate = fields.Function(fields.Numeric("Loss Rate (%)",
            digits=(16, 2), help="Unaccounted in % of the system input."),
        'get_computed')
    bills = fields.Integer("Bills", readonly=True)
    estimated_bills = fields.Integer("Estimated Bills", readonly=True,
        help="Bills with an estimated consumption among them.")

    _export_columns = [
        ('month', 'date'),
        ('zone', 'many2one'),
        ('service_type', 'many2one'),
        ('unit', 'many2one'),
        ('system_input', 'quantity'),
        ('billed', 'quantity'),
        ('unaccounted', 'quantity'),
        ('loss_rate', 'quantity'),
        ('bills', 'integer'),
        ('estimated_bills', 'integer'),
        ]

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('month', 'DESC'), ('zone', 'ASC'), ('id', 'ASC')]

    @classmethod
    def _months(cls):
        "The months of the context, or of the data when dates are missing"
        pool = Pool()
        Company = pool.get('company.company')
        Date = pool.get('ir.date')
        context = Transaction().context
        company_id = cls._company_id()
        if company_id < 0:
            return []
        from_date = context.get('from_date')
        to_date = context.get('to_date')
        if not from_date or not to_date:
            first, last = cls._data_range()
            today = Date.today()
            from_date = from_date or first or today
            to_date = to_date or last or today
        if from_date > to_date:
            return []
        return months(from_date, to_date,
            company_timezone(Company(company_id)))

    @classmethod
    def _data_range(cls):
        "First and last date of the zones' readings and bill period ends"
        pool = Pool()
        Zone = pool.get('utility.supply.zone')
        ZoneMeter = pool.get('utility.supply.zone-utility.meter')
        ZonePoint = pool.get('utility.supply.zone-utility.service.point')
        Reading = pool.get('utility.meter.reading')
        Bill = pool.get('utility.bill')
        cursor = Transaction().connection.cursor()
        zone = Zone.__table__()
        zone_meter = ZoneMeter.__table__()
        zone_point = ZonePoint.__table__()
        reading = Reading.__table__()
        bill = Bill.__table__()
        dates = []
        cursor.execute(*zone
            .join(zone_meter, condition=zone_meter.zone == zone.id)
            .join(reading, condition=reading.meter == zone_meter.meter)
            .select(Min(reading.date_time), Max(reading.date_time),
                where=cls._zone_where(zone)))
        for value in cursor.fetchone():
            if value is not None:
                if isinstance(value, str):
                    value = dt.datetime.fromisoformat(value)
                dates.append(value.date())
        cursor.execute(*zone
            .join(zone_point, condition=zone_point.zone == zone.id)
            .join(bill,
                condition=bill.service_point == zone_point.service_point)
            .select(Min(bill.period_end), Max(bill.period_end),
                where=cls._zone_where(zone)))
        for value in cursor.fetchone():
            if value is not None:
                if isinstance(value, str):
                    value = dt.date.fromisoformat(value[:10])
                dates.append(value)
        if not dates:
            return None, None
        # A day either side covers the readings' local dates.
        return (min(dates) - dt.timedelta(days=1),
            max(dates) + dt.timedelta(days=1))

    @classmethod
    def _zone_where(cls, zone):
        context = Transaction().context
        where = zone.company == cls._company_id()
        if context.get('service_type'):
            where &= zone.service_type == context['service_type']
        if context.get('zone'):
            where &= zone.id == context['zone']
        return where

    @classmethod
    def _input(cls, month_rows):
        "Union branch of the bulk meters' counted use per reading"
        pool = Pool()
        Zone = pool.get('utility.supply.zone')
        ZoneMeter = pool.get('utility.supply.zone-utility.meter')
        Reading = pool.get('utility.meter.reading')
        zone = Zone.__table__()
        zone_meter = ZoneMeter.__table__()
        reading = Reading.__table__()
        correction = Reading.__table__()
        months = Values(month_rows)
        number, month, start, end = (Column(months, 'column%s' % i)
            for i in range(1, 5))
        earlier = Reading.__table__()
        corrected = Exists(correction.select(correction.id,
                where=(correction.corrects == reading.id)
                & correction.state.in_(COUNTED)))
        # A meter's first reading measures nothing.
        first = ~Exists(earlier.select(earlier.id,
                where=(earlier.meter == reading.meter)
                & (earlier.date_time < reading.date_time)
                & earlier.state.in_(COUNTED)))
        return (zone
            .join(zone_meter, condition=zone_meter.zone == zone.id)
            .join(reading, condition=reading.meter == zone_meter.meter)
            .join(months, condition=(reading.date_time > start)
                & (reading.date_time <= end))
            .select(
                zone.id.as_('zone'),
                number.as_('number'),
                month.as_('month'),
                reading.consumption.as_('system_input'),
                _null().as_('billed'),
                Literal(0).as_('bills'),
                Literal(0).as_('estimated_bills'),
                where=cls._zone_where(zone)
                & reading.state.in_(COUNTED)
                & (reading.consumption != Null)
                & ~corrected
                & ~first))

    @classmethod
    def _billed(cls, month_rows):
        "Union branch of the zone's points' bills"
        pool = Pool()
        Zone = pool.get('utility.supply.zone')
        ZonePoint = pool.get('utility.supply.zone-utility.service.point')
        Bill = pool.get('utility.bill')
        zone = Zone.__table__()
        zone_point = ZonePoint.__table__()
        bill = Bill.__table__()
        months = Values(month_rows)
        number, first, following = (Column(months, 'column%s' % i)
            for i in [1, 2, 5])
        return (zone
            .join(zone_point, condition=zone_point.zone == zone.id)
            .join(bill,
                condition=bill.service_point == zone_point.service_point)
            .join(months, condition=(bill.period_end >= first)
                & (bill.period_end < following))
            .select(
                zone.id.as_('zone'),
                number.as_('number'),
                first.as_('month'),
                _null().as_('system_input'),
                bill.consumption.as_('billed'),
                Literal(1).as_('bills'),
                Case((bill.estimated == Literal(True), 1),
                    else_=0).as_('estimated_bills'),
                where=cls._zone_where(zone)
                & (bill.state == 'billed')))

    @classmethod
    def table_query(cls):
        pool = Pool()
        Zone = pool.get('utility.supply.zone')
        ServiceType = pool.get('utility.service.type')
        month_rows = [list(m) for m in cls._months()]
        zone = Zone.__table__()
        service = ServiceType.__table__()
        if not month_rows:
            # Same columns, no row.
            return zone.select(
                cls.id.sql_cast(zone.id).as_('id'),
                Literal(cls._company_id()).as_('company'),
                _DATE.sql_cast(Literal(None)).as_('month'),
                zone.id.as_('zone'),
                zone.service_type.as_('service_type'),
                Cast(Literal(None), 'INTEGER').as_('unit'),
                _null().as_('system_input'),
                _null().as_('billed'),
                _null().as_('unaccounted'),
                Literal(0).as_('bills'),
                Literal(0).as_('estimated_bills'),
                where=Literal(False))
        union = Union(cls._input(month_rows), cls._billed(month_rows),
            all_=True)
        # SQLite sums floats: round back to the readings' digits.
        grouped = union.select(
            union.zone.as_('zone'),
            union.number.as_('number'),
            union.month.as_('month'),
            Sum(union.system_input).as_('system_input'),
            Sum(union.billed).as_('billed'),
            Sum(union.bills).as_('bills'),
            Sum(union.estimated_bills).as_('estimated_bills'),
            group_by=[union.zone, union.number, union.month])
        billed = Coalesce(grouped.billed, 0)
        return (grouped
            .join(zone, condition=grouped.zone == zone.id)
            .join(service, condition=zone.service_type == service.id)
            .select(
                cls.id.sql_cast(
                    grouped.number * ZONE_IDS + grouped.zone).as_('id'),
                Literal(cls._company_id()).as_('company'),
                _DATE.sql_cast(grouped.month).as_('month'),
                grouped.zone.as_('zone'),
                zone.service_type.as_('service_type'),
                service.unit.as_('unit'),
                Round(grouped.system_input, QUANTITY_DIGITS).as_(
                    'system_input'),
                Round(billed, QUANTITY_DIGITS).as_('billed'),
                Round(grouped.system_input - billed, QUANTITY_DIGITS).as_(
                    'unaccounted'),
                grouped.bills.as_('bills'),
                grouped.estimated_bills.as_('estimated_bills')))

    @classmethod
    def get_computed(cls, records, names):
        result = {n: {} for n in names}
        for record in records:
            values = cls.export_values({
                    'system_input': record.system_input,
                    'billed': record.billed,
                    'unaccounted': record.unaccounted,
                    })
            for name in names:
                result[name][record.id] = values[name]
        return result

    @classmethod
    def export_values(cls, row):
        system_input = row.get('system_input')
        if system_input:
            row['loss_rate'] = (
                Decimal(str(row.get('unaccounted') or 0))
                / Decimal(str(system_input)) * 100).quantize(PERCENT)
        else:
            row['loss_rate'] = None
        return row
