# This file is part of Tryton.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
import json
from decimal import Decimal
from urllib.parse import urlsplit

from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, RouteTestCase
from trytond.transaction import Transaction, TransactionError

from .paypal_server import PayPalServer
from .tools import create_payment, create_receivable_line, setup_paypal


class AccountPaymentPaypalRouteTestCase(RouteTestCase):
    "Test Account Payment PayPal routes"
    module = 'account_payment_paypal'

    company_id = None

    @classmethod
    def setUpClass(cls):
        cls.server = PayPalServer().start()
        cls.addClassCleanup(cls.server.stop)
        super().setUpClass()

        def setup():
            setup = setup_paypal(cls.server)
            return setup['company'].id, setup['account'].webhook_identifier
        cls.company_id, cls.identifier = cls.in_transaction(setup)

    @classmethod
    def in_transaction(cls, func, *args):
        "Run func in its own committed transaction, as a request would"
        extras = {}
        while True:
            with Transaction().start(
                    DB_NAME, 0, context={'company': cls.company_id},
                    **extras) as transaction:
                try:
                    return func(*args)
                except TransactionError as e:
                    # 8.0 asks to restart with the tables/records locked
                    transaction.rollback()
                    e.fix(extras)

    def get_setup(self):
        pool = Pool()
        Account = pool.get('account.account')
        Company = pool.get('company.company')
        PayPalAccount = pool.get('account.payment.paypal.account')
        Journal = pool.get('account.payment.journal')
        Party = pool.get('party.party')
        company = Company(self.company_id)
        account, = PayPalAccount.search([])
        journal, = Journal.search([('process_method', '=', 'paypal')])
        customer, = Party.search([('name', '=', "Customer")])
        receivable, = Account.search([
                ('type.receivable', '=', True),
                ('closed', '=', False),
                ], limit=1)
        revenue, = Account.search([
                ('type.revenue', '=', True),
                ('closed', '=', False),
                ], limit=1)
        return {
            'company': company, 'account': account, 'journal': journal,
            'customer': customer, 'receivable': receivable,
            'revenue': revenue,
            }

    def new_payment(self, amount=Decimal('42.00'), line=False):
        def new():
            setup = self.get_setup()
            receivable = (
                create_receivable_line(setup, amount) if line else None)
            payment = create_payment(setup, amount, line=receivable)
            return (payment.id, payment.paypal_checkout_id,
                receivable.id if receivable else None)
        return self.in_transaction(new)

    def read_payment(self, payment_id):
        return self.in_transaction(self._read_payment, payment_id)

    def _read_payment(self, payment_id):
        payment = Pool().get('account.payment')(payment_id)
        return {
            'state': payment.state,
            'amount': payment.amount,
            'order': payment.paypal_order_id,
            'capture': payment.paypal_capture_id,
            'error': payment.paypal_error_code,
            'line_to_pay': (
                payment.line.payment_amount if payment.line else None),
            }

    def count_events(self, event):
        return self.in_transaction(lambda: Pool().get(
                'account.payment.paypal.event').search_count(
                [('event_id', '=', event['id'])]))

    def checkout_url(self, checkout_id):
        return (f'/{self.db_name}/account_payment_paypal/checkout/'
            f'account.payment/{checkout_id}')

    def webhook_url(self, identifier=None):
        return (f'/{self.db_name}/account_payment_paypal/webhook/'
            f'{identifier or self.identifier}')

    def pay(self, payment_id, checkout_id, decline=False):
        client = self.client()
        response = client.get(self.checkout_url(checkout_id))
        self.assertEqual(response.status_code, 303)
        location = response.headers['Location']
        self.assertTrue(location.startswith(self.server.url + '/checkoutnow'))
        order_id = urlsplit(location).query.split('=')[1]
        self.server.approve(order_id, decline=decline)
        response = client.get(
            self.checkout_url(checkout_id) + '/end',
            query_string={'token': order_id, 'PayerID': 'PAYER'})
        self.assertEqual(response.status_code, 200)
        return order_id, response

    def post_event(self, event, headers=None, tamper=False, identifier=None):
        body = json.dumps(event, indent=1)
        if headers is None:
            headers = self.server.sign_event(event, tamper=tamper)
        return self.client().post(
            self.webhook_url(identifier), data=body, headers=headers,
            content_type='application/json')

    def test_checkout(self):
        "Checkout redirects to PayPal, the return captures the payment"
        payment_id, checkout_id, _ = self.new_payment(line=True)
        order_id, response = self.pay(payment_id, checkout_id)
        self.assertIn(b'is paid', response.data)
        payment = self.read_payment(payment_id)
        self.assertEqual(payment['state'], 'succeeded')
        self.assertEqual(payment['order'], order_id)
        self.assertTrue(payment['capture'])
        self.assertEqual(payment['line_to_pay'], Decimal(0))

        # A reload of either page creates and captures nothing more
        orders = len(self.server.orders)
        client = self.client()
        response = client.get(self.checkout_url(checkout_id))
        self.assertEqual(response.status_code, 200)
        response = client.get(
            self.checkout_url(checkout_id) + '/end',
            query_string={'token': order_id})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(len(self.server.orders), orders)
        self.assertEqual(self.server.count(
                'POST', f'/v2/checkout/orders/{order_id}/capture'), 1)

    def test_checkout_double_click(self):
        "Two visits of the checkout link give the same order"
        payment_id, checkout_id, _ = self.new_payment()
        client = self.client()
        first = client.get(self.checkout_url(checkout_id))
        second = client.get(self.checkout_url(checkout_id))
        self.assertEqual(first.headers['Location'], second.headers['Location'])

    def test_checkout_declined(self):
        "A declined instrument fails the payment"
        payment_id, checkout_id, _ = self.new_payment(line=True)
        order_id, response = self.pay(payment_id, checkout_id, decline=True)
        self.assertIn(b'could not be completed', response.data)
        payment = self.read_payment(payment_id)
        self.assertEqual(payment['state'], 'failed')
        self.assertEqual(payment['error'], 'INSTRUMENT_DECLINED')
        self.assertEqual(payment['line_to_pay'], Decimal('42.00'))

    def test_checkout_wrong_token(self):
        "The return must name the payment's order"
        payment_id, checkout_id, _ = self.new_payment()
        client = self.client()
        client.get(self.checkout_url(checkout_id))
        response = client.get(
            self.checkout_url(checkout_id) + '/end',
            query_string={'token': 'NOTTHEORDER'})
        self.assertEqual(response.status_code, 400)
        response = client.get(self.checkout_url('unknown'))
        self.assertEqual(response.status_code, 404)
        response = client.get(
            f'/{self.db_name}/account_payment_paypal/checkout/'
            f'res.user/{checkout_id}')
        self.assertEqual(response.status_code, 403)

    def test_checkout_outage(self):
        "PayPal down: the checkout answers 503 and records nothing"
        payment_id, checkout_id, _ = self.new_payment()
        port = self.server.port
        self.server.stop()
        try:
            response = self.client().get(self.checkout_url(checkout_id))
        finally:
            self.server.start(port)
        self.assertEqual(response.status_code, 503)
        payment = self.read_payment(payment_id)
        self.assertEqual(payment['state'], 'processing')
        self.assertFalse(payment['order'])
        # Back again: the same link works
        response = self.client().get(self.checkout_url(checkout_id))
        self.assertEqual(response.status_code, 303)

    def test_capture_outage(self):
        "PayPal down at the return: the payment stays retryable"
        payment_id, checkout_id, _ = self.new_payment()
        client = self.client()
        response = client.get(self.checkout_url(checkout_id))
        order_id = urlsplit(response.headers['Location']).query.split('=')[1]
        self.server.approve(order_id)
        port = self.server.port
        self.server.stop()
        try:
            response = client.get(
                self.checkout_url(checkout_id) + '/end',
                query_string={'token': order_id})
        finally:
            self.server.start(port)
        self.assertEqual(response.status_code, 202)
        payment = self.read_payment(payment_id)
        self.assertEqual(payment['state'], 'processing')
        self.assertFalse(payment['capture'])

        # The cron captures it later
        self.in_transaction(
            lambda: Pool().get('account.payment').paypal_capture_())
        self.assertEqual(self.read_payment(payment_id)['state'], 'succeeded')

    def test_webhook_capture_completed(self):
        "A verified PAYMENT.CAPTURE.COMPLETED succeeds the payment once"
        payment_id, checkout_id, _ = self.new_payment()
        response = self.client().get(self.checkout_url(checkout_id))
        order_id = urlsplit(response.headers['Location']).query.split('=')[1]
        self.server.approve(order_id)
        # PayPal captured (e.g. the buyer closed the window on return)
        key = self.in_transaction(lambda: Pool().get('account.payment')(
                payment_id).paypal_idempotency_key)
        capture = {
            'id': 'CAPTURE' + order_id[:10],
            'status': 'COMPLETED',
            'amount': {'currency_code': 'USD', 'value': '42.00'},
            'custom_id': key,
            'supplementary_data': {'related_ids': {'order_id': order_id}},
            }
        event = self.server.event('PAYMENT.CAPTURE.COMPLETED', capture)

        response = self.post_event(event)
        self.assertEqual(response.status_code, 200)
        payment = self.read_payment(payment_id)
        self.assertEqual(payment['state'], 'succeeded')
        self.assertEqual(payment['capture'], capture['id'])

        # A replay is a no-op, even after a manual change
        def fail():
            Payment = Pool().get('account.payment')
            Payment.fail([Payment(payment_id)])
        self.in_transaction(fail)
        response = self.post_event(event)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self.read_payment(payment_id)['state'], 'failed')
        self.assertEqual(self.count_events(event), 1)

    def test_webhook_bad_signature(self):
        "A tampered or unsigned event is refused and changes nothing"
        payment_id, checkout_id, _ = self.new_payment()
        response = self.client().get(self.checkout_url(checkout_id))
        order_id = urlsplit(response.headers['Location']).query.split('=')[1]
        capture = {
            'id': 'FAKE' + order_id[:10],
            'status': 'COMPLETED',
            'amount': {'currency_code': 'USD', 'value': '42.00'},
            'supplementary_data': {'related_ids': {'order_id': order_id}},
            }
        event = self.server.event('PAYMENT.CAPTURE.COMPLETED', capture)

        with self.assertLogs('account_payment_paypal.routes', 'WARNING'):
            response = self.post_event(event, tamper=True)
        self.assertEqual(response.status_code, 401)

        # Signed for another event
        headers = self.server.sign_event(dict(event, id='WH-OTHER'))
        response = self.post_event(event, headers=headers)
        self.assertEqual(response.status_code, 401)

        # Signed for another webhook
        headers = self.server.sign_event(event, webhook_id='WH-OTHER')
        response = self.post_event(event, headers=headers)
        self.assertEqual(response.status_code, 401)

        response = self.post_event(event, headers={})
        self.assertEqual(response.status_code, 400)

        response = self.post_event(event, identifier='unknown')
        self.assertEqual(response.status_code, 404)

        payment = self.read_payment(payment_id)
        self.assertEqual(payment['state'], 'processing')
        self.assertFalse(payment['capture'])
        self.assertEqual(self.count_events(event), 0)

    def test_webhook_denied(self):
        "PAYMENT.CAPTURE.DENIED fails a pending capture"
        payment_id, checkout_id, _ = self.new_payment()
        response = self.client().get(self.checkout_url(checkout_id))
        order_id = urlsplit(response.headers['Location']).query.split('=')[1]
        capture = {
            'id': 'DENIED' + order_id[:10],
            'status': 'DECLINED',
            'status_details': {'reason': 'BUYER_COMPLAINT'},
            'amount': {'currency_code': 'USD', 'value': '42.00'},
            'supplementary_data': {'related_ids': {'order_id': order_id}},
            }
        event = self.server.event('PAYMENT.CAPTURE.DENIED', capture)
        response = self.post_event(event)
        self.assertEqual(response.status_code, 200)
        payment = self.read_payment(payment_id)
        self.assertEqual(payment['state'], 'failed')
        self.assertEqual(payment['error'], 'BUYER_COMPLAINT')

    def test_webhook_refunded(self):
        "PAYMENT.CAPTURE.REFUNDED records a refund made at PayPal once"
        payment_id, checkout_id, _ = self.new_payment(line=True)
        self.pay(payment_id, checkout_id)
        payment = self.read_payment(payment_id)
        capture_id = payment['capture']
        refund = {
            'id': 'REFUND' + capture_id[:10],
            'status': 'COMPLETED',
            'amount': {'currency_code': 'USD', 'value': '12.00'},
            'links': [{
                    'href': (
                        f'{self.server.url}/v2/payments/captures/'
                        f'{capture_id}'),
                    'rel': 'up', 'method': 'GET'}],
            }
        event = self.server.event('PAYMENT.CAPTURE.REFUNDED', refund)
        for _ in range(2):
            response = self.post_event(event)
            self.assertEqual(response.status_code, 200)
        payment = self.read_payment(payment_id)
        self.assertEqual(payment['state'], 'succeeded')
        self.assertEqual(payment['amount'], Decimal('30.00'))
        self.assertEqual(payment['line_to_pay'], Decimal('12.00'))
        refunds = self.in_transaction(lambda: [r.state for r in Pool().get(
                    'account.payment.paypal.refund').search(
                    [('payment', '=', payment_id)])])
        self.assertEqual(refunds, ['succeeded'])

    def test_webhook_unknown_payment(self):
        "An event of an unknown capture asks PayPal to send it again"
        event = self.server.event('PAYMENT.CAPTURE.COMPLETED', {
                'id': 'UNKNOWN', 'status': 'COMPLETED',
                'amount': {'currency_code': 'USD', 'value': '1.00'}})
        response = self.post_event(event)
        self.assertEqual(response.status_code, 404)
        event = self.server.event('CHECKOUT.ORDER.APPROVED', {'id': 'X'})
        response = self.post_event(event)
        self.assertEqual(response.status_code, 200)
