"""Consumption analysis: metered use per month and service, year over year,
and the agreements that consumed most.

Consumption is the metering module's stored per-reading use (value since
the previous reading, after rollover and multiplier) of valid and billed
readings; superseded, rejected and draft readings do not count. A reading's
use counts in the month of its timestamp (UTC, the same on both backends)
and for the agreement in force on the service point that day. Last year is
the same dates shifted back one year.
"""
import datetime as dt
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from sql import Literal, Null
from sql.aggregate import Count, Sum
from sql.functions import Rank, Round
from sql.operators import Exists
from sql import Window

from trytond.model import fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .reporting import _DATE, Context, ReportMixin

QUANTITY_DIGITS = 4
PERCENT = Decimal('0.01')
DEFAULT_THRESHOLD = Decimal(30)


class ConsumptionContext(Context):
    "Utility Consumption Reporting Context"
    __name__ = 'utility.reporting.consumption.context'
    threshold = fields.Numeric("Unusual Change (%)", digits=(16, 2),
        required=True,
        help="Flag a change against last year of at least this many "
        "percent, up or down.")

    @classmethod
    def default_threshold(cls):
        threshold = Transaction().context.get('threshold')
        return (Decimal(str(threshold)) if threshold is not None
            else DEFAULT_THRESHOLD)


def _threshold():
    threshold = Transaction().context.get('threshold')
    if threshold is None:
        return DEFAULT_THRESHOLD
    return Decimal(str(threshold))


def change_values(row, current_name, previous_name):
    "Add change_percent and unusual to row from its two quantities"
    current = row.get(current_name)
    previous = row.get(previous_name)
    if previous:
        change = ((Decimal(str(current or 0)) - Decimal(str(previous)))
            / Decimal(str(previous)) * 100).quantize(PERCENT)
        row['change_percent'] = change
        row['unusual'] = abs(change) >= _threshold()
    else:
        row['change_percent'] = None
        # Use appearing from nothing is a change no percentage describes.
        row['unusual'] = bool(current) and previous is not None
    return row


class _ConsumptionMixin(ReportMixin):

    @classmethod
    def _period(cls, years_back=0):
        "The context's [from, to] shifted back years_back years (or None)"
        context = Transaction().context
        shift = relativedelta(years=years_back)
        from_date = context.get('from_date')
        to_date = context.get('to_date')
        return (from_date - shift if from_date else None,
            to_date - shift if to_date else None)

    @classmethod
    def _readings(cls, years_back=0, require_agreement=False):
        """From item and where clause of the counted readings with their
        service point and the agreement in force that day"""
        pool = Pool()
        Reading = pool.get('utility.meter.reading')
        Point = pool.get('utility.service.point')
        Agreement = pool.get('utility.service.agreement')
        context = Transaction().context
        reading = Reading.__table__()
        point = Point.__table__()
        agreement = Agreement.__table__()
        day = _DATE.sql_cast(reading.date_time)
        join = (reading
            .join(point, condition=reading.service_point == point.id)
            .join(agreement,
                type_='INNER' if require_agreement else 'LEFT',
                condition=(agreement.service_point == point.id)
                & (agreement.state != 'draft')
                & (agreement.start_date <= day)
                & ((agreement.end_date == Null)
                    | (agreement.end_date >= day))))
        correction = Reading.__table__()
        # A counted correction takes the place of the reading it corrects.
        corrected = Exists(correction.select(correction.id,
                where=(correction.corrects == reading.id)
                & correction.state.in_(['valid', 'billed'])))
        where = ((reading.company == cls._company_id())
            & reading.state.in_(['valid', 'billed'])
            & (reading.consumption != Null)
            & ~corrected)
        from_date, to_date = cls._period(years_back)
        # Compare timestamps with the day bounds on both backends.
        if from_date:
            where &= reading.date_time >= dt.datetime.combine(
                from_date, dt.time())
        if to_date:
            where &= reading.date_time < dt.datetime.combine(
                to_date + dt.timedelta(days=1), dt.time())
        if context.get('service_type'):
            where &= point.service_type == context['service_type']
        if context.get('cycle'):
            where &= agreement.cycle == context['cycle']
        if context.get('rate_plan'):
            where &= agreement.rate_plan == context['rate_plan']
        return join, where, reading, point, agreement

    @classmethod
    def _quantity(cls, column):
        # SQLite sums floats: round back to the readings' digits.
        return Round(Sum(column), QUANTITY_DIGITS)


class Consumption(_ConsumptionMixin):
    "Utility Consumption Report"
    __name__ = 'utility.reporting.consumption'
    month = fields.Date("Month", readonly=True)
    service_type = fields.Many2One('utility.service.type', "Service",
        readonly=True)
    unit = fields.Many2One('product.uom', "Unit", readonly=True)
    consumption = fields.Numeric("Consumption", digits=(16, 4),
        readonly=True)
    agreements = fields.Integer("Agreements", readonly=True,
        help="Agreements with metered use in the month.")
    average = fields.Function(fields.Numeric("Average per Agreement",
            digits=(16, 4)), 'get_computed')
    last_year = fields.Numeric("Same Month Last Year", digits=(16, 4),
        readonly=True)
    change_percent = fields.Function(fields.Numeric("Change (%)",
            digits=(16, 2)), 'get_computed')
    unusual = fields.Function(fields.Boolean("Unusual Change",
            help="The change against last year reaches the context's "
            "threshold."), 'get_computed')

    _export_columns = [
        ('month', 'date'),
        ('service_type', 'many2one'),
        ('unit', 'many2one'),
        ('consumption', 'quantity'),
        ('agreements', 'integer'),
        ('average', 'quantity'),
        ('last_year', 'quantity'),
        ('change_percent', 'quantity'),
        ('unusual', 'boolean'),
        ]

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('month', 'DESC'), ('id', 'ASC')]

    @classmethod
    def _monthly(cls, years_back):
        join, where, reading, point, agreement = cls._readings(years_back)
        # Group on a subquery's column: PostgreSQL does not see two
        # parametrised DATE_TRUNC expressions as the same.
        counted = join.select(
            cls._month(reading.date_time).as_('month'),
            point.service_type.as_('service_type'),
            reading.consumption.as_('consumption'),
            agreement.id.as_('agreement'),
            where=where)
        return counted.select(
            counted.month.as_('month'),
            cls._month_key(counted.month).as_('month_key'),
            counted.service_type.as_('service_type'),
            cls._quantity(counted.consumption).as_('consumption'),
            Count(counted.agreement, distinct=True).as_('agreements'),
            group_by=[counted.month, counted.service_type])

    @classmethod
    def table_query(cls):
        pool = Pool()
        ServiceType = pool.get('utility.service.type')
        current = cls._monthly(0)
        previous = cls._monthly(1)
        service = ServiceType.__table__()
        query = (current
            .join(service, condition=current.service_type == service.id)
            .join(previous, type_='LEFT',
                condition=(previous.month_key == current.month_key - 12)
                & (previous.service_type == current.service_type)))
        return query.select(
            cls.id.sql_cast(current.month_key * 10000
                + current.service_type).as_('id'),
            Literal(cls._company_id()).as_('company'),
            current.month.as_('month'),
            current.service_type.as_('service_type'),
            service.unit.as_('unit'),
            current.consumption.as_('consumption'),
            current.agreements.as_('agreements'),
            previous.consumption.as_('last_year'))

    @classmethod
    def get_computed(cls, records, names):
        result = {n: {} for n in names}
        for record in records:
            values = cls.export_values({
                    'consumption': record.consumption,
                    'agreements': record.agreements,
                    'last_year': record.last_year,
                    })
            for name in names:
                result[name][record.id] = values[name]
        return result

    @classmethod
    def export_values(cls, row):
        agreements = row.get('agreements') or 0
        if agreements:
            row['average'] = (Decimal(str(row.get('consumption') or 0))
                / agreements).quantize(Decimal(1).scaleb(-QUANTITY_DIGITS))
        else:
            row['average'] = None
        return change_values(row, 'consumption', 'last_year')


class ConsumptionAgreement(_ConsumptionMixin):
    "Utility Top Consumers Report"
    __name__ = 'utility.reporting.consumption.agreement'
    rank = fields.Integer("Rank", readonly=True,
        help="Position among the agreements of the same service, "
        "highest consumption first.")
    agreement = fields.Many2One('utility.service.agreement', "Agreement",
        readonly=True)
    party = fields.Many2One('party.party', "Customer", readonly=True,
        context={'company': Eval('company', -1)}, depends={'company'})
    service_point = fields.Many2One('utility.service.point',
        "Service Point", readonly=True)
    service_type = fields.Many2One('utility.service.type', "Service",
        readonly=True)
    unit = fields.Many2One('product.uom', "Unit", readonly=True)
    consumption = fields.Numeric("Consumption", digits=(16, 4),
        readonly=True, help="Over the context's period.")
    last_year = fields.Numeric("Same Period Last Year", digits=(16, 4),
        readonly=True)
    change_percent = fields.Function(fields.Numeric("Change (%)",
            digits=(16, 2)), 'get_computed')
    unusual = fields.Function(fields.Boolean("Unusual Change",
            help="The change against last year reaches the context's "
            "threshold."), 'get_computed')

    _export_columns = [
        ('rank', 'integer'),
        ('agreement', 'many2one'),
        ('party', 'many2one'),
        ('service_point', 'many2one'),
        ('service_type', 'many2one'),
        ('unit', 'many2one'),
        ('consumption', 'quantity'),
        ('last_year', 'quantity'),
        ('change_percent', 'quantity'),
        ('unusual', 'boolean'),
        ]

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('service_type', 'ASC'), ('rank', 'ASC'),
            ('id', 'ASC')]

    @classmethod
    def _per_agreement(cls, years_back):
        join, where, reading, point, agreement = cls._readings(
            years_back, require_agreement=True)
        return join.select(
            agreement.id.as_('agreement'),
            agreement.party.as_('party'),
            point.id.as_('service_point'),
            point.service_type.as_('service_type'),
            cls._quantity(reading.consumption).as_('consumption'),
            where=where,
            group_by=[agreement.id, agreement.party, point.id,
                point.service_type])

    @classmethod
    def table_query(cls):
        pool = Pool()
        ServiceType = pool.get('utility.service.type')
        current = cls._per_agreement(0)
        previous = cls._per_agreement(1)
        service = ServiceType.__table__()
        query = (current
            .join(service, condition=current.service_type == service.id)
            .join(previous, type_='LEFT',
                condition=previous.agreement == current.agreement))
        return query.select(
            current.agreement.as_('id'),
            Literal(cls._company_id()).as_('company'),
            Rank(window=Window([current.service_type],
                    order_by=[current.consumption.desc])).as_('rank'),
            current.agreement.as_('agreement'),
            current.party.as_('party'),
            current.service_point.as_('service_point'),
            current.service_type.as_('service_type'),
            service.unit.as_('unit'),
            current.consumption.as_('consumption'),
            previous.consumption.as_('last_year'))

    @classmethod
    def get_computed(cls, records, names):
        result = {n: {} for n in names}
        for record in records:
            values = cls.export_values({
                    'consumption': record.consumption,
                    'last_year': record.last_year,
                    })
            for name in names:
                result[name][record.id] = values[name]
        return result

    @classmethod
    def export_values(cls, row):
        return change_values(row, 'consumption', 'last_year')
