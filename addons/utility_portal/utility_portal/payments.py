"""Paying online, saved payment methods, autopay and payment history.

Everything goes through utility_payment's API (Bill.checkout, the
agreement's Stripe customer and stripe_save_method, History.for_party);
as in routes.py, a bill or agreement is reached only through
portal.agreements, so another customer's id is a 404 and writes nothing.
"""
from decimal import Decimal

from werkzeug.utils import redirect

from trytond.exceptions import UserError
from trytond.transaction import Transaction

from .routes import bills_of, get_bill
from .web import PortalError, _, page

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
    "303 to Stripe's checkout of the bill, or back to it with a notice"
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
    if not result or not result[0].get('url'):
        raise PortalError(500)
    # The checkout page is account_payment_stripe's, on this server.
    return portal.finish(redirect(result[0]['url'], code=303))


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


@page('/bills/<int:bill_id>/pay/return')
def pay_return(portal, bill_id):
    "Where a customer lands after Stripe's checkout"
    bill = get_bill(portal, bill_id)
    provider = provider_of(portal, bill.company)
    state, amount = pay_state(bill, provider)
    return portal.render('pay_result.html', title=_('msg_pay_return'),
        bill=bill, state=state, amount=amount, cancelled=False,
        others=[b for b in payable_bills(portal, bill.agreement, provider)
            if b[0] != bill])


@page('/bills/<int:bill_id>/pay/cancel')
def pay_cancel(portal, bill_id):
    "Where a customer lands after leaving Stripe's checkout unpaid"
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
