"""Paying in the portal against the fake Stripe (localstripe) on loopback.

One database set-up for the class: a provider with online payment, two
customers with a posted bill each and a web user each.
"""
import functools
import json
import re
from decimal import Decimal

import stripe

import trytond.tools.misc
from trytond.modules.company.tests import create_company, set_company
from trytond.modules.currency.tests import add_currency_rate
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, RouteTestCase
from trytond.transaction import Transaction, TransactionError
from utility_payment.tests.stripe_server import LocalStripe
from utility_payment.tests.tools import (
    CARD_OK, confirm_payment_intent, confirm_setup_intent, create_bill,
    setup_billing, setup_provider, sign, stripe_events)

trytond.tools.misc.import_module = functools.cache(
    trytond.tools.misc.import_module)

BASE = '/%s/portal' % DB_NAME
PASSWORD = 'correct horse battery'
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
TOTAL = Decimal('117.08')


class _AllTables(set):
    def __contains__(self, table):
        return True


class PortalPaymentTestCase(RouteTestCase):
    "Pay a bill, save a card, autopay and payment history in the portal"
    module = 'utility_portal'
    data = {}

    @classmethod
    def setUpClass(cls):
        cls.server = LocalStripe().start()
        cls._stripe = stripe.api_base, stripe.max_network_retries
        stripe.api_base = cls.server.url
        stripe.max_network_retries = 0
        try:
            super(RouteTestCase, cls).setUpClass()
            extras = {}
            while True:
                with Transaction().start(DB_NAME, 1, **extras) as tx:
                    try:
                        cls.setUpDatabase()
                    except TransactionError as e:
                        tx.rollback()
                        e.fix(extras)
                        continue
                    break
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        stripe.api_base, stripe.max_network_retries = cls._stripe
        cls.server.stop()
        super().tearDownClass()

    @classmethod
    def setUpDatabase(cls):
        pool = Pool()
        Currency = pool.get('currency.currency')
        User = pool.get('web.user')
        usd, = Currency.create([{'name': "US Dollar", 'code': 'USD',
                    'symbol': '$', 'digits': 2,
                    'rounding': Decimal('0.01')}])
        add_currency_rate(usd, 1)
        company = create_company("Springfield Power & Light", usd)
        with set_company(company), Transaction().set_context(
                _skip_warnings=True):
            plan, cycle = setup_billing(company)
            setup_provider(company)
            bill_a = create_bill(company, 1, plan, cycle)
            bill_b = create_bill(company, 2, plan, cycle)
            users = User.create([{'email': 'a@example.com',
                        'party': bill_a.party.id, 'email_valid': True},
                    {'email': 'b@example.com', 'party': bill_b.party.id,
                        'email_valid': True}])
            User.write(users, {'password': PASSWORD})
        cls.data.update(company=company.id, bill_a=bill_a.id,
            bill_b=bill_b.id, a=bill_a.agreement.id,
            b=bill_b.agreement.id)

    # --- helpers ---------------------------------------------------------
    def login(self, email='a@example.com'):
        client = self.client()
        token = CSRF.search(client.get(BASE + '/login').text).group(1)
        response = client.post(BASE + '/login', data={'csrf_token': token,
                'email': email, 'password': PASSWORD})
        self.assertEqual(response.status_code, 303, response.text)
        return client

    def post(self, client, path, data=None, form_path='/dashboard'):
        token = CSRF.search(client.get(BASE + form_path).text).group(1)
        return client.post(BASE + path,
            data=dict(data or {}, csrf_token=token))

    def tx(self):
        "A committed transaction in the provider, as the back office"
        transaction = Transaction().start(DB_NAME, 1,
            context={'company': self.data['company']})
        transaction._locked_tables = _AllTables()
        return transaction

    def payments_of(self, bill):
        with Transaction().start(DB_NAME, 0):
            return self._payments(bill)

    def _payments(self, bill):
        Payment = Pool().get('account.payment')
        return Payment.search([
                ('line.move.origin', '=',
                    'account.invoice,%s' % self.bill_invoice(bill))])

    def bill_invoice(self, bill):
        return Pool().get('utility.bill')(self.data[bill]).invoice.id

    # --- tests -----------------------------------------------------------
    def test_pay_bill_through_stripe(self):
        "Pay now redirects to Stripe's checkout; the webhook settles it"
        client = self.login()
        bill = self.data['bill_a']
        page = client.get(BASE + '/bills/%s' % bill)
        self.assertEqual(page.status_code, 200)
        self.assertIn('data-state="payable"', page.text)
        self.assertIn('action="%s/bills/%s/pay"' % (BASE, bill), page.text)
        self.assertIn('$117.08', page.text)
        dashboard = client.get(BASE + '/dashboard')
        self.assertIn('action="%s/pay"' % BASE, dashboard.text)

        # Without the CSRF token: refused, nothing written.
        refused = client.post(BASE + '/bills/%s/pay' % bill)
        self.assertEqual(refused.status_code, 403)
        self.assertEqual(self.payments_of('bill_a'), [])

        response = self.post(client, '/bills/%s/pay' % bill,
            form_path='/bills/%s' % bill)
        self.assertEqual(response.status_code, 303, response.text)
        url = response.headers['Location']
        self.assertIn('/%s/account_payment_stripe/checkout/account.payment/'
            % DB_NAME, url)
        checkout = client.get(url[url.index('/%s/' % DB_NAME):])
        self.assertEqual(checkout.status_code, 200)
        # The balance button opens the same payment (no second charge).
        again = self.post(client, '/pay')
        self.assertEqual(again.status_code, 303)
        self.assertIn('/account_payment_stripe/checkout/',
            again.headers['Location'])
        payment, = self.payments_of('bill_a')

        # Back from the checkout without paying: still payable.
        back = client.get(BASE + '/bills/%s/pay/cancel' % bill)
        self.assertEqual(back.status_code, 200)
        self.assertIn('action="%s/bills/%s/pay"' % (BASE, bill), back.text)

        with self.tx() as transaction:
            Payment = Pool().get('account.payment')
            payment = Payment(payment.id)
            self.assertEqual(payment.amount, TOTAL)
            confirm_payment_intent(payment)
            account = payment.journal.stripe_account
            event, = stripe_events(self.server.url, account.secret_key,
                payment.stripe_payment_intent_id, 'payment_intent.succeeded')
            hook = '/%s/account_payment_stripe/webhook/%s' % (
                DB_NAME, account.webhook_identifier)
            secret = account.webhook_signing_secret
            reference = payment.stripe_payment_intent_id
            transaction.commit()
        payload = json.dumps(event)
        response = self.client().post(hook, data=payload,
            headers={'Stripe-Signature': sign(payload, secret)},
            content_type='application/json')
        self.assertEqual(response.status_code, 204)

        page = client.get(BASE + '/bills/%s' % bill)
        self.assertIn('data-state="paid"', page.text)
        self.assertNotIn('/bills/%s/pay"' % bill, page.text)
        done = client.get(BASE + '/bills/%s/pay/return' % bill)
        self.assertEqual(done.status_code, 200)
        self.assertIn('This bill is paid', done.text)
        # A paid bill is not paid again: back to it with a notice.
        response = self.post(client, '/bills/%s/pay' % bill)
        self.assertEqual(response.status_code, 303)
        self.assertIn('notice=payment_not_possible',
            response.headers['Location'])
        self.assertEqual(len(self.payments_of('bill_a')), 1)

        history = client.get(BASE + '/payments/history')
        self.assertEqual(history.status_code, 200)
        self.assertIn('<th scope="col">Reference</th>', history.text)
        self.assertIn(reference, history.text)
        self.assertIn('$117.08', history.text)
        self.assertIn('Succeeded', history.text)
        self.assertIn('href="%s/bills/%s"' % (BASE, bill), history.text)
        # B sees none of A's payments.
        other = self.login('b@example.com').get(BASE + '/payments/history')
        self.assertEqual(other.status_code, 200)
        self.assertNotIn(reference, other.text)

    def test_processing_payment_shown(self):
        "A payment in progress shows instead of the Pay button"
        with self.tx() as transaction:
            pool = Pool()
            Bill = pool.get('utility.bill')
            Provider = pool.get('utility.payment.provider')
            bill = Bill(self.data['bill_b'])
            provider, = Provider.search([])
            line, = bill._lines_to_pay()
            bill.get_stripe_payment(line, line.payment_amount,
                provider).save()
            transaction.commit()
        client = self.login('b@example.com')
        page = client.get(BASE + '/bills/%s' % self.data['bill_b'])
        self.assertIn('data-state="processing"', page.text)
        self.assertIn('being processed', page.text)
        self.assertNotIn('/pay"', page.text)
        response = self.post(client, '/bills/%s/pay' % self.data['bill_b'])
        self.assertIn('notice=payment_not_possible',
            response.headers['Location'])
        self.assertEqual(len(self.payments_of('bill_b')), 1)

    def test_save_method_and_autopay(self):
        "Save a card through the SetupIntent checkout, then autopay on/off"
        client = self.login()
        agreement = self.data['a']
        page = client.get(BASE + '/payments')
        self.assertEqual(page.status_code, 200)
        self.assertIn('No saved payment method', page.text)
        self.assertIn('Autopay is off', page.text)
        # Opting in without a saved method writes nothing.
        response = self.post(client, '/payments/%s/autopay' % agreement,
            {'autopay': 'on', 'method': 'pm_forged'})
        self.assertIn('notice=autopay_needs_method',
            response.headers['Location'])

        response = self.post(client, '/payments/%s/save-method' % agreement)
        self.assertEqual(response.status_code, 303, response.text)
        self.assertIn('/account_payment_stripe/checkout/'
            'account.payment.stripe.customer/', response.headers['Location'])
        with self.tx() as transaction:
            pool = Pool()
            Agreement = pool.get('utility.service.agreement')
            Customer = pool.get('account.payment.stripe.customer')
            customer = Agreement(agreement).get_stripe_customer(create=False)
            confirm_setup_intent(customer, CARD_OK)
            Customer.stripe_intent_update([customer])
            (method, name), = Customer(customer.id).payment_methods()
            transaction.commit()

        page = client.get(BASE + '/payments')
        self.assertIn(name, page.text)
        self.assertIn('value="%s"' % method, page.text)
        response = self.post(client, '/payments/%s/autopay' % agreement,
            {'autopay': 'on', 'method': method})
        self.assertIn('notice=autopay_on', response.headers['Location'])
        with Transaction().start(DB_NAME, 0):
            record = Pool().get('utility.service.agreement')(agreement)
            self.assertTrue(record.autopay)
            self.assertEqual(record.autopay_payment_method, method)
        self.assertIn('Autopay is on', client.get(BASE + '/payments').text)

        response = self.post(client, '/payments/%s/autopay' % agreement,
            {'autopay': 'off'})
        self.assertIn('notice=autopay_off', response.headers['Location'])
        with Transaction().start(DB_NAME, 0):
            record = Pool().get('utility.service.agreement')(agreement)
            self.assertFalse(record.autopay)

    def test_idor_payments(self):
        "Another customer's bill or agreement is a 404 and nothing written"
        client = self.login('b@example.com')
        bill_a, a = self.data['bill_a'], self.data['a']

        def written():
            with Transaction().start(DB_NAME, 0):
                pool = Pool()
                Agreement = pool.get('utility.service.agreement')
                Customer = pool.get('account.payment.stripe.customer')
                agreement = Agreement(a)
                return (agreement.autopay, len(self._payments('bill_a')),
                    [(c.id, c.stripe_checkout_id) for c in Customer.search(
                            [('party', '=', agreement.party.id)])])
        before = written()
        for path in ['/bills/%s/pay' % bill_a, '/payments/%s/autopay' % a,
                '/payments/%s/save-method' % a]:
            with self.subTest(path=path):
                response = self.post(client, path, {'autopay': 'on',
                        'method': 'pm_x'})
                self.assertEqual(response.status_code, 404)
        for path in ['/bills/%s/pay/return' % bill_a,
                '/bills/%s/pay/cancel' % bill_a]:
            with self.subTest(path=path):
                self.assertEqual(client.get(BASE + path).status_code, 404)
        self.assertEqual(written(), before)
        # Pages need a login.
        anonymous = self.client()
        for path in ['/payments', '/payments/history']:
            response = anonymous.get(BASE + path)
            self.assertEqual(response.status_code, 303)
            self.assertIn('/login', response.headers['Location'])
