"Reading routes: which service points are read on which days"
import datetime as dt
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass

from dateutil.relativedelta import relativedelta

from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, Unique, fields)
from trytond.model.exceptions import ValidationError
from trytond.pool import Pool
from trytond.pyson import Bool, Eval, If
from trytond.tools import grouped_slice
from trytond.transaction import Transaction
from trytond.wizard import Button, StateView, Wizard

from .meter import company_timezone, to_local
from .model import CodeNameMixin
from .reading import in_max

MONTH_STEPS = {'monthly': 1, 'bimonthly': 2, 'quarterly': 3}
# Shortest gap between two reads once the read day is clamped to the
# month end (e.g. Feb 1 to Mar 1, Feb 1 to May 1).
MONTH_MIN_GAP = {'monthly': 28, 'bimonthly': 59, 'quarterly': 89}
# Reads of these states and kinds show that someone or something read it.
READ_STATES = ['draft', 'valid', 'billed']
READ_KINDS = ['actual', 'customer', 'smart']
# Longest period of the Expected Reads wizard: its lines go to the client.
MAX_LIST_DAYS = 366


class RouteValidationError(ValidationError):
    pass


class ExpectedReadsError(UserError):
    pass


@dataclass
class ScheduledRead:
    "The read of a meter of a route expected on a scheduled date"
    route: object
    service_point: object
    meter: object
    date: dt.date
    window_start: dt.date
    window_end: dt.date
    status: str  # 'read', 'due' or 'missed'
    reading: object = None


class Route(CodeNameMixin, DeactivableMixin, ModelSQL, ModelView):
    "Reading Route"
    __name__ = 'utility.reading.route'
    company = fields.Many2One('company.company', "Provider", required=True)
    code = fields.Char("Code", required=True)
    name = fields.Char("Name", required=True)
    frequency = fields.Selection([
            ('monthly', "Monthly"),
            ('bimonthly', "Every Two Months"),
            ('quarterly', "Quarterly"),
            ('days', "Every N Days"),
            ], "Frequency", required=True)
    start_date = fields.Date("Starts On", required=True,
        help="No read is scheduled before this date. Its month sets the "
        "months of the reads every two months or quarterly; reads every "
        "N days are counted from it.")
    read_day = fields.Integer("Read Day",
        domain=['OR',
            ('read_day', '=', None),
            [('read_day', '>=', 1), ('read_day', '<=', 31)],
            ],
        states={
            'required': Eval('frequency') != 'days',
            'invisible': Eval('frequency') == 'days',
            },
        help="The day of the month of the reads; a day after the end of a "
        "month reads on its last day.")
    interval_days = fields.Integer("Interval",
        domain=['OR',
            ('interval_days', '=', None),
            ('interval_days', '>=', 1),
            ],
        states={
            'required': Eval('frequency') == 'days',
            'invisible': Eval('frequency') != 'days',
            },
        help="The days between two reads.")
    tolerance_days = fields.Integer("Tolerance", required=True,
        domain=[('tolerance_days', '>=', 0)],
        help="A read up to this many days before or after the scheduled "
        "date counts for it.")
    reader = fields.Many2One('company.employee', "Reader",
        domain=[('company', '=', Eval('company', -1))])
    notes = fields.Text("Notes")
    service_points = fields.One2Many('utility.service.point', 'route',
        "Service Points",
        domain=[('company', '=', Eval('company', -1))],
        add_remove=[('route', '=', None)])

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.company, t.code),
                'utility_metering.msg_route_code_unique'),
            ]
        cls._order.insert(0, ('code', 'ASC'))

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_frequency():
        return 'monthly'

    @staticmethod
    def default_tolerance_days():
        return 3

    @fields.depends('start_date', 'read_day')
    def on_change_start_date(self):
        if self.start_date and not self.read_day:
            self.read_day = self.start_date.day

    @property
    def min_gap(self):
        "Fewest days between two scheduled reads"
        if self.frequency == 'days':
            return self.interval_days
        return MONTH_MIN_GAP.get(self.frequency)

    @classmethod
    def validate_fields(cls, routes, field_names):
        super().validate_fields(routes, field_names)
        cls.check_tolerance(routes, field_names)

    @classmethod
    def check_tolerance(cls, routes, field_names=None):
        # Overlapping windows would let one read count for two dates.
        if field_names and not (field_names & {
                    'tolerance_days', 'frequency', 'interval_days'}):
            return
        for route in routes:
            gap = route.min_gap
            if gap and route.tolerance_days is not None \
                    and 2 * route.tolerance_days >= gap:
                raise RouteValidationError(gettext(
                        'utility_metering.msg_route_tolerance_too_long',
                        route=route.rec_name,
                        tolerance=route.tolerance_days, gap=gap))

    def scheduled_dates(self, start, end):
        "The scheduled read dates in [start, end] in time order"
        start = max(start, self.start_date)
        dates = []
        if start > end:
            return dates
        if self.frequency == 'days':
            step = self.interval_days
            count = -(-(start - self.start_date).days // step)  # ceil
            date = self.start_date + dt.timedelta(days=count * step)
            while date <= end:
                dates.append(date)
                date += dt.timedelta(days=step)
            return dates
        step = MONTH_STEPS[self.frequency]
        anchor = self.start_date.replace(day=1)
        months = ((start.year - anchor.year) * 12
            + start.month - anchor.month)
        count = months // step
        while True:
            # relativedelta clamps day to the end of shorter months.
            date = anchor + relativedelta(
                months=count * step, day=self.read_day)
            if date > end:
                return dates
            if date >= start:
                dates.append(date)
            count += 1

    @classmethod
    def expected_reads(cls, routes, start, end, today=None):
        """A ScheduledRead per meter of the routes' points and scheduled
        date in [start, end].

        The meters are those installed on the scheduled date (local date
        of the provider); points that are inactive are left out.  A read
        counts when its local date is within the route's tolerance of the
        scheduled date; otherwise the read is due until the window ends
        (today included) and missed after.  today defaults to the
        provider's today.  The points, installations and readings are
        read with one search each (per slice of ids).
        """
        pool = Pool()
        Date = pool.get('ir.date')
        ServicePoint = pool.get('utility.service.point')
        Installation = pool.get('utility.meter.installation')
        Reading = pool.get('utility.meter.reading')
        routes = list(routes)
        schedules = {r.id: r.scheduled_dates(start, end) for r in routes}
        routes = {r.id: r for r in routes if schedules[r.id]}
        if not routes:
            return []
        todays = {}
        for company in {r.company for r in routes.values()}:
            if today is not None:
                todays[company.id] = today
            else:
                # ir.date follows the context's company timezone
                with Transaction().set_context(company=company.id):
                    todays[company.id] = Date.today()

        points = []
        for sub in grouped_slice(list(routes), in_max()):
            points.extend(ServicePoint.search([
                        ('route', 'in', list(sub)),
                        ('status', '!=', 'inactive'),
                        ]))
        # Two days of margin cover any timezone; exact bounds are local.
        margin = dt.timedelta(days=2)
        tolerance = dt.timedelta(
            days=max(r.tolerance_days for r in routes.values()))
        installed = defaultdict(list)  # point id: [(meter, start, end)]
        meters = set()
        points_of = {p.id: p for p in points}
        for sub in grouped_slice(list(points_of), in_max()):
            for inst in Installation.search([
                        ('service_point', 'in', list(sub)),
                        ('start', '<', dt.datetime.combine(
                                end + margin, dt.time())),
                        ['OR',
                            ('end', '=', None),
                            ('end', '>=', dt.datetime.combine(
                                    start - margin, dt.time())),
                            ],
                        ]):
                point = points_of[inst.service_point.id]
                tzinfo = company_timezone(point.company)
                installed[point.id].append((inst.meter,
                        to_local(inst.start, tzinfo).date(),
                        to_local(inst.end, tzinfo).date()
                        if inst.end else None))
                meters.add(inst.meter.id)

        # meter id: ([local date], [reading]) in time order
        by_meter = defaultdict(lambda: ([], []))
        since = dt.datetime.combine(start - tolerance - margin, dt.time())
        until = dt.datetime.combine(end + tolerance + margin, dt.time())
        for sub in grouped_slice(sorted(meters), in_max()):
            for reading in Reading.search([
                        ('meter', 'in', list(sub)),
                        ('state', 'in', READ_STATES),
                        ('kind', 'in', READ_KINDS),
                        ('date_time', '>=', since),
                        ('date_time', '<', until),
                        ], order=[('meter', 'ASC'), ('date_time', 'ASC')]):
                tzinfo = company_timezone(reading.company)
                days, reads = by_meter[reading.meter.id]
                days.append(to_local(reading.date_time, tzinfo).date())
                reads.append(reading)

        result = []
        for point in points:
            route = routes[point.route.id]
            today_ = todays[route.company.id]
            tolerance = dt.timedelta(days=route.tolerance_days)
            for date in schedules[route.id]:
                lo, hi = date - tolerance, date + tolerance
                for meter, inst_start, inst_end in installed[point.id]:
                    if inst_start > date or (inst_end and inst_end < date):
                        continue
                    days, reads = by_meter[meter.id]
                    first, last = bisect_left(days, lo), bisect_right(days, hi)
                    candidates = [(abs((d - date).days), r)
                        for d, r in zip(days[first:last], reads[first:last])
                        # a meter moved away may have read elsewhere
                        if not r.service_point
                        or r.service_point.id == point.id]
                    reading = None
                    if candidates:
                        status = 'read'
                        reading = min(candidates, key=lambda c: c[0])[1]
                    elif today_ <= hi:
                        status = 'due'
                    else:
                        status = 'missed'
                    result.append(ScheduledRead(route=route,
                            service_point=point, meter=meter, date=date,
                            window_start=lo, window_end=hi, status=status,
                            reading=reading))
        result.sort(key=lambda e: (e.date, e.route.code,
                e.service_point.code, e.meter.serial_number))
        return result


class ExpectedRead(ModelView):
    "Expected Read"
    __name__ = 'utility.reading.expected'
    route = fields.Many2One('utility.reading.route', "Route", readonly=True)
    service_point = fields.Many2One('utility.service.point',
        "Service Point", readonly=True)
    meter = fields.Many2One('utility.meter', "Meter", readonly=True)
    date = fields.Date("Scheduled", readonly=True)
    window_start = fields.Date("From", readonly=True)
    window_end = fields.Date("To", readonly=True)
    status = fields.Selection([
            ('read', "Read"),
            ('due', "Due"),
            ('missed', "Missed"),
            ], "Status", readonly=True)
    reading = fields.Many2One('utility.meter.reading', "Reading",
        readonly=True)

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('/tree', 'visual', If(Eval('status') == 'missed', 'danger',
                    If(Eval('status') == 'due', 'warning', ''))),
            ]

    @classmethod
    def values(cls, scheduled):
        "The values of a line for a ScheduledRead"
        values = {
            'date': scheduled.date,
            'window_start': scheduled.window_start,
            'window_end': scheduled.window_end,
            'status': scheduled.status,
            'reading': None,
            }
        for name in ['route', 'service_point', 'meter', 'reading']:
            record = getattr(scheduled, name)
            if record:
                values[name] = record.id
                # Without it the client asks each name one by one.
                values[name + '.'] = {'rec_name': record.rec_name}
        return values


class ExpectedReadsStart(ModelView):
    "Expected Reads"
    __name__ = 'utility.reading.expected.start'
    company = fields.Many2One('company.company', "Provider", required=True,
        readonly=True)
    routes = fields.Many2Many('utility.reading.route', None, None, "Routes",
        domain=[('company', '=', Eval('company', -1))],
        help="Leave empty for all active routes.")
    from_date = fields.Date("From Date", required=True)
    to_date = fields.Date("To Date", required=True,
        domain=[If(Bool(Eval('from_date')),
                ('to_date', '>=', Eval('from_date')),
                ())])
    status = fields.Selection([
            (None, "All"),
            ('missed', "Missed"),
            ('due', "Due"),
            ('read', "Read"),
            ], "Status", help="Show only the reads of this status.")

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_from_date():
        return Pool().get('ir.date').today().replace(day=1)

    @staticmethod
    def default_to_date():
        today = Pool().get('ir.date').today()
        return today + relativedelta(day=31)


class ExpectedReadsResult(ModelView):
    "Expected Reads"
    __name__ = 'utility.reading.expected.result'
    read = fields.Integer("Read", readonly=True)
    due = fields.Integer("Due", readonly=True)
    missed = fields.Integer("Missed", readonly=True)
    lines = fields.One2Many('utility.reading.expected', None,
        "Expected Reads", readonly=True)


class ExpectedReads(Wizard):
    "Expected Reads"
    __name__ = 'utility.reading.expected.list'
    start = StateView('utility.reading.expected.start',
        'utility_metering.expected_read_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Show", 'result', 'tryton-ok', default=True),
            ])
    result = StateView('utility.reading.expected.result',
        'utility_metering.expected_read_result_view_form', [
            Button("Change", 'start', 'tryton-back'),
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def default_start(self, fields):
        # Coming back from the result keeps what was asked.
        values = {name: getattr(self.start, name, None)
            for name in ['from_date', 'to_date', 'status']}
        values = {k: v for k, v in values.items() if v is not None}
        routes = [r.id for r in getattr(self.start, 'routes', None) or []]
        if (not routes and self.model
                and self.model.__name__ == 'utility.reading.route'):
            routes = [r.id for r in self.records]
        values['routes'] = routes
        return values

    def default_result(self, fields):
        pool = Pool()
        Route = pool.get('utility.reading.route')
        ExpectedRead = pool.get('utility.reading.expected')
        start, end = self.start.from_date, self.start.to_date
        if (end - start).days >= MAX_LIST_DAYS:
            raise ExpectedReadsError(gettext(
                    'utility_metering.msg_expected_reads_period_too_long',
                    start=start, end=end, days=MAX_LIST_DAYS))
        routes = list(self.start.routes) or Route.search([
                ('company', '=', self.start.company.id),
                ])
        scheduled = Route.expected_reads(routes, start, end)
        counts = defaultdict(int)
        for line in scheduled:
            counts[line.status] += 1
        status = self.start.status
        return {
            'read': counts['read'],
            'due': counts['due'],
            'missed': counts['missed'],
            'lines': [ExpectedRead.values(line) for line in scheduled
                if not status or line.status == status],
            }
