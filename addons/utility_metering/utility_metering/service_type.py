from decimal import Decimal

from trytond.model import DeactivableMixin, ModelSQL, ModelView, Unique, fields


class ServiceType(DeactivableMixin, ModelSQL, ModelView):
    "Utility Service Type"
    __name__ = 'utility.service.type'
    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char("Code", required=True)
    unit = fields.Many2One('product.uom', "Unit", required=True,
        help="The unit meters of this service register.")
    spike_factor = fields.Numeric("Spike Factor", digits=(16, 2),
        help="Reject a reading whose daily use exceeds this many times "
        "the meter's own average daily use. Empty disables the check.")
    max_zero_days = fields.Integer("Max Zero Days",
        help="Reject a zero consumption that lasts longer than this many "
        "days. Empty disables the check.")
    high_use_factor = fields.Numeric("High Use Factor", digits=(16, 2),
        help="Alert when the daily use of a service point's last read "
        "interval exceeds this many times its reference: the same period "
        "last year, else the average of the previous year. "
        "Empty disables the check.")
    high_use_min_days = fields.Integer("High Use Min Days",
        help="Ignore read intervals shorter than this many days: the use "
        "of a few days varies too much to compare.")
    leak_days = fields.Integer("Leak Days",
        help="Alert when use never stopped over this many days of reads "
        "(a leak). Needs reads at least daily. Empty disables the check.")
    leak_floor = fields.Numeric("Leak Floor", digits=(16, 4),
        help="Daily use at or below this counts as a stop in use.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'utility_metering.msg_service_type_code_unique'),
            ]
        cls._order.insert(0, ('name', 'ASC'))

    @staticmethod
    def default_spike_factor():
        return Decimal(5)

    @staticmethod
    def default_max_zero_days():
        return 90

    @staticmethod
    def default_high_use_factor():
        return Decimal(2)

    @staticmethod
    def default_high_use_min_days():
        return 7

    @staticmethod
    def default_leak_floor():
        return Decimal(0)
