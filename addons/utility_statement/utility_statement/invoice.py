"""Customer credits from over-paid transfers pay the next bills.

An over-payment leaves a credit line from a bank statement on the
customer's receivable. When the customer's next invoice is posted (or an
accountant clicks "Apply Credits"), those credits become its payment
lines, oldest first; a credit larger than the invoice is split by a
transfer move on the receivable so that exactly the invoice is paid and
the rest stays as a credit.
"""
from collections import defaultdict
from decimal import Decimal

from sql import Null
from sql.functions import Upper

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelView
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import grouped_slice
from trytond.transaction import Transaction


def _in_max():
    "How many values one query may hold on this backend"
    return backend.MAX_QUERY_PARAMS


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        # Statement matching looks customer invoices up by the number
        # their payment reference carries.
        cls._sql_indexes.add(Index(t,
                (Upper(t.number_alnum), Index.Equality()),
                (t.company, Index.Equality()),
                where=t.type == 'out'))
        cls._buttons.update({
                'utility_apply_credits': {
                    'invisible': ((Eval('state') != 'posted')
                        | (Eval('type') != 'out')),
                    'depends': ['state', 'type'],
                    },
                })

    @classmethod
    def _post(cls, invoices):
        super()._post(invoices)
        cls.utility_apply_credits(invoices)

    @classmethod
    @ModelView.button
    def utility_apply_credits(cls, invoices):
        "Pay customer invoices with the customers' unused statement credits"
        pool = Pool()
        MoveLine = pool.get('account.move.line')
        invoices = [i for i in invoices
            if i.type == 'out' and i.state == 'posted'
            and i.currency == i.company.currency]
        if not invoices:
            return
        credits = MoveLine.utility_statement_credits(
            {(i.company.id, i.account.id, i.party.id) for i in invoices})
        if not credits:
            return
        to_pay = cls.get_amount_to_pay(invoices, 'amount_to_pay')
        payments = defaultdict(list)
        for invoice in sorted(invoices,
                key=lambda i: (i.invoice_date, i.id)):
            key = (invoice.company.id, invoice.account.id, invoice.party.id)
            queue = credits.get(key, [])
            amount = to_pay[invoice.id]
            while queue and amount > 0:
                line = queue[0]
                credit = line.credit - line.debit
                if credit <= amount:
                    payments[invoice].append(queue.pop(0))
                    amount -= credit
                else:
                    # Rare (a credit larger than a bill): split it now so
                    # that its rest can pay the customer's next invoice.
                    (paying, rest), = MoveLine.utility_split_credits(
                        [(line, amount, invoice)])
                    payments[invoice].append(paying)
                    queue[0] = rest
                    amount = Decimal(0)
        if not payments:
            return
        cls.add_payment_lines(payments)
        to_reconcile = []
        to_pay = cls.get_amount_to_pay(
            cls.browse(list(payments)), 'amount_to_pay')
        for invoice in cls.browse(list(payments)):
            if not to_pay[invoice.id]:
                to_reconcile.append([l for l in
                        invoice.lines_to_pay + invoice.payment_lines
                        if not l.reconciliation])
        if to_reconcile:
            MoveLine.reconcile(*to_reconcile)


class MoveLine(metaclass=PoolMeta):
    __name__ = 'account.move.line'

    @classmethod
    def utility_statement_credits(cls, keys):
        """Unreconciled credits from bank statements that no invoice uses,
        oldest first, per (company, account, party) of keys"""
        pool = Pool()
        Move = pool.get('account.move')
        PaymentLine = pool.get('account.invoice-account.move.line')
        line = cls.__table__()
        move = Move.__table__()
        payment = PaymentLine.__table__()
        cursor = Transaction().connection.cursor()
        keys = set(keys)
        parties = {p for _, _, p in keys}
        ids = []
        for sub_parties in grouped_slice(list(parties), _in_max()):
            cursor.execute(*line.join(move,
                    condition=line.move == move.id
                    ).select(line.id, move.company, line.account, line.party,
                    where=line.party.in_(list(sub_parties))
                    & (line.reconciliation == Null)
                    & (line.credit > line.debit)
                    & (line.second_currency == Null)
                    & move.origin.like('account.statement,%')
                    & ~line.id.in_(payment.select(payment.line)),
                    order_by=[move.date.asc, line.id.asc]))
            ids.extend(i for i, *key in cursor if tuple(key) in keys)
        credits = defaultdict(list)
        for record in cls.browse(ids):
            credits[(record.move.company.id, record.account.id,
                    record.party.id)].append(record)
        return credits

    @classmethod
    def utility_split_credits(cls, splits):
        """Split each (credit line, amount, invoice) by a transfer move on
        the receivable: reconciled with the credit, it gives back a line
        crediting amount and one crediting the rest.

        Returns [(amount line, rest line)] in the order of splits."""
        pool = Pool()
        Move = pool.get('account.move')
        Period = pool.get('account.period')
        moves = []
        for credit_line, amount, invoice in splits:
            credit = credit_line.credit - credit_line.debit
            date = max(credit_line.date, invoice.accounting_date
                or invoice.invoice_date)
            description = gettext('utility_statement.msg_credit_split',
                invoice=invoice.rec_name)
            common = {
                'account': credit_line.account,
                'party': credit_line.party,
                'description': description,
                }
            moves.append(Move(
                    company=credit_line.move.company,
                    journal=credit_line.move.journal,
                    period=Period.find(credit_line.move.company, date=date),
                    date=date,
                    origin=invoice,
                    description=description,
                    lines=[
                        cls(debit=credit, credit=Decimal(0), **common),
                        cls(debit=Decimal(0), credit=amount, **common),
                        cls(debit=Decimal(0), credit=credit - amount,
                            **common),
                        ]))
        Move.save(moves)
        Move.post(moves)
        result = []
        to_reconcile = []
        for move, (credit_line, amount, _) in zip(moves, splits):
            debit, = [l for l in move.lines if l.debit]
            paying, rest = sorted([l for l in move.lines if l.credit],
                key=lambda l: l.credit != amount)
            to_reconcile.append([credit_line, debit])
            result.append((paying, rest))
        cls.reconcile(*to_reconcile)
        return result
