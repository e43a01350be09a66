"Gas volume to energy: therms per CCF for each period of a provider"
import datetime as dt
from collections import namedtuple
from decimal import Decimal

from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.model.exceptions import ValidationError
from trytond.pyson import Eval, If
from trytond.transaction import Transaction

QUANTIZE = Decimal('0.0001')

HeatFactorPart = namedtuple(
    'HeatFactorPart', ['start', 'end', 'days', 'factor', 'quantity'])


class HeatFactorOverlapError(ValidationError):
    pass


class HeatFactorMissingError(UserError):
    pass


class HeatFactor(ModelSQL, ModelView):
    "Heat Factor"
    __name__ = 'utility.heat.factor'
    company = fields.Many2One('company.company', "Provider", required=True)
    service_type = fields.Many2One('utility.service.type', "Service",
        required=True)
    start_date = fields.Date("Start Date", required=True,
        domain=[
            If(Eval('start_date') & Eval('end_date'),
                ('start_date', '<=', Eval('end_date')),
                ()),
            ])
    end_date = fields.Date("End Date",
        domain=[
            If(Eval('start_date') & Eval('end_date'),
                ('end_date', '>=', Eval('start_date')),
                ()),
            ],
        help="The last day the factor applies. Empty while it is current.")
    factor = fields.Numeric("Factor", digits=(16, 4), required=True,
        domain=[('factor', '>', 0)],
        help="Therms per unit of the service (CCF for gas).")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t,
                (t.company, Index.Equality()),
                (t.service_type, Index.Equality()),
                (t.start_date, Index.Range())))
        cls._order.insert(0, ('start_date', 'DESC'))

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    def get_rec_name(self, name):
        return '%s %s - %s: %s' % (
            self.service_type.rec_name if self.service_type else '',
            self.start_date, self.end_date or '…', self.factor)

    @classmethod
    def validate_fields(cls, factors, field_names):
        super().validate_fields(factors, field_names)
        cls.check_overlap(factors, field_names)

    @classmethod
    def check_overlap(cls, factors, field_names=None):
        if field_names and not (field_names & {
                    'company', 'service_type', 'start_date', 'end_date'}):
            return
        # Serialise writers: two overlapping periods saved concurrently
        # would each pass the check otherwise.
        cls.lock()
        for factor in factors:
            domain = [
                ('id', '!=', factor.id),
                ('company', '=', factor.company.id),
                ('service_type', '=', factor.service_type.id),
                ['OR',
                    ('end_date', '=', None),
                    ('end_date', '>=', factor.start_date),
                    ],
                ]
            if factor.end_date:
                domain.append(('start_date', '<=', factor.end_date))
            others = cls.search(domain, limit=1)
            if others:
                other, = others
                raise HeatFactorOverlapError(gettext(
                        'utility_metering.msg_heat_factor_overlap',
                        first=factor.rec_name, second=other.rec_name))

    @classmethod
    def convert(cls, company, service_type, start, end, quantity):
        """Therms for quantity used over the dates [start, end].

        The quantity is spread evenly over the days, so a period crossing
        a factor change is split by days. Returns (therms, parts) with one
        HeatFactorPart (start, end, days, factor, quantity) per factor.
        """
        if end < start:
            raise ValueError("end %s before start %s" % (end, start))
        factors = cls.search([
                ('company', '=', company.id),
                ('service_type', '=', service_type.id),
                ('start_date', '<=', end),
                ['OR',
                    ('end_date', '=', None),
                    ('end_date', '>=', start),
                    ],
                ], order=[('start_date', 'ASC')])
        one_day = dt.timedelta(days=1)
        spans, day = [], start
        for factor in factors:
            if day > end:
                break
            if factor.start_date > day:
                break
            span_end = min(end, factor.end_date or end)
            spans.append((day, span_end, factor.factor))
            day = span_end + one_day
        if day <= end:
            gap_end = end
            later = [f.start_date for f in factors if f.start_date > day]
            if later:
                gap_end = min(later) - one_day
            raise HeatFactorMissingError(gettext(
                    'utility_metering.msg_heat_factor_missing',
                    service=service_type.rec_name, company=company.rec_name,
                    start=day, end=gap_end))
        total_days = (end - start).days + 1
        parts, therms, allotted = [], Decimal(0), Decimal(0)
        for i, (span_start, span_end, factor) in enumerate(spans):
            days = (span_end - span_start).days + 1
            if i == len(spans) - 1:
                # The last part takes the rounding rest: parts add up.
                part = quantity - allotted
            else:
                part = (quantity * days / total_days).quantize(QUANTIZE)
            allotted += part
            therms += part * factor
            parts.append(HeatFactorPart(
                    span_start, span_end, days, factor, part))
        return therms.quantize(QUANTIZE), parts
