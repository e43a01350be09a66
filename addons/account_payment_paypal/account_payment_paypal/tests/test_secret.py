# This file is part of Tryton.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"PayPal secrets encrypted at rest, masked to clients, never logged (issue 8)"
import contextlib
import logging
import os
import tempfile
import unittest
import uuid
from decimal import Decimal

from cryptography.fernet import Fernet
from sql import Table

from trytond import config
from trytond.modules.company.tests import set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.tools.logging import format_args
from trytond.transaction import Transaction

from .. import secret
from ..exceptions import SecretsKeyError
from .paypal_server import PayPalServer
from .tools import create_payment, setup_paypal


@contextlib.contextmanager
def secrets_options(**options):
    "Set the [utility] secrets options for the block (unset when absent)"
    names = ('secrets_key', 'secrets_key_file')
    saved = {n: config.get('utility', n, default='') for n in names}
    try:
        for name in names:
            config.set('utility', name, options.get(name) or '')
        yield
    finally:
        for name in names:
            config.set('utility', name, saved[name])


def raw(account):
    "The stored column values of account, as a database dump shows them"
    table = Table('account_payment_paypal_account')
    cursor = Transaction().connection.cursor()
    cursor.execute(*table.select(table.client_secret, table.webhook_id,
            where=table.id == account.id))
    return cursor.fetchone()


class AccountPaymentPaypalSecretTestCase(unittest.TestCase):
    "PayPal account secrets"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('account_payment_paypal')
        # Unique values, so that finding one in a log is no coincidence
        cls.server = PayPalServer(
            client_secret='SECRET-%s' % uuid.uuid4().hex,
            webhook_id='WH-%s' % uuid.uuid4().hex).start()
        cls.addClassCleanup(cls.server.stop)

    @with_transaction()
    def test_encrypted_at_rest(self):
        "The column holds a Fernet token; the gateway reads the clear value"
        setup = setup_paypal(self.server)
        account = setup['account']
        stored_secret, stored_webhook = raw(account)
        for stored, clear in [
                (stored_secret, self.server.client_secret),
                (stored_webhook, self.server.webhook_id)]:
            self.assertTrue(stored.startswith(secret.PREFIX))
            self.assertNotIn(clear, stored)
        account = Pool().get('account.payment.paypal.account')(account.id)
        self.assertEqual(account.client_secret, self.server.client_secret)
        self.assertEqual(account.webhook_id, self.server.webhook_id)
        # The gateway authenticates with the decrypted secret.
        payment = create_payment(setup, Decimal('12.00'))
        payment.paypal_create_order()
        self.assertTrue(payment.paypal_order_id)

    @with_transaction()
    def test_masked_to_clients(self):
        "A client reads or exports a mask; writing the mask changes nothing"
        pool = Pool()
        Account = pool.get('account.payment.paypal.account')
        setup = setup_paypal(self.server)
        account = setup['account']
        before = raw(account)
        with set_company(setup['company']), \
                Transaction().set_context(_check_access=True):
            data, = Account.read([account.id],
                ['client_secret', 'webhook_id', 'client_id'])
            self.assertEqual(data['client_secret'], secret.MASK)
            self.assertEqual(data['webhook_id'], secret.MASK)
            self.assertEqual(data['client_id'], self.server.client_id)
            rows = Account.export_data([account],
                ['client_secret', 'webhook_id', 'name'], header=True)
            self.assertEqual(rows[1], [secret.MASK, secret.MASK, "PayPal"])
            # The form sends back what it was shown with other changes.
            Account.write([account], {
                    'client_secret': secret.MASK, 'name': "PayPal 2"})
        self.assertEqual(raw(account), before)
        account = Account(account.id)
        self.assertEqual(account.client_secret, self.server.client_secret)
        self.assertEqual(account.name, "PayPal 2")

        Account.write([account], {'client_secret': 'new-secret'})
        self.assertNotEqual(raw(account)[0], before[0])
        self.assertEqual(Account(account.id).client_secret, 'new-secret')

    def test_view_password_widgets(self):
        "The form shows the secrets with password widgets"
        path = os.path.join(os.path.dirname(__file__), '..', 'view',
            'account_form.xml')
        with open(path) as file:
            view = file.read()
        for name in ['client_secret', 'webhook_id']:
            self.assertIn(
                '<field name="%s" colspan="3" widget="password"/>' % name,
                view)

    @with_transaction()
    def test_key_missing(self):
        "Without the key, writing or reading a secret is a clear error"
        pool = Pool()
        Account = pool.get('account.payment.paypal.account')
        account = setup_paypal(self.server)['account']
        with secrets_options():
            with self.assertRaises(SecretsKeyError) as cm:
                Account(account.id).client_secret
            self.assertIn('secrets_key_file', cm.exception.message)
            with self.assertRaises(SecretsKeyError):
                Account.write([account], {'client_secret': 'other'})
        with secrets_options(secrets_key_file='/nonexistent/secrets.key'):
            with self.assertRaises(SecretsKeyError):
                Account(account.id).client_secret
        with secrets_options(secrets_key='not-a-fernet-key'):
            with self.assertRaises(SecretsKeyError) as cm:
                Account(account.id).client_secret
            self.assertNotIn('not-a-fernet-key', cm.exception.message)
        # A wrong key does not decrypt (nor lets anyone guess the secret).
        with secrets_options(secrets_key=Fernet.generate_key().decode()):
            with self.assertRaises(SecretsKeyError):
                Account(account.id).client_secret

    @with_transaction()
    def test_migrate_clear_values_and_rotate(self):
        "A module update encrypts clear values, then rotates to a new key"
        pool = Pool()
        Account = pool.get('account.payment.paypal.account')
        account = setup_paypal(self.server)['account']
        table = Table('account_payment_paypal_account')
        cursor = Transaction().connection.cursor()
        # As an earlier version of the module stored them
        cursor.execute(*table.update(
                [table.client_secret, table.webhook_id],
                ['clear-secret', 'clear-webhook'],
                where=table.id == account.id))
        Account.__register__('account_payment_paypal')
        stored = raw(account)
        self.assertTrue(all(v.startswith(secret.PREFIX) for v in stored))
        self.assertNotIn('clear-secret', stored[0])
        Account._encrypt_stored_secrets()
        self.assertEqual(raw(account), stored)  # nothing to do twice

        # Rotation: new key first, old key after it, then an update.
        old = self.configured_key()
        new = Fernet.generate_key().decode()
        with secrets_options(secrets_key='%s,%s' % (new, old)):
            Account.__register__('account_payment_paypal')
            rotated = raw(account)
        self.assertNotEqual(rotated, stored)
        with secrets_options(secrets_key=new):
            # read, not the transaction cache filled before the update
            data, = Account.read([account.id], ['client_secret', 'webhook_id'])
            self.assertEqual(data['client_secret'], 'clear-secret')
            self.assertEqual(data['webhook_id'], 'clear-webhook')

    def configured_key(self):
        path = config.get('utility', 'secrets_key_file', default=None)
        if path:
            with open(path) as file:
                return file.read().split()[0]
        return config.get('utility', 'secrets_key').split(',')[0].strip()

    @with_transaction()
    def test_update_without_key_refused(self):
        "An update with clear values and no key stops with the clear error"
        pool = Pool()
        Account = pool.get('account.payment.paypal.account')
        account = setup_paypal(self.server)['account']
        table = Table('account_payment_paypal_account')
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.update([table.client_secret], ['clear'],
                where=table.id == account.id))
        with secrets_options(), self.assertRaises(SecretsKeyError):
            Account.__register__('account_payment_paypal')

    def test_key_file(self):
        "The key file may hold several keys, one per line"
        keys = [Fernet.generate_key().decode() for _ in range(2)]
        with tempfile.NamedTemporaryFile('w', suffix='.key') as file:
            file.write('\n'.join(keys) + '\n')
            file.flush()
            with secrets_options(secrets_key_file=file.name):
                token = secret.encrypt('value')
            with secrets_options(secrets_key=keys[0]):
                self.assertEqual(secret.decrypt(token), 'value')

    @with_transaction()
    def test_not_logged(self):
        "Neither the RPC log nor the gateway's logs show the secrets"
        for key in ['client_secret', 'webhook_id']:
            for verbose in [False, True]:
                logged = str(format_args(
                        ([1], {key: 'SECRET-VALUE-1234567890'}), {},
                        verbose))
                self.assertNotIn('SECRET-VALUE', logged)

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
            setup = setup_paypal(self.server)
            payment = create_payment(setup, Decimal('12.00'))
            payment.paypal_create_order()
            self.server.approve(payment.paypal_order_id)
            self.assertEqual(payment.paypal_capture_order(), 'succeeded')
        finally:
            root.removeHandler(handler)
            root.setLevel(level)
        self.assertTrue(records)
        for message in records:
            self.assertNotIn(self.server.client_secret, message)
            self.assertNotIn(self.server.webhook_id, message)

