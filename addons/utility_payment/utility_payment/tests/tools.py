"Set-up shared by the payment tests"
import atexit
import datetime as dt
import hashlib
import hmac
import json
import os
import shutil
import tempfile
import time
import urllib.request
import uuid

import stripe
from cryptography.fernet import Fernet

from utility_billing.tests.tools import (
    create_customer, create_cycle, create_plan, create_products, read,
    setup_accounting)
from trytond import config
from trytond.pool import Pool
from trytond.transaction import Transaction

CARD_OK = '4242424242424242'
# Attaches, then every charge is declined (Stripe's test card).
CARD_CHARGE_DECLINED = '4000000000000341'
# Declined when saved.
CARD_DECLINED = '4000000000000002'


def configure_secrets_key():
    """Configure the secrets key as an operator does: a key file (mode
    0600) named by [utility] secrets_key_file; unless the environment
    (TRYTOND_UTILITY__SECRETS_KEY[_FILE]) or a configuration file already
    sets one."""
    if (config.get('utility', 'secrets_key', default=None)
            or config.get('utility', 'secrets_key_file', default=None)):
        return
    directory = tempfile.mkdtemp(prefix='trytond-secrets-')
    atexit.register(shutil.rmtree, directory, True)
    path = os.path.join(directory, 'secrets.key')
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'w') as file:
        file.write(Fernet.generate_key().decode() + '\n')
    if not config.has_section('utility'):
        config.add_section('utility')
    config.set('utility', 'secrets_key_file', path)


# Stripe accounts store their keys encrypted with it (issue 8).
configure_secrets_key()


def setup_provider(company, **values):
    "A Stripe account with a webhook secret, a clearing journal, settings"
    pool = Pool()
    Account = pool.get('account.account')
    AccountType = pool.get('account.account.type')
    Journal = pool.get('account.journal')
    PaymentJournal = pool.get('account.payment.journal')
    StripeAccount = pool.get('account.payment.stripe.account')
    Provider = pool.get('utility.payment.provider')
    ModelData = pool.get('ir.model.data')
    cash, = Account.search([
            ('company', '=', company.id),
            ('code', '=', '1.1.1'),
            ], limit=1)
    clearing = Account(name="Stripe clearing", code='1.1.9',
        type=cash.type, parent=cash.parent, reconcile=True,
        company=company)
    clearing.save()
    tag = uuid.uuid4().hex[:8]
    account = StripeAccount(name="Stripe %s" % tag,
        secret_key='sk_test_%s' % tag, publishable_key='pk_test_%s' % tag,
        webhook_signing_secret='whsec_%s' % uuid.uuid4().hex)
    account.save()
    StripeAccount.new_identifier([account])
    journal = PaymentJournal(name="Stripe", company=company,
        currency=company.currency, process_method='stripe',
        stripe_account=account, clearing_account=clearing,
        clearing_journal=Journal(ModelData.get_id('account', 'journal_cash')))
    journal.save()
    provider = Provider(company=company, stripe_account=account,
        journal=journal, **values)
    provider.save()
    return provider


def create_bill(company, index=1, plan=None, cycle=None):
    "A posted January bill of a new customer: 117.08"
    pool = Pool()
    Run = pool.get('utility.bill.run')
    Bill = pool.get('utility.bill')
    agreement, meter = create_customer(company, index, plan, cycle)
    read(meter, dt.datetime(2024, 1, 1), 1000)
    read(meter, dt.datetime(2024, 2, 1), 1742)
    run = Run(company=company, cycle=cycle, period_end=dt.date(2024, 1, 31),
        invoice_date=dt.date(2024, 2, 1))
    run.save()
    with Transaction().set_context(
            bill_run_inline=True, _skip_warnings=True):
        Run.preview([run])
        Run.process([run])
    bill, = Bill.search([('agreement', '=', agreement.id)])
    return bill


def setup_billing(company):
    revenue, tax = setup_accounting(company)
    products = create_products(revenue, tax)
    plan = create_plan(company, products)
    cycle = create_cycle(company)
    return plan, cycle


def confirm_setup_intent(customer, number):
    "What Stripe.js does on the checkout page to save a card"
    intent = stripe.SetupIntent.confirm(
        customer.stripe_setup_intent_id,
        payment_method_data={'type': 'card', 'card': {
                'number': number, 'exp_month': 12, 'exp_year': 2030,
                'cvc': '123'}},
        api_key=customer.stripe_account.secret_key)
    return intent


def confirm_payment_intent(payment, number=CARD_OK):
    "What Stripe.js does on the checkout page to pay"
    return stripe.PaymentIntent.confirm(
        payment.stripe_payment_intent_id,
        payment_method_data={'type': 'card', 'card': {
                'number': number, 'exp_month': 12, 'exp_year': 2030,
                'cvc': '123'}},
        api_key=payment.journal.stripe_account.secret_key)


def stripe_events(url, secret_key, object_id, type_=None):
    "Raw JSON events of the fake Stripe about object_id, oldest first"
    request = urllib.request.Request(url + '/v1/events?limit=100',
        headers={'Authorization': 'Bearer %s' % secret_key})
    with urllib.request.urlopen(request) as response:
        events = json.load(response)['data']
    return [e for e in sorted(events, key=lambda e: e['created'])
        if e['data']['object'].get('id') == object_id
        and (type_ is None or e['type'] == type_)]


def sign(payload, secret, timestamp=None):
    "Stripe-Signature header: HMAC-SHA256 of 'timestamp.payload' (v1)"
    timestamp = int(timestamp or time.time())
    signature = hmac.new(secret.encode(),
        ('%d.%s' % (timestamp, payload)).encode(), hashlib.sha256
        ).hexdigest()
    return 't=%d,v1=%s' % (timestamp, signature)
