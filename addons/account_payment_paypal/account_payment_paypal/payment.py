# This file is part of Tryton.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
import logging
import urllib.parse
import uuid
from decimal import Decimal

from paypalserversdk.models.amount_with_breakdown import AmountWithBreakdown
from paypalserversdk.models.money import Money
from paypalserversdk.models.order_request import OrderRequest
from paypalserversdk.models.payment_source import PaymentSource
from paypalserversdk.models.paypal_wallet import PaypalWallet
from paypalserversdk.models.paypal_wallet_experience_context import (
    PaypalWalletExperienceContext)
from paypalserversdk.models.purchase_unit_request import PurchaseUnitRequest
from paypalserversdk.models.refund_request import RefundRequest

from trytond.i18n import gettext
from trytond.model import (
    Index, ModelSQL, ModelView, Unique, Workflow, fields)
from trytond.modules.account_payment.exceptions import (
    PaymentValidationError, ProcessError)
from trytond.modules.company.model import (
    employee_field, reset_employee, set_employee)
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction, TransactionError
from trytond.url import http_host

from . import paypal
from .secret import EncryptedSecretsMixin
from .exceptions import (
    PayPalAccountValidationError, PayPalError, PayPalUnavailableError)

logger = logging.getLogger(__name__)

# Currencies PayPal's REST API accepts, with the decimals it allows
# (https://developer.paypal.com/reference/currency-codes/)
CURRENCIES = {
    'AUD': 2, 'BRL': 2, 'CAD': 2, 'CHF': 2, 'CNY': 2, 'CZK': 2, 'DKK': 2,
    'EUR': 2, 'GBP': 2, 'HKD': 2, 'HUF': 0, 'ILS': 2, 'JPY': 0, 'MXN': 2,
    'MYR': 2, 'NOK': 2, 'NZD': 2, 'PHP': 2, 'PLN': 2, 'SEK': 2, 'SGD': 2,
    'THB': 2, 'TWD': 0, 'USD': 2,
    }
# Capture errors that only say the buyer has not approved the order yet
WAITING_ISSUES = {'ORDER_NOT_APPROVED', 'PAYER_ACTION_REQUIRED'}
# Order errors after which the same order can never be paid
DEAD_ORDER_ISSUES = {'INVALID_RESOURCE_ID', 'ORDER_EXPIRED'}


def _raise_configuration(account, exception):
    "Turn a refused authentication into a user error naming the account"
    raise PayPalError(gettext(
            'account_payment_paypal.msg_paypal_authentication',
            account=account.rec_name)) from exception


def _is_authentication(exception):
    return (isinstance(exception, paypal.AuthValidationException)
        or (isinstance(exception, paypal.ApiException)
            and exception.response_code in {401, 403}))


class Journal(metaclass=PoolMeta):
    __name__ = 'account.payment.journal'

    paypal_account = fields.Many2One(
        'account.payment.paypal.account', "Account", ondelete='RESTRICT',
        domain=[
            ('company', '=', Eval('company', -1)),
            ],
        states={
            'required': Eval('process_method') == 'paypal',
            'invisible': Eval('process_method') != 'paypal',
            })

    @classmethod
    def __setup__(cls):
        super().__setup__()
        paypal_method = ('paypal', "PayPal")
        if paypal_method not in cls.process_method.selection:
            cls.process_method.selection.append(paypal_method)


class Group(metaclass=PoolMeta):
    __name__ = 'account.payment.group'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # PayPal tells whether a payment succeeded
        cls._buttons['succeed']['invisible'] |= (
            Eval('process_method') == 'paypal')


class Payment(metaclass=PoolMeta):
    __name__ = 'account.payment'

    paypal_account = fields.Function(fields.Many2One(
            'account.payment.paypal.account', "PayPal Account"),
        'on_change_with_paypal_account')
    paypal_checkout_id = fields.Char(
        "PayPal Checkout ID", readonly=True, strip=False,
        states={
            'invisible': Eval('process_method') != 'paypal',
            })
    paypal_idempotency_key = fields.Char(
        "PayPal Idempotency Key", readonly=True, strip=False,
        states={
            'invisible': Eval('process_method') != 'paypal',
            },
        help="Sent as PayPal-Request-Id so a retried call "
        "never creates a second order, capture or refund.")
    paypal_order_id = fields.Char(
        "PayPal Order ID", readonly=True, strip=False,
        states={
            'invisible': ~Eval('paypal_order_id'),
            })
    paypal_approval_url = fields.Char(
        "PayPal Approval URL", readonly=True, strip=False,
        states={
            'invisible': ~Eval('paypal_approval_url'),
            })
    paypal_capture_id = fields.Char(
        "PayPal Capture ID", readonly=True, strip=False,
        states={
            'invisible': ~Eval('paypal_capture_id'),
            })
    paypal_status = fields.Char(
        "PayPal Status", readonly=True,
        states={
            'invisible': ~Eval('paypal_status'),
            })
    paypal_error_code = fields.Char(
        "PayPal Error Code", readonly=True,
        states={
            'invisible': (
                ~Eval('paypal_error_code')
                | (Eval('state') == 'succeeded')),
            })
    paypal_error_message = fields.Char(
        "PayPal Error Message", readonly=True,
        states={
            'invisible': (
                ~Eval('paypal_error_message')
                | (Eval('state') == 'succeeded')),
            })
    paypal_refunds = fields.One2Many(
        'account.payment.paypal.refund', 'payment', "PayPal Refunds",
        states={
            'invisible': ((Eval('process_method') != 'paypal')
                | ~Eval('paypal_capture_id')),
            })

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.paypal_checkout_id, Index.Equality())),
                Index(t, (t.paypal_order_id, Index.Equality())),
                Index(t, (t.paypal_capture_id, Index.Equality())),
                })
        cls._buttons.update({
                'paypal_checkout': {
                    'invisible': ((Eval('process_method') != 'paypal')
                        | ~Eval('state', 'draft').in_(
                            ['submitted', 'approved', 'processing'])
                        | Eval('paypal_capture_id')),
                    'depends': [
                        'process_method', 'state', 'paypal_capture_id'],
                    },
                'paypal_do_capture': {
                    'invisible': ((Eval('process_method') != 'paypal')
                        | (Eval('state', 'draft') != 'processing')
                        | ~Eval('paypal_order_id')
                        | Eval('paypal_capture_id')),
                    'depends': [
                        'process_method', 'state', 'paypal_order_id',
                        'paypal_capture_id'],
                    },
                })

    @classmethod
    def default_paypal_idempotency_key(cls):
        return uuid.uuid4().hex

    @fields.depends('journal')
    def on_change_with_paypal_account(self, name=None):
        if self.journal and self.journal.process_method == 'paypal':
            return self.journal.paypal_account

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('//page[@id="paypal"]', 'states', {
                    'invisible': Eval('process_method') != 'paypal',
                    }),
            ]

    @classmethod
    def validate_fields(cls, payments, field_names):
        super().validate_fields(payments, field_names)
        cls.check_paypal_journal(payments, field_names)

    @classmethod
    def check_paypal_journal(cls, payments, field_names=None):
        if field_names and not (field_names & {'kind', 'journal'}):
            return
        for payment in payments:
            if (payment.kind != 'receivable'
                    and payment.journal.process_method == 'paypal'):
                raise PaymentValidationError(
                    gettext('account_payment_paypal.msg_paypal_receivable',
                        journal=payment.journal.rec_name,
                        payment=payment.rec_name))

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if mode == 'create' and not values.get('paypal_idempotency_key'):
            # default methods are called once for all the records
            values['paypal_idempotency_key'] = (
                cls.default_paypal_idempotency_key())
        return values

    @classmethod
    def copy(cls, payments, default=None):
        default = default.copy() if default is not None else {}
        for fname in [
                'paypal_checkout_id', 'paypal_idempotency_key',
                'paypal_order_id', 'paypal_approval_url',
                'paypal_capture_id', 'paypal_status', 'paypal_error_code',
                'paypal_error_message']:
            default.setdefault(fname, None)
        default.setdefault('paypal_refunds', None)
        return super().copy(payments, default=default)

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    def draft(cls, payments):
        super().draft(payments)
        # A new order is needed (the amount may change)
        for payment in payments:
            if payment.paypal_order_id and not payment.paypal_capture_id:
                payment.paypal_order_id = None
                payment.paypal_approval_url = None
                payment.paypal_status = None
                payment.paypal_idempotency_key = (
                    cls.default_paypal_idempotency_key())
        cls.save(payments)

    def process_paypal(self):
        "The buyer pays through the checkout URL; nothing to call yet"
        assert self.process_method == 'paypal'
        self._paypal_check_configuration()
        if not self.paypal_checkout_id:
            self.paypal_checkout_id = uuid.uuid4().hex
        self.save()

    @classmethod
    @ModelView.button_action('account_payment_paypal.url_checkout')
    def paypal_checkout(cls, payments):
        for payment in payments:
            payment._paypal_check_configuration()
            if not payment.paypal_checkout_id:
                payment.paypal_checkout_id = uuid.uuid4().hex
                payment.save()
            return {
                'url': payment.paypal_checkout_url,
                }

    @property
    def paypal_checkout_url(self):
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        URL = pool.get('ir.action.url')
        action = URL(ModelData.get_id('account_payment_paypal.url_checkout'))
        return action.url % {
            'http_host': http_host(),
            'database': urllib.parse.quote(
                Transaction().database.name, safe=''),
            'model': self.__class__.__name__,
            'id': self.paypal_checkout_id,
            }

    def _paypal_check_configuration(self):
        account = self.journal.paypal_account
        if not account:
            raise ProcessError(gettext(
                    'account_payment_paypal.msg_paypal_no_account',
                    journal=self.journal.rec_name,
                    payment=self.rec_name))
        if not account.client_id or not account.client_secret:
            raise ProcessError(gettext(
                    'account_payment_paypal.msg_paypal_no_credentials',
                    account=account.rec_name,
                    payment=self.rec_name))
        if self.currency.code not in CURRENCIES:
            raise ProcessError(gettext(
                    'account_payment_paypal.msg_paypal_currency',
                    currency=self.currency.code,
                    payment=self.rec_name))
        self.paypal_amount  # check precision

    @property
    def paypal_amount(self):
        "The amount as PayPal's exact decimal string"
        digits = CURRENCIES.get(self.currency.code, self.currency.digits)
        exp = Decimal(1).scaleb(-digits)
        amount = self.amount.quantize(exp)
        if amount != self.amount:
            raise ProcessError(gettext(
                    'account_payment_paypal.msg_paypal_amount_precision',
                    payment=self.rec_name,
                    amount=self.amount,
                    currency=self.currency.code,
                    digits=digits))
        return str(amount)

    def _paypal_order_request(self):
        checkout_url = self.paypal_checkout_url
        unit = PurchaseUnitRequest(
            amount=AmountWithBreakdown(
                currency_code=self.currency.code,
                value=self.paypal_amount),
            reference_id=self.paypal_idempotency_key,
            # Links PayPal's captures and webhooks back to the payment
            custom_id=self.paypal_idempotency_key,
            invoice_id=self.number[:127],
            description=(self.reference_used or self.number)[:127])
        experience = PaypalWalletExperienceContext(
            return_url=checkout_url + '/end',
            cancel_url=checkout_url + '/cancel',
            user_action='PAY_NOW',
            shipping_preference='NO_SHIPPING')
        if self.company.party.name:
            experience.brand_name = self.company.party.name[:127]
        return OrderRequest(
            intent='CAPTURE',
            purchase_units=[unit],
            payment_source=PaymentSource(
                paypal=PaypalWallet(experience_context=experience)))

    def paypal_create_order(self):
        """Create the PayPal order once and store its approval URL

        Retrying is safe: PayPal answers the same PayPal-Request-Id with the
        same order.
        """
        assert self.process_method == 'paypal'
        self.lock()
        if self.paypal_order_id:
            return
        self._paypal_check_configuration()
        if not self.paypal_checkout_id:
            self.paypal_checkout_id = uuid.uuid4().hex
        account = self.journal.paypal_account
        try:
            response = paypal.client(account).orders.create_order({
                    'body': self._paypal_order_request(),
                    'paypal_request_id': (
                        'order-%s' % self.paypal_idempotency_key),
                    'prefer': 'return=representation',
                    })
        except Exception as exception:
            self._paypal_raise(exception)
            self._paypal_failed(exception)
            return
        order = response.body
        self.paypal_order_id = order.id
        self.paypal_status = order.status
        self.paypal_approval_url = (
            paypal.link(order, 'payer-action')
            or paypal.link(order, 'approve'))
        self.save()

    def _paypal_raise(self, exception):
        "Raise for errors that must leave nothing recorded"
        account = self.journal.paypal_account
        if paypal.is_retryable(exception):
            logger.warning(
                "PayPal unavailable for payment %d: %s", self.id, exception)
            raise PayPalUnavailableError(gettext(
                    'account_payment_paypal.msg_paypal_unavailable',
                    payment=self.rec_name)) from exception
        if _is_authentication(exception):
            _raise_configuration(account, exception)
        if not isinstance(exception, paypal.ApiException):
            raise exception

    def _paypal_failed(self, exception):
        "Record PayPal's refusal and fail the payment"
        self.paypal_error_code = paypal.error_code(exception)
        self.paypal_error_message = paypal.error_message(exception)
        self.save()
        logger.info(
            "PayPal refused payment %d: %s", self.id, self.paypal_error_code)
        if self.state in {'processing', 'succeeded'}:
            self.__class__.fail([self])

    def paypal_capture_order(self):
        """Capture the approved order of the payment

        Returns the payment state. Retrying is safe: the capture uses the
        same PayPal-Request-Id. The order is read first so the capture is
        only requested once the buyer approved (PayPal may replay a refusal
        for the same PayPal-Request-Id).
        """
        assert self.process_method == 'paypal'
        self.lock()
        if (self.paypal_capture_id
                or not self.paypal_order_id
                or self.state != 'processing'):
            return self.state
        order = self._paypal_get_order()
        if not order:
            return self.state
        if order.status != 'APPROVED':
            # COMPLETED elsewhere (webhook, other worker) or still waiting
            self._paypal_update_order(order)
            return self.state
        account = self.journal.paypal_account
        try:
            response = paypal.client(account).orders.capture_order({
                    'id': self.paypal_order_id,
                    'paypal_request_id': (
                        'capture-%s' % self.paypal_idempotency_key),
                    'prefer': 'return=representation',
                    })
        except Exception as exception:
            self._paypal_raise(exception)
            code = paypal.error_code(exception)
            if code in WAITING_ISSUES:
                return self.state
            if code == 'ORDER_ALREADY_CAPTURED':
                return self.paypal_pull_order()
            self.paypal_status = 'DECLINED'
            self._paypal_failed(exception)
            return self.state
        self._paypal_update_order(response.body)
        return self.state

    def _paypal_get_order(self):
        account = self.journal.paypal_account
        try:
            return paypal.client(account).orders.get_order({
                    'id': self.paypal_order_id,
                    }).body
        except Exception as exception:
            self._paypal_raise(exception)
            if paypal.error_code(exception) in DEAD_ORDER_ISSUES:
                # expired or unknown: this order can never be paid
                self._paypal_failed(exception)

    def paypal_pull_order(self):
        "Update the payment from its PayPal order"
        order = self._paypal_get_order()
        if order:
            self._paypal_update_order(order)
        return self.state

    def _paypal_update_order(self, order):
        self.paypal_status = order.status
        captures = []
        for unit in order.purchase_units or []:
            payments = getattr(unit, 'payments', None)
            captures.extend(getattr(payments, 'captures', None) or [])
        if captures:
            self._paypal_update_capture(captures[0])
        else:
            self.save()
            if order.status == 'VOIDED' and self.state == 'processing':
                self.__class__.fail([self])

    def _paypal_update_capture(self, capture):
        "Apply a capture (API answer or webhook resource) to the payment"
        pool = Pool()
        Payment = pool.get('account.payment')
        capture_id = _get(capture, 'id')
        status = _get(capture, 'status')
        amount = _get(capture, 'amount')
        self.paypal_capture_id = capture_id
        self.paypal_status = status
        if status == 'COMPLETED':
            value = Decimal(_get(amount, 'value'))
            currency = _get(amount, 'currency_code')
            if currency != self.currency.code or value != self.amount:
                # Never book an amount PayPal did not capture
                logger.error(
                    "PayPal capture %s of %s %s for payment %d of %s %s",
                    capture_id, value, currency, self.id, self.amount,
                    self.currency.code)
                self.paypal_error_code = 'AMOUNT_MISMATCH'
                self.save()
                return
            self.paypal_error_code = None
            self.paypal_error_message = None
            self.save()
            if self.state != 'succeeded':
                Payment.succeed([self])
        elif status in {'DECLINED', 'FAILED'}:
            details = _get(capture, 'status_details') or {}
            self.paypal_error_code = _get(details, 'reason') or status
            self.save()
            if self.state != 'failed':
                Payment.fail([self])
        else:
            # PENDING: PayPal sends PAYMENT.CAPTURE.COMPLETED or DENIED later
            self.save()

    @classmethod
    @ModelView.button
    def paypal_do_capture(cls, payments):
        for payment in payments:
            payment.paypal_capture_order()

    @classmethod
    def paypal_capture_(cls, payments=None):
        """Capture the approved orders whose buyer did not come back

        The transaction is committed after each payment.
        """
        transaction = Transaction()
        commit = payments is None
        if payments is None:
            payments = cls.search([
                    ('state', '=', 'processing'),
                    ('journal.process_method', '=', 'paypal'),
                    ('paypal_order_id', '!=', None),
                    ('paypal_capture_id', '=', None),
                    ('company', '=', transaction.context.get('company')),
                    ])
        for payment in payments:
            # Clear the cache after a commit
            payment = cls(payment.id)
            try:
                payment.paypal_capture_order()
            except PayPalUnavailableError:
                # raised before anything is written: retried next time
                continue
            except TransactionError:
                # restarts the transaction with the locks it needs
                raise
            except Exception:
                if not commit:
                    raise
                # Nothing half-done of this payment may be committed
                transaction.rollback()
                logger.error(
                    "PayPal capture of payment %d failed", payment.id,
                    exc_info=True)
                continue
            if commit:
                transaction.commit()

    def _paypal_refunded(self, amount):
        "Reduce the payment by a refunded amount"
        pool = Pool()
        Payment = pool.get('account.payment')
        if self.state == 'succeeded':
            Payment.proceed([self])
        self.amount = max(self.amount - amount, Decimal(0))
        self.save()
        if self.amount:
            Payment.succeed([self])
        else:
            Payment.fail([self])


def _get(resource, name):
    "Read a field of an SDK model or of a webhook's JSON resource"
    if isinstance(resource, dict):
        return resource.get(name)
    return getattr(resource, name, None)


class Refund(Workflow, ModelSQL, ModelView):
    __name__ = 'account.payment.paypal.refund'

    payment = fields.Many2One(
        'account.payment', "Payment", required=True,
        domain=[
            ('process_method', '=', 'paypal'),
            ('paypal_capture_id', '!=', None),
            ],
        states={
            'readonly': Eval('state') != 'draft',
            })
    amount = Monetary(
        "Amount", currency='currency', digits='currency', required=True,
        domain=[('amount', '>', 0)],
        states={
            'readonly': Eval('state') != 'draft',
            })
    note_to_payer = fields.Char(
        "Note to Payer",
        states={
            'readonly': Eval('state') != 'draft',
            })
    submitted_by = employee_field(
        "Submitted by",
        states=['submitted', 'approved', 'processing', 'succeeded', 'failed'])
    approved_by = employee_field(
        "Approved by",
        states=['approved', 'processing', 'succeeded', 'failed'])
    state = fields.Selection([
            ('draft', "Draft"),
            ('submitted', "Submitted"),
            ('approved', "Approved"),
            ('processing', "Processing"),
            ('succeeded', "Succeeded"),
            ('failed', "Failed"),
            ], "State", readonly=True, sort=False)
    paypal_idempotency_key = fields.Char(
        "PayPal Idempotency Key", readonly=True, strip=False)
    paypal_refund_id = fields.Char(
        "PayPal Refund ID", readonly=True, strip=False)
    paypal_status = fields.Char("PayPal Status", readonly=True)
    paypal_error_code = fields.Char(
        "PayPal Error Code", readonly=True,
        states={
            'invisible': ~Eval('paypal_error_code'),
            })
    paypal_error_message = fields.Char(
        "PayPal Error Message", readonly=True,
        states={
            'invisible': ~Eval('paypal_error_message'),
            })
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"),
        'on_change_with_currency')
    company = fields.Function(
        fields.Many2One('company.company', "Company"),
        'on_change_with_company', searcher='search_company')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('paypal_refund_id_unique', Unique(t, t.paypal_refund_id),
                'account_payment_paypal.msg_paypal_refund_id_unique'),
            ]
        cls._sql_indexes.add(
            Index(
                t,
                (t.state, Index.Equality(cardinality='low')),
                where=t.state.in_([
                        'draft', 'submitted', 'approved', 'processing'])))
        cls.__access__.add('payment')
        cls._transitions |= {
            ('draft', 'submitted'),
            ('submitted', 'approved'),
            ('approved', 'processing'),
            ('processing', 'succeeded'),
            ('processing', 'failed'),
            ('submitted', 'draft'),
            ('approved', 'draft'),
            }
        cls._buttons.update({
                'draft': {
                    'invisible': ~Eval('state').in_(['approved', 'submitted']),
                    'icon': 'tryton-back',
                    'depends': ['state'],
                    },
                'submit': {
                    'invisible': Eval('state') != 'draft',
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                'approve': {
                    'invisible': Eval('state') != 'submitted',
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'draft'

    @classmethod
    def default_paypal_idempotency_key(cls):
        return uuid.uuid4().hex

    @fields.depends('payment', '_parent_payment.currency')
    def on_change_with_currency(self, name=None):
        return self.payment.currency if self.payment else None

    @fields.depends('payment', '_parent_payment.company')
    def on_change_with_company(self, name=None):
        return self.payment.company if self.payment else None

    @classmethod
    def search_company(cls, name, clause):
        return [('payment.' + clause[0], *clause[1:])]

    def get_rec_name(self, name):
        return self.payment.rec_name

    @classmethod
    def search_rec_name(cls, name, clause):
        return [('payment.rec_name', *clause[1:])]

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if mode == 'create' and not values.get('paypal_idempotency_key'):
            values['paypal_idempotency_key'] = (
                cls.default_paypal_idempotency_key())
        return values

    @classmethod
    def copy(cls, refunds, default=None):
        default = default.copy() if default is not None else {}
        for fname in [
                'paypal_idempotency_key', 'paypal_refund_id',
                'paypal_status', 'paypal_error_code', 'paypal_error_message']:
            default.setdefault(fname, None)
        return super().copy(refunds, default=default)

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    @reset_employee('submitted_by', 'approved_by')
    def draft(cls, refunds):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('submitted')
    @set_employee('submitted_by')
    def submit(cls, refunds):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('approved')
    @set_employee('approved_by')
    def approve(cls, refunds):
        # Sent to PayPal after commit, once approval is final
        cls.__queue__.paypal_create(refunds)

    @classmethod
    @Workflow.transition('processing')
    def process(cls, refunds):
        pass

    @classmethod
    @Workflow.transition('succeeded')
    def succeed(cls, refunds):
        # Only refunds entering the state: replays change nothing
        for refund in refunds:
            refund.payment._paypal_refunded(refund.amount)

    @classmethod
    @Workflow.transition('failed')
    def fail(cls, refunds):
        pass

    @property
    def paypal_amount(self):
        digits = CURRENCIES.get(self.currency.code, self.currency.digits)
        return str(self.amount.quantize(Decimal(1).scaleb(-digits)))

    @classmethod
    def paypal_create(cls, refunds=None):
        """Send the approved refunds to PayPal

        The transaction is committed after each refund when run by the cron
        (refunds is None).
        """
        transaction = Transaction()
        commit = refunds is None
        if refunds is None:
            refunds = cls.search([
                    ('state', '=', 'approved'),
                    ('company', '=', transaction.context.get('company')),
                    ])
        for refund in refunds:
            refund = cls(refund.id)
            try:
                refund._paypal_create()
            except PayPalUnavailableError:
                # raised before anything is written: retried next time
                logger.warning("PayPal refund %d postponed", refund.id)
                continue
            except TransactionError:
                raise
            except Exception:
                if not commit:
                    raise
                transaction.rollback()
                logger.error(
                    "PayPal refund %d failed", refund.id, exc_info=True)
                continue
            if commit:
                transaction.commit()

    def _paypal_create(self):
        self.lock()
        if self.paypal_refund_id or self.state != 'approved':
            return
        payment = self.payment
        account = payment.journal.paypal_account
        try:
            payments = paypal.client(account).payments
            response = payments.refund_captured_payment({
                    'capture_id': payment.paypal_capture_id,
                    'paypal_request_id': (
                        'refund-%s' % self.paypal_idempotency_key),
                    'prefer': 'return=representation',
                    'body': self._paypal_refund_request(),
                    })
        except Exception as exception:
            if paypal.is_retryable(exception):
                raise PayPalUnavailableError(gettext(
                        'account_payment_paypal.msg_paypal_unavailable',
                        payment=payment.rec_name)) from exception
            if _is_authentication(exception):
                _raise_configuration(account, exception)
            if not isinstance(exception, paypal.ApiException):
                raise
            self.paypal_error_code = paypal.error_code(exception)
            self.paypal_error_message = paypal.error_message(exception)
            self.save()
            self.__class__.process([self])
            self.__class__.fail([self])
            return
        self._paypal_update(response.body)

    def _paypal_refund_request(self):
        request = RefundRequest(
            amount=Money(
                currency_code=self.currency.code,
                value=self.paypal_amount),
            invoice_id=self.payment.number[:127])
        if self.note_to_payer:
            request.note_to_payer = self.note_to_payer[:255]
        return request

    def _paypal_update(self, refund):
        "Apply a refund (API answer or webhook resource)"
        cls = self.__class__
        self.paypal_refund_id = _get(refund, 'id')
        self.paypal_status = status = _get(refund, 'status')
        self.save()
        if self.state in {'draft', 'submitted', 'approved'}:
            cls.process([self])
        if status == 'COMPLETED':
            cls.succeed([self])
        elif status in {'FAILED', 'CANCELLED'}:
            details = _get(refund, 'status_details') or {}
            self.paypal_error_code = _get(details, 'reason') or status
            self.save()
            cls.fail([self])


class Account(EncryptedSecretsMixin, ModelSQL, ModelView):
    __name__ = 'account.payment.paypal.account'
    # Encrypted at rest, masked to clients (issue 8)
    _secret_fields = ('client_secret', 'webhook_id')

    name = fields.Char("Name", required=True)
    company = fields.Many2One('company.company', "Company", required=True)
    client_id = fields.Char("Client ID", required=True, strip=False)
    client_secret = fields.Char("Client Secret", required=True, strip=False)
    environment = fields.Selection([
            ('sandbox', "Sandbox"),
            ('live', "Live"),
            ], "Environment", required=True)
    base_url = fields.Char(
        "Base URL", strip=False,
        help="Only for tests: the URL of a local PayPal test server.\n"
        "Leave empty to use PayPal's sandbox or live API.")
    webhook_id = fields.Char(
        "Webhook ID", strip=False,
        help="The ID PayPal gave to the webhook "
        "to verify the events it sends.")
    webhook_identifier = fields.Char(
        "Webhook Identifier", readonly=True, strip=False)
    webhook_endpoint = fields.Function(
        fields.Char(
            "Webhook Endpoint",
            help="The URL to register as webhook at PayPal."),
        'on_change_with_webhook_endpoint')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('webhook_identifier_unique', Unique(t, t.webhook_identifier),
                'account_payment_paypal.msg_paypal_webhook_identifier_unique'),
            ]
        cls._buttons.update({
                'new_identifier': {
                    'icon': 'tryton-refresh',
                    },
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_environment(cls):
        return 'sandbox'

    @fields.depends('webhook_identifier')
    def on_change_with_webhook_endpoint(self, name=None):
        if not self.webhook_identifier:
            return ''
        url_part = {
            'identifier': self.webhook_identifier,
            'database_name': Transaction().database.name,
            }
        return http_host() + (
            urllib.parse.quote(
                '/%(database_name)s/account_payment_paypal'
                '/webhook/%(identifier)s'
                % url_part))

    @classmethod
    def validate_fields(cls, accounts, field_names):
        super().validate_fields(accounts, field_names)
        cls.check_base_url(accounts, field_names)

    @classmethod
    def check_base_url(cls, accounts, field_names=None):
        if field_names and 'base_url' not in field_names:
            return
        for account in accounts:
            if (account.base_url
                    and paypal.url_host(account.base_url)
                    not in paypal.LOOPBACK_HOSTS):
                # The credentials must only go to PayPal or a local server
                raise PayPalAccountValidationError(gettext(
                        'account_payment_paypal.msg_paypal_base_url',
                        account=account.rec_name,
                        url=account.base_url))

    @classmethod
    @ModelView.button
    def new_identifier(cls, accounts):
        for account in accounts:
            if account.webhook_identifier:
                account.webhook_identifier = None
            else:
                account.webhook_identifier = uuid.uuid4().hex
        cls.save(accounts)

    @classmethod
    def copy(cls, accounts, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('webhook_identifier', None)
        return super().copy(accounts, default=default)

    def webhook(self, event):
        """Handle a verified PayPal webhook event

        The return values are:
            - None if the event type is not handled
            - True if the event has been handled
            - False if PayPal should send it again (payment not found yet)
        """
        event_type = event.get('event_type')
        resource = event.get('resource') or {}
        if event_type == 'PAYMENT.CAPTURE.COMPLETED':
            return self.webhook_capture_completed(resource)
        elif event_type in {
                'PAYMENT.CAPTURE.DENIED', 'PAYMENT.CAPTURE.DECLINED'}:
            return self.webhook_capture_denied(resource)
        elif event_type == 'PAYMENT.CAPTURE.PENDING':
            return self.webhook_capture_pending(resource)
        elif event_type == 'PAYMENT.CAPTURE.REFUNDED':
            return self.webhook_capture_refunded(resource)
        return None

    def _webhook_payment(self, capture):
        "The payment of the capture resource"
        pool = Pool()
        Payment = pool.get('account.payment')
        domain = [('paypal_capture_id', '=', capture.get('id'))]
        related = (capture.get('supplementary_data') or {}).get(
            'related_ids') or {}
        if related.get('order_id'):
            domain = ['OR', domain,
                ('paypal_order_id', '=', related['order_id'])]
        if capture.get('custom_id'):
            domain = ['OR', domain,
                ('paypal_idempotency_key', '=', capture['custom_id'])]
        payments = Payment.search([
                domain,
                ('journal.paypal_account', '=', self.id),
                ])
        if payments:
            payment, = payments
            payment.lock()
            return Payment(payment.id)

    def webhook_capture_completed(self, capture):
        payment = self._webhook_payment(capture)
        if not payment:
            logger.error(
                "PAYMENT.CAPTURE.COMPLETED: No payment '%s'",
                capture.get('id'))
            return False
        if payment.state in {'processing', 'failed'}:
            payment._paypal_update_capture(capture)
        return True

    def webhook_capture_denied(self, capture):
        payment = self._webhook_payment(capture)
        if not payment:
            logger.error(
                "PAYMENT.CAPTURE.DENIED: No payment '%s'", capture.get('id'))
            return False
        if payment.state in {'processing', 'succeeded'}:
            capture = dict(capture, status='DECLINED')
            payment._paypal_update_capture(capture)
        return True

    def webhook_capture_pending(self, capture):
        payment = self._webhook_payment(capture)
        if not payment:
            return False
        if payment.state == 'processing':
            payment._paypal_update_capture(capture)
        return True

    def webhook_capture_refunded(self, refund):
        pool = Pool()
        Payment = pool.get('account.payment')
        Refund = pool.get('account.payment.paypal.refund')
        capture_id = None
        for link in refund.get('links') or []:
            if link.get('rel') == 'up':
                capture_id = link['href'].rstrip('/').rsplit('/', 1)[-1]
        payments = Payment.search([
                ('paypal_capture_id', '=', capture_id),
                ('journal.paypal_account', '=', self.id),
                ]) if capture_id else []
        if not payments:
            logger.error(
                "PAYMENT.CAPTURE.REFUNDED: No payment for refund '%s'",
                refund.get('id'))
            return False
        payment, = payments
        payment.lock()
        refunds = Refund.search([
                ('paypal_refund_id', '=', refund.get('id')),
                ])
        if refunds:
            record, = refunds
        else:
            # Refunded from PayPal's dashboard
            amount = refund.get('amount') or {}
            if amount.get('currency_code') != payment.currency.code:
                logger.error(
                    "PAYMENT.CAPTURE.REFUNDED: refund '%s' in %s "
                    "for payment %d", refund.get('id'),
                    amount.get('currency_code'), payment.id)
                return True
            record = Refund(
                payment=payment,
                amount=Decimal(amount['value']),
                note_to_payer=refund.get('note_to_payer'),
                state='processing')
            record.save()
        if record.state not in {'succeeded', 'failed'}:
            record._paypal_update(refund)
        return True


class Event(ModelSQL, ModelView):
    "A PayPal webhook event already processed: a replay is a no-op"
    __name__ = 'account.payment.paypal.event'
    _rec_name = 'event_id'

    account = fields.Many2One(
        'account.payment.paypal.account', "Account", required=True,
        ondelete='CASCADE', readonly=True)
    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True)
    event_id = fields.Char("Event ID", required=True, readonly=True)
    event_type = fields.Char("Event Type", readonly=True)
    resource_id = fields.Char("Resource ID", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('account_event_unique', Unique(t, t.account, t.event_id),
                'account_payment_paypal.msg_paypal_event_unique'),
            ]
        cls._order.insert(0, ('create_date', 'DESC'))

    @classmethod
    def processed(cls, account, event_id):
        return bool(cls.search([
                    ('account', '=', account.id),
                    ('event_id', '=', event_id),
                    ], limit=1))

    @classmethod
    def record(cls, account, event):
        resource = event.get('resource') or {}
        cls.create([{
                    'account': account.id,
                    'company': account.company.id,
                    'event_id': event['id'],
                    'event_type': event.get('event_type'),
                    'resource_id': resource.get('id'),
                    }])
