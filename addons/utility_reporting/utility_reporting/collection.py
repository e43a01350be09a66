"""Collections per month: billed, collected, collection rate, late fees.

All figures are movements of the customers' receivable accounts:
- billed: invoices and credit notes (moves of revenue journals), without
  the late fees;
- collected: what paid receivables down (moves of every other journal
  but write-offs and opening situations: cash, statements, payments);
- late fees charged: account_dunning_fee's fee moves, by their date;
- late fees collected: those fee lines once reconciled, by the date of
  their reconciliation.
"""
from sql import Literal, Null, Union
from sql.aggregate import Sum
from sql.conditionals import Case
from sql.functions import Round
from sql.operators import Like

from trytond.model import fields
from trytond.pool import Pool
from trytond.transaction import Transaction

from .reporting import ReportMixin

FEE_ORIGIN = 'account.dunning.fee.dunning_level,%'
# Journals whose receivable movements are neither billing nor collection.
NOT_COLLECTION = ['revenue', 'write-off', 'situation']


class Collection(ReportMixin):
    "Utility Collection Report"
    __name__ = 'utility.reporting.collection'
    month = fields.Date("Month", readonly=True)
    billed_amount = fields.Numeric("Billed", digits='currency',
        readonly=True,
        help="Invoices less credit notes posted to receivables.")
    collected_amount = fields.Numeric("Collected", digits='currency',
        readonly=True, help="Payments received on receivables.")
    collection_rate = fields.Function(fields.Float("Collection Rate",
            digits=(1, 4), help="Collected divided by billed."),
        'get_computed')
    fees_charged = fields.Numeric("Late Fees Charged", digits='currency',
        readonly=True)
    fees_collected = fields.Numeric("Late Fees Collected",
        digits='currency', readonly=True)

    _export_columns = [
        ('month', 'date'),
        ('billed_amount', 'money'),
        ('collected_amount', 'money'),
        ('collection_rate', 'percent'),
        ('fees_charged', 'money'),
        ('fees_collected', 'money'),
        ]

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('month', 'DESC'), ('id', 'DESC')]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Line = pool.get('account.move.line')
        Move = pool.get('account.move')
        Account = pool.get('account.account')
        AccountType = pool.get('account.account.type')
        Journal = pool.get('account.journal')
        Reconciliation = pool.get('account.move.reconciliation')
        context = Transaction().context
        company_id = cls._company_id()
        zero = Literal(0)

        def period(date):
            where = Literal(True)
            if context.get('from_date'):
                where &= date >= context['from_date']
            if context.get('to_date'):
                where &= date <= context['to_date']
            return where

        def receivable_lines():
            line = Line.__table__()
            move = Move.__table__()
            account = Account.__table__()
            type_ = AccountType.__table__()
            from_ = (line
                .join(move, condition=line.move == move.id)
                .join(account, condition=line.account == account.id)
                .join(type_, condition=account.type == type_.id))
            where = ((move.company == company_id)
                & (move.state == 'posted')
                & (type_.receivable == Literal(True)))
            return line, move, from_, where

        line, move, from_, where = receivable_lines()
        journal = Journal.__table__()
        is_fee = Like(move.origin, FEE_ORIGIN)
        amount = line.debit - line.credit
        moves = (from_
            .join(journal, condition=move.journal == journal.id)
            .select(
                cls._month(move.date).as_('month'),
                Case(((journal.type == 'revenue') & ~is_fee, amount),
                    else_=0).as_('billed_amount'),
                Case((~journal.type.in_(NOT_COLLECTION), -amount),
                    else_=0).as_('collected_amount'),
                Case((is_fee, amount), else_=0).as_('fees_charged'),
                zero.as_('fees_collected'),
                where=where & period(move.date)))

        line, move, from_, where = receivable_lines()
        reconciliation = Reconciliation.__table__()
        fees = (from_
            .join(reconciliation,
                condition=line.reconciliation == reconciliation.id)
            .select(
                cls._month(reconciliation.date).as_('month'),
                zero.as_('billed_amount'),
                zero.as_('collected_amount'),
                zero.as_('fees_charged'),
                (line.debit - line.credit).as_('fees_collected'),
                where=where & Like(move.origin, FEE_ORIGIN)
                & (line.reconciliation != Null)
                & period(reconciliation.date)))

        union = Union(moves, fees, all_=True)
        digits = cls._digits()

        def money(column):
            # SQLite sums floats: round back to the currency's digits.
            return Round(Sum(column), digits)

        return union.select(
            cls.id.sql_cast(cls._month_key(union.month)).as_('id'),
            Literal(company_id).as_('company'),
            union.month.as_('month'),
            money(union.billed_amount).as_('billed_amount'),
            money(union.collected_amount).as_('collected_amount'),
            money(union.fees_charged).as_('fees_charged'),
            money(union.fees_collected).as_('fees_collected'),
            group_by=[union.month])

    @classmethod
    def get_computed(cls, records, names):
        result = {n: {} for n in names}
        for record in records:
            values = cls.export_values({
                    'billed_amount': record.billed_amount,
                    'collected_amount': record.collected_amount,
                    })
            for name in names:
                result[name][record.id] = values[name]
        return result

    @classmethod
    def export_values(cls, row):
        billed = row.get('billed_amount')
        if billed:
            row['collection_rate'] = round(
                float(row.get('collected_amount') or 0) / float(billed), 4)
        else:
            row['collection_rate'] = None
        return row
