"""Payment history per customer and agreement, read from account.payment.

A payment settles one receivable line; the line's move is the invoice's
move, and the bill links the invoice to its agreement.
"""
from collections import defaultdict
from decimal import Decimal

from sql.conditionals import Coalesce

from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.rpc import RPC


class History(ModelSQL, ModelView):
    "Payment History"
    __name__ = 'utility.payment.history'
    company = fields.Many2One('company.company', "Provider")
    party = fields.Many2One('party.party', "Customer")
    agreement = fields.Many2One('utility.service.agreement', "Agreement")
    bill = fields.Many2One('utility.bill', "Bill")
    invoice = fields.Many2One('account.invoice', "Invoice")
    payment = fields.Many2One('account.payment', "Payment")
    date = fields.Date("Date")
    journal = fields.Many2One('account.payment.journal', "Journal")
    process_method = fields.Char("Method")
    gateway_reference = fields.Char("Gateway Reference")
    amount = fields.Numeric("Amount", digits='currency')
    currency = fields.Many2One('currency.currency', "Currency")
    refunded_amount = fields.Function(fields.Numeric("Refunded",
            digits='currency'), 'get_refunded_amount')
    state = fields.Selection([
            ('draft', "Draft"),
            ('submitted', "Submitted"),
            ('approved', "Approved"),
            ('processing', "Processing"),
            ('succeeded', "Succeeded"),
            ('failed', "Failed"),
            ], "State")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('date', 'DESC'), ('id', 'DESC')]
        cls.__rpc__.update({
                'for_party': RPC(readonly=True),
                })

    @classmethod
    def table_query(cls):
        pool = Pool()
        Payment = pool.get('account.payment')
        Journal = pool.get('account.payment.journal')
        Line = pool.get('account.move.line')
        Invoice = pool.get('account.invoice')
        Bill = pool.get('utility.bill')
        payment = Payment.__table__()
        journal = Journal.__table__()
        line = Line.__table__()
        invoice = Invoice.__table__()
        bill = Bill.__table__()
        return (payment
            .join(journal, condition=payment.journal == journal.id)
            .join(line, 'LEFT', condition=payment.line == line.id)
            .join(invoice, 'LEFT', condition=(invoice.move == line.move)
                & (invoice.move != None))  # noqa: E711
            # A credited bill and its rebill share no invoice.
            .join(bill, 'LEFT', condition=bill.invoice == invoice.id)
            .select(
                payment.id.as_('id'),
                payment.create_uid.as_('create_uid'),
                payment.create_date.as_('create_date'),
                payment.write_uid.as_('write_uid'),
                payment.write_date.as_('write_date'),
                payment.company.as_('company'),
                payment.party.as_('party'),
                bill.agreement.as_('agreement'),
                bill.id.as_('bill'),
                invoice.id.as_('invoice'),
                payment.id.as_('payment'),
                payment.date.as_('date'),
                payment.journal.as_('journal'),
                journal.process_method.as_('process_method'),
                Coalesce(payment.stripe_payment_intent_id,
                    payment.stripe_charge_id).as_('gateway_reference'),
                payment.amount.as_('amount'),
                journal.currency.as_('currency'),
                payment.state.as_('state'),
                where=payment.kind == 'receivable'))

    @classmethod
    def get_refunded_amount(cls, records, name):
        pool = Pool()
        Refund = pool.get('account.payment.stripe.refund')
        amounts = defaultdict(Decimal)
        for sub in [records[i:i + 1000] for i in range(0, len(records), 1000)]:
            for refund in Refund.search([
                        ('payment', 'in', [r.id for r in sub]),
                        ('state', '=', 'succeeded'),
                        ]):
                amounts[refund.payment.id] += refund.amount
        return {r.id: amounts.get(r.id, Decimal(0)) for r in records}

    @classmethod
    def for_party(cls, party_id, agreement_id=None):
        """Payments of a customer, newest first, as plain data.

        For the portal, which resolves the web user's party first. Each
        item: id, date, method, journal, gateway_reference, amount,
        refunded, currency (code), state and invoices (list of id, number,
        total, amount_to_pay, state, agreement, bill). Amounts are Decimal.
        Read in batches: no query per payment.
        """
        pool = Pool()
        Invoice = pool.get('account.invoice')
        domain = [('party', '=', int(party_id))]
        if agreement_id is not None:
            domain.append(('agreement', '=', int(agreement_id)))
        records = cls.search(domain)
        invoices = list({r.invoice for r in records if r.invoice})
        to_pay = Invoice.get_amount_to_pay(invoices, 'amount_to_pay')
        refunded = cls.get_refunded_amount(records, 'refunded_amount')
        result = []
        for record in records:
            settled = []
            if record.invoice:
                invoice = record.invoice
                settled.append({
                        'id': invoice.id,
                        'number': invoice.number,
                        'total': invoice.total_amount,
                        'amount_to_pay': to_pay.get(
                            invoice.id, Decimal(0)),
                        'state': invoice.state,
                        'agreement': (record.agreement.id
                            if record.agreement else None),
                        'bill': record.bill.id if record.bill else None,
                        })
            result.append({
                    'id': record.id,
                    'date': record.date,
                    'method': record.process_method,
                    'journal': record.journal.rec_name,
                    'gateway_reference': record.gateway_reference,
                    'amount': record.amount,
                    'refunded': refunded[record.id],
                    'currency': record.currency.code,
                    'state': record.state,
                    'invoices': settled,
                    })
        return result
