"""A fake Stripe for the tests: localstripe plus what it lacks.

Run as ``python -m utility_payment.tests.stripe_server --port N``; the
tests start it on loopback with :class:`LocalStripe`. What localstripe
lacks of the Stripe API that account_payment_stripe and this module call is
added here, following Stripe's API reference:

- idempotent requests (``Idempotency-Key``): a replay returns the first
  response; the same key with other parameters is an ``idempotency_error``;
- PaymentIntent ``automatic_payment_methods``, ``description``,
  ``payment_method_types`` and ``off_session`` without ``confirm``;
  ``confirm`` with ``payment_method`` or ``payment_method_data``; a
  declined confirmation returns the ``payment_intent`` in the error;
- PaymentIntent ``amount_received`` and ``amount_capturable``; Charge
  ``amount_captured``; Refund ``reason`` and the
  ``charge.refunded`` event;
- PaymentMethod list without ``type``; CustomerSession create;
- nothing written to ``/tmp/localstripe.pickle`` (shared machine).
"""
import argparse
import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request


def patch():
    from aiohttp import web
    from localstripe import resources
    from localstripe.errors import UserError
    from localstripe.resources import (
        Charge, Event, PaymentIntent, PaymentMethod, Refund, random_id,
        schedule_webhook)

    customer_init = resources.Customer.__init__

    def customer_init_(self, preferred_locales=None, **kwargs):
        # The SDK sends an empty list as an empty string.
        customer_init(self, preferred_locales=preferred_locales or None,
            **kwargs)

    resources.Customer.__init__ = customer_init_

    resources.Store.dump_to_disk = lambda self: None
    resources.Store.try_load_from_disk = lambda self: None

    # PaymentIntent parameters localstripe refuses
    init = PaymentIntent.__init__

    def pi_init(self, automatic_payment_methods=None, description=None,
            setup_future_usage=None, statement_descriptor=None, **kwargs):
        init(self, **kwargs)
        self.description = description
        self.automatic_payment_methods = automatic_payment_methods
        if kwargs.get('payment_method_types'):
            self.payment_method_types = kwargs['payment_method_types']

    PaymentIntent.__init__ = pi_init
    create = PaymentIntent._api_create.__func__

    def pi_create(cls, confirm=None, off_session=None, **data):
        if str(confirm).lower() != 'true':
            # off_session only matters when confirming
            off_session = None
        return create(cls, confirm=confirm, off_session=off_session, **data)

    PaymentIntent._api_create = classmethod(pi_create)
    confirm = PaymentIntent._api_confirm.__func__

    def pi_confirm(cls, id, payment_method=None, payment_method_data=None,
            return_url=None, off_session=None, **kwargs):
        if payment_method_data:
            payment_method = PaymentMethod(**payment_method_data).id
        if payment_method:
            obj = cls._api_retrieve(id)
            PaymentMethod._api_retrieve(payment_method)
            obj.payment_method = payment_method
        return confirm(cls, id, **kwargs)

    PaymentIntent._api_confirm = classmethod(pi_confirm)

    report_failure = PaymentIntent._report_failure

    def pi_report_failure(self):
        try:
            report_failure(self)
        except UserError as e:
            # Stripe returns the PaymentIntent with a card error.
            e.body['error']['type'] = 'card_error'
            e.body['error']['decline_code'] = 'generic_decline'
            e.body['error']['payment_intent'] = self._export()
            raise

    PaymentIntent._report_failure = pi_report_failure

    PaymentIntent.amount_received = property(
        lambda self: self.latest_charge.amount_captured
        if self.latest_charge is not None else 0)
    PaymentIntent.amount_capturable = property(
        lambda self: self.latest_charge.amount
        if self.status == 'requires_capture' else 0)
    Charge.amount_captured = property(
        lambda self: self.amount
        if self.captured and self.status == 'succeeded' else 0)

    refund_init = Refund.__init__

    def refund_init_(self, reason=None, **kwargs):
        refund_init(self, **kwargs)
        self.reason = reason
        charge = Charge._api_retrieve(self.charge)
        schedule_webhook(Event('charge.refunded', charge))

    Refund.__init__ = refund_init_

    list_all = PaymentMethod._api_list_all.__func__

    def pm_list_all(cls, url, customer=None, type=None, limit=None,
            starting_after=None):
        li = list_all(cls, url, customer=customer, type='card', limit=limit,
            starting_after=starting_after)
        if type is None:
            li._list = [pm for pm in resources.store.values()
                if isinstance(pm, PaymentMethod)
                and pm.customer == customer]
        return li

    PaymentMethod._api_list_all = classmethod(pm_list_all)

    # Routes bind localstripe's extra API methods when the server module
    # is imported: point them to the patched ones first.
    for i, (method, url, func) in enumerate(resources.extra_apis):
        if url == '/v1/payment_intents/{id}/confirm':
            resources.extra_apis[i] = (
                method, url, PaymentIntent._api_confirm)
    from localstripe import server

    async def customer_sessions(request):
        data = await server.get_post_data(request) or {}
        customer = data.get('customer')
        resources.Customer._api_retrieve(customer)
        return server.json_response({
                'object': 'customer_session',
                'client_secret': 'cuss_secret_' + random_id(24),
                'customer': customer,
                'components': data.get('components') or {},
                'created': int(time.time()),
                'expires_at': int(time.time()) + 1800,
                'livemode': False,
                })

    server.app.router.add_post('/v1/customer_sessions', customer_sessions)

    responses = {}

    @web.middleware
    async def idempotency_middleware(request, handler):
        key = request.headers.get('Idempotency-Key')
        if request.method != 'POST' or not key:
            return await handler(request)
        auth = request.headers.get('Authorization', '')
        body = await request.read()
        fingerprint = hashlib.sha256(
            request.path.encode() + b'?' + body).hexdigest()
        cached = responses.get((auth, key))
        if cached:
            if cached[0] != fingerprint:
                return server.json_response({'error': {
                            'type': 'idempotency_error',
                            'message': "Keys for idempotent requests can "
                            "only be used with the same parameters they "
                            "were first used with.",
                            }}, status=400)
            response = web.Response(body=cached[2], status=cached[1],
                content_type='application/json')
            response.headers['Idempotent-Replayed'] = 'true'
            return response
        response = await handler(request)
        responses[(auth, key)] = (fingerprint, response.status, response.body)
        return response

    server.app.middlewares.insert(0, idempotency_middleware)

    counts = {}

    @web.middleware
    async def count_middleware(request, handler):
        if not request.path.startswith('/_'):
            name = '%s %s' % (request.method, request.path)
            counts[name] = counts.get(name, 0) + 1
        return await handler(request)

    server.app.middlewares.insert(0, count_middleware)

    async def get_counts(request):
        return server.json_response(counts)

    server.app.router.add_get('/_config/test_counts', get_counts)
    return server.app


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--port', type=int, required=True)
    args = parser.parse_args()
    app = patch()
    from aiohttp import web
    web.run_app(app, host='127.0.0.1', port=args.port, print=None,
        access_log=None)


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class LocalStripe:
    "The fake Stripe in a subprocess on a free loopback port"

    def __init__(self):
        self.port = free_port()
        self.url = 'http://127.0.0.1:%s' % self.port
        self.process = None

    def start(self, timeout=30):
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'utility_payment.tests.stripe_server',
                '--port', str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=dict(os.environ, PYTHONWARNINGS='ignore'))
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(
                    "localstripe died: %s" % self.process.stderr.read())
            try:
                with socket.create_connection(('127.0.0.1', self.port), 0.2):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("localstripe did not start")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process and self.process.stderr:
            self.process.stderr.close()

    def counts(self):
        with urllib.request.urlopen(self.url + '/_config/test_counts') as response:
            return json.load(response)


class FailingStripe:
    """A small HTTP server in front of the fake Stripe answering 500.

    It answers 500 to the requests that ``only(method, path)`` selects (by
    default all) and passes the others on to the fake Stripe. With forward,
    a failed request is passed on first and the answer dropped: Stripe did
    the work but the caller only sees the error.
    """

    def __init__(self, upstream, forward=False, only=None):
        self.upstream = upstream
        self.forward = forward
        self.only = only or (lambda method, path: True)
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def upstream(self, body):
                request = urllib.request.Request(
                    outer.upstream + self.path, data=body,
                    method=self.command, headers={
                        k: v for k, v in self.headers.items()
                        if k.lower() not in {'host', 'connection'}})
                try:
                    with urllib.request.urlopen(request) as response:
                        return response.status, response.read()
                except urllib.error.HTTPError as error:
                    return error.code, error.read()

            def handle_one(self):
                length = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(length) if length else None
                path = self.path.split('?')[0]
                if outer.only(self.command, path):
                    outer.requests.append((self.command, path))
                    if outer.forward:
                        self.upstream(body)
                    status, payload = 500, json.dumps({'error': {
                                'type': 'api_error',
                                'message': "An unknown error occurred",
                                }}).encode()
                else:
                    status, payload = self.upstream(body)
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(payload)))
                self.send_header('Request-Id', 'req_failing')
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = handle_one

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(
            ('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%s' % self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

if __name__ == '__main__':
    main()
