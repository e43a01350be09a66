# This file is part of Tryton.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
import atexit
import datetime as dt
import functools
import os
import shutil
import tempfile
from decimal import Decimal

from cryptography.fernet import Fernet

import trytond.tools.misc
from trytond.modules.account.tests import create_chart, get_fiscalyear
from trytond.modules.company.tests import create_company
from trytond.modules.currency.tests import add_currency_rate, create_currency
from trytond import config
from trytond.pool import Pool

# 8.0 looks entry points up on every import_module call (8.2 caches it)
if not hasattr(trytond.tools.misc.import_module, 'cache_info'):
    trytond.tools.misc.import_module = functools.cache(
        trytond.tools.misc.import_module)


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


configure_secrets_key()


def create_accounting_company(currency='USD'):
    "A company in currency with a chart and this year's fiscal year"
    FiscalYear = Pool().get('account.fiscalyear')
    currency = create_currency(currency)
    add_currency_rate(currency, 1)
    company = create_company(currency=currency)
    create_chart(company)
    fiscalyear = get_fiscalyear(company)
    fiscalyear.save()
    FiscalYear.create_period([fiscalyear])
    return company


def paypal_fixture():
    "A company billing in USD with its accounts (committed once per run)"
    create_accounting_company('USD')


def setup_paypal(server, currency='USD'):
    "Create a company with a chart, a PayPal account and journal"
    pool = Pool()
    Account = pool.get('account.account')
    PayPalAccount = pool.get('account.payment.paypal.account')
    Journal = pool.get('account.payment.journal')
    Party = pool.get('party.party')

    Company = pool.get('company.company')
    companies = Company.search([('currency.code', '=', currency)], limit=1)
    if companies:
        # paypal_fixture's
        company, = companies
    else:
        company = create_accounting_company(currency)
    receivable, = Account.search([
            ('type.receivable', '=', True),
            ('closed', '=', False),
            ('company', '=', company.id),
            ], limit=1)
    revenue, = Account.search([
            ('type.revenue', '=', True),
            ('closed', '=', False),
            ('company', '=', company.id),
            ], limit=1)

    paypal_account = PayPalAccount(
        name="PayPal", company=company,
        client_id=server.client_id, client_secret=server.client_secret,
        environment='sandbox', base_url=server.url,
        webhook_id=server.webhook_id)
    paypal_account.save()
    PayPalAccount.new_identifier([paypal_account])
    journal = Journal(
        name="PayPal", company=company, currency=company.currency,
        process_method='paypal', paypal_account=paypal_account)
    journal.save()
    customer = Party(name="Customer")
    customer.save()
    return {
        'company': company,
        'account': paypal_account,
        'journal': journal,
        'customer': customer,
        'receivable': receivable,
        'revenue': revenue,
        }


def create_receivable_line(setup, amount):
    "A posted receivable of the customer, as an invoice leaves it"
    pool = Pool()
    Journal = pool.get('account.journal')
    Move = pool.get('account.move')
    Period = pool.get('account.period')
    journal, = Journal.search([('type', '=', 'revenue')], limit=1)
    today = dt.date.today()
    move = Move(
        journal=journal, company=setup['company'], date=today,
        period=Period.find(setup['company'], date=today))
    move.lines = [{
            'account': setup['receivable'],
            'party': setup['customer'],
            'debit': amount,
            'credit': Decimal(0),
            'maturity_date': dt.date.today(),
            }, {
            'account': setup['revenue'],
            'debit': Decimal(0),
            'credit': amount,
            }]
    move.save()
    Move.post([move])
    line, = [l for l in move.lines if l.account == setup['receivable']]
    return line


def create_payment(setup, amount, line=None, process=True):
    pool = Pool()
    Payment = pool.get('account.payment')
    payment = Payment(
        company=setup['company'], journal=setup['journal'],
        kind='receivable', party=setup['customer'], amount=amount,
        line=line, reference="INV-0042")
    payment.save()
    Payment.submit([payment])
    if process:
        Payment.process([payment])
    return Payment(payment.id)
