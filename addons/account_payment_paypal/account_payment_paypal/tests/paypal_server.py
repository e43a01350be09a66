# This file is part of Tryton.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""A local stand-in for the PayPal REST API used by the tests.

It follows PayPal's documented contract for the calls the module makes:
OAuth2 client-credentials token, Orders v2 (create, show, capture),
Payments v2 (capture refund) and verify-webhook-signature, with their error
bodies (name, message, debug_id, details[].issue) and PayPal-Request-Id
idempotency. Signatures are an HMAC of PayPal's signed string
(transmission id|time|webhook id|CRC32 of the event) instead of PayPal's
certificate, so tests can sign events with `sign_event`.
"""
import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import uuid
import zlib
from decimal import Decimal

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

AMOUNT_RE = re.compile(r'^((-?[0-9]+)|(-?([0-9]+)?[.][0-9]+))$')
# Currencies PayPal accepts without decimals
NO_DECIMAL = {'HUF', 'JPY', 'TWD'}


def _now():
    return dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def _id(length=17):
    alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789'
    return ''.join(secrets.choice(alphabet) for _ in range(length))


def canonical(event):
    "The bytes whose CRC32 the fake PayPal signs"
    return json.dumps(event, sort_keys=True, separators=(',', ':')).encode()


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


class PayPalServer:
    "PayPal REST API test server on 127.0.0.1 in a thread"

    def __init__(self, client_id='client-id', client_secret='client-secret',
            webhook_id='WH-TEST'):
        self.client_id = client_id
        self.client_secret = client_secret
        self.webhook_id = webhook_id
        self.signing_key = secrets.token_bytes(32)
        self.tokens = set()
        self.orders = {}
        self.captures = {}
        self.refunds = {}
        # (method, path, PayPal-Request-Id) -> (status, body)
        self.idempotent = {}
        self.requests = []
        self.delay = 0
        self.lock = threading.Lock()
        self._server = None
        self._thread = None

    # Server life
    def start(self, port=0):
        self._server = make_server(
            '127.0.0.1', port, self.wsgi, threaded=True,
            request_handler=_QuietHandler)
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    @property
    def url(self):
        return f'http://127.0.0.1:{self.port}'

    # Test helpers
    def approve(self, order_id, decline=False):
        "Approve the order as the buyer would on PayPal's checkout page"
        with self.lock:
            order = self.orders[order_id]
            order['status'] = 'APPROVED'
            order['payer'] = {
                'payer_id': 'PAYER' + _id(8),
                'email_address': 'buyer@example.com',
                'name': {'given_name': "John", 'surname': "Doe"},
                }
            order['_decline'] = decline
            order['update_time'] = _now()

    def sign_event(self, event, webhook_id=None, tamper=False):
        "Return the transmission headers PayPal sends with a webhook event"
        transmission_id = str(uuid.uuid1())
        transmission_time = _now()
        webhook_id = webhook_id or self.webhook_id
        crc = zlib.crc32(canonical(event))
        message = f'{transmission_id}|{transmission_time}|{webhook_id}|{crc}'
        signature = hmac.new(
            self.signing_key, message.encode(), hashlib.sha256).digest()
        if tamper:
            signature = bytes(b ^ 1 for b in signature)
        return {
            'PAYPAL-TRANSMISSION-ID': transmission_id,
            'PAYPAL-TRANSMISSION-TIME': transmission_time,
            'PAYPAL-TRANSMISSION-SIG': base64.b64encode(signature).decode(),
            'PAYPAL-CERT-URL': (
                self.url + '/v1/notifications/certs/CERT-TEST'),
            'PAYPAL-AUTH-ALGO': 'SHA256withRSA',
            }

    def event(self, event_type, resource, summary=''):
        "Build a webhook event as PayPal posts it"
        resource_type = 'refund' if 'REFUNDED' in event_type else 'capture'
        return {
            'id': 'WH-' + _id(20),
            'event_version': '1.0',
            'create_time': _now(),
            'resource_type': resource_type,
            'resource_version': '2.0',
            'event_type': event_type,
            'summary': summary,
            'resource': resource,
            'links': [],
            }

    def count(self, method, path_re):
        return sum(1 for m, p, _ in self.requests
            if m == method and re.fullmatch(path_re, p))

    # WSGI
    def wsgi(self, environ, start_response):
        request = Request(environ)
        with self.lock:
            self.requests.append(
                (request.method, request.path, dict(request.headers)))
        if self.delay:
            time.sleep(self.delay)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request):
        path, method = request.path, request.method
        if path == '/v1/oauth2/token' and method == 'POST':
            return self.token(request)
        if not self.authorized(request):
            return self.json(401, {
                    'error': 'invalid_token',
                    'error_description': (
                        "Token signature verification failed"),
                    })
        routes = [
            ('POST', r'/v2/checkout/orders', self.create_order),
            ('GET', r'/v2/checkout/orders/([A-Z0-9]+)', self.get_order),
            ('POST', r'/v2/checkout/orders/([A-Z0-9]+)/capture',
                self.capture_order),
            ('POST', r'/v2/payments/captures/([A-Z0-9]+)/refund',
                self.refund_capture),
            ('POST', r'/v1/notifications/verify-webhook-signature',
                self.verify_signature),
            ]
        for route_method, pattern, func in routes:
            match = re.fullmatch(pattern, path)
            if match and method == route_method:
                return self.idempotency(request, func, *match.groups())
        return self.error(404, 'RESOURCE_NOT_FOUND', [{
                    'issue': 'INVALID_RESOURCE_ID',
                    'description': "Specified resource ID does not exist.",
                    }])

    def idempotency(self, request, func, *args):
        # PayPal replays the stored response of a PayPal-Request-Id
        key = request.headers.get('PayPal-Request-Id')
        if key and request.method == 'POST':
            cache_key = (request.path, key)
            with self.lock:
                if cache_key in self.idempotent:
                    status, body = self.idempotent[cache_key]
                    # PayPal answers a replayed creation with 200
                    return self.json(200 if status == 201 else status, body)
            response = func(request, *args)
            with self.lock:
                self.idempotent[cache_key] = (
                    response.status_code, json.loads(response.get_data()))
            return response
        return func(request, *args)

    @staticmethod
    def json(status, body):
        return Response(
            json.dumps(body), status=status, content_type='application/json')

    def error(self, status, name, details=None, message=None):
        messages = {
            'UNPROCESSABLE_ENTITY': (
                "The requested action could not be performed, semantically "
                "incorrect, or failed business validation."),
            'INVALID_REQUEST': (
                "Request is not well-formed, syntactically incorrect, or "
                "violates schema."),
            'RESOURCE_NOT_FOUND': (
                "The specified resource does not exist."),
            }
        body = {
            'name': name,
            'message': message or messages.get(name, name),
            'debug_id': _id(13).lower(),
            'details': details or [],
            'links': [],
            }
        return self.json(status, body)

    def authorized(self, request):
        auth = request.headers.get('Authorization', '')
        return auth.startswith('Bearer ') and auth[7:] in self.tokens

    def token(self, request):
        expected = base64.b64encode(
            f'{self.client_id}:{self.client_secret}'.encode()).decode()
        if (request.headers.get('Authorization') != f'Basic {expected}'
                or request.form.get('grant_type') != 'client_credentials'):
            return self.json(401, {
                    'error': 'invalid_client',
                    'error_description': "Client Authentication failed",
                    })
        token = 'A21AA' + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens.add(token)
        return self.json(200, {
                'scope': 'https://uri.paypal.com/services/payments/payment',
                'access_token': token,
                'token_type': 'Bearer',
                'app_id': 'APP-80W284485P519543T',
                'expires_in': 32400,
                'nonce': _now() + secrets.token_hex(8),
                })

    def _check_amount(self, amount, field):
        value = amount.get('value', '')
        currency = amount.get('currency_code', '')
        if not AMOUNT_RE.match(value) or len(currency) != 3:
            return [{
                    'field': field + '/value',
                    'issue': 'INVALID_PARAMETER_VALUE',
                    'description': "The value of a field is invalid.",
                    }]
        decimals = max(-Decimal(value).as_tuple().exponent, 0)
        if decimals > (0 if currency in NO_DECIMAL else 2):
            return [{
                    'field': field + '/value',
                    'issue': 'DECIMAL_PRECISION',
                    'description': (
                        "If the currency supports decimals, only two "
                        "decimal place precision is supported."),
                    }]
        if Decimal(value) <= 0:
            return [{
                    'field': field + '/value',
                    'issue': 'CANNOT_BE_ZERO_OR_NEGATIVE',
                    'description': "Must be greater than zero.",
                    }]

    def _links(self, order):
        base = self.url + '/v2/checkout/orders/' + order['id']
        approve = f"{self.url}/checkoutnow?token={order['id']}"
        links = [{'href': base, 'rel': 'self', 'method': 'GET'}]
        if order['status'] in {'CREATED', 'PAYER_ACTION_REQUIRED'}:
            rel = ('payer-action'
                if order['status'] == 'PAYER_ACTION_REQUIRED' else 'approve')
            links.append({'href': approve, 'rel': rel, 'method': 'GET'})
        if order['status'] == 'APPROVED':
            links.append(
                {'href': base + '/capture', 'rel': 'capture',
                    'method': 'POST'})
        return links

    def _public(self, order):
        order = {k: v for k, v in order.items() if not k.startswith('_')}
        order['links'] = self._links(order)
        return order

    def create_order(self, request):
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.error(400, 'INVALID_REQUEST', [{
                        'issue': 'MALFORMED_REQUEST_JSON',
                        'description': "The request JSON is not well formed.",
                        }])
        if body.get('intent') not in {'CAPTURE', 'AUTHORIZE'}:
            return self.error(400, 'INVALID_REQUEST', [{
                        'field': '/intent',
                        'issue': 'MISSING_REQUIRED_PARAMETER',
                        'description': "A required field is missing.",
                        }])
        units = body.get('purchase_units') or []
        if not units:
            return self.error(400, 'INVALID_REQUEST', [{
                        'field': '/purchase_units',
                        'issue': 'MISSING_REQUIRED_PARAMETER',
                        'description': "A required field is missing.",
                        }])
        for i, unit in enumerate(units):
            details = self._check_amount(
                unit.get('amount', {}),
                f"/purchase_units/@reference_id=='{i}'/amount")
            if details:
                return self.error(422, 'UNPROCESSABLE_ENTITY', details)
        source = body.get('payment_source', {})
        order = {
            'id': _id(17),
            'intent': body['intent'],
            'status': (
                'PAYER_ACTION_REQUIRED' if 'paypal' in source else 'CREATED'),
            'purchase_units': [dict(u, reference_id=u.get('reference_id',
                        'default')) for u in units],
            'create_time': _now(),
            '_experience': source.get('paypal', {}).get(
                'experience_context', {}),
            }
        with self.lock:
            self.orders[order['id']] = order
        return self.json(201, self._public(order))

    def get_order(self, request, order_id):
        order = self.orders.get(order_id)
        if not order:
            return self.error(404, 'RESOURCE_NOT_FOUND', [{
                        'field': 'order_id',
                        'issue': 'INVALID_RESOURCE_ID',
                        'description': "Specified resource ID does not exist.",
                        }])
        return self.json(200, self._public(order))

    def capture_order(self, request, order_id):
        with self.lock:
            order = self.orders.get(order_id)
            if not order:
                return self.error(404, 'RESOURCE_NOT_FOUND', [{
                            'field': 'order_id',
                            'issue': 'INVALID_RESOURCE_ID',
                            'description': (
                                "Specified resource ID does not exist."),
                            }])
            if order['status'] == 'COMPLETED':
                return self.error(422, 'UNPROCESSABLE_ENTITY', [{
                            'issue': 'ORDER_ALREADY_CAPTURED',
                            'description': "Order already captured.",
                            }])
            if order['status'] != 'APPROVED':
                return self.error(422, 'UNPROCESSABLE_ENTITY', [{
                            'issue': 'ORDER_NOT_APPROVED',
                            'description': (
                                "Payer has not yet approved the Order for "
                                "payment."),
                            }])
            if order['_decline']:
                return self.error(422, 'UNPROCESSABLE_ENTITY', [{
                            'issue': 'INSTRUMENT_DECLINED',
                            'description': (
                                "The instrument presented was either "
                                "declined by the processor or bank, or it "
                                "can't be used for this payment."),
                            }])
            for unit in order['purchase_units']:
                capture_id = _id(17)
                capture = {
                    'id': capture_id,
                    'status': 'COMPLETED',
                    'amount': dict(unit['amount']),
                    'final_capture': True,
                    'seller_protection': {'status': 'ELIGIBLE'},
                    'invoice_id': unit.get('invoice_id'),
                    'custom_id': unit.get('custom_id'),
                    'create_time': _now(),
                    'update_time': _now(),
                    'supplementary_data': {
                        'related_ids': {'order_id': order_id}},
                    'links': [
                        {'href': (
                                f'{self.url}/v2/payments/captures/'
                                f'{capture_id}'),
                            'rel': 'self', 'method': 'GET'},
                        {'href': (
                                f'{self.url}/v2/payments/captures/'
                                f'{capture_id}/refund'),
                            'rel': 'refund', 'method': 'POST'},
                        ],
                    '_refunded': Decimal(0),
                    }
                self.captures[capture_id] = capture
                public = {
                    k: v for k, v in capture.items() if not k.startswith('_')}
                unit['payments'] = {'captures': [public]}
            order['status'] = 'COMPLETED'
            order['update_time'] = _now()
        return self.json(201, self._public(order))

    def refund_capture(self, request, capture_id):
        body = request.get_json(silent=True) or {}
        with self.lock:
            capture = self.captures.get(capture_id)
            if not capture:
                return self.error(404, 'RESOURCE_NOT_FOUND', [{
                            'issue': 'INVALID_RESOURCE_ID',
                            'description': (
                                "Specified resource ID does not exist."),
                            }])
            captured = Decimal(capture['amount']['value'])
            amount = body.get('amount') or {
                'value': str(captured - capture['_refunded']),
                'currency_code': capture['amount']['currency_code'],
                }
            details = self._check_amount(amount, '/amount')
            if details:
                return self.error(422, 'UNPROCESSABLE_ENTITY', details)
            if amount['currency_code'] != capture['amount']['currency_code']:
                return self.error(422, 'UNPROCESSABLE_ENTITY', [{
                            'field': '/amount/currency_code',
                            'issue': 'REFUND_CURRENCY_MISMATCH',
                            'description': (
                                "Refund must be in the same currency as "
                                "the capture."),
                            }])
            value = Decimal(amount['value'])
            if capture['_refunded'] + value > captured:
                return self.error(422, 'UNPROCESSABLE_ENTITY', [{
                            'issue': 'REFUND_AMOUNT_EXCEEDED',
                            'description': (
                                "The refund amount must be less than or "
                                "equal to the capture amount that has not "
                                "yet been refunded."),
                            }])
            capture['_refunded'] += value
            refund_id = _id(17)
            refund = {
                'id': refund_id,
                'status': 'COMPLETED',
                'amount': amount,
                'invoice_id': body.get('invoice_id'),
                'note_to_payer': body.get('note_to_payer'),
                'create_time': _now(),
                'update_time': _now(),
                'links': [
                    {'href': f'{self.url}/v2/payments/refunds/{refund_id}',
                        'rel': 'self', 'method': 'GET'},
                    {'href': f'{self.url}/v2/payments/captures/{capture_id}',
                        'rel': 'up', 'method': 'GET'},
                    ],
                }
            self.refunds[refund_id] = refund
        return self.json(201, refund)

    def verify_signature(self, request):
        body = request.get_json(silent=True)
        required = ['auth_algo', 'cert_url', 'transmission_id',
            'transmission_sig', 'transmission_time', 'webhook_id',
            'webhook_event']
        missing = [f for f in required if not (body or {}).get(f)]
        if missing:
            return self.error(400, 'VALIDATION_ERROR', [{
                        'field': f,
                        'location': 'body',
                        'issue': 'MISSING_REQUIRED_PARAMETER',
                        } for f in missing],
                message="Invalid request - see details")
        status = 'FAILURE'
        if body['webhook_id'] == self.webhook_id:
            crc = zlib.crc32(canonical(body['webhook_event']))
            message = (f"{body['transmission_id']}|"
                f"{body['transmission_time']}|{body['webhook_id']}|{crc}")
            expected = hmac.new(
                self.signing_key, message.encode(), hashlib.sha256).digest()
            try:
                signature = base64.b64decode(body['transmission_sig'])
            except (binascii.Error, ValueError):
                signature = b''
            if hmac.compare_digest(expected, signature):
                status = 'SUCCESS'
        return self.json(200, {'verification_status': status})
