"High consumption and continuous use (leak) alerts per service point"
import datetime as dt
from collections import defaultdict
from decimal import Decimal

from sql.operators import Equal

from trytond.i18n import gettext
from trytond.model import (
    Exclude, Model, ModelSQL, ModelView, Workflow, fields)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from . import meter_math
from .meter import company_timezone, to_local
from .reading import in_max

# Reads of about two years plus a quarter still bracket last year's period
# of an interval that started up to a year ago.
LOOKBACK_DAYS = 2 * 366 + 92
# A longer interval averages idle nights with busy days, so it cannot
# show that use never stopped; the margin lets daily reads come late.
LEAK_MAX_INTERVAL_DAYS = Decimal('1.25')
# Service points per detect() call of the cron, to bound the readings held.
CRON_BATCH = 500


def shift_year(date, years=-1):
    "The same day years later or earlier; February 29 becomes the 28th"
    try:
        return date.replace(year=date.year + years)
    except ValueError:
        return date.replace(year=date.year + years, day=28)


def position_date(position):
    "The local date of a day position"
    return dt.date.fromordinal(int(position))


def continuous_use(intervals, start, end, floor,
        max_length=LEAK_MAX_INTERVAL_DAYS):
    """Minimum daily use of intervals over [start, end] or None.

    intervals are (start, end, consumption) positions sorted by start.
    None when they do not cover the window without gap, one is too long
    to tell, or use fell to the floor in one of them.
    """
    covered, minimum = start, None
    for lo, hi, quantity in intervals:
        if hi <= start:
            continue
        if lo > covered or lo >= end:
            break
        length = hi - lo
        if length <= 0 or length > max_length:
            return None
        daily = quantity / length
        if daily <= floor:
            return None
        minimum = daily if minimum is None else min(minimum, daily)
        covered = hi
    if covered < end:
        return None
    return minimum


def format_quantity(value):
    "Enough digits to read small daily uses such as a dripping tap"
    return str(value.quantize(
            Decimal('0.01') if abs(value) >= 1 else Decimal('0.0001')))


class ConsumptionAlert(Workflow, ModelSQL, ModelView):
    "Consumption Alert"
    __name__ = 'utility.consumption.alert'
    company = fields.Many2One('company.company', "Provider", required=True,
        readonly=True)
    service_point = fields.Many2One('utility.service.point',
        "Service Point", required=True, readonly=True, ondelete='CASCADE',
        domain=[('company', '=', Eval('company', -1))])
    meter = fields.Many2One('utility.meter', "Meter", readonly=True,
        domain=[('company', '=', Eval('company', -1))],
        help="The meter of the last read interval.")
    kind = fields.Selection([
            ('high_consumption', "High Consumption"),
            ('continuous_use', "Continuous Use"),
            ], "Kind", required=True, readonly=True)
    kind_string = kind.translated('kind')
    period_start = fields.Date("Period Start", required=True, readonly=True)
    period_end = fields.Date("Period End", required=True, readonly=True)
    detected_on = fields.Date("Detected On", required=True, readonly=True,
        help="The last day detection found the anomaly.")
    measured_daily = fields.Numeric("Measured Daily Use", digits=(16, 4),
        readonly=True,
        help="High consumption: the daily use of the period.\n"
        "Continuous use: the lowest daily use of an interval.")
    reference_daily = fields.Numeric("Reference Daily Use", digits=(16, 4),
        readonly=True,
        help="High consumption: the usual daily use.\n"
        "Continuous use: the leak floor.")
    reference_source = fields.Selection([
            (None, ""),
            ('last_year', "Same Period Last Year"),
            ('average', "Previous Year Average"),
            ('floor', "Leak Floor"),
            ], "Reference", readonly=True)
    ratio = fields.Numeric("Ratio", digits=(16, 2), readonly=True)
    unit = fields.Function(fields.Many2One('product.uom', "Unit"),
        'on_change_with_unit')
    details = fields.Text("Details", readonly=True)
    state = fields.Selection([
            ('open', "Open"),
            ('acknowledged', "Acknowledged"),
            ('closed', "Closed"),
            ], "State", required=True, readonly=True, sort=False)
    acknowledged_by = fields.Many2One('res.user', "Acknowledged By",
        readonly=True)
    acknowledged_on = fields.DateTime("Acknowledged On", readonly=True)
    closed_by = fields.Many2One('res.user', "Closed By", readonly=True)
    closed_on = fields.DateTime("Closed On", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('open_exclude',
                Exclude(t, (t.service_point, Equal), (t.kind, Equal),
                    where=t.state == 'open'),
                'utility_metering.msg_alert_open_unique'),
            ]
        cls._order = [('detected_on', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('open', 'acknowledged'),
            ('open', 'closed'),
            ('acknowledged', 'closed'),
            }
        cls._buttons.update({
                'acknowledge': {
                    'invisible': Eval('state') != 'open',
                    'depends': ['state'],
                    },
                'close': {
                    'invisible': Eval('state') == 'closed',
                    'depends': ['state'],
                    },
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_state():
        return 'open'

    @fields.depends('service_point', '_parent_service_point.service_type')
    def on_change_with_unit(self, name=None):
        if self.service_point and self.service_point.service_type:
            return self.service_point.service_type.unit

    def get_rec_name(self, name):
        return '%s: %s (%s)' % (
            self.service_point.rec_name, self.kind_string, self.period_end)

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('/tree', 'visual', If(Eval('state') == 'open',
                    If(Eval('kind') == 'high_consumption',
                        'danger', 'warning'),
                    If(Eval('state') == 'closed', 'muted', ''))),
            ]

    @classmethod
    @ModelView.button
    @Workflow.transition('acknowledged')
    def acknowledge(cls, alerts):
        cls.write(alerts, {
                'acknowledged_by': Transaction().user,
                'acknowledged_on': dt.datetime.now(),
                })

    @classmethod
    @ModelView.button
    @Workflow.transition('closed')
    def close(cls, alerts):
        cls.write(alerts, {
                'closed_by': Transaction().user,
                'closed_on': dt.datetime.now(),
                })

    @classmethod
    def detect_all(cls):
        "Detect for every service point in use of the context's providers"
        pool = Pool()
        Company = pool.get('company.company')
        Date = pool.get('ir.date')
        ServicePoint = pool.get('utility.service.point')
        company_id = Transaction().context.get('company')
        companies = ([Company(company_id)] if company_id is not None
            else Company.search([]))
        for company in companies:
            # today follows the provider's timezone
            with Transaction().set_context(company=company.id):
                today = Date.today()
                points = ServicePoint.search([
                        ('company', '=', company.id),
                        ('status', '!=', 'inactive'),
                        ['OR',
                            ('service_type.high_use_factor', '!=', None),
                            ('service_type.leak_days', '!=', None),
                            ],
                        ], order=[('id', 'ASC')])
                for sub in grouped_slice(points, CRON_BATCH):
                    cls.detect(list(sub), today)

    @classmethod
    def detect(cls, service_points, date=None):
        """Record the anomalies of the service points up to date.

        Readings after date are ignored so a past day can be checked again.
        Returns the alerts created or updated.
        """
        pool = Pool()
        Date = pool.get('ir.date')
        if date is None:
            date = Date.today()
        points = [p for p in service_points
            if p.service_type.high_use_factor or p.service_type.leak_days]
        meters_of, by_meter = cls._readings(points, date)
        end = meter_math.day_position(date + dt.timedelta(days=1))
        findings = []
        for point in points:
            meters = meters_of[point.id]
            if not meters:
                continue
            tzinfo = company_timezone(point.company)
            curves, readings = {}, {}
            for meter in meters:
                # Only this point's reads: a meter may have served another.
                curve = [(meter_math.day_position(
                            to_local(r.date_time, tzinfo)), r)
                    for r in by_meter[meter.id]
                    if r.service_point and r.service_point.id == point.id]
                curves[meter.id] = [(p, r) for p, r in curve if p < end]
                readings[meter.id] = [r for _, r in curves[meter.id]]
            for finding in [
                    cls._high_consumption(point, meters, curves, readings),
                    cls._continuous_use(point, meters, curves),
                    ]:
                if finding:
                    finding['detected_on'] = date
                    findings.append(finding)
        return cls._save_findings(findings)

    @classmethod
    def _readings(cls, points, date):
        """Meters by point id and their valid readings by meter id.

        One search of installations and one of readings for all points.
        """
        pool = Pool()
        Installation = pool.get('utility.meter.installation')
        Reading = pool.get('utility.meter.reading')
        meters_of = defaultdict(list)
        meters = {}
        for sub in grouped_slice([p.id for p in points], in_max()):
            for inst in Installation.search([
                        ('service_point', 'in', list(sub)),
                        ], order=[('start', 'ASC'), ('id', 'ASC')]):
                point_meters = meters_of[inst.service_point.id]
                if inst.meter not in point_meters:
                    point_meters.append(inst.meter)
                meters[inst.meter.id] = inst.meter
        # Two days of margin cover any timezone; exact bounds are local.
        since = dt.datetime.combine(
            date - dt.timedelta(days=LOOKBACK_DAYS), dt.time())
        until = dt.datetime.combine(date + dt.timedelta(days=2), dt.time())
        by_meter = defaultdict(list)
        for sub in grouped_slice(list(meters), in_max()):
            for reading in Reading.search([
                        ('meter', 'in', list(sub)),
                        ('state', 'in', ['valid', 'billed']),
                        ('corrected_by', '=', None),
                        ('date_time', '>=', since),
                        ('date_time', '<', until),
                        ], order=[('meter', 'ASC'), ('date_time', 'ASC')]):
                by_meter[reading.meter.id].append(reading)
        return meters_of, by_meter

    @classmethod
    def _high_consumption(cls, point, meters, curves, readings):
        "Values of a high consumption alert for the last interval or None"
        Meter = Pool().get('utility.meter')
        service_type = point.service_type
        factor = service_type.high_use_factor
        if not factor:
            return
        last = None
        for meter in meters:
            curve = curves[meter.id]
            if len(curve) >= 2 and (last is None or curve[-1][0] > last[1]):
                (p0, _), (p1, reading) = curve[-2], curve[-1]
                last = (p0, p1, reading, meter)
        if not last:
            return
        p0, p1, reading, meter = last
        days = p1 - p0
        if days <= 0 or days < (service_type.high_use_min_days or 0):
            return
        measured = (reading.consumption or 0) / days
        start, end = position_date(p0), position_date(p1)

        # Same dates last year, as whole days
        ref_start = shift_year(start)
        ref_end = max(ref_start, shift_year(end) - dt.timedelta(days=1))
        usage = Meter._consumption(meters, ref_start, ref_end, readings)
        source, ref_days = 'last_year', (ref_end - ref_start).days + 1
        if not usage.complete:
            # The year before the interval, since the first read if later
            first = min(c[0][0] for c in curves.values() if c)
            ref_start = max(start - dt.timedelta(days=365),
                position_date(first) + dt.timedelta(
                    days=0 if first == int(first) else 1))
            ref_end = start - dt.timedelta(days=1)
            if ref_start > ref_end:
                return
            usage = Meter._consumption(meters, ref_start, ref_end, readings)
            if not usage.complete:
                return
            source, ref_days = 'average', (ref_end - ref_start).days + 1
        reference = usage.quantity / ref_days
        # No ratio to a zero reference: use after a vacancy is no anomaly
        if reference <= 0 or measured <= reference * factor:
            return
        ratio = measured / reference
        unit = service_type.unit.symbol
        params = {
            'daily': format_quantity(measured),
            'reference': format_quantity(reference),
            'ratio': ratio.quantize(Decimal('0.1')),
            'unit': unit,
            'start': start,
            'end': end,
            'days': ref_days,
            }
        if source == 'last_year':
            details = gettext(
                'utility_metering.msg_alert_high_consumption_last_year',
                **params)
        else:
            details = gettext(
                'utility_metering.msg_alert_high_consumption_average',
                **params)
        return {
            'company': point.company.id,
            'service_point': point.id,
            'meter': meter.id,
            'kind': 'high_consumption',
            'period_start': start,
            'period_end': end,
            'measured_daily': measured.quantize(Decimal('0.0001')),
            'reference_daily': reference.quantize(Decimal('0.0001')),
            'reference_source': source,
            'ratio': ratio.quantize(Decimal('0.01')),
            'details': details,
            }

    @classmethod
    def _continuous_use(cls, point, meters, curves):
        "Values of a continuous use alert for the last leak days or None"
        service_type = point.service_type
        leak_days = service_type.leak_days
        if not leak_days:
            return
        floor = service_type.leak_floor or Decimal(0)
        intervals, last = [], None
        for meter in meters:
            curve = curves[meter.id]
            for (p0, _), (p1, reading) in zip(curve, curve[1:]):
                intervals.append((p0, p1, reading.consumption or Decimal(0)))
                if last is None or p1 > last[0]:
                    last = (p1, meter)
        if not last:
            return
        end, meter = last
        start = end - leak_days
        intervals.sort()
        minimum = continuous_use(intervals, start, end, floor)
        if minimum is None:
            return
        params = {
            'days': leak_days,
            'start': position_date(start),
            'end': position_date(end),
            'minimum': format_quantity(minimum),
            'floor': format_quantity(floor),
            'unit': service_type.unit.symbol,
            }
        return {
            'company': point.company.id,
            'service_point': point.id,
            'meter': meter.id,
            'kind': 'continuous_use',
            'period_start': position_date(start),
            'period_end': position_date(end),
            'measured_daily': minimum.quantize(Decimal('0.0001')),
            'reference_daily': floor,
            'reference_source': 'floor',
            'ratio': None,
            'details': gettext(
                'utility_metering.msg_alert_continuous_use', **params),
            }

    @classmethod
    def _save_findings(cls, findings):
        """Create or update alerts from findings.

        An open alert is updated rather than duplicated. An acknowledged
        one holds new alerts back until closed, and a closed one those
        of the periods it covered.
        """
        if not findings:
            return []
        alerts = defaultdict(list)
        point_ids = sorted({f['service_point'] for f in findings})
        since = min(f['period_start'] for f in findings)
        for sub in grouped_slice(point_ids, in_max()):
            for alert in cls.search([
                        ('service_point', 'in', list(sub)),
                        ['OR',
                            ('state', 'in', ['open', 'acknowledged']),
                            ('period_end', '>=', since),
                            ],
                        ]):
                alerts[(alert.service_point.id, alert.kind)].append(alert)
        to_save, to_create = [], []
        for finding in findings:
            known = alerts[(finding['service_point'], finding['kind'])]
            opened = [a for a in known if a.state == 'open']
            if opened:
                alert, = opened
                for name, value in finding.items():
                    current = getattr(alert, name)
                    if isinstance(current, Model):
                        current = current.id
                    if current != value:
                        setattr(alert, name, value)
                to_save.append(alert)
            elif any(a.state == 'acknowledged' for a in known):
                continue
            elif any(a.period_end > finding['period_start']
                    or (a.period_start, a.period_end) == (
                        finding['period_start'], finding['period_end'])
                    for a in known):
                continue
            else:
                to_create.append(finding)
        cls.save(to_save)
        return to_save + cls.create(to_create)


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('utility.consumption.alert|detect_all',
                "Detect Consumption Alerts"))
