"""Payment flows against a fake Stripe (localstripe) on loopback.

account_payment_stripe's code commits after each gateway call, so these
tests work like trytond's RouteTestCase: each step runs in a transaction
of its own and commits; every test has a provider (company) of its own.
"""
import contextlib
import datetime as dt
import json
import unittest
from decimal import Decimal

import stripe
from werkzeug.test import Client
from werkzeug.wrappers import Response

from trytond.modules.company.tests import set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, activate_module
from trytond.transaction import Transaction
from trytond.wsgi import app

from ..exceptions import BillPaymentError
from .stripe_server import FailingStripe, LocalStripe
from .tools import (
    CARD_CHARGE_DECLINED, CARD_DECLINED, CARD_OK, confirm_payment_intent,
    confirm_setup_intent, create_bill, setup_billing, setup_provider, sign,
    stripe_events)

TOTAL = Decimal('117.08')


class _AllTables(set):
    def __contains__(self, table):
        return True


class StripeFlowTestCase(unittest.TestCase):
    "Pay, save a card, autopay, retry, refund and webhooks"

    @classmethod
    def setUpClass(cls):
        activate_module('utility_payment')
        cls.server = LocalStripe().start()
        cls._api_base = stripe.api_base
        cls._retries = stripe.max_network_retries
        stripe.api_base = cls.server.url
        # Each call is one request: outages are seen, not retried away.
        stripe.max_network_retries = 0

    @classmethod
    def tearDownClass(cls):
        stripe.api_base = cls._api_base
        stripe.max_network_retries = cls._retries
        cls.server.stop()

    @contextlib.contextmanager
    def tx(self, **context):
        "A committed transaction of the admin working in the test provider"
        with Transaction().start(DB_NAME, 1, context=context) as transaction:
            # trytond restarts a transaction to take a table or record lock
            # first; these steps, not reentrant as they commit midway, run
            # alone, so the locks are waived instead.
            transaction._locked_tables = _AllTables()
            with set_company(Pool().get('company.company')(
                        self.company_id)):
                yield transaction
            transaction.commit()

    def setUp(self):
        pool = None
        with Transaction().start(DB_NAME, 1) as transaction:
            transaction._locked_tables = _AllTables()
            pool = Pool()
            Currency = pool.get('currency.currency')
            Party = pool.get('party.party')
            Company = pool.get('company.company')
            currencies = Currency.search([('code', '=', 'USD')], limit=1)
            if currencies:
                currency, = currencies
            else:
                currency = Currency(name="US Dollar", code='USD',
                    symbol='$', rounding=Decimal('0.01'), digits=2)
                currency.save()
            party = Party(name="Provider %s" % self.id())
            party.save()
            company = Company(party=party, currency=currency)
            company.save()
            self.company_id = company.id
            transaction.commit()
        with self.tx():
            company = Pool().get('company.company')(self.company_id)
            self.plan, self.cycle = [r.id for r in setup_billing(company)]
            setup_provider(company)
        del pool

    def bill(self, index=1):
        pool = Pool()
        Plan = pool.get('utility.rate.plan')
        Cycle = pool.get('utility.billing.cycle')
        Company = pool.get('company.company')
        return create_bill(Company(self.company_id), index,
            Plan(self.plan), Cycle(self.cycle))

    def client(self):
        return Client(app, Response)

    def webhook(self, account, payload, signature=None):
        "POST payload to Tryton's webhook route of account (id, secret)"
        identifier, secret = account
        if signature is None:
            signature = sign(payload, secret)
        return self.client().post(
            '/%s/account_payment_stripe/webhook/%s' % (
                DB_NAME, identifier),
            data=payload, headers={'Stripe-Signature': signature},
            content_type='application/json')

    def assert_paid(self, invoice_id):
        pool = Pool()
        Invoice = pool.get('account.invoice')
        invoice = Invoice(invoice_id)
        # Reconciliation queues this; queued tasks do not run here.
        Invoice.process([invoice])
        invoice = Invoice(invoice_id)
        self.assertEqual(invoice.state, 'paid')
        self.assertEqual(invoice.amount_to_pay, Decimal(0))
        self.assertTrue(all(l.reconciliation for l in invoice.lines_to_pay))

    def assert_unpaid(self, invoice_id, amount=TOTAL):
        Invoice = Pool().get('account.invoice')
        Invoice.process([Invoice(invoice_id)])
        invoice = Invoice(invoice_id)
        self.assertEqual(invoice.state, 'posted')
        self.assertEqual(invoice.amount_to_pay, amount)
        self.assertFalse(any(l.reconciliation for l in invoice.lines_to_pay))

    def save_card(self, agreement_id, number):
        "Save a card through the Stripe checkout; return the method id"
        pool = Pool()
        Agreement = pool.get('utility.service.agreement')
        Customer = pool.get('account.payment.stripe.customer')
        agreement = Agreement(agreement_id)
        action = Agreement.stripe_save_method([agreement])
        customer = agreement.get_stripe_customer(create=False)
        self.assertIn(customer.stripe_checkout_id, action['url'])
        try:
            confirm_setup_intent(customer, number)
        except stripe.CardError:
            pass
        Customer.stripe_intent_update([customer])
        customer = Customer(customer.id)
        methods = customer.payment_methods()
        return customer, methods[0][0] if methods else None

    def enable_autopay(self, agreement_id, number=CARD_OK):
        Agreement = Pool().get('utility.service.agreement')
        customer, method = self.save_card(agreement_id, number)
        self.assertTrue(method)
        agreement = Agreement(agreement_id)
        agreement.autopay = True
        agreement.autopay_customer = customer
        agreement.autopay_payment_method = method
        agreement.save()

    def test_pay_bill_checkout_and_webhook(self):
        "Pay a bill on Stripe's checkout; the signed webhook settles it"
        with self.tx():
            pool = Pool()
            Bill = pool.get('utility.bill')
            bill = self.bill()
            result, = Bill.checkout(bill.id)
            self.assertEqual(result['amount'], TOTAL)
            self.assertTrue(result['client_secret'])
            # The same bill again opens the same payment and intent.
            again, = Bill.checkout(bill.id)
            self.assertEqual(again['payment'], result['payment'])
            ids = bill.id, bill.invoice.id, result['payment']
            url = again['url']
        bill_id, invoice_id, payment_id = ids

        page = self.client().get(url[url.index('/%s/' % DB_NAME):])
        self.assertEqual(page.status_code, 200)
        self.assertIn(result['client_secret'], page.get_data(as_text=True))

        with self.tx():
            pool = Pool()
            Payment = pool.get('account.payment')
            payment = Payment(payment_id)
            self.assertEqual(payment.state, 'processing')
            self.assertEqual(payment.amount, TOTAL)
            confirm_payment_intent(payment)
            account = payment.journal.stripe_account
            event, = stripe_events(self.server.url, account.secret_key,
                payment.stripe_payment_intent_id, 'payment_intent.succeeded')
            payload = json.dumps(event)
            account = (account.webhook_identifier,
                account.webhook_signing_secret)
            # Tryton counts a processing payment as paid, not reconciled.
            self.assert_unpaid(invoice_id, Decimal(0))

        # A forged or stale signature is refused and changes nothing.
        bad = self.webhook(account, payload,
            sign(payload, 'whsec_not_the_secret'))
        self.assertEqual(bad.status_code, 400)
        stale = self.webhook(account, payload,
            sign(payload, account[1], 1_000_000_000))
        self.assertEqual(stale.status_code, 400)
        with self.tx():
            self.assertEqual(
                Pool().get('account.payment')(payment_id).state,
                'processing')

        response = self.webhook(account, payload)
        self.assertEqual(response.status_code, 204, response.get_data(as_text=True))
        # Stripe delivers at least once: a replay has no effect.
        replay = self.webhook(account, payload)
        self.assertEqual(replay.status_code, 204)

        with self.tx():
            pool = Pool()
            Payment = pool.get('account.payment')
            Move = pool.get('account.move')
            History = pool.get('utility.payment.history')
            Bill = pool.get('utility.bill')
            payment = Payment(payment_id)
            self.assertEqual(payment.state, 'succeeded')
            self.assertEqual(Payment.search([
                        ('line.move.origin', '=',
                            'account.invoice,%s' % invoice_id)]),
                [payment])
            # One clearing move: the replay did not post another.
            self.assertEqual(len(Move.search([
                            ('origin', '=', str(payment))])), 1)
            self.assert_paid(invoice_id)
            bill = Bill(bill_id)
            history = History.for_party(bill.party.id, bill.agreement.id)
            self.assertEqual(len(history), 1)
            item, = history
            self.assertEqual(item['state'], 'succeeded')
            self.assertEqual(item['amount'], TOTAL)
            self.assertEqual(item['method'], 'stripe')
            self.assertEqual(item['gateway_reference'],
                payment.stripe_payment_intent_id)
            self.assertEqual(item['invoices'][0]['id'], invoice_id)
            self.assertEqual(item['invoices'][0]['amount_to_pay'],
                Decimal(0))
            self.assertEqual(History.for_party(bill.party.id, -1), [])

    def test_autopay_success_once_and_refund(self):
        "Autopay charges once per bill; a refund reopens the amount"
        with self.tx():
            pool = Pool()
            Attempt = pool.get('utility.payment.autopay.attempt')
            bill = self.bill()
            self.enable_autopay(bill.agreement.id)
            bill_id, invoice_id = bill.id, bill.invoice.id
            Attempt.charge_due()
        with self.tx():
            pool = Pool()
            Attempt = pool.get('utility.payment.autopay.attempt')
            Notification = pool.get('utility.payment.notification')
            attempt, = Attempt.search([('bill', '=', bill_id)])
            self.assertEqual(attempt.state, 'succeeded')
            self.assertEqual(attempt.amount, TOTAL)
            self.assertEqual(attempt.payment.state, 'succeeded')
            self.assertEqual(attempt.payment.stripe_idempotency_key,
                attempt.idempotency_key)
            self.assert_paid(invoice_id)
            notification, = Notification.search([('bill', '=', bill_id)])
            self.assertEqual(notification.kind, 'autopay_succeeded')
            self.assertEqual(notification.state, 'pending')
            self.assertIn(str(TOTAL), notification.message)
            payment_id = attempt.payment.id
            intents = self.server.counts().get('POST /v1/payment_intents')

            # Later runs do not charge a paid bill again.
            Attempt.charge_due()
            Attempt.charge_due(dt.date.today() + dt.timedelta(days=30))
            self.assertEqual(len(Attempt.search([('bill', '=', bill_id)])),
                1)
            self.assertEqual(
                self.server.counts().get('POST /v1/payment_intents'),
                intents)

        with self.tx():
            pool = Pool()
            Refund = pool.get('account.payment.stripe.refund')
            Payment = pool.get('account.payment')
            refund = Refund(payment=payment_id, amount=Decimal('17.08'),
                reason='requested_by_customer')
            refund.save()
            Refund.submit([refund])
            Refund.approve([refund])
            Refund.stripe_create([refund])
            self.assertEqual(Refund(refund.id).state, 'succeeded')
            Payment.stripe_pull([Payment(payment_id)])
        with self.tx():
            pool = Pool()
            Payment = pool.get('account.payment')
            History = pool.get('utility.payment.history')
            payment = Payment(payment_id)
            self.assertEqual(payment.state, 'succeeded')
            self.assertEqual(payment.amount, Decimal('100.00'))
            self.assert_unpaid(invoice_id, Decimal('17.08'))
            item, = History.for_party(payment.party.id)
            self.assertEqual(item['refunded'], Decimal('17.08'))
            self.assertEqual(item['amount'], Decimal('100.00'))

    def test_autopay_decline_retries_then_stops(self):
        "A declined card is retried after 1, 3, 7 days, then dunning"
        today = dt.date.today()
        with self.tx():
            pool = Pool()
            Attempt = pool.get('utility.payment.autopay.attempt')
            bill = self.bill()
            # A card declined when saved is not saved.
            customer, method = self.save_card(bill.agreement.id,
                CARD_DECLINED)
            self.assertIsNone(method)
            self.enable_autopay(bill.agreement.id, CARD_CHARGE_DECLINED)
            bill_id, invoice_id = bill.id, bill.invoice.id
            Attempt.charge_due(today)
        expected = [
            (today, 1, today + dt.timedelta(days=1)),
            (today + dt.timedelta(days=1), 2, today + dt.timedelta(days=3)),
            (today + dt.timedelta(days=3), 3, today + dt.timedelta(days=7)),
            (today + dt.timedelta(days=7), 4, None),
            ]
        for date, number, next_date in expected:
            with self.tx():
                pool = Pool()
                Attempt = pool.get('utility.payment.autopay.attempt')
                Notification = pool.get('utility.payment.notification')
                if number > 1:
                    # Not yet due the day before.
                    Attempt.charge_due(date - dt.timedelta(days=1))
                    self.assertEqual(len(Attempt.search([
                                    ('bill', '=', bill_id)])), number - 1)
                    Attempt.charge_due(date)
                attempts = Attempt.search([('bill', '=', bill_id)],
                    order=[('number', 'ASC')])
                self.assertEqual(len(attempts), number)
                attempt = attempts[-1]
                self.assertEqual((attempt.number, attempt.date,
                        attempt.state, attempt.next_retry_date),
                    (number, date, 'failed', next_date))
                self.assertEqual(attempt.error_code, 'card_declined')
                self.assertEqual(attempt.payment.state, 'failed')
                self.assertEqual(
                    len({a.idempotency_key for a in attempts}), number)
                notification, = Notification.search([
                        ('attempt', '=', attempt.id)])
                self.assertEqual(notification.kind,
                    'autopay_failed' if next_date else 'autopay_stopped')
                self.assert_unpaid(invoice_id)
        with self.tx():
            Attempt = Pool().get('utility.payment.autopay.attempt')
            Attempt.charge_due(today + dt.timedelta(days=60))
            self.assertEqual(len(Attempt.search([('bill', '=', bill_id)])),
                4)
            self.assert_unpaid(invoice_id)

    @contextlib.contextmanager
    def stripe_at(self, url):
        "Point the Stripe SDK at url for the block"
        stripe.api_base = url
        try:
            yield
        finally:
            stripe.api_base = self.server.url

    def bill_payments(self, invoice_id):
        Payment = Pool().get('account.payment')
        return Payment.search([
                ('line.move.origin', '=', 'account.invoice,%s' % invoice_id),
                ])

    def test_checkout_outage_then_retry(self):
        "Checkout during an outage records nothing; the retry pays once"
        with self.tx():
            bill = self.bill()
            bill_id, invoice_id = bill.id, bill.invoice.id
        outages = [
            ('refused', None),  # nothing listens on port 9
            ('500', FailingStripe(self.server.url)),
            # Stripe made the PaymentIntent but its answer was lost
            ('500 after work', FailingStripe(self.server.url, forward=True)),
            ]
        for name, failing in outages:
            with self.subTest(outage=name):
                url = failing.start().url if failing else (
                    'http://127.0.0.1:9')
                try:
                    with self.stripe_at(url), \
                            self.assertRaises(BillPaymentError) as cm:
                        # As the RPC: the error rolls the transaction back.
                        with self.tx():
                            Pool().get('utility.bill').checkout(bill_id)
                finally:
                    if failing:
                        failing.stop()
                self.assertIn("try again later", cm.exception.message)
                if failing:
                    self.assertTrue(failing.requests)
                with self.tx():
                    self.assertEqual(self.bill_payments(invoice_id), [])
                    self.assert_unpaid(invoice_id)

        with self.tx():
            result, = Pool().get('utility.bill').checkout(bill_id)
            self.assertTrue(result['client_secret'])
        with self.tx():
            pool = Pool()
            Payment = pool.get('account.payment')
            payment = Payment(result['payment'])
            confirm_payment_intent(payment)
            Payment.stripe_pull([payment])
        with self.tx():
            pool = Pool()
            Payment = pool.get('account.payment')
            payment, = self.bill_payments(invoice_id)
            self.assertEqual(payment.state, 'succeeded')
            self.assertEqual(payment.amount, TOTAL)
            self.assert_paid(invoice_id)

    def test_autopay_5xx_retries_once(self):
        "Stripe answers 500, even after charging: the retry charges once"
        with self.tx():
            pool = Pool()
            Attempt = pool.get('utility.payment.autopay.attempt')
            bill = self.bill()
            self.enable_autopay(bill.agreement.id)
            bill_id, invoice_id = bill.id, bill.invoice.id
            # Stripe fails every request: the cron goes on, nothing but
            # the open attempt is recorded.
            with FailingStripe(self.server.url) as failing, \
                    self.stripe_at(failing.url):
                Attempt.charge_due()
            self.assertTrue(failing.requests)
        with self.tx():
            pool = Pool()
            Attempt = pool.get('utility.payment.autopay.attempt')
            Notification = pool.get('utility.payment.notification')
            attempt, = Attempt.search([('bill', '=', bill_id)])
            self.assertEqual(attempt.state, 'pending')
            self.assertIn("unknown error", attempt.error_message)
            self.assertIsNone(attempt.payment)
            self.assertEqual(self.bill_payments(invoice_id), [])
            self.assert_unpaid(invoice_id)
            key = attempt.idempotency_key

            # Stripe charges but its answer to the charge is lost.
            with FailingStripe(self.server.url, forward=True,
                    only=lambda m, p: (m, p) == (
                        'POST', '/v1/payment_intents')) as failing, \
                    self.stripe_at(failing.url):
                Attempt.charge_due()
            self.assertEqual(failing.requests,
                [('POST', '/v1/payment_intents')])
        with self.tx():
            pool = Pool()
            Attempt = pool.get('utility.payment.autopay.attempt')
            Notification = pool.get('utility.payment.notification')
            attempt, = Attempt.search([('bill', '=', bill_id)])
            # Retryable: open with the error, neither failed nor notified
            self.assertEqual(attempt.state, 'processing')
            self.assertEqual(attempt.idempotency_key, key)
            self.assertIn("unknown error", attempt.error_message)
            self.assertIsNone(attempt.next_retry_date)
            payment = attempt.payment
            self.assertEqual(payment.state, 'processing')
            self.assertFalse(payment.stripe_payment_intent_id)
            self.assertEqual(Notification.search([('bill', '=', bill_id)]),
                [])
            # Not reconciled: no clearing move was posted
            self.assert_unpaid(invoice_id, Decimal(0))
            self.assertEqual(self.bill_payments(invoice_id), [payment])
            payment_id = payment.id
            customer = attempt.agreement.autopay_customer
            customer_id = customer.stripe_customer_id
            secret_key = customer.stripe_account.secret_key

            Attempt.charge_due()
        with self.tx():
            Attempt = Pool().get('utility.payment.autopay.attempt')
            attempt, = Attempt.search([('bill', '=', bill_id)])
            self.assertEqual(attempt.state, 'succeeded')
            self.assertEqual(attempt.idempotency_key, key)
            self.assertEqual(attempt.payment.id, payment_id)
            self.assertEqual(attempt.payment.state, 'succeeded')
            self.assert_paid(invoice_id)
            self.assertEqual(len(self.bill_payments(invoice_id)), 1)
        # Stripe charged the customer once: the retry got the replay.
        charges = stripe.Charge.list(customer=customer_id,
            api_key=secret_key)
        self.assertEqual(len(charges.data), 1)
        self.assertEqual(charges.data[0].amount, int(TOTAL * 100))

    def test_autopay_at_posting(self):
        "Timing 'at posting' charges a bill before its due date"
        with self.tx():
            pool = Pool()
            Attempt = pool.get('utility.payment.autopay.attempt')
            Provider = pool.get('utility.payment.provider')
            bill = self.bill()
            self.enable_autopay(bill.agreement.id)
            bill_id, invoice_id = bill.id, bill.invoice.id
            line, = bill.invoice.lines_to_pay
            posted, due = bill.invoice.invoice_date, line.maturity_date
            self.assertLess(posted, due)
            provider, = Provider.search([
                    ('company', '=', self.company_id)])
            # On due date (the default), nothing is charged before it.
            self.assertEqual(provider.autopay_timing, 'due_date')
            Attempt.charge_due(due - dt.timedelta(days=1))
            self.assertEqual(Attempt.search([('bill', '=', bill_id)]), [])
            provider.autopay_timing = 'posting'
            provider.save()
        with self.tx():
            Attempt = Pool().get('utility.payment.autopay.attempt')
            # The cron run of the posting day charges it.
            Attempt.charge_due(posted)
        with self.tx():
            Attempt = Pool().get('utility.payment.autopay.attempt')
            attempt, = Attempt.search([('bill', '=', bill_id)])
            self.assertEqual((attempt.date, attempt.state, attempt.amount),
                (posted, 'succeeded', TOTAL))
            self.assert_paid(invoice_id)
            Attempt.charge_due(due)
            self.assertEqual(len(Attempt.search([('bill', '=', bill_id)])),
                1)

    def test_autopay_outage_keeps_key(self):
        "A gateway outage leaves the attempt open; the retry reuses its key"
        with self.tx():
            pool = Pool()
            Attempt = pool.get('utility.payment.autopay.attempt')
            bill = self.bill()
            self.enable_autopay(bill.agreement.id)
            bill_id, invoice_id = bill.id, bill.invoice.id
            stripe.api_base = 'http://127.0.0.1:9'  # nothing listens
            try:
                Attempt.charge_due()
            finally:
                stripe.api_base = self.server.url
        with self.tx():
            pool = Pool()
            Attempt = pool.get('utility.payment.autopay.attempt')
            attempt, = Attempt.search([('bill', '=', bill_id)])
            self.assertEqual(attempt.state, 'processing')
            self.assertEqual(attempt.payment.state, 'processing')
            self.assertFalse(attempt.payment.stripe_payment_intent_id)
            self.assert_unpaid(invoice_id, Decimal(0))
            key = attempt.idempotency_key
            Attempt.charge_due()
        with self.tx():
            Attempt = Pool().get('utility.payment.autopay.attempt')
            attempt, = Attempt.search([('bill', '=', bill_id)])
            self.assertEqual(attempt.state, 'succeeded')
            self.assertEqual(attempt.idempotency_key, key)
            self.assert_paid(invoice_id)
