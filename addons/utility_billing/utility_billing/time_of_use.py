"""Time-of-use schedules of rate plans.

A time-of-use plan prices registers (peak, off-peak, shoulder…) instead of
the total; the register of each interval reading comes from the plan's
schedule of weekdays and hours, holidays counting as the default register.
"""
import datetime as dt

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields, sequence_ordered
from trytond.model.exceptions import ValidationError

from utility_metering.meter import company_timezone, to_local

from . import tariff
from .exceptions import RatingError

WEEKDAYS = [
    ('0', "Monday"),
    ('1', "Tuesday"),
    ('2', "Wednesday"),
    ('3', "Thursday"),
    ('4', "Friday"),
    ('5', "Saturday"),
    ('6', "Sunday"),
    ]


class TimeOfUsePeriod(sequence_ordered(), ModelSQL, ModelView):
    "Rate Plan Time-of-Use Period"
    __name__ = 'utility.rate.tou.period'
    plan = fields.Many2One('utility.rate.plan', "Rate Plan", required=True,
        ondelete='CASCADE')
    register = fields.Char("Register", required=True,
        help="The register the hours count on, as named on the rate "
        "components (peak, shoulder…).")
    weekdays = fields.MultiSelection(WEEKDAYS, "Weekdays", sort=False)
    start_hour = fields.Integer("From Hour", required=True,
        help="Local hour the period starts (0-23), inclusive.")
    end_hour = fields.Integer("To Hour", required=True,
        help="Local hour the period ends (1-24), exclusive.")

    @classmethod
    def validate_fields(cls, periods, field_names):
        super().validate_fields(periods, field_names)
        for period in periods:
            if not (0 <= (period.start_hour or 0) < (period.end_hour or 0)
                    <= 24) or not period.weekdays:
                raise ValidationError(gettext(
                        'utility_billing.msg_tou_period_invalid',
                        plan=period.plan.rec_name,
                        register=period.register))

    def rule(self):
        return tariff.TimeOfUseRule(self.register,
            frozenset(int(d) for d in self.weekdays),
            self.start_hour, self.end_hour)


class Holiday(ModelSQL, ModelView):
    "Rate Plan Holiday"
    __name__ = 'utility.rate.holiday'
    plan = fields.Many2One('utility.rate.plan', "Rate Plan", required=True,
        ondelete='CASCADE')
    date = fields.Date("Date", required=True)
    name = fields.Char("Name", translate=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('date', 'ASC'))


def registers(plan, usage, agreement):
    """{register: quantity} of usage for plan's components.

    A plan without time-of-use components prices the total; one with them
    needs interval readings, bucketed by its schedule.
    """
    if not plan.time_of_use:
        return {'total': usage.quantity}
    readings = sorted(usage.readings, key=lambda r: r.date_time)
    if not readings:
        return {'total': usage.quantity}
    tzinfo = company_timezone(agreement.company)
    lo = dt.datetime.combine(usage.start, dt.time())
    hi = dt.datetime.combine(usage.end + dt.timedelta(days=1), dt.time())
    intervals = []
    for previous, reading in zip(readings, readings[1:]):
        if previous.meter != reading.meter:
            continue
        start = to_local(previous.date_time, tzinfo)
        end = to_local(reading.date_time, tzinfo)
        if start >= lo and end <= hi:
            intervals.append((start, end, reading.consumption or 0))
    rules = [p.rule() for p in plan.tou_periods]
    holidays = {h.date for h in plan.tou_holidays}
    try:
        result = tariff.bucket_intervals(intervals, rules,
            plan.tou_default_register or 'offpeak', holidays)
    except tariff.TimeOfUseSpanError as exc:
        raise RatingError(gettext('utility_billing.msg_tou_span',
                agreement=agreement.rec_name, plan=plan.rec_name,
                start=exc.start, end=exc.end)) from exc
    bucketed = sum(result.values(), 0)
    if bucketed != usage.quantity:
        # Reads do not meet the period's midnights: some use would be
        # priced on a guessed register.
        raise RatingError(gettext('utility_billing.msg_tou_incomplete',
                agreement=agreement.rec_name, plan=plan.rec_name,
                bucketed=bucketed, quantity=usage.quantity))
    result['total'] = usage.quantity
    return result
