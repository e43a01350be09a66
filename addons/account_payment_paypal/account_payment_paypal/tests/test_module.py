# This file is part of Tryton.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
from decimal import Decimal
from unittest.mock import patch

from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError
from trytond.modules.account_payment.exceptions import ProcessError
from .. import paypal
from ..exceptions import (
    PayPalError, PayPalUnavailableError)
from trytond.modules.company.tests import CompanyTestMixin
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction

from .paypal_server import PayPalServer
from .tools import (
    create_payment, create_receivable_line, paypal_fixture, setup_paypal)

try:
    # This repository's test plugin: the company with its chart is built
    # once per run instead of in each test.
    from utility_metering.tests.activation import activate_fixture
except ImportError:
    activate_fixture = None


class PayPalServerMixin:
    "Start a local PayPal test server for the test case"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = PayPalServer().start()
        cls.addClassCleanup(cls.server.stop)


class AccountPaymentPaypalTestCase(
        PayPalServerMixin, CompanyTestMixin, ModuleTestCase):
    "Test Account Payment PayPal module"
    module = 'account_payment_paypal'

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if activate_fixture:
            activate_fixture(cls, cls.module, paypal_fixture)

    def approve(self, payment, decline=False):
        self.server.approve(payment.paypal_order_id, decline=decline)

    @with_transaction()
    def test_capture_succeeded(self):
        "Create, approve and capture: the payment succeeds and pays the line"
        setup = setup_paypal(self.server)
        line = create_receivable_line(setup, Decimal('12.30'))
        self.assertEqual(line.payment_amount, Decimal('12.30'))
        payment = create_payment(setup, Decimal('12.30'), line=line)
        self.assertEqual(payment.state, 'processing')

        payment.paypal_create_order()
        self.assertTrue(payment.paypal_order_id)
        self.assertEqual(payment.paypal_status, 'PAYER_ACTION_REQUIRED')
        self.assertIn(payment.paypal_order_id, payment.paypal_approval_url)
        order = self.server.orders[payment.paypal_order_id]
        unit, = order['purchase_units']
        self.assertEqual(
            unit['amount'], {'currency_code': 'USD', 'value': '12.30'})
        self.assertEqual(unit['invoice_id'], payment.number)
        self.assertEqual(unit['custom_id'], payment.paypal_idempotency_key)
        self.assertEqual(unit['description'], "INV-0042")
        self.assertEqual(order['intent'], 'CAPTURE')
        self.assertTrue(order['_experience']['return_url'].endswith(
                payment.paypal_checkout_id + '/end'))

        # Not approved yet: the payment waits
        self.assertEqual(payment.paypal_capture_order(), 'processing')
        self.assertFalse(payment.paypal_capture_id)
        self.assertFalse(payment.paypal_error_code)

        self.assertEqual(self.server.count(
                'POST',
                f'/v2/checkout/orders/{payment.paypal_order_id}/capture'), 0)

        self.approve(payment)
        self.assertEqual(payment.paypal_capture_order(), 'succeeded')
        self.assertTrue(payment.paypal_capture_id)
        self.assertEqual(payment.paypal_status, 'COMPLETED')
        self.assertEqual(payment.amount, Decimal('12.30'))
        self.assertEqual(line.payment_amount, Decimal(0))

    @with_transaction()
    def test_capture_declined(self):
        "A declined capture fails the payment with PayPal's code"
        setup = setup_paypal(self.server)
        line = create_receivable_line(setup, Decimal('50'))
        payment = create_payment(setup, Decimal('50'), line=line)
        payment.paypal_create_order()
        self.assertEqual(
            self.server.orders[payment.paypal_order_id]
            ['purchase_units'][0]['amount']['value'], '50.00')
        self.approve(payment, decline=True)

        self.assertEqual(payment.paypal_capture_order(), 'failed')
        self.assertEqual(payment.paypal_error_code, 'INSTRUMENT_DECLINED')
        self.assertTrue(payment.paypal_error_message)
        self.assertFalse(payment.paypal_capture_id)
        # The customer still owes the invoice
        self.assertEqual(line.payment_amount, Decimal('50'))

    @with_transaction()
    def test_idempotent_order_and_capture(self):
        "Retried creation and capture give one order and one capture"
        pool = Pool()
        Payment = pool.get('account.payment')
        setup = setup_paypal(self.server)
        payment = create_payment(setup, Decimal('20'))
        orders = len(self.server.orders)

        payment.paypal_create_order()
        order_id = payment.paypal_order_id
        # A double click whose first answer was lost (not recorded)
        Payment.write([payment], {
                'paypal_order_id': None,
                'paypal_approval_url': None,
                })
        payment = Payment(payment.id)
        payment.paypal_create_order()
        self.assertEqual(payment.paypal_order_id, order_id)
        self.assertEqual(len(self.server.orders), orders + 1)
        # Once recorded, PayPal is not called again
        calls = self.server.count('POST', '/v2/checkout/orders')
        payment.paypal_create_order()
        self.assertEqual(
            self.server.count('POST', '/v2/checkout/orders'), calls)

        self.approve(payment)
        payment.paypal_capture_order()
        capture_id = payment.paypal_capture_id
        Payment.write([payment], {'paypal_capture_id': None})
        Payment.proceed([payment])
        payment = Payment(payment.id)
        self.assertEqual(payment.paypal_capture_order(), 'succeeded')
        self.assertEqual(payment.paypal_capture_id, capture_id)
        captures = [c for c in self.server.captures.values()
            if c['supplementary_data']['related_ids']['order_id']
            == order_id]
        self.assertEqual(len(captures), 1)
        requests_ids = {h.get('Paypal-Request-Id')
            for m, p, h in self.server.requests
            if p == f'/v2/checkout/orders/{order_id}/capture'}
        self.assertEqual(
            requests_ids, {'capture-' + payment.paypal_idempotency_key})

    @with_transaction()
    def test_refund(self):
        "Partial then full refund through the captures refund API"
        pool = Pool()
        Refund = pool.get('account.payment.paypal.refund')
        setup = setup_paypal(self.server)
        line = create_receivable_line(setup, Decimal('30'))
        payment = create_payment(setup, Decimal('30'), line=line)
        payment.paypal_create_order()
        self.approve(payment)
        payment.paypal_capture_order()
        self.assertEqual(payment.state, 'succeeded')

        refund = Refund(payment=payment, amount=Decimal('10'))
        refund.save()
        Refund.submit([refund])
        Refund.approve([refund])
        Refund.paypal_create([refund])
        self.assertEqual(refund.state, 'succeeded')
        self.assertTrue(refund.paypal_refund_id)
        self.assertEqual(refund.paypal_status, 'COMPLETED')
        server_refund = self.server.refunds[refund.paypal_refund_id]
        self.assertEqual(
            server_refund['amount'],
            {'currency_code': 'USD', 'value': '10.00'})
        self.assertEqual(payment.state, 'succeeded')
        self.assertEqual(payment.amount, Decimal('20'))
        self.assertEqual(line.payment_amount, Decimal('10'))

        # Sending it again changes nothing
        Refund.paypal_create([refund])
        self.assertEqual(len([r for r in self.server.refunds.values()
                    if r['invoice_id'] == payment.number]), 1)

        too_much = Refund(payment=payment, amount=Decimal('25'))
        too_much.save()
        Refund.submit([too_much])
        Refund.approve([too_much])
        Refund.paypal_create([too_much])
        self.assertEqual(too_much.state, 'failed')
        self.assertEqual(too_much.paypal_error_code, 'REFUND_AMOUNT_EXCEEDED')
        self.assertEqual(payment.amount, Decimal('20'))

        rest = Refund(payment=payment, amount=Decimal('20'))
        rest.save()
        Refund.submit([rest])
        Refund.approve([rest])
        Refund.paypal_create([rest])
        self.assertEqual(rest.state, 'succeeded')
        self.assertEqual(payment.state, 'failed')
        self.assertEqual(payment.amount, Decimal(0))
        self.assertEqual(line.payment_amount, Decimal('30'))

    @with_transaction()
    def test_outage_order(self):
        "PayPal down at order creation: nothing recorded, still retryable"
        pool = Pool()
        Payment = pool.get('account.payment')
        server = PayPalServer().start()
        setup = setup_paypal(server)
        payment = create_payment(setup, Decimal('15'))
        server.stop()

        with self.assertRaises(PayPalUnavailableError):
            payment.paypal_create_order()
        payment = Payment(payment.id)
        self.assertEqual(payment.state, 'processing')
        self.assertFalse(payment.paypal_order_id)
        self.assertFalse(payment.paypal_error_code)

    @with_transaction()
    def test_outage_capture(self):
        "PayPal down at capture: the payment stays processing to retry"
        pool = Pool()
        Payment = pool.get('account.payment')
        server = PayPalServer().start()
        setup = setup_paypal(server)
        line = create_receivable_line(setup, Decimal('15'))
        payment = create_payment(setup, Decimal('15'), line=line)
        payment.paypal_create_order()
        server.approve(payment.paypal_order_id)
        port = server.port
        server.stop()

        with self.assertRaises(PayPalUnavailableError):
            payment.paypal_capture_order()
        # The cron logs and keeps it for later
        Payment.paypal_capture_([payment])
        payment = Payment(payment.id)
        self.assertEqual(payment.state, 'processing')
        self.assertFalse(payment.paypal_capture_id)
        self.assertFalse(payment.paypal_error_code)
        self.assertEqual(line.payment_amount, Decimal(0))

        # PayPal is back: the same call succeeds
        server.start(port)
        try:
            self.assertEqual(payment.paypal_capture_order(), 'succeeded')
        finally:
            server.stop()

    @with_transaction()
    def test_timeout(self):
        "A PayPal answer slower than the timeout is retryable"
        server = PayPalServer().start()
        setup = setup_paypal(server)
        payment = create_payment(setup, Decimal('15'))
        server.delay = 1
        try:
            with patch.object(paypal, 'TIMEOUT', 0.2), \
                    self.assertRaises(PayPalUnavailableError):
                payment.paypal_create_order()
        finally:
            server.delay = 0
            server.stop()
        self.assertFalse(payment.paypal_order_id)

    @with_transaction()
    def test_bad_credentials(self):
        "Refused credentials are a user error naming the account"
        pool = Pool()
        Account = pool.get('account.payment.paypal.account')
        setup = setup_paypal(self.server)
        payment = create_payment(setup, Decimal('15'))
        Account.write([setup['account']], {'client_secret': 'wrong'})

        with self.assertRaisesRegex(PayPalError, 'PayPal'):
            payment.paypal_create_order()
        self.assertFalse(payment.paypal_order_id)

    @with_transaction()
    def test_misconfiguration(self):
        "Currency, precision and base URL checks"
        pool = Pool()
        Account = pool.get('account.payment.paypal.account')
        Currency = pool.get('currency.currency')
        setup = setup_paypal(self.server)

        payment = create_payment(setup, Decimal('15'), process=False)
        currency = setup['company'].currency
        Currency.write([currency], {'code': 'XXX'})
        with self.assertRaisesRegex(ProcessError, 'XXX'):
            payment.paypal_create_order()

        Currency.write([currency], {'code': 'HUF'})
        payment.amount = Decimal('15.50')
        with self.assertRaisesRegex(ProcessError, 'decimals'):
            payment.paypal_amount

        with self.assertRaises(ValidationError):
            Account.write([setup['account']], {
                    'base_url': 'https://evil.example.com'})

    @with_transaction()
    def test_payable_refused(self):
        "PayPal journals only collect"
        pool = Pool()
        Payment = pool.get('account.payment')
        setup = setup_paypal(self.server)
        with self.assertRaises(UserError):
            Payment.create([{
                        'company': setup['company'].id,
                        'journal': setup['journal'].id,
                        'kind': 'payable',
                        'party': setup['customer'].id,
                        'amount': Decimal(10),
                        }])

    @with_transaction()
    def test_copy_resets_paypal(self):
        "A copied payment gets its own key and no PayPal ids"
        pool = Pool()
        Payment = pool.get('account.payment')
        setup = setup_paypal(self.server)
        payment = create_payment(setup, Decimal('15'))
        payment.paypal_create_order()
        copy, = Payment.copy([payment])
        self.assertFalse(copy.paypal_order_id)
        self.assertTrue(copy.paypal_idempotency_key)
        self.assertNotEqual(
            copy.paypal_idempotency_key, payment.paypal_idempotency_key)


del ModuleTestCase
