# This file is part of Tryton.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
import html
import json
import logging

from werkzeug.utils import redirect

from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.protocols.wrappers import (
    HTTPStatus, Response, abort, with_pool, with_transaction)
from trytond.wsgi import app

from . import paypal
from .exceptions import PayPalUnavailableError

logger = logging.getLogger(__name__)

TRANSMISSION_HEADERS = [
    'PAYPAL-TRANSMISSION-ID', 'PAYPAL-TRANSMISSION-TIME',
    'PAYPAL-TRANSMISSION-SIG', 'PAYPAL-CERT-URL', 'PAYPAL-AUTH-ALGO']


def _get_model(pool, name):
    # Routes answer in every database, activated or not
    try:
        return pool.get(name)
    except KeyError:
        abort(HTTPStatus.NOT_FOUND)


def _checkout_payment(pool, model, id):
    Payment = _get_model(pool, 'account.payment')
    if (model != Payment.__name__
            or 'paypal_checkout_id' not in Payment._fields):
        abort(HTTPStatus.FORBIDDEN)
    try:
        payment, = Payment.search([
                ('paypal_checkout_id', '=', id),
                ])
    except ValueError:
        abort(HTTPStatus.NOT_FOUND)
    return payment


def _page(message, status=HTTPStatus.OK):
    content = (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width">'
        '<title>PayPal</title></head>'
        '<body><main><p role="status">%s</p></main></body></html>'
        % html.escape(message))
    return Response(content, status, content_type='text/html')


def _state_page(payment):
    messages = {
        'succeeded': 'account_payment_paypal.msg_checkout_succeeded',
        'failed': 'account_payment_paypal.msg_checkout_failed',
        }
    return _page(gettext(
            messages.get(
                payment.state, 'account_payment_paypal.msg_checkout_pending'),
            payment=payment.rec_name))


@app.route(
    '/<database_name>/account_payment_paypal/checkout/<model>/<id>',
    methods=['GET'])
@with_pool
@with_transaction(readonly=False, context={'_skip_warnings': True})
def checkout(request, pool, model, id):
    "Create the PayPal order (once) and send the buyer to approve it"
    Payment = pool.get('account.payment')
    payment = _checkout_payment(pool, model, id)
    if payment.state in {'submitted', 'approved'}:
        Payment.process([payment])
        payment = Payment(payment.id)
    if payment.state != 'processing' or payment.paypal_capture_id:
        return _state_page(payment)
    try:
        payment.paypal_create_order()
    except PayPalUnavailableError:
        return _page(gettext(
                'account_payment_paypal.msg_checkout_unavailable',
                payment=payment.rec_name),
            HTTPStatus.SERVICE_UNAVAILABLE)
    except UserError as exception:
        # misconfiguration: the staff must see it, not the buyer
        logger.error(
            "PayPal checkout of payment %d: %s", payment.id, exception)
        return _page(gettext(
                'account_payment_paypal.msg_checkout_unavailable',
                payment=payment.rec_name),
            HTTPStatus.SERVICE_UNAVAILABLE)
    if payment.state != 'processing' or not payment.paypal_approval_url:
        return _state_page(payment)
    return redirect(payment.paypal_approval_url, code=HTTPStatus.SEE_OTHER)


@app.route(
    '/<database_name>/account_payment_paypal/checkout/<model>/<id>/end',
    methods=['GET'])
@with_pool
@with_transaction(readonly=False, context={'_skip_warnings': True})
def checkout_end(request, pool, model, id):
    "The buyer is back from PayPal: capture the approved order"
    payment = _checkout_payment(pool, model, id)
    if (not payment.paypal_order_id
            or request.args.get('token') != payment.paypal_order_id):
        abort(HTTPStatus.BAD_REQUEST)
    try:
        payment.paypal_capture_order()
    except PayPalUnavailableError:
        # The cron captures it once PayPal answers again
        return _page(gettext(
                'account_payment_paypal.msg_checkout_pending',
                payment=payment.rec_name),
            HTTPStatus.ACCEPTED)
    except UserError as exception:
        logger.error(
            "PayPal capture of payment %d: %s", payment.id, exception)
        return _page(gettext(
                'account_payment_paypal.msg_checkout_unavailable',
                payment=payment.rec_name),
            HTTPStatus.SERVICE_UNAVAILABLE)
    return _state_page(payment)


@app.route(
    '/<database_name>/account_payment_paypal/checkout/<model>/<id>/cancel',
    methods=['GET'])
@with_pool
@with_transaction(context={'_skip_warnings': True})
def checkout_cancel(request, pool, model, id):
    "The buyer left PayPal: the payment waits, the link can be used again"
    payment = _checkout_payment(pool, model, id)
    return _page(gettext(
            'account_payment_paypal.msg_checkout_cancelled',
            payment=payment.rec_name))


@app.route(
    '/<database_name>/account_payment_paypal/webhook/<identifier>',
    methods={'POST'})
@with_pool
@with_transaction(context={'_skip_warnings': True})
def webhook(request, pool, identifier):
    Account = _get_model(pool, 'account.payment.paypal.account')
    Event = pool.get('account.payment.paypal.event')
    try:
        account, = Account.search([
                ('webhook_identifier', '=', identifier),
                ])
    except ValueError:
        abort(HTTPStatus.NOT_FOUND)

    raw_event = request.get_data(as_text=True)
    try:
        event = json.loads(raw_event)
    except ValueError:
        event = None
    missing = [h for h in TRANSMISSION_HEADERS if not request.headers.get(h)]
    if not isinstance(event, dict) or not event.get('id') or missing:
        logger.warning(
            "PayPal webhook for account %d refused: malformed event "
            "or missing headers %s", account.id, missing)
        abort(HTTPStatus.BAD_REQUEST)
    if not account.webhook_id:
        # Never trust an event that cannot be verified
        logger.error(
            "PayPal webhook for account %d refused: no webhook ID set",
            account.id)
        abort(HTTPStatus.BAD_REQUEST)
    try:
        verified = paypal.verify_webhook_signature(
            account, request.headers, raw_event)
    except Exception:
        # PayPal sends the event again later
        logger.warning(
            "PayPal webhook for account %d: verification unavailable",
            account.id, exc_info=True)
        abort(HTTPStatus.SERVICE_UNAVAILABLE)
    if not verified:
        logger.warning(
            "PayPal webhook for account %d refused: bad signature "
            "(transmission %s, event %s)", account.id,
            request.headers.get('PAYPAL-TRANSMISSION-ID'), event.get('id'))
        abort(HTTPStatus.UNAUTHORIZED)

    if Event.processed(account, event['id']):
        logger.info("PayPal event %s already processed", event['id'])
        return Response(status=HTTPStatus.OK)
    result = account.webhook(event)
    if result is None:
        logger.info(
            "No callback for PayPal event '%s'", event.get('event_type'))
    elif not result:
        # Not stored: PayPal retries, e.g. once the order is committed
        return Response(status=HTTPStatus.NOT_FOUND)
    Event.record(account, event)
    return Response(status=HTTPStatus.OK)
