"""Autopay: charge posted bills to a saved Stripe payment method.

One attempt record per charge try. The attempt owns the idempotency key
sent to Stripe; the account.payment is only its vehicle. So:

- a declined charge fails the attempt; the next retry is a new attempt
  with a new key, on the provider's schedule, until the last one;
- an unknown outcome (network outage, Stripe 5xx) keeps the attempt open
  and the next cron run charges again with the same key, which Stripe
  answers with the first result instead of charging twice;
- the database refuses a second open or succeeded attempt for a bill.
"""
import datetime as dt
import logging
import uuid

from sql.operators import Equal

from trytond.i18n import gettext
from trytond.model import Exclude, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.transaction import Transaction

from .bill import GATEWAY_UNAVAILABLE

logger = logging.getLogger(__name__)

# Attempts that may still take the customer's money.
LIVE_STATES = ['pending', 'processing', 'succeeded']


class Attempt(ModelSQL, ModelView):
    "Autopay Attempt"
    __name__ = 'utility.payment.autopay.attempt'
    _rec_name = 'reference'
    company = fields.Many2One('company.company', "Provider", required=True,
        readonly=True)
    bill = fields.Many2One('utility.bill', "Bill", required=True,
        readonly=True, ondelete='RESTRICT')
    agreement = fields.Many2One('utility.service.agreement', "Agreement",
        required=True, readonly=True, ondelete='RESTRICT')
    party = fields.Many2One('party.party', "Customer", required=True,
        readonly=True, ondelete='RESTRICT')
    invoice = fields.Many2One('account.invoice', "Invoice", required=True,
        readonly=True, ondelete='RESTRICT')
    number = fields.Integer("Attempt", required=True, readonly=True,
        help="1 for the first charge, then one per retry.")
    date = fields.Date("Date", required=True, readonly=True)
    amount = fields.Numeric("Amount", digits='currency', required=True,
        readonly=True)
    currency = fields.Function(fields.Many2One('currency.currency',
            "Currency"), 'on_change_with_currency')
    payment_method = fields.Char("Payment Method", readonly=True,
        strip=False)
    payment = fields.Many2One('account.payment', "Payment", readonly=True,
        ondelete='RESTRICT')
    reference = fields.Char("Reference", required=True, readonly=True)
    idempotency_key = fields.Char("Idempotency Key", required=True,
        readonly=True, strip=False)
    state = fields.Selection([
            ('pending', "Pending"),
            ('processing', "Processing"),
            ('succeeded', "Succeeded"),
            ('failed', "Failed"),
            ], "State", required=True, readonly=True, sort=False)
    error_code = fields.Char("Error Code", readonly=True)
    error_message = fields.Char("Error Message", readonly=True)
    next_retry_date = fields.Date("Next Retry", readonly=True,
        help="When the bill is charged again; empty after the last retry.")
    retried = fields.Boolean("Retried", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('bill_number_unique', Unique(t, t.bill, t.number),
                'utility_payment.msg_attempt_number_unique'),
            ('idempotency_key_unique', Unique(t, t.idempotency_key),
                'utility_payment.msg_attempt_key_unique'),
            ('reference_unique', Unique(t, t.reference),
                'utility_payment.msg_attempt_key_unique'),
            # Never two charges for one bill, also for two crons racing.
            ('bill_live_exclude',
                Exclude(t, (t.bill, Equal),
                    where=t.state.in_(LIVE_STATES)),
                'utility_payment.msg_attempt_live_exclude'),
            ]
        cls._order = [('date', 'DESC'), ('number', 'DESC'), ('id', 'DESC')]

    @classmethod
    def default_state(cls):
        return 'pending'

    @classmethod
    def default_retried(cls):
        return False

    @fields.depends('company', '_parent_company.currency')
    def on_change_with_currency(self, name=None):
        return self.company.currency if self.company else None

    @classmethod
    def _new(cls, bill, number, date, amount):
        agreement = bill.agreement
        return cls(
            company=bill.company,
            bill=bill,
            agreement=agreement,
            party=bill.party,
            invoice=bill.invoice,
            number=number,
            date=date,
            amount=amount,
            payment_method=agreement.autopay_payment_method,
            reference='AP-%s-%s-%s' % (
                agreement.number, bill.id, number),
            idempotency_key=uuid.uuid4().hex,
            state='pending')

    @classmethod
    def _due_first_bills(cls, company, today):
        "Autopay bills that never had an attempt and are due today"
        pool = Pool()
        Bill = pool.get('utility.bill')
        Provider = pool.get('utility.payment.provider')
        provider = Provider.get(company)
        bills = Bill.search([
                ('company', '=', company.id),
                ('state', '=', 'billed'),
                ('agreement.autopay', '=', True),
                ('invoice.state', '=', 'posted'),
                ('autopay_attempts', '=', None),
                ])
        due = []
        for bill in bills:
            lines = [l for l in bill.invoice.lines_to_pay
                if not l.reconciliation]
            if not lines:
                continue
            if provider.autopay_timing == 'due_date':
                maturity = min(l.maturity_date or bill.invoice.invoice_date
                    for l in lines)
                if maturity > today:
                    continue
            due.append(bill)
        return due

    @classmethod
    def charge_due(cls, date=None):
        """Charge the autopay bills due on date (today by default).

        Called by the cron for each provider. The transaction is committed
        after each bill so one bill's failure does not undo another's
        charge.
        """
        pool = Pool()
        Date = pool.get('ir.date')
        Company = pool.get('company.company')
        transaction = Transaction()
        company_id = transaction.context.get('company')
        if not company_id:
            return
        company = Company(company_id)
        if date is None:
            date = Date.today()

        # Re-drive attempts whose outcome is unknown, with their own key.
        open_attempts = cls.search([
                ('company', '=', company.id),
                ('state', 'in', ['pending', 'processing']),
                ('date', '<=', date),
                ])
        for attempt in open_attempts:
            cls._charge(cls(attempt.id))

        retries = cls.search([
                ('company', '=', company.id),
                ('state', '=', 'failed'),
                ('retried', '=', False),
                ('next_retry_date', '!=', None),
                ('next_retry_date', '<=', date),
                ])
        for failed in retries:
            failed = cls(failed.id)
            failed.retried = True
            failed.save()
            bill = failed.bill
            amount = bill.amount_to_pay
            if (bill.state != 'billed' or bill.invoice.state != 'posted'
                    or not amount or amount <= 0
                    or not bill.agreement.autopay):
                transaction.commit()
                continue
            attempt = cls._new(bill, failed.number + 1, date, amount)
            attempt.save()
            transaction.commit()
            cls._charge(attempt)

        for bill in cls._due_first_bills(company, date):
            amount = bill.amount_to_pay
            if not amount or amount <= 0:
                continue
            attempt = cls._new(bill, 1, date, amount)
            attempt.save()
            transaction.commit()
            cls._charge(attempt)

    @classmethod
    def _charge(cls, attempt):
        "Charge attempt's saved method off-session and record the outcome"
        pool = Pool()
        Payment = pool.get('account.payment')
        Bill = pool.get('utility.bill')
        Provider = pool.get('utility.payment.provider')
        transaction = Transaction()
        attempt = cls(attempt.id)
        attempt.lock()
        if attempt.state not in {'pending', 'processing'}:
            return
        payment = attempt.payment
        if not payment or payment.state == 'failed':
            provider = Provider.get(attempt.company)
            bill = attempt.bill
            lines = [l for l in bill.invoice.lines_to_pay
                if not l.reconciliation]
            if not lines:
                # Paid meanwhile by other means: nothing to charge.
                attempt.state = 'failed'
                attempt.error_code = 'paid'
                attempt.save()
                transaction.commit()
                return
            line = lines[0]
            try:
                # Validating the saved method asks Stripe for it: ask
                # before anything is recorded.
                customer = attempt.agreement.autopay_customer
                if customer:
                    customer.payment_methods()
                payment = bill.get_stripe_payment(line, attempt.amount,
                    provider,
                    origin=attempt,
                    reference=attempt.reference,
                    stripe_customer=attempt.agreement.autopay_customer,
                    stripe_customer_payment_method=attempt.payment_method,
                    stripe_idempotency_key=attempt.idempotency_key)
                # Validating the saved method asks Stripe for it.
                payment.save()
                attempt.payment = payment
                attempt.state = 'processing'
                attempt.save()
                Bill.process_payments([payment])
            except GATEWAY_UNAVAILABLE as exception:
                cls._gateway_unavailable(attempt, exception)
                return
            # Commit before calling Stripe: a crash after the charge leaves
            # a payment that the next run charges again with the same key.
            transaction.commit()
        if payment.state == 'processing' and not (
                payment.stripe_payment_intent_id or payment.stripe_charge_id):
            Payment.stripe_charge([payment], off_session=True)
        payment = Payment(payment.id)
        if (payment.state == 'processing'
                and payment.stripe_payment_intent_id):
            # Learn the outcome now instead of waiting for the webhook.
            try:
                intent = payment.stripe_payment_intent
                error = getattr(intent, 'last_payment_error', None)
                if error and not payment.stripe_error_code:
                    payment.stripe_error_code = getattr(error, 'code', None)
                    payment.stripe_error_message = getattr(
                        error, 'message', None)
                    payment.save()
                Payment.stripe_pull([payment])
            except GATEWAY_UNAVAILABLE as exception:
                # The charge is committed: the next run or a webhook
                # learns its outcome.
                transaction.rollback()
                logger.warning("Autopay attempt %s: outcome not read: %s",
                    attempt.id, exception)
                return
            transaction.commit()

    @classmethod
    def _gateway_unavailable(cls, attempt, exception):
        """Undo the payment of attempt and keep it pending with the error.

        Stripe could not be asked: nothing but the attempt is recorded and
        the next run tries again with the same idempotency key.
        """
        transaction = Transaction()
        transaction.rollback()
        attempt = cls(attempt.id)
        attempt.error_message = str(exception)
        attempt.save()
        transaction.commit()
        logger.warning("Autopay attempt %s: Stripe unavailable: %s",
            attempt.id, exception)

    @classmethod
    def _attempts_of(cls, payments):
        return cls.search([
                ('payment', 'in', [p.id for p in payments]),
                ('state', 'in', ['pending', 'processing']),
                ])

    @classmethod
    def payments_succeeded(cls, payments):
        pool = Pool()
        Notification = pool.get('utility.payment.notification')
        attempts = cls._attempts_of(payments)
        for attempt in attempts:
            attempt.state = 'succeeded'
            attempt.next_retry_date = None
        cls.save(attempts)
        Notification.notify([(a, 'autopay_succeeded') for a in attempts])

    @classmethod
    def payments_unknown(cls, payments):
        "Keep the attempts open, with the error, for a retry with their key"
        attempts = cls._attempts_of(payments)
        by_payment = {p.id: p for p in payments}
        for attempt in attempts:
            attempt.state = 'processing'
            attempt.error_message = by_payment[
                attempt.payment.id].stripe_error_message
        cls.save(attempts)

    @classmethod
    def payments_failed(cls, payments):
        pool = Pool()
        Notification = pool.get('utility.payment.notification')
        Provider = pool.get('utility.payment.provider')
        attempts = cls._attempts_of(payments)
        providers = Provider.by_company({a.company.id for a in attempts})
        notices = []
        for attempt in attempts:
            payment = attempt.payment
            declined = bool(payment.stripe_error_code
                or payment.stripe_payment_intent_id
                or payment.stripe_charge_id)
            if not declined:
                # Stripe's answer is unknown (outage, 5xx): the same key is
                # charged again by the next run, never a new one.
                attempt.state = 'pending'
                attempt.error_message = payment.stripe_error_message
                continue
            attempt.state = 'failed'
            attempt.error_code = payment.stripe_error_code or 'failed'
            attempt.error_message = payment.stripe_error_message
            delays = providers[attempt.company.id].retry_delays
            if attempt.number <= len(delays):
                first = attempt.first_date
                attempt.next_retry_date = max(
                    first + dt.timedelta(days=delays[attempt.number - 1]),
                    attempt.date + dt.timedelta(days=1))
                notices.append((attempt, 'autopay_failed'))
            else:
                attempt.next_retry_date = None
                notices.append((attempt, 'autopay_stopped'))
        cls.save(attempts)
        Notification.notify(notices)

    @property
    def first_date(self):
        "Date of the bill's first attempt, where the retry days count from"
        attempts = self.search([
                ('bill', '=', self.bill.id),
                ('number', '=', 1),
                ], limit=1)
        return attempts[0].date if attempts else self.date
