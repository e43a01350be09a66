from sql.operators import Equal

from trytond.model import Exclude, ModelSQL, ModelView, fields
from trytond.pyson import Eval


class Bill(ModelSQL, ModelView):
    """Utility Bill

    One agreement billed for one period; the posted customer invoice holds
    the money, this record holds what was billed and from which readings.
    """
    __name__ = 'utility.bill'
    company = fields.Many2One('company.company', "Provider", required=True,
        readonly=True)
    agreement = fields.Many2One('utility.service.agreement', "Agreement",
        required=True, readonly=True, ondelete='RESTRICT')
    party = fields.Many2One('party.party', "Customer", required=True,
        readonly=True,
        context={'company': Eval('company', -1)}, depends={'company'})
    service_point = fields.Many2One('utility.service.point',
        "Service Point", required=True, readonly=True)
    period_start = fields.Date("Period Start", required=True, readonly=True)
    period_end = fields.Date("Period End", required=True, readonly=True)
    consumption = fields.Numeric("Consumption", digits=(16, 4),
        readonly=True)
    unit = fields.Many2One('product.uom', "Unit", readonly=True)
    estimated = fields.Boolean("Estimated", readonly=True,
        help="Part of the consumption comes from an estimated reading.")
    invoice = fields.Many2One('account.invoice', "Invoice", readonly=True,
        ondelete='RESTRICT')
    credit_note = fields.Many2One('account.invoice', "Credit Note",
        readonly=True, ondelete='RESTRICT')
    bill_run = fields.Many2One('utility.bill.run', "Bill Run",
        readonly=True, ondelete='RESTRICT')
    readings = fields.Many2Many('utility.bill-utility.meter.reading', 'bill',
        'reading', "Readings", readonly=True)
    replaces = fields.Many2One('utility.bill', "Replaces", readonly=True,
        help="The bill this rebill replaces.")
    total_amount = fields.Function(fields.Numeric("Total",
            digits='currency'), 'get_invoice_amount')
    currency = fields.Function(fields.Many2One('currency.currency',
            "Currency"), 'get_invoice_amount')
    state = fields.Selection([
            ('billed', "Billed"),
            ('credited', "Credited"),
            ], "State", required=True, readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            # The database refuses a second bill for a period, also for
            # two bill runs racing each other.
            ('agreement_period_exclude',
                Exclude(t, (t.agreement, Equal), (t.period_start, Equal),
                    where=t.state == 'billed'),
                'utility_billing.msg_bill_period_billed'),
            ]
        cls._order = [('period_start', 'DESC'), ('id', 'DESC')]

    @staticmethod
    def default_state():
        return 'billed'

    def get_rec_name(self, name):
        return '%s %s..%s' % (
            self.agreement.rec_name, self.period_start, self.period_end)

    @classmethod
    def get_invoice_amount(cls, bills, names):
        result = {n: {} for n in names}
        for bill in bills:
            if 'total_amount' in names:
                result['total_amount'][bill.id] = (
                    bill.invoice.total_amount if bill.invoice else None)
            if 'currency' in names:
                result['currency'][bill.id] = (
                    bill.invoice.currency.id if bill.invoice else None)
        return result


class BillReading(ModelSQL):
    "Utility Bill - Meter Reading"
    __name__ = 'utility.bill-utility.meter.reading'
    bill = fields.Many2One('utility.bill', "Bill", required=True,
        ondelete='CASCADE')
    reading = fields.Many2One('utility.meter.reading', "Reading",
        required=True, ondelete='RESTRICT')
