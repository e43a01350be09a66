"Stripe keys encrypted at rest, masked to clients, never logged (issue 8)"
import logging
import os
import unittest

import stripe
from sql import Table

from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction

from .. import secret
from ..exceptions import SecretsKeyError
from .stripe_server import LocalStripe
from .tools import setup_provider


def raw(account):
    "The stored columns, as a database dump shows them"
    table = Table('account_payment_stripe_account')
    cursor = Transaction().connection.cursor()
    cursor.execute(*table.select(table.secret_key,
            table.webhook_signing_secret, where=table.id == account.id))
    return cursor.fetchone()


class StripeSecretTestCase(unittest.TestCase):
    "Stripe account secrets"

    @classmethod
    def setUpClass(cls):
        activate_module('utility_payment')
        cls.server = LocalStripe().start()
        cls.addClassCleanup(cls.server.stop)
        cls._api_base = stripe.api_base
        stripe.api_base = cls.server.url
        cls.addClassCleanup(setattr, stripe, 'api_base', cls._api_base)

    def provider(self):
        from utility_billing.tests.tools import setup_accounting
        company = create_company()
        with set_company(company):
            setup_accounting(company)
            return company, setup_provider(company)

    @with_transaction()
    def test_encrypted_at_rest_and_used_by_gateway(self):
        "Columns hold Fernet tokens; Stripe is called with the clear key"
        pool = Pool()
        Account = pool.get('account.payment.stripe.account')
        Customer = pool.get('account.payment.stripe.customer')
        Party = pool.get('party.party')
        company, provider = self.provider()
        account = Account(provider.stripe_account.id)
        key, signing = account.secret_key, account.webhook_signing_secret
        self.assertTrue(key.startswith('sk_test_'))
        self.assertTrue(signing.startswith('whsec_'))
        for stored, clear in zip(raw(account), [key, signing]):
            self.assertTrue(stored.startswith(secret.PREFIX))
            self.assertNotIn(clear, stored)
        # Tryton's own code calls Stripe with account.secret_key.
        party = Party(name="Customer")
        party.save()
        customer = Customer(party=party, stripe_account=account)
        customer.save()
        Customer.stripe_create([customer])
        self.assertTrue(Customer(customer.id).stripe_customer_id)
        self.assertEqual(
            self.server.counts().get('POST /v1/customers'), 1)

    @with_transaction()
    def test_masked_to_clients(self):
        "A client reads or exports a mask; writing it back changes nothing"
        pool = Pool()
        Account = pool.get('account.payment.stripe.account')
        company, provider = self.provider()
        account = provider.stripe_account
        before = raw(account)
        with set_company(company), \
                Transaction().set_context(_check_access=True):
            data, = Account.read([account.id],
                ['secret_key', 'webhook_signing_secret', 'publishable_key'])
            self.assertEqual(data['secret_key'], secret.MASK)
            self.assertEqual(data['webhook_signing_secret'], secret.MASK)
            self.assertTrue(data['publishable_key'].startswith('pk_test_'))
            rows = Account.export_data([account], ['secret_key', 'name'])
            self.assertEqual(rows[0][0], secret.MASK)
            Account.write([account], {
                    'secret_key': secret.MASK,
                    'webhook_signing_secret': secret.MASK,
                    'name': "Renamed",
                    })
        self.assertEqual(raw(account), before)
        self.assertEqual(Account(account.id).name, "Renamed")

    def test_view_password_widgets(self):
        "The inherited form shows both secrets with password widgets"
        path = os.path.join(os.path.dirname(__file__), '..', 'view',
            'stripe_account_form.xml')
        with open(path) as file:
            view = file.read()
        for name in ['secret_key', 'webhook_signing_secret']:
            self.assertIn("//field[@name='%s']" % name, view)
        self.assertEqual(view.count('widget="password"'), 2)

    @with_transaction()
    def test_form_view_uses_password_widget(self):
        "The form view the client gets has the password widgets"
        Account = Pool().get('account.payment.stripe.account')
        arch = Account.fields_view_get(view_type='form')['arch']
        self.assertEqual(arch.count('widget="password"'), 2, arch)

    @with_transaction()
    def test_key_missing(self):
        "Without the key, writing or reading a secret is a clear error"
        from trytond import config
        Account = Pool().get('account.payment.stripe.account')
        company, provider = self.provider()
        account_id = provider.stripe_account.id
        saved = {n: config.get('utility', n, default='')
            for n in ['secrets_key', 'secrets_key_file']}
        try:
            for name in saved:
                config.set('utility', name, '')
            with self.assertRaises(SecretsKeyError) as cm:
                Account.read([account_id], ['secret_key'])
            self.assertIn('[utility] secrets_key_file', cm.exception.message)
            with self.assertRaises(SecretsKeyError):
                Account.create([{
                            'name': "Other",
                            'secret_key': 'sk_test_other',
                            'publishable_key': 'pk_test_other',
                            }])
        finally:
            for name, value in saved.items():
                config.set('utility', name, value)

    @with_transaction()
    def test_not_logged(self):
        "No log record shows the Stripe secret key or signing secret"
        records = []

        class Handler(logging.Handler):
            def emit(self, record):
                records.append(record.getMessage())
        handler = Handler(logging.DEBUG)
        root = logging.getLogger()
        level = root.level
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        try:
            pool = Pool()
            Customer = pool.get('account.payment.stripe.customer')
            Party = pool.get('party.party')
            company, provider = self.provider()
            party = Party(name="Customer")
            party.save()
            customer = Customer(party=party,
                stripe_account=provider.stripe_account)
            customer.save()
            Customer.stripe_create([customer])
            account = provider.stripe_account
            key = account.secret_key
            signing = account.webhook_signing_secret
        finally:
            root.removeHandler(handler)
            root.setLevel(level)
        self.assertTrue(records)
        for message in records:
            self.assertNotIn(key, message)
            self.assertNotIn(signing, message)
