"""Webhooks posted to a receiver on loopback that checks the signature.

Deliveries commit one by one, so these tests run on committed data in a
database of their own."""
import datetime as dt
import functools
import http.server
import json
import socket
import threading
import unittest

import trytond.tools.misc
from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, activate_module, drop_db
from trytond.transaction import Transaction, TransactionError
from utility_billing.tests.tools import (
    create_customer, create_cycle, create_plan, create_products,
    setup_accounting)

from utility_care.webhook import sign, verify_signature

trytond.tools.misc.import_module = functools.cache(
    trytond.tools.misc.import_module)

SECRET = 'whsec-test-0123456789'


def committed(func, context=None, commit=True):
    """Run func in a transaction of its own as the server does: again with
    the tables and records it locks, then commit"""
    extras = {}
    while True:
        with Transaction().start(DB_NAME, 0, context=context,
                **extras) as transaction:
            try:
                result = func()
            except TransactionError as exception:
                transaction.rollback()
                exception.fix(extras)
                continue
            # Leaving the block commits: roll back explicitly.
            if commit:
                transaction.commit()
            else:
                transaction.rollback()
            return result


class Receiver:
    "An HTTP server on loopback recording and verifying posted webhooks"

    def __init__(self, statuses=None):
        # Status answered to each post in turn; the last one repeats.
        self.statuses = list(statuses or [200])
        self.posts = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers['Content-Length']))
                receiver.posts.append({
                        'headers': dict(self.headers),
                        'body': body,
                        'valid': verify_signature(SECRET, body,
                            self.headers['X-Utility-Timestamp'],
                            self.headers['X-Utility-Signature']),
                        })
                status = (receiver.statuses.pop(0)
                    if len(receiver.statuses) > 1 else receiver.statuses[0])
                self.send_response(status)
                self.send_header('Content-Length', '0')
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(
            ('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%s/hooks' % self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever,
            daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def events(self):
        return [json.loads(p['body'])['event'] for p in self.posts]


class SignatureTestCase(unittest.TestCase):
    "The signature helpers"

    def test_sign_verify(self):
        body = b'{"event": "customer.created"}'
        signature = sign(SECRET, '1700000000', body)
        self.assertTrue(signature.startswith('sha256='))
        self.assertEqual(len(signature), len('sha256=') + 64)
        self.assertTrue(verify_signature(SECRET, body, '1700000000',
                signature, now=1700000100))
        # Another secret, body or timestamp does not verify
        self.assertFalse(verify_signature('other', body, '1700000000',
                signature, now=1700000100))
        self.assertFalse(verify_signature(SECRET, body + b' ', '1700000000',
                signature, now=1700000100))
        self.assertFalse(verify_signature(SECRET, body, '1700000001',
                signature, now=1700000100))
        # A replay after the tolerance is refused
        self.assertFalse(verify_signature(SECRET, body, '1700000000',
                signature, now=1700001000))
        self.assertFalse(verify_signature(SECRET, body, 'x', signature))


class WebhookTestCase(unittest.TestCase):
    "Customer, agreement and request events delivered, retried, failed"

    @classmethod
    def setUpClass(cls):
        drop_db()
        activate_module('utility_care')

    @classmethod
    def tearDownClass(cls):
        drop_db()

    def setUp(self):
        self.receivers = []

    def tearDown(self):
        for receiver in self.receivers:
            receiver.close()

    def receiver(self, statuses=None):
        receiver = Receiver(statuses)
        self.receivers.append(receiver)
        return receiver

    def provider(self, url, **values):
        "A provider with a rate plan and an endpoint; ids committed"
        def create():
            pool = Pool()
            Endpoint = pool.get('utility.webhook.endpoint')
            company = create_company()
            with set_company(company):
                revenue, tax = setup_accounting(company)
                plan = create_plan(company, create_products(revenue, tax))
                cycle = create_cycle(company)
                endpoint, = Endpoint.create([dict({
                                'company': company.id,
                                'name': "CRM",
                                'url': url,
                                'secret': SECRET,
                                }, **values)])
            return company.id, plan.id, cycle.id, endpoint.id
        return committed(create)

    def deliver_due(self):
        committed(lambda: Pool().get('utility.webhook.delivery').deliver_due())

    def deliveries(self, endpoint_id):
        Delivery = Pool().get('utility.webhook.delivery')
        return Delivery.search([('endpoint', '=', endpoint_id)],
            order=[('id', 'ASC')])

    def test_signed_events(self):
        "Customer, agreement and request events reach the receiver signed"
        receiver = self.receiver()
        company_id, plan_id, cycle_id, endpoint_id = self.provider(
            receiver.url)
        other = self.receiver()
        self.provider(other.url)
        def create():
            pool = Pool()
            Company = pool.get('company.company')
            Plan = pool.get('utility.rate.plan')
            Cycle = pool.get('utility.billing.cycle')
            Request = pool.get('utility.service.request')
            company = Company(company_id)
            with set_company(company):
                agreement, _ = create_customer(company, 1, Plan(plan_id),
                    Cycle(cycle_id), serial='WH1')
                request, = Request.create([{
                            'company': company_id,
                            'party': agreement.party.id,
                            'agreement': agreement.id,
                            'kind': 'billing_dispute',
                            'subject': "Too high",
                            }])
                Request.start([request])
                return request.number, agreement.party.id
        number, party_id = committed(create)
        # Nothing is posted before the queue or the cron runs
        self.assertEqual(receiver.posts, [])
        self.deliver_due()

        self.assertEqual(receiver.events(), [
                'customer.created',
                'agreement.created',
                'agreement.updated',
                'service_request.created',
                'service_request.updated',
                ])
        self.assertTrue(all(p['valid'] for p in receiver.posts))
        # The other provider's endpoint hears nothing of it
        self.assertEqual(other.posts, [])
        created = json.loads(receiver.posts[3]['body'])
        self.assertEqual(created['data']['number'], number)
        self.assertEqual(created['data']['state'], 'new')
        self.assertEqual(created['data']['customer']['id'], party_id)
        self.assertEqual(created['provider'], company_id)
        headers = receiver.posts[3]['headers']
        self.assertEqual(headers['X-Utility-Event'],
            'service_request.created')
        self.assertEqual(headers['X-Utility-Delivery'], created['id'])
        self.assertEqual(headers['Content-Type'], 'application/json')
        updated = json.loads(receiver.posts[4]['body'])
        self.assertEqual(updated['data']['state'], 'in_progress')
        activated = json.loads(receiver.posts[2]['body'])
        self.assertEqual(activated['data']['state'], 'active')

        with Transaction().start(DB_NAME, 0):
            deliveries = self.deliveries(endpoint_id)
            self.assertEqual([d.state for d in deliveries],
                ['delivered'] * 5)
            self.assertEqual({d.status_code for d in deliveries}, {200})
            self.assertEqual({d.attempts for d in deliveries}, {1})
            self.assertEqual({d.next_try for d in deliveries}, {None})
        # Delivered once: the next run posts nothing again
        self.deliver_due()
        self.assertEqual(len(receiver.posts), 5)

    def test_retry_backoff_failed(self):
        "A failing receiver is retried with backoff, then marked failed"
        receiver = self.receiver([500])
        company_id, plan_id, cycle_id, endpoint_id = self.provider(
            receiver.url, max_attempts=3,
            events=['service_request.created'])
        def create():
            pool = Pool()
            Party = pool.get('party.party')
            Request = pool.get('utility.service.request')
            party, = Party.create([{'name': "Prospect"}])
            request, = Request.create([{
                        'company': company_id,
                        'party': party.id,
                        'kind': 'service_issue',
                        'subject': "No water",
                        }])
            # Not subscribed
            Request.start([request])
        committed(create, context={'company': company_id})

        def delivery():
            delivery, = self.deliveries(endpoint_id)
            return delivery

        def make_due():
            def write():
                Delivery = Pool().get('utility.webhook.delivery')
                Delivery.write([delivery()], {
                        'next_try': dt.datetime.now()
                        - dt.timedelta(seconds=1)})
            committed(write)

        for attempt, backoff in [(1, 1), (2, 2)]:
            before = dt.datetime.now()
            self.deliver_due()
            with Transaction().start(DB_NAME, 0):
                d = delivery()
                self.assertEqual(d.state, 'pending')
                self.assertEqual(d.attempts, attempt)
                self.assertEqual(d.status_code, 500)
                self.assertIn('500', d.error)
                self.assertAlmostEqual(d.next_try - before,
                    dt.timedelta(minutes=backoff),
                    delta=dt.timedelta(seconds=30))
            # Not due yet: nothing is posted
            self.deliver_due()
            self.assertEqual(len(receiver.posts), attempt)
            make_due()
        self.deliver_due()
        with Transaction().start(DB_NAME, 0):
            d = delivery()
            self.assertEqual(d.state, 'failed')
            self.assertEqual(d.attempts, 3)
            self.assertIsNone(d.next_try)
            uuid = d.uuid
        self.assertEqual(len(receiver.posts), 3)
        # Every attempt is the same delivery, signed anew
        self.assertEqual(
            {p['headers']['X-Utility-Delivery'] for p in receiver.posts},
            {uuid})
        self.assertTrue(all(p['valid'] for p in receiver.posts))
        self.assertEqual(receiver.events(), ['service_request.created'] * 3)
        self.deliver_due()
        self.assertEqual(len(receiver.posts), 3)

        # The receiver is fixed; an administrator retries
        receiver.statuses = [204]
        committed(lambda: Pool().get('utility.webhook.delivery').retry(
                [delivery()]))
        self.deliver_due()
        with Transaction().start(DB_NAME, 0):
            d = delivery()
            self.assertEqual(d.state, 'delivered')
            self.assertEqual(d.status_code, 204)
        self.assertEqual(len(receiver.posts), 4)

    def test_unreachable(self):
        "A closed port is logged as an error and retried"
        with socket.socket() as sock:
            sock.bind(('127.0.0.1', 0))
            port = sock.getsockname()[1]
        company_id, plan_id, cycle_id, endpoint_id = self.provider(
            'http://127.0.0.1:%s/hooks' % port, timeout=2)
        committed(lambda: Pool().get('party.party').create(
                [{'name': "Newcomer"}]), context={'company': company_id})
        self.deliver_due()
        with Transaction().start(DB_NAME, 0):
            delivery, = self.deliveries(endpoint_id)
            self.assertEqual(delivery.event, 'customer.created')
            self.assertEqual(delivery.state, 'pending')
            self.assertIsNone(delivery.status_code)
            self.assertTrue(delivery.error)
            self.assertEqual(delivery.attempts, 1)

    def test_rollback_sends_nothing(self):
        "An event of a rolled back transaction is never delivered"
        receiver = self.receiver()
        company_id, _, _, endpoint_id = self.provider(receiver.url)
        committed(lambda: Pool().get('party.party').create(
                [{'name': "Ghost"}]), context={'company': company_id},
            commit=False)
        self.deliver_due()
        self.assertEqual(receiver.posts, [])
        with Transaction().start(DB_NAME, 0):
            self.assertEqual(self.deliveries(endpoint_id), [])
