import datetime as dt

from trytond.model import DeactivableMixin, ModelSQL, ModelView, Unique, fields
from trytond.pyson import Eval
from trytond.transaction import Transaction

from . import periods

FREQUENCY_MONTHS = {'monthly': 1, 'bimonthly': 2, 'quarterly': 3}


class BillingCycle(DeactivableMixin, ModelSQL, ModelView):
    "Billing Cycle"
    __name__ = 'utility.billing.cycle'
    company = fields.Many2One('company.company', "Provider", required=True)
    code = fields.Char("Code", required=True)
    name = fields.Char("Name", required=True, translate=True)
    frequency = fields.Selection([
            ('monthly', "Monthly"),
            ('bimonthly', "Every Two Months"),
            ('quarterly', "Quarterly"),
            ('months', "Every N Months"),
            ('days', "Every N Days"),
            ], "Frequency", required=True)
    interval = fields.Integer("Interval",
        states={
            'invisible': ~Eval('frequency').in_(['months', 'days']),
            'required': Eval('frequency').in_(['months', 'days']),
            },
        domain=['OR', ('interval', '=', None), ('interval', '>', 0)])
    billing_day = fields.Integer("Billing Day",
        domain=[('billing_day', '>=', 1), ('billing_day', '<=', 31)],
        states={
            'invisible': Eval('frequency') == 'days',
            'required': Eval('frequency') != 'days',
            },
        help="Bill periods start on this day of the month; "
        "a short month uses its last day.")
    anchor_month = fields.Selection([(str(m), dt.date(2000, m, 1).strftime(
                    '%B')) for m in range(1, 13)], "First Month",
        sort=False,
        states={
            'invisible': Eval('frequency').in_(['monthly', 'days']),
            },
        help="A month where a bill period starts; the others follow "
        "every interval.")
    anchor_date = fields.Date("First Period Start",
        states={
            'invisible': Eval('frequency') != 'days',
            'required': Eval('frequency') == 'days',
            })

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.company, t.code),
                'utility_billing.msg_cycle_code_unique'),
            ]

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_frequency():
        return 'monthly'

    @staticmethod
    def default_billing_day():
        return 1

    @staticmethod
    def default_anchor_month():
        return '1'

    @property
    def cycle_args(self):
        "Keywords of the periods functions for this cycle"
        if self.frequency == 'days':
            return {'days': self.interval, 'anchor_date': self.anchor_date}
        return {
            'months': FREQUENCY_MONTHS.get(self.frequency, self.interval),
            'billing_day': self.billing_day,
            'anchor_month': int(self.anchor_month or 1),
            }

    def next_period(self, billed_until, start, end=None):
        return periods.next_period(billed_until, start, end,
            **self.cycle_args)
