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


class PaymentSetUp(RouteTestCase):
    "A provider with online payment and customers with a posted bill each"
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
            bill_c = create_bill(company, 3, plan, cycle)
            users = User.create([{'email': 'a@example.com',
                        'party': bill_a.party.id, 'email_valid': True},
                    {'email': 'b@example.com', 'party': bill_b.party.id,
                        'email_valid': True},
                    {'email': 'c@example.com', 'party': bill_c.party.id,
                        'email_valid': True}])
            User.write(users, {'password': PASSWORD})
        cls.data.update(company=company.id, bill_a=bill_a.id,
            bill_b=bill_b.id, bill_c=bill_c.id, a=bill_a.agreement.id,
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



class PortalPaymentTestCase(PaymentSetUp):
    "Pay a bill, save a card, autopay and payment history in the portal"
    data = {}

    def test_pay_bill_through_stripe(self):
        "Pay now opens the portal's checkout; the webhook settles it"
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
        self.assertTrue(url.endswith('%s/bills/%s/pay/checkout' % (
                    BASE, bill)), url)
        checkout = client.get(url[url.index('/%s/' % DB_NAME):])
        self.assertEqual(checkout.status_code, 200)
        payment, = self.payments_of('bill_a')
        with Transaction().start(DB_NAME, 0):
            payment_ = Pool().get('account.payment')(payment.id)
            secret = payment_.stripe_payment_intent.client_secret
            key = payment_.journal.stripe_account.publishable_key
        self.assertIn('data-secret="%s"' % secret, checkout.text)
        self.assertIn('data-key="%s"' % key, checkout.text)
        self.assertIn('data-return="%s/bills/%s/pay/return"' % (BASE, bill),
            checkout.text)
        self.assertIn('<script src="https://js.stripe.com/v3/"></script>',
            checkout.text)
        self.assertIn('$117.08', checkout.text)
        policy = checkout.headers['Content-Security-Policy']
        self.assertIn("script-src 'self' https://js.stripe.com;", policy)
        self.assertIn("connect-src 'self' https://api.stripe.com;", policy)
        # The balance button opens the same payment (no second charge).
        again = self.post(client, '/pay')
        self.assertEqual(again.status_code, 303)
        self.assertEqual(again.headers['Location'], url)
        payment, = self.payments_of('bill_a')
        # Another customer cannot open this checkout.
        other = self.login('b@example.com')
        self.assertEqual(other.get(BASE + '/bills/%s/pay/checkout' % bill
                ).status_code, 404)

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

    def test_return_asks_stripe(self):
        "Back from the checkout, the bill is paid without the webhook"
        client = self.login('c@example.com')
        bill = self.data['bill_c']
        response = self.post(client, '/bills/%s/pay' % bill,
            form_path='/bills/%s' % bill)
        self.assertEqual(response.status_code, 303, response.text)
        # Leaving unpaid: the page still offers to pay.
        back = client.get(BASE + '/bills/%s/pay/return' % bill)
        self.assertIn('action="%s/bills/%s/pay"' % (BASE, bill), back.text)
        self.assertIn('data-state="payable"',
            client.get(BASE + '/bills/%s' % bill).text)
        payment, = self.payments_of('bill_c')
        with Transaction().start(DB_NAME, 0):
            # What Stripe.js does on the portal's checkout page
            confirm_payment_intent(Pool().get('account.payment')(payment.id))
        done = client.get(BASE + '/bills/%s/pay/return' % bill)
        self.assertEqual(done.status_code, 200)
        self.assertIn('This bill is paid', done.text)
        page = client.get(BASE + '/bills/%s' % bill)
        self.assertIn('data-state="paid"', page.text)
        with Transaction().start(DB_NAME, 0):
            payment, = self._payments('bill_c')
            self.assertEqual(payment.state, 'succeeded')
        # The checkout of a paid bill goes back to it, nothing charged.
        response = client.get(BASE + '/bills/%s/pay/checkout' % bill)
        self.assertEqual(response.status_code, 303)
        self.assertTrue(response.headers['Location'].endswith(
                '/bills/%s/pay/return' % bill))
        self.assertEqual(len(self.payments_of('bill_c')), 1)

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
                '/bills/%s/pay/cancel' % bill_a,
                '/bills/%s/pay/checkout' % bill_a]:
            with self.subTest(path=path):
                self.assertEqual(client.get(BASE + path).status_code, 404)
        self.assertEqual(written(), before)
        # Pages need a login.
        anonymous = self.client()
        for path in ['/payments', '/payments/history']:
            response = anonymous.get(BASE + path)
            self.assertEqual(response.status_code, 303)
            self.assertIn('/login', response.headers['Location'])


class PortalPaymentFrenchTestCase(PaymentSetUp):
    "The payment pages in French, from the module's translations"
    data = {}

    @classmethod
    def setUpDatabase(cls):
        super().setUpDatabase()
        pool = Pool()
        Lang = pool.get('ir.lang')
        Party = pool.get('party.party')
        Bill = pool.get('utility.bill')
        fr, = Lang.search([('code', '=', 'fr')])
        Lang.load_translations([fr])
        with Transaction().set_context(company=cls.data['company']):
            Party.write([Bill(cls.data['bill_a']).party,
                    Bill(cls.data['bill_b']).party], {'lang': fr.id})

    def test_payment_pages_in_french(self):
        client = self.login()
        bill = self.data['bill_a']
        page = client.get(BASE + '/bills/%s' % bill)
        self.assertIn('lang="fr"', page.text)
        for text in ['Comment payer', 'Montant à payer', 'Payer maintenant',
                'Payez par virement en indiquant la référence',
                '117,08']:
            self.assertIn(text, page.text)
        self.assertIn('Payer le solde', client.get(BASE + '/dashboard').text)

        response = self.post(client, '/bills/%s/pay' % bill,
            form_path='/bills/%s' % bill)
        self.assertEqual(response.status_code, 303, response.text)
        checkout = client.get(BASE + '/bills/%s/pay/checkout' % bill)
        self.assertEqual(checkout.status_code, 200)
        for text in ['<h1>Payer votre facture par carte</h1>',
                'Coordonnées de la carte', 'Payer 117,08',
                'Le paiement par carte nécessite JavaScript',
                'Annuler et revenir à la facture', 'data-locale="fr"']:
            self.assertIn(text, checkout.text)
        cancelled = client.get(BASE + '/bills/%s/pay/cancel' % bill)
        for text in ['<h1>Paiement non effectué</h1>',
                "Cette facture n'est pas encore payée",
                'Réessayer de payer', 'Retour à la facture']:
            self.assertIn(text, cancelled.text)
        returned = client.get(BASE + '/bills/%s/pay/return' % bill)
        self.assertIn('<h1>Votre paiement</h1>', returned.text)

        page = client.get(BASE + '/payments')
        for text in ['<h1>Paiements</h1>', 'Moyens de paiement enregistrés',
                'Aucun moyen de paiement enregistré.',
                'Enregistrer un moyen de paiement',
                'Le prélèvement automatique est désactivé',
                "Enregistrez d'abord un moyen de paiement",
                'Historique des paiements']:
            self.assertIn(text, page.text)
        response = self.post(client, '/payments/%s/autopay' % self.data['a'],
            {'autopay': 'on', 'method': 'pm_forged'})
        notice = client.get(response.headers['Location'][
                response.headers['Location'].index('/%s/' % DB_NAME):])
        self.assertIn('Choisissez un de vos moyens de paiement', notice.text)

        history = client.get(BASE + '/payments/history')
        for text in ['<h1>Historique des paiements</h1>',
                '<th scope="col">Référence</th>',
                '<th scope="col">Moyen de paiement</th>',
                '<th scope="col">Factures réglées</th>']:
            self.assertIn(text, history.text)
        empty = self.login('b@example.com').get(BASE + '/payments/history')
        self.assertIn('Aucun paiement pour le moment.', empty.text)
