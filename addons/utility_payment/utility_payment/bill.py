from decimal import Decimal

import stripe

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.rpc import RPC
from trytond.transaction import Transaction

from .exceptions import BillPaymentError

# Payments that still hold (or may still hold) the customer's money.
OPEN_PAYMENT_STATES = {'draft', 'submitted', 'approved', 'processing'}
# Stripe errors after which the same call may succeed later: no answer,
# too many requests or Stripe's own failure (5xx).
GATEWAY_UNAVAILABLE = (
    stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError)


class Bill(metaclass=PoolMeta):
    __name__ = 'utility.bill'
    autopay_attempts = fields.One2Many('utility.payment.autopay.attempt',
        'bill', "Autopay Attempts", readonly=True)
    amount_to_pay = fields.Function(fields.Numeric("Amount to Pay",
            digits='currency'), 'get_amount_to_pay')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__rpc__.update({
                'checkout': RPC(readonly=False, instantiate=0),
                })
        cls._buttons.update({
                'pay_online': {
                    'invisible': Eval('state') != 'billed',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def get_amount_to_pay(cls, bills, name):
        pool = Pool()
        Invoice = pool.get('account.invoice')
        invoices = [b.invoice for b in bills if b.invoice]
        amounts = Invoice.get_amount_to_pay(invoices, 'amount_to_pay')
        # Tryton leaves out invoices that are not posted: nothing to pay.
        return {b.id: amounts.get(b.invoice.id, Decimal(0))
            if b.invoice else None for b in bills}

    def _lines_to_pay(self):
        "Unreconciled receivable lines of the bill's posted invoice"
        invoice = self.invoice
        if not invoice or invoice.state != 'posted':
            raise BillPaymentError(gettext(
                    'utility_payment.msg_bill_not_payable',
                    bill=self.rec_name))
        return [l for l in invoice.lines_to_pay if not l.reconciliation]

    def get_stripe_payment(self, line, amount, provider, **values):
        "An unsaved receivable Stripe payment of amount for line"
        pool = Pool()
        Payment = pool.get('account.payment')
        Date = pool.get('ir.date')
        with Transaction().set_context(company=self.company.id):
            today = Date.today()
        return Payment(
            company=self.company,
            journal=provider.journal,
            kind='receivable',
            party=self.party,
            line=line,
            amount=amount,
            date=today,
            **values)

    @classmethod
    def process_payments(cls, payments):
        "Submit and process payments in one group per journal"
        pool = Pool()
        Payment = pool.get('account.payment')
        Group = pool.get('account.payment.group')
        if not payments:
            return
        # Receivable payments are never approved, only submitted.
        Payment.submit([p for p in payments if p.state == 'draft'])
        with_group = Payment.process_method_with_group()
        by_journal = {}
        for payment in payments:
            by_journal.setdefault(payment.journal, []).append(payment)
        for journal, j_payments in by_journal.items():
            def group():
                group = Group(company=journal.company, journal=journal,
                    kind='receivable')
                group.save()
                return group
            # As account_payment's Process wizard: Stripe payments are
            # processed one by one, without a group.
            Payment.process(j_payments,
                group if journal.process_method in with_group else None)

    @classmethod
    def stripe_payments(cls, bills):
        """The processing Stripe payments paying bills, see _stripe_payments.

        When Stripe is unavailable it is a user error and the transaction
        rolls back: no payment is left half-made and the bill stays open
        for the customer to try again.
        """
        try:
            return cls._stripe_payments(bills)
        except GATEWAY_UNAVAILABLE as exception:
            raise BillPaymentError(gettext(
                    'utility_payment.msg_bill_gateway_unavailable',
                    bill=', '.join(b.rec_name for b in bills))
                ) from exception

    @classmethod
    def _stripe_payments(cls, bills):
        """The processing Stripe payments paying bills, one per open line.

        An open checkout payment of a line is reused: paying a bill twice
        from two browser tabs opens the same Stripe PaymentIntent.
        """
        pool = Pool()
        Provider = pool.get('utility.payment.provider')
        Payment = pool.get('account.payment')
        providers = Provider.by_company({b.company.id for b in bills})
        result, to_process = [], []
        for bill in bills:
            provider = providers.get(bill.company.id)
            if not provider:
                Provider.get(bill.company)  # raises the user error
            lines = bill._lines_to_pay()
            if not lines:
                raise BillPaymentError(gettext(
                        'utility_payment.msg_bill_paid', bill=bill.rec_name))
            for line in lines:
                open_payments = [p for p in line.payments
                    if p.state in OPEN_PAYMENT_STATES]
                # A checkout payment is reused, never one charging a saved
                # method (autopay owns those).
                reusable = [p for p in open_payments
                    if p.journal == provider.journal
                    and p.state in {'submitted', 'processing'}
                    and not p.stripe_customer_payment_method]
                if reusable:
                    result.extend(reusable)
                    continue
                if open_payments:
                    raise BillPaymentError(gettext(
                            'utility_payment.msg_bill_payment_pending',
                            bill=bill.rec_name,
                            payment=open_payments[0].rec_name))
                amount = line.payment_amount
                if not amount or amount <= Decimal(0):
                    continue
                customer = None
                if bill.agreement:
                    customer = bill.agreement.get_stripe_customer(
                        create=False)
                payment = bill.get_stripe_payment(line, amount, provider,
                    origin=bill,
                    stripe_customer=customer
                    if customer and customer.stripe_customer_id else None)
                to_process.append(payment)
                result.append(payment)
        Payment.save(to_process)
        # The checkout needs the PaymentIntent that process_stripe wants.
        Payment.submit(to_process)
        for payment in to_process:
            # It saves only the first record it is given.
            Payment.stripe_checkout([payment])
        cls.process_payments(to_process)
        return result

    @classmethod
    @ModelView.button_action('account_payment_stripe.url_checkout')
    def pay_online(cls, bills):
        "Open Stripe's checkout for the bill"
        pool = Pool()
        Payment = pool.get('account.payment')
        payments = cls.stripe_payments(bills)
        if payments:
            return Payment.stripe_checkout(payments[:1])

    @classmethod
    def checkout(cls, bill_id):
        """Start paying a bill online; for the portal, over RPC.

        Returns a list of dicts with the payment id, its number, amount
        and currency code, the URL of Stripe's checkout page and the
        PaymentIntent client secret for a page of its own with Stripe.js.
        """
        pool = Pool()
        Payment = pool.get('account.payment')
        bill = cls(bill_id)
        result = []
        for payment in cls.stripe_payments([bill]):
            # A new checkout id per page: an old link stops working.
            Payment.stripe_checkout([payment])
            try:
                intent = payment.stripe_payment_intent
            except GATEWAY_UNAVAILABLE:
                intent = None
            if intent is None:
                # Stripe.js cannot pay without the intent's client secret.
                raise BillPaymentError(gettext(
                        'utility_payment.msg_bill_gateway_unavailable',
                        bill=bill.rec_name))
            result.append({
                    'payment': payment.id,
                    'number': payment.number,
                    'amount': payment.amount,
                    'currency': payment.currency.code,
                    'url': payment.stripe_checkout_url,
                    'client_secret': intent.client_secret if intent else None,
                    })
        return result
