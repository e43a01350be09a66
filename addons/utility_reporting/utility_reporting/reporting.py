"""What the reports share: their filter (context) models, the SQL helpers
and the column description the CSV and XLSX exports are written from."""
from sql import Literal, Null
from sql.conditionals import Coalesce
from sql.functions import DateTrunc, Extract

from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If
from trytond.transaction import Transaction


class PeriodContextMixin:
    "The provider, period and service every report filters on"
    __slots__ = ()
    company = fields.Many2One('company.company', "Provider", required=True)
    from_date = fields.Date("From Date",
        domain=[If(Eval('to_date') & Eval('from_date'),
                ('from_date', '<=', Eval('to_date')), ())])
    to_date = fields.Date("To Date",
        domain=[If(Eval('from_date') & Eval('to_date'),
                ('to_date', '>=', Eval('from_date')), ())])
    service_type = fields.Many2One('utility.service.type', "Service")

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_from_date(cls):
        context = Transaction().context
        if 'from_date' in context:
            return context['from_date']
        return Pool().get('ir.date').today().replace(month=1, day=1)

    @classmethod
    def default_to_date(cls):
        context = Transaction().context
        if 'to_date' in context:
            return context['to_date']
        return Pool().get('ir.date').today()

    @classmethod
    def default_service_type(cls):
        return Transaction().context.get('service_type')


class Context(PeriodContextMixin, ModelView):
    "Utility Reporting Context"
    __name__ = 'utility.reporting.context'
    cycle = fields.Many2One('utility.billing.cycle', "Billing Cycle",
        domain=[('company', '=', Eval('company', -1))])
    rate_plan = fields.Many2One('utility.rate.plan', "Rate Plan",
        domain=[('company', '=', Eval('company', -1)),
            If(Eval('service_type'),
                ('service_type', '=', Eval('service_type', -1)), ())])

    @classmethod
    def default_cycle(cls):
        return Transaction().context.get('cycle')

    @classmethod
    def default_rate_plan(cls):
        return Transaction().context.get('rate_plan')


class AgingContext(ModelView):
    "Utility Receivables Aging Context"
    __name__ = 'utility.reporting.aging.context'
    company = fields.Many2One('company.company', "Provider", required=True)
    date = fields.Date("As of", required=True,
        help="Lines posted until this date and not paid by then.")

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_date(cls):
        context = Transaction().context
        if context.get('date'):
            return context['date']
        return Pool().get('ir.date').today()


class MoveLine(metaclass=PoolMeta):
    __name__ = 'account.move.line'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        # The aging report reads only open lines of an account; on a large
        # ledger most lines are reconciled, so a partial index stays small.
        cls._sql_indexes.add(
            Index(t,
                (t.account, Index.Range()),
                (t.party, Index.Range()),
                where=t.reconciliation == Null))


_DATE = fields.Date("Date")


def company_currency():
    "The context provider's currency (or None)"
    pool = Pool()
    Company = pool.get('company.company')
    company_id = Transaction().context.get('company')
    if company_id is not None and company_id >= 0:
        return Company(company_id).currency


class ReportMixin(ModelSQL, ModelView):
    """A read-only SQL view report in the context provider's currency.

    Subclasses list their exported columns in _export_columns as
    (field name, kind) with kind one of 'char', 'many2one', 'date',
    'integer', 'money', 'percent', 'quantity' (Decimal), 'boolean'."""
    _export_columns = []

    company = fields.Many2One('company.company', "Provider", readonly=True)
    currency = fields.Function(fields.Many2One('currency.currency',
            "Currency"), 'get_currency')

    def get_currency(self, name):
        return self.company.currency.id if self.company else None

    @classmethod
    def _company_id(cls):
        company_id = Transaction().context.get('company')
        return company_id if company_id is not None else -1

    @classmethod
    def _digits(cls):
        currency = company_currency()
        return currency.digits if currency else 2

    @staticmethod
    def _month(column):
        "The first day of column's month, as a date on both backends"
        return _DATE.sql_cast(DateTrunc('month', column))

    @staticmethod
    def _month_key(month):
        "An integer that orders and identifies months (year * 12 + month)"
        return (Extract('YEAR', month) * 12 + Extract('MONTH', month))

    @staticmethod
    def _zero():
        return Literal(0)

    @classmethod
    def _coalesce(cls, column):
        return Coalesce(column, cls._zero())

    @classmethod
    def export_values(cls, row):
        """Complete row (a dict of the view's columns) with the values of
        the computed columns; overridden by reports that have some"""
        return row
