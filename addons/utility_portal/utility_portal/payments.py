"""Paying online, saved payment methods, autopay and payment history.

Everything goes through utility_payment's API (Bill.checkout, the
agreement's Stripe customer and stripe_save_method, History.for_party);
as in routes.py, a bill or agreement is reached only through
portal.agreements, so another customer's id is a 404 and writes nothing.
"""
import logging
from decimal import Decimal
from urllib.parse import urlsplit

import stripe
from werkzeug.utils import redirect

import trytond.config as config
from trytond.exceptions import UserError
from trytond.transaction import Transaction

from .routes import bills_of, get_bill
from .web import PortalError, _, page

logger = logging.getLogger(__name__)

# Payments that hold (or may still hold) the customer's money.
OPEN_STATES = {'draft', 'submitted', 'approved', 'processing'}


def provider_of(portal, company):
    "The provider's online payment settings, or None when it has none"
    Provider = portal.pool.get('utility.payment.provider')
    providers = Provider.search([('company', '=', company.id)], limit=1)
    if providers and providers[0].payment_method_types:
        return providers[0]
    return None


def waits_for_customer(payment, provider):
    """A checkout payment the customer has not paid yet: Bill.checkout
    reuses it, so paying again is safe"""
    return (provider is not None
        and payment.journal == provider.journal
        and payment.state in {'submitted', 'processing'}
        and not payment.stripe_customer_payment_method
        and not payment.stripe_charge_id)


def pay_state(bill, provider):
    """How the bill stands for paying online and the amount left:
    'paid', 'processing' (a payment holds it), 'payable' (Pay button) or
    'offline' (posted but no online payment at this provider) or None
    (nothing to pay: not posted)"""
    invoice = bill.invoice
    if not invoice or invoice.state not in {'posted', 'paid'}:
        return None, None
    if invoice.state == 'paid':
        return 'paid', Decimal(0)
    lines = [l for l in invoice.lines_to_pay if not l.reconciliation]
    amount = sum((l.debit - l.credit for l in lines), Decimal(0))
    if not lines or amount <= 0:
        return 'paid', Decimal(0)
    for line in lines:
        for payment in line.payments:
            if payment.state == 'succeeded' or (
                    payment.state in OPEN_STATES
                    and not waits_for_customer(payment, provider)):
                return 'processing', amount
    if provider is None:
        return 'offline', amount
    return 'payable', amount


def start_checkout(portal, bill):
    "303 to the portal's checkout of the bill, or back to it with a notice"
    Bill = portal.pool.get('utility.bill')
    provider = provider_of(portal, bill.company)
    state, _amount = pay_state(bill, provider)
    if state != 'payable':
        return portal.redirect('/bills/%s' % bill.id,
            notice='payment_not_possible')
    try:
        result = Bill.checkout(bill.id)
    except UserError:
        Transaction().rollback()
        return portal.redirect('/bills/%s' % bill.id,
            notice='payment_not_possible')
    if not result:
        raise PortalError(500)
    # The portal's own checkout page: translated, and back to the bill.
    return portal.redirect('/bills/%s/pay/checkout' % bill.id)


@page('/bills/<int:bill_id>/pay', methods=('POST',))
def pay_bill(portal, bill_id):
    return start_checkout(portal, get_bill(portal, bill_id))


@page('/pay', methods=('POST',))
def pay_balance(portal):
    "Pay the balance: the oldest bill still to pay of the current account"
    agreement = portal.agreement
    if not agreement:
        raise PortalError(404)
    provider = provider_of(portal, agreement.company)
    for bill in bills_of(portal, agreement):
        if bill.invoice and bill.invoice.state == 'posted':
            state, _amount = pay_state(bill, provider)
            if state == 'payable':
                return start_checkout(portal, bill)
    return portal.redirect('/dashboard', notice='nothing_to_pay')


def payable_bills(portal, agreement, provider):
    result = []
    for bill in bills_of(portal, agreement):
        if bill.invoice and bill.invoice.state == 'posted':
            state, amount = pay_state(bill, provider)
            if state == 'payable':
                result.append((bill, amount))
    return result


def stripe_js():
    "URL of Stripe.js (a local stand-in's for tests: [utility_portal] stripe_js)"
    return config.get('utility_portal', 'stripe_js',
        default='https://js.stripe.com/v3/')


def checkout_policy():
    "Content-Security-Policy of the checkout page: Stripe.js may run there"
    parts = urlsplit(stripe_js())
    origin = '%s://%s' % (parts.scheme, parts.netloc)
    if origin == 'https://js.stripe.com':
        connect, frames = 'https://api.stripe.com', (
            'https://js.stripe.com https://hooks.stripe.com')
    else:
        connect = frames = origin
    return ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
        "script-src 'self' %s; connect-src 'self' %s; frame-src %s; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
        % (origin, connect, frames))


def checkout_payments(bill, provider):
    "The bill's Stripe payments that wait for the customer to pay"
    invoice = bill.invoice
    if provider is None or not invoice or invoice.state != 'posted':
        return []
    return [p for l in invoice.lines_to_pay if not l.reconciliation
        for p in l.payments
        if waits_for_customer(p, provider) and p.stripe_payment_intent_id]


@page('/bills/<int:bill_id>/pay/checkout')
def checkout(portal, bill_id):
    "Card details for the bill's payment, confirmed by Stripe.js"
    bill = get_bill(portal, bill_id)
    provider = provider_of(portal, bill.company)
    payments = checkout_payments(bill, provider)
    intent = payments[0].stripe_payment_intent if payments else None
    if not intent or intent.status not in {'requires_payment_method',
            'requires_confirmation', 'requires_action'}:
        # Paid meanwhile, or nothing started: the bill tells.
        return portal.redirect('/bills/%s/pay/return' % bill.id)
    payment = payments[0]
    BillReport = portal.pool.get('utility.bill.report', type='report')
    response = portal.render('checkout.html', title=_('msg_checkout_title'),
        bill=bill, payment=payment, stripe_js=stripe_js(),
        publishable_key=payment.journal.stripe_account.publishable_key,
        client_secret=intent.client_secret,
        return_url=portal.url('/bills/%s/pay/return' % bill.id),
        reference=BillReport.payment_reference(bill))
    response.headers['Content-Security-Policy'] = checkout_policy()
    return response


def pull_payments(portal, bill, provider):
    """Ask Stripe how the bill's checkout payments stand: the customer is
    back before (or without) the webhook"""
    Payment = portal.pool.get('account.payment')
    invoice = bill.invoice
    if provider is None or not invoice or invoice.state != 'posted':
        return
    payments = [p for l in invoice.lines_to_pay for p in l.payments
        if p.journal == provider.journal and p.stripe_payment_intent_id
        and p.state in {'submitted', 'processing'}]
    if not payments:
        return
    try:
        with Transaction().set_context(_skip_warnings=True):
            Payment.stripe_pull(payments)
    except stripe.StripeError:
        # The webhook or the cron settles it later.
        logger.warning("Stripe pull failed for bill %s", bill.id,
            exc_info=True)


@page('/bills/<int:bill_id>/pay/return', readonly=False)
def pay_return(portal, bill_id):
    "Where a customer lands after paying with Stripe.js"
    Bill = portal.pool.get('utility.bill')
    bill = get_bill(portal, bill_id)
    provider = provider_of(portal, bill.company)
    pull_payments(portal, bill, provider)
    bill = Bill(bill.id)
    state, amount = pay_state(bill, provider)
    return portal.render('pay_result.html', title=_('msg_pay_return'),
        bill=bill, state=state, amount=amount, cancelled=False,
        others=[b for b in payable_bills(portal, bill.agreement, provider)
            if b[0] != bill])


@page('/bills/<int:bill_id>/pay/cancel')
def pay_cancel(portal, bill_id):
    "Where a customer lands after leaving the checkout unpaid"
    bill = get_bill(portal, bill_id)
    provider = provider_of(portal, bill.company)
    state, amount = pay_state(bill, provider)
    return portal.render('pay_result.html', title=_('msg_pay_cancelled'),
        bill=bill, state=state, amount=amount, cancelled=True, others=[])


# --- saved payment methods and autopay ----------------------------------

def get_agreement(portal, agreement_id):
    for agreement in portal.agreements:
        if str(agreement.id) == str(agreement_id):
            return agreement
    raise PortalError(404)


def saved_methods(agreement):
    "(Stripe customer, [(method id, name)]) of the agreement's customer"
    customer = agreement.get_stripe_customer(create=False)
    if not customer or not customer.stripe_customer_id:
        return customer, []
    return customer, customer.payment_methods()


@page('/payments')
def payments(portal):
    accounts = []
    providers = {}
    for agreement in portal.agreements:
        company = agreement.company
        if company.id not in providers:
            providers[company.id] = provider_of(portal, company)
        if not providers[company.id] or agreement.state != 'active':
            continue
        customer, methods = saved_methods(agreement)
        names = dict(methods)
        accounts.append({
                'agreement': agreement,
                'methods': methods,
                'autopay': agreement.autopay,
                'method': agreement.autopay_payment_method,
                'method_name': names.get(agreement.autopay_payment_method,
                    agreement.autopay_payment_method),
                })
    return portal.render('payments.html', title=_('msg_payments'),
        accounts=accounts)


@page('/payments/<int:agreement_id>/save-method', methods=('POST',))
def save_method(portal, agreement_id):
    "Save a payment method through Stripe's SetupIntent checkout"
    Agreement = portal.pool.get('utility.service.agreement')
    agreement = get_agreement(portal, agreement_id)
    if agreement.state != 'active' or not provider_of(
            portal, agreement.company):
        raise PortalError(404)
    action = Agreement.stripe_save_method([agreement])
    if not action or not action.get('url'):
        raise PortalError(500)
    return portal.finish(redirect(action['url'], code=303))


@page('/payments/<int:agreement_id>/autopay', methods=('POST',))
def autopay(portal, agreement_id):
    Agreement = portal.pool.get('utility.service.agreement')
    agreement = get_agreement(portal, agreement_id)
    if agreement.state != 'active' or not provider_of(
            portal, agreement.company):
        raise PortalError(404)
    if portal.form.get('autopay') == 'on':
        wanted = portal.form.get('method') or ''
        customer, methods = saved_methods(agreement)
        if not wanted or wanted not in dict(methods):
            return portal.redirect('/payments', notice='autopay_needs_method')
        Agreement.write([agreement], {
                'autopay': True,
                'autopay_customer': customer.id,
                'autopay_payment_method': wanted,
                })
        return portal.redirect('/payments', notice='autopay_on')
    Agreement.write([agreement], {'autopay': False})
    return portal.redirect('/payments', notice='autopay_off')


# --- payment history ----------------------------------------------------

@page('/payments/history')
def history(portal):
    pool = portal.pool
    History = pool.get('utility.payment.history')
    Currency = pool.get('currency.currency')
    agreement = portal.agreement
    rows = []
    if agreement:
        rows = History.for_party(agreement.party.id, agreement.id)
    currencies = {c.code: c for c in Currency.search([
                ('code', 'in', list({r['currency'] for r in rows})),
                ])} if rows else {}
    states = dict(History.fields_get(['state'])['state']['selection'])
    for row in rows:
        row['currency_record'] = currencies.get(row['currency'])
    return portal.render('history.html', title=_('msg_payment_history'),
        rows=rows, states=states)
