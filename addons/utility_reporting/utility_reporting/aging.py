"""Receivables aging per customer as of a date.

A receivable line is open on the date when it was posted by then and not
reconciled by then (a reconciliation is dated by its latest line, so one
dated later did not exist yet). Its open amount is debit - credit; a
partial payment stays an open credit line linked to the invoice, and is
aged with that invoice's maturity so it reduces the same bucket.
Days past due are the date minus the maturity date (the move date when
there is none): 0 or less is current, then 1-30, 31-60, 61-90, 91-120
and over 120.
"""
import datetime as dt

from sql import Literal, Null
from sql.aggregate import Min, Sum
from sql.conditionals import Case, Coalesce
from sql.functions import Round

from trytond.model import fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .reporting import ReportMixin

BUCKETS = [
    # field, lowest days past due (inclusive)
    ('days_1_30', 1),
    ('days_31_60', 31),
    ('days_61_90', 61),
    ('days_91_120', 91),
    ('days_over_120', 121),
    ]


class Aging(ReportMixin):
    "Utility Receivables Aging"
    __name__ = 'utility.reporting.aging'
    party = fields.Many2One('party.party', "Customer", readonly=True,
        context={'company': Eval('company', -1)}, depends={'company'})
    current = fields.Numeric("Current", digits='currency', readonly=True)
    days_1_30 = fields.Numeric("1-30 Days", digits='currency',
        readonly=True)
    days_31_60 = fields.Numeric("31-60 Days", digits='currency',
        readonly=True)
    days_61_90 = fields.Numeric("61-90 Days", digits='currency',
        readonly=True)
    days_91_120 = fields.Numeric("91-120 Days", digits='currency',
        readonly=True)
    days_over_120 = fields.Numeric("Over 120 Days", digits='currency',
        readonly=True)
    balance = fields.Numeric("Balance", digits='currency', readonly=True)
    overdue = fields.Numeric("Overdue", digits='currency', readonly=True)

    _export_columns = [
        ('party', 'many2one'),
        ('current', 'money'),
        ('days_1_30', 'money'),
        ('days_31_60', 'money'),
        ('days_61_90', 'money'),
        ('days_91_120', 'money'),
        ('days_over_120', 'money'),
        ('overdue', 'money'),
        ('balance', 'money'),
        ]

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('balance', 'DESC'), ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Line = pool.get('account.move.line')
        Move = pool.get('account.move')
        Account = pool.get('account.account')
        AccountType = pool.get('account.account.type')
        Reconciliation = pool.get('account.move.reconciliation')
        Invoice = pool.get('account.invoice')
        InvoicePayment = pool.get('account.invoice-account.move.line')
        context = Transaction().context
        company_id = cls._company_id()
        date = context.get('date') or Pool().get('ir.date').today()

        # Maturity of the invoice a payment line was added to: only the
        # (few) unreconciled partial payments are looked up.
        payment = InvoicePayment.__table__()
        invoice = Invoice.__table__()
        maturity_line = Line.__table__()
        payment_maturity = (payment
            .join(invoice, condition=payment.invoice == invoice.id)
            .join(maturity_line,
                condition=(maturity_line.move == invoice.move)
                & (maturity_line.account == invoice.account))
            .select(payment.line.as_('line'),
                Min(maturity_line.maturity_date).as_('maturity_date'),
                where=invoice.company == company_id,
                group_by=[payment.line]))

        line = Line.__table__()
        move = Move.__table__()
        account = Account.__table__()
        type_ = AccountType.__table__()
        reconciliation = Reconciliation.__table__()
        from_ = (line
            .join(move, condition=line.move == move.id)
            .join(account, condition=line.account == account.id)
            .join(type_, condition=account.type == type_.id)
            .join(reconciliation, 'LEFT',
                condition=line.reconciliation == reconciliation.id)
            .join(payment_maturity, 'LEFT',
                condition=payment_maturity.line == line.id))
        due = Coalesce(payment_maturity.maturity_date, line.maturity_date,
            move.date)
        amount = line.debit - line.credit
        digits = cls._digits()

        def money(column):
            # SQLite sums floats: round back to the currency's digits.
            return Round(Sum(column), digits)

        def bucket(low, high=None):
            # Compare dates, not day differences: portable to SQLite.
            condition = due <= date - dt.timedelta(days=low)
            if high is not None:
                condition &= due >= date - dt.timedelta(days=high)
            return money(Case((condition, amount), else_=0))

        columns = [money(Case((due >= date, amount), else_=0)).as_(
                'current')]
        for (name, low), (_, following) in zip(BUCKETS,
                BUCKETS[1:] + [(None, None)]):
            high = following - 1 if following else None
            columns.append(bucket(low, high).as_(name))
        columns.append(money(Case((due < date, amount), else_=0)).as_(
                'overdue'))
        columns.append(money(amount).as_('balance'))

        return from_.select(
            line.party.as_('id'),
            Literal(company_id).as_('company'),
            line.party.as_('party'),
            *columns,
            where=(move.company == company_id)
            & (type_.receivable == Literal(True))
            & (move.state == 'posted')
            & (move.date <= date)
            & (line.party != Null)
            & ((line.reconciliation == Null)
                | (reconciliation.date > date)),
            group_by=[line.party])
