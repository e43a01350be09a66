from trytond.model import fields
from trytond.pool import PoolMeta


class InvoiceLine(metaclass=PoolMeta):
    __name__ = 'account.invoice.line'
    utility_trace = fields.Text("Computation", readonly=True,
        help="How the bill run priced this line.")
    utility_rate_version = fields.Many2One('utility.rate.version',
        "Rate Version", readonly=True, ondelete='RESTRICT')
