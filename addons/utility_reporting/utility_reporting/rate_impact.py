"""Rate-change impact: what last year's bills of a rate plan would have
been on a proposed version of that plan.

Each bill of the twelve months ending on the chosen date (bills still in
force, their invoice posted or paid, for agreements on the plan) is priced
again through the rate plan's own simulate(): same period, same billed
consumption, same service point attributes, but with the proposed version
in force for the whole period. The current figure is what the bill's
invoice actually billed (untaxed). Changes are shown per customer class,
which is the customer's party categories (Tryton's party.category): a
party in several categories counts in each, a party in none in "No class".
"""
from collections import defaultdict
from decimal import Decimal

from dateutil.relativedelta import relativedelta

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction
from trytond.wizard import Button, StateView, Wizard

from .exceptions import RateImpactError

QUARTILES = [('min', 0), ('p25', 1), ('median', 2), ('p75', 3), ('max', 4)]


class _VersionFrom:
    "A rate version taken as in force from start (for the re-pricing)"

    def __init__(self, version, start):
        self._version = version
        self.start_date = start

    def __getattr__(self, name):
        return getattr(self._version, name)


class _ProposedPlan:
    "A rate plan whose only version is the proposed one"

    def __init__(self, plan, version):
        self._plan = plan
        self._version = version

    def versions_between(self, start, end):
        return [(_VersionFrom(self._version, start), None)]

    def __getattr__(self, name):
        return getattr(self._plan, name)


def percentile(values, fraction):
    """Linear interpolation between closest ranks of sorted values (as
    Excel's PERCENTILE.INC and numpy's default)"""
    position = (len(values) - 1) * Decimal(fraction)
    lower = int(position)
    upper = min(lower + 1, len(values) - 1)
    return values[lower] + (values[upper] - values[lower]) * (
        position - lower)


def distribution(changes, currency):
    "min, p25, median, p75 and max of changes, rounded to currency"
    values = sorted(changes)
    return {name: currency.round(percentile(values, Decimal(q) / 4))
        for name, q in QUARTILES}


class RateImpactStart(ModelView):
    "Rate Change Impact"
    __name__ = 'utility.reporting.rate_impact.start'
    company = fields.Many2One('company.company', "Provider", required=True,
        readonly=True)
    plan = fields.Many2One('utility.rate.plan', "Rate Plan", required=True,
        domain=[('company', '=', Eval('company', -1))])
    version = fields.Many2One('utility.rate.version', "Proposed Version",
        required=True,
        domain=[('plan', '=', Eval('plan', -1))],
        help="A version of the plan, usually one starting in the future "
        "that no bill used yet.")
    date = fields.Date("Until", required=True,
        help="The last day of the twelve months of bills re-priced.")

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_date(cls):
        return Pool().get('ir.date').today()


class RateImpactResult(ModelView):
    "Rate Change Impact Result"
    __name__ = 'utility.reporting.rate_impact.result'
    plan = fields.Many2One('utility.rate.plan', "Rate Plan", readonly=True)
    version = fields.Many2One('utility.rate.version', "Proposed Version",
        readonly=True)
    start_date = fields.Date("From", readonly=True)
    end_date = fields.Date("To", readonly=True)
    currency = fields.Many2One('currency.currency', "Currency",
        readonly=True)
    bills = fields.Integer("Bills", readonly=True)
    current_revenue = fields.Numeric("Revenue Now", digits='currency',
        readonly=True, help="Untaxed, as billed.")
    proposed_revenue = fields.Numeric("Revenue Proposed",
        digits='currency', readonly=True,
        help="Untaxed, the same bills on the proposed version.")
    revenue_change = fields.Numeric("Change", digits='currency',
        readonly=True)
    revenue_change_percent = fields.Numeric("Change (%)", digits=(16, 2),
        readonly=True)
    classes = fields.One2Many('utility.reporting.rate_impact.class', None,
        "Per Customer Class", readonly=True)


class RateImpactClass(ModelView):
    "Rate Change Impact per Customer Class"
    __name__ = 'utility.reporting.rate_impact.class'
    customer_class = fields.Char("Customer Class", readonly=True)
    currency = fields.Many2One('currency.currency', "Currency",
        readonly=True)
    bills = fields.Integer("Bills", readonly=True)
    customers = fields.Integer("Customers", readonly=True)
    current_revenue = fields.Numeric("Revenue Now", digits='currency',
        readonly=True)
    proposed_revenue = fields.Numeric("Revenue Proposed",
        digits='currency', readonly=True)
    min = fields.Numeric("Lowest Bill Change", digits='currency',
        readonly=True)
    p25 = fields.Numeric("25th Percentile", digits='currency',
        readonly=True)
    median = fields.Numeric("Median Bill Change", digits='currency',
        readonly=True)
    p75 = fields.Numeric("75th Percentile", digits='currency',
        readonly=True)
    max = fields.Numeric("Highest Bill Change", digits='currency',
        readonly=True)


class RateImpact(Wizard):
    "Rate Change Impact"
    __name__ = 'utility.reporting.rate_impact'
    start = StateView('utility.reporting.rate_impact.start',
        'utility_reporting.rate_impact_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Simulate", 'result', 'tryton-ok', default=True),
            ])
    result = StateView('utility.reporting.rate_impact.result',
        'utility_reporting.rate_impact_result_view_form', [
            Button("Change", 'start', 'tryton-back'),
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def default_start(self, fields):
        values = {}
        if getattr(self.start, 'plan', None):
            values['plan'] = self.start.plan.id
        if getattr(self.start, 'version', None):
            values['version'] = self.start.version.id
        if getattr(self.start, 'date', None):
            values['date'] = self.start.date
        return values

    def default_result(self, fields):
        return self.simulate(self.start.plan, self.start.version,
            self.start.date)

    @classmethod
    def simulate(cls, plan, version, date):
        """The impact of version on the bills of plan in the twelve months
        ending on date, as the result view's values"""
        pool = Pool()
        Bill = pool.get('utility.bill')
        RatePlan = pool.get('utility.rate.plan')
        if version.plan != plan:
            raise RateImpactError(gettext(
                    'utility_reporting.msg_rate_impact_version_plan',
                    version=version.rec_name, plan=plan.rec_name))
        if plan.time_of_use:
            raise RateImpactError(gettext(
                    'utility_reporting.msg_rate_impact_time_of_use',
                    plan=plan.rec_name))
        if any(c.kind == 'demand' for c in version.components):
            raise RateImpactError(gettext(
                    'utility_reporting.msg_rate_impact_demand',
                    version=version.rec_name))
        start = date - relativedelta(years=1) + relativedelta(days=1)
        bills = Bill.search([
                ('company', '=', plan.company.id),
                ('agreement.rate_plan', '=', plan.id),
                ('state', '=', 'billed'),
                ('invoice.state', 'in', ['posted', 'paid']),
                ('period_end', '>=', start),
                ('period_end', '<=', date),
                ], order=[('period_end', 'ASC'), ('id', 'ASC')])
        if not bills:
            raise RateImpactError(gettext(
                    'utility_reporting.msg_rate_impact_no_bills',
                    plan=plan.rec_name, start=start, end=date))
        currency = plan.company.currency
        proposed_plan = _ProposedPlan(plan, version)
        no_class = gettext('utility_reporting.msg_rate_impact_no_class')
        everyone = gettext('utility_reporting.msg_rate_impact_all')
        current = defaultdict(Decimal)
        proposed = defaultdict(Decimal)
        changes = defaultdict(list)
        parties = defaultdict(set)
        for bill in bills:
            priced = RatePlan.simulate([proposed_plan],
                bill.period_start, bill.period_end,
                {'total': bill.consumption or Decimal(0)},
                bill.service_point.rate_attributes())
            now = bill.invoice.untaxed_amount
            new = priced['untaxed_amount']
            classes = ([c.rec_name for c in bill.party.categories]
                or [no_class])
            for name in [everyone] + sorted(set(classes)):
                current[name] += now
                proposed[name] += new
                changes[name].append(new - now)
                parties[name].add(bill.party.id)
        lines = []
        for name in changes:
            line = {
                'customer_class': name,
                'currency': currency.id,
                'bills': len(changes[name]),
                'customers': len(parties[name]),
                'current_revenue': current[name],
                'proposed_revenue': proposed[name],
                }
            line.update(distribution(changes[name], currency))
            lines.append(line)
        total_now, total_new = current[everyone], proposed[everyone]
        return {
            'plan': plan.id,
            'version': version.id,
            'start_date': start,
            'end_date': date,
            'currency': currency.id,
            'bills': len(bills),
            'current_revenue': total_now,
            'proposed_revenue': total_new,
            'revenue_change': total_new - total_now,
            'revenue_change_percent': (
                ((total_new - total_now) / total_now * 100).quantize(
                    Decimal('0.01')) if total_now else None),
            'classes': lines,
            }
