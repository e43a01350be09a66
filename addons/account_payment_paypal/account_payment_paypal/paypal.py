# This file is part of Tryton.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"Glue between Tryton and PayPal's server SDK (paypal-server-sdk)"
import functools
import urllib.parse

import requests
from apimatic_core.authentication.multiple.single_auth import Single
from apimatic_core.exceptions.auth_validation_exception import (
    AuthValidationException)
from apimatic_core.request_builder import RequestBuilder
from apimatic_core.response_handler import ResponseHandler
from apimatic_core.types.parameter import Parameter
from paypalserversdk.api_helper import APIHelper
from paypalserversdk.configuration import Configuration, Environment, Server
from paypalserversdk.controllers.base_controller import BaseController
from paypalserversdk.exceptions.api_exception import ApiException
from paypalserversdk.exceptions.error_exception import ErrorException
from paypalserversdk.http.auth.o_auth_2 import (
    ClientCredentialsAuthCredentials)
from paypalserversdk.http.http_method_enum import HttpMethodEnum
from paypalserversdk.paypal_serversdk_client import PaypalServersdkClient

import trytond.config as config

__all__ = [
    'ApiException', 'AuthValidationException', 'ErrorException',
    'client', 'error_code', 'error_message', 'is_retryable', 'link',
    'verify_webhook_signature', 'LOOPBACK_HOSTS']

TIMEOUT = config.getfloat('account_payment_paypal', 'timeout', default=30)
# Hosts a base URL override may point to: it only exists for a local test
# server, and must never send the credentials anywhere else.
LOOPBACK_HOSTS = {'127.0.0.1', 'localhost', '::1'}


class _Configuration(Configuration):
    "SDK configuration with an optional base URL (local test server)"

    def __init__(self, *args, base_uri=None, **kwargs):
        self._base_uri = base_uri
        super().__init__(*args, **kwargs)

    def get_base_uri(self, server=Server.DEFAULT):
        if self._base_uri:
            return self._base_uri
        return super().get_base_uri(server)


class WebhooksController(BaseController):
    """The verify-webhook-signature call, which the SDK does not ship

    Built like the SDK's own controllers so it shares their OAuth2 token,
    base URL and error handling.
    """

    def verify_webhook_signature(self, body):
        # body is the JSON text: the event must reach PayPal as received
        return super().new_api_call_builder.request(
            RequestBuilder().server(Server.DEFAULT)
            .path('/v1/notifications/verify-webhook-signature')
            .http_method(HttpMethodEnum.POST)
            .header_param(Parameter()
                .key('Content-Type')
                .value('application/json'))
            .header_param(Parameter()
                .key('accept')
                .value('application/json'))
            .body_param(Parameter().value(body))
            .auth(Single('Oauth2')),
        ).response(
            ResponseHandler()
            .deserializer(APIHelper.json_deserialize)
            .is_api_response(True)
            .local_error('default', "The error response.", ErrorException),
        ).execute()


@functools.lru_cache(maxsize=32)
def _client(client_id, client_secret, environment, base_url, timeout):
    # Cached so the OAuth2 token is reused until it expires
    configuration = _Configuration(
        base_uri=base_url or None,
        timeout=timeout,
        # Retries are ours (cron, webhook redelivery) with idempotency keys
        max_retries=0,
        environment=(Environment.PRODUCTION if environment == 'live'
            else Environment.SANDBOX),
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            o_auth_client_id=client_id,
            o_auth_client_secret=client_secret))
    client = PaypalServersdkClient(config=configuration)
    client.webhooks = WebhooksController(client.global_configuration)
    return client


def client(account):
    return _client(
        account.client_id, account.client_secret, account.environment,
        account.base_url, TIMEOUT)


def verify_webhook_signature(account, headers, raw_event):
    """Ask PayPal whether the event was signed for the account's webhook

    raw_event is the request body as received: PayPal signs those bytes, so
    it is put in the verification request untouched.
    """
    fields = {
        'auth_algo': headers.get('PAYPAL-AUTH-ALGO'),
        'cert_url': headers.get('PAYPAL-CERT-URL'),
        'transmission_id': headers.get('PAYPAL-TRANSMISSION-ID'),
        'transmission_sig': headers.get('PAYPAL-TRANSMISSION-SIG'),
        'transmission_time': headers.get('PAYPAL-TRANSMISSION-TIME'),
        'webhook_id': account.webhook_id,
        }
    body = APIHelper.json_serialize(fields)[:-1] + (
        ',"webhook_event":' + raw_event + '}')
    response = client(account).webhooks.verify_webhook_signature(body)
    return (response.body or {}).get('verification_status') == 'SUCCESS'


def is_retryable(exception):
    "Whether PayPal may accept the same call later"
    if isinstance(exception, requests.exceptions.RequestException):
        # connection refused, timeout, reset
        return True
    if isinstance(exception, ApiException):
        return (exception.response_code in {408, 409, 429}
            or exception.response_code >= 500)
    return False


def error_code(exception):
    "PayPal's most precise error code: the first issue, else the name"
    for detail in getattr(exception, 'details', None) or []:
        if getattr(detail, 'issue', None):
            return detail.issue
    return getattr(exception, 'name', None) or str(
        getattr(exception, 'response_code', '') or type(exception).__name__)


def error_message(exception):
    for detail in getattr(exception, 'details', None) or []:
        if getattr(detail, 'description', None):
            return detail.description
    return getattr(exception, 'message', None) or str(exception)


def link(resource, rel):
    for link in getattr(resource, 'links', None) or []:
        if link.rel == rel:
            return link.href


def url_host(url):
    return urllib.parse.urlsplit(url).hostname
