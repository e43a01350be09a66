"""Rate plans (tariffs) as the back office edits them.

The records are turned into the rating engine's plain data (rating.py)
and priced there, so the arithmetic is unit-tested without a database.
"""
import datetime as dt

from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, Unique, fields, sequence_ordered)
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.rpc import RPC
from trytond.transaction import Transaction

from .exceptions import RateVersionError, RatingError

COMPONENT_KINDS = [
    ('fixed', "Fixed Charge"),
    ('variable', "Charge per Unit"),
    ('blocks', "Block Charge"),
    ('demand', "Demand Charge"),
    ('levy', "Levy per Unit"),
    ('credit', "Credit on First Units"),
    ('surcharge', "Percentage Surcharge"),
    ('minimum', "Minimum Bill"),
    ]


class RatePlan(DeactivableMixin, ModelSQL, ModelView):
    "Rate Plan"
    __name__ = 'utility.rate.plan'
    company = fields.Many2One('company.company', "Provider", required=True)
    code = fields.Char("Code", required=True)
    name = fields.Char("Name", required=True, translate=True)
    service_type = fields.Many2One('utility.service.type', "Service",
        required=True)
    currency = fields.Function(fields.Many2One('currency.currency',
            "Currency"), 'on_change_with_currency')
    rounding = fields.Selection([
            ('half_up', "Half Up"),
            ('half_even', "Half Even"),
            ], "Line Rounding", required=True,
        help="How each charge is rounded to the currency.")
    proration = fields.Selection([
            ('actual', "Actual Days of the Month"),
            ('average_month', "Days ÷ (365/12)"),
            ], "Proration", required=True,
        help="How monthly amounts are scaled to the bill period.")
    block_basis = fields.Selection([
            ('period', "Per Bill Period"),
            ('month', "Per Month, Scaled to the Period"),
            ('day', "Per Day × Days"),
            ], "Block Thresholds", required=True)
    quantity_digits = fields.Integer("Quantity Digits",
        help="Round the (converted) quantity to this many decimals "
        "before pricing. Empty keeps it as measured.")
    convert_heat_factor = fields.Boolean("Convert with Heat Factor",
        help="Price therms: CCF × the period's heat factor.")
    versions = fields.One2Many('utility.rate.version', 'plan', "Versions")
    time_of_use = fields.Function(fields.Boolean("Time of Use",
            help="Some components price time-of-use registers."),
        'get_time_of_use')
    tou_periods = fields.One2Many('utility.rate.tou.period', 'plan',
        "Time-of-Use Periods",
        help="The hours each register counts; other hours count on the "
        "default register.")
    tou_default_register = fields.Char("Default Register",
        help="The register of hours no period covers, and of holidays.")
    tou_holidays = fields.One2Many('utility.rate.holiday', 'plan',
        "Holidays", help="Days priced entirely on the default register.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.company, t.code),
                'utility_billing.msg_rate_plan_code_unique'),
            ]
        cls.__rpc__.update({
                'simulate': RPC(readonly=True, instantiate=0),
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_rounding():
        return 'half_up'

    @staticmethod
    def default_proration():
        return 'actual'

    @staticmethod
    def default_block_basis():
        return 'month'

    @staticmethod
    def default_tou_default_register():
        return 'offpeak'

    def get_time_of_use(self, name):
        return any(c.register for v in self.versions for c in v.components)

    def registers(self, usage, agreement):
        "Consumption per priced register of agreement's usage"
        from .time_of_use import registers
        return registers(self, usage, agreement)

    @fields.depends('company', '_parent_company.currency')
    def on_change_with_currency(self, name=None):
        return self.company.currency if self.company else None

    def versions_between(self, start, end):
        "Versions in force on some day of [start, end], oldest first"
        versions = sorted(self.versions, key=lambda v: v.start_date)
        result = []
        for version, following in zip(versions, versions[1:] + [None]):
            version_end = (following.start_date - dt.timedelta(days=1)
                if following else None)
            if version.start_date <= end and (
                    version_end is None or version_end >= start):
                result.append((version, version_end))
        covered = result[0][0].start_date if result else None
        if covered is None or covered > start:
            raise RatingError(gettext('utility_billing.msg_no_rate_version',
                    plan=self.rec_name, date=start))
        return result

    def price(self, start, end, registers, service_point=None,
            demand=None):
        "Priced lines of [start, end] for consumption per register"
        from . import rating_adapter
        return rating_adapter.price(self, start, end, registers,
            service_point=service_point, demand=demand)

    @classmethod
    def simulate(cls, plans, start, end, registers, attributes=None,
            demand=None):
        """Price a consumption on a rate plan without creating anything.

        Over RPC: model.utility.rate.plan.simulate([plan id], start, end,
        {register: quantity}, {attribute: value}, demand, context).
        Returns the lines with their computation, the taxes and the total.
        """
        from . import rating_adapter
        plan, = plans
        return rating_adapter.simulate(plan, start, end, registers,
            attributes or {}, demand)


class RateVersion(ModelSQL, ModelView):
    "Rate Version"
    __name__ = 'utility.rate.version'
    plan = fields.Many2One('utility.rate.plan', "Rate Plan", required=True,
        ondelete='CASCADE')
    name = fields.Char("Name", required=True,
        help="As published, e.g. the tariff sheet's revision.")
    start_date = fields.Date("Effective From", required=True)
    components = fields.One2Many('utility.rate.component', 'version',
        "Components")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('plan_start_unique', Unique(t, t.plan, t.start_date),
                'utility_billing.msg_rate_version_start_unique'),
            ]
        cls._order.insert(0, ('start_date', 'DESC'))

    def get_rec_name(self, name):
        return '%s %s (%s)' % (self.plan.rec_name, self.name,
            self.start_date)

    @classmethod
    def check_modification(cls, mode, versions, values=None,
            external=False):
        super().check_modification(
            mode, versions, values=values, external=external)
        if mode in {'write', 'delete'}:
            cls.check_unbilled(versions)

    @classmethod
    def check_unbilled(cls, versions):
        "A version used by a posted bill is kept as it was"
        InvoiceLine = Pool().get('account.invoice.line')
        used = InvoiceLine.search([
                ('utility_rate_version', 'in', [v.id for v in versions]),
                ], limit=1)
        if used:
            version = used[0].utility_rate_version
            raise RateVersionError(gettext(
                    'utility_billing.msg_rate_version_billed',
                    version=version.rec_name))


class RateComponent(sequence_ordered(), ModelSQL, ModelView):
    "Rate Component"
    __name__ = 'utility.rate.component'
    version = fields.Many2One('utility.rate.version', "Version",
        required=True, ondelete='CASCADE')
    code = fields.Char("Code", required=True,
        help="Names the component in a surcharge base.")
    name = fields.Char("Name", required=True, translate=True,
        help="The text of the bill line.")
    kind = fields.Selection(COMPONENT_KINDS, "Kind", required=True)
    product = fields.Many2One('product.product', "Product", required=True,
        help="Gives the invoice line its account and taxes.")
    price = fields.Numeric("Price", digits=(16, 6),
        states={
            'required': ~Eval('kind').in_(['blocks', 'surcharge']),
            'invisible': Eval('kind').in_(['blocks', 'surcharge']),
            },
        help="Per unit, per kW, per period, per day or per month "
        "depending on the kind; the minimum bill amount.")
    per = fields.Selection([
            (None, ""),
            ('period', "Bill Period"),
            ('day', "Day"),
            ('month', "Month"),
            ], "Per",
        states={
            'invisible': Eval('kind') != 'fixed',
            'required': Eval('kind') == 'fixed',
            })
    register = fields.Char("Register",
        states={
            'invisible': ~Eval('kind').in_(['variable', 'blocks', 'credit']),
            },
        help="Time-of-use register priced (peak, offpeak…); "
        "empty prices the total.")
    percentage = fields.Numeric("Percentage", digits=(16, 4),
        states={
            'invisible': Eval('kind') != 'surcharge',
            'required': Eval('kind') == 'surcharge',
            })
    base = fields.Char("Base",
        states={'invisible': Eval('kind') != 'surcharge'},
        help="Codes of the components the surcharge applies to, "
        "separated by commas; empty means all lines before it.")
    units = fields.Numeric("First Units", digits=(16, 4),
        states={
            'invisible': Eval('kind') != 'credit',
            'required': Eval('kind') == 'credit',
            },
        help="A credit applies to the first units of each month "
        "(scaled to the period).")
    season_start = fields.Char("Season From",
        help="MM-DD the component starts to apply each year.")
    season_end = fields.Char("Season To",
        help="MM-DD the component stops applying (inclusive); "
        "may wrap over the year end.")
    attribute = fields.Selection([
            (None, ""),
            ('meter_size', "Meter Size"),
            ('connection_amps', "Connection Amperes"),
            ], "Scaled By",
        states={'invisible': Eval('kind') != 'fixed'},
        help="Multiply the charge by a factor for the service point's "
        "value in the blocks table.")
    blocks = fields.One2Many('utility.rate.block', 'component', "Blocks",
        states={
            'invisible': ~Eval('kind').in_(['blocks', 'fixed']),
            })
    taxable = fields.Boolean("In Tax Base",
        help="Uncheck for a subsidy paid after tax.")

    @staticmethod
    def default_taxable():
        return True

    @classmethod
    def validate_fields(cls, components, field_names):
        super().validate_fields(components, field_names)
        for component in components:
            for text in [component.season_start, component.season_end]:
                if text:
                    try:
                        dt.datetime.strptime('2000-' + text, '%Y-%m-%d')
                    except ValueError:
                        raise RateVersionError(gettext(
                                'utility_billing.msg_rate_component_season',
                                component=component.rec_name, value=text))


class RateBlock(ModelSQL, ModelView):
    "Rate Block"
    __name__ = 'utility.rate.block'
    component = fields.Many2One('utility.rate.component', "Component",
        required=True, ondelete='CASCADE')
    threshold = fields.Numeric("From", digits=(16, 4), required=True,
        help="Units above which this block's price applies; for a scaled "
        "fixed charge, the attribute value.")
    price = fields.Numeric("Price", digits=(16, 6), required=True,
        help="Price per unit; for a scaled fixed charge, the factor.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('threshold', 'ASC'))
