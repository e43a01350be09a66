"""Gateway secrets must not be readable in a database dump (issue 8).

A PayPal client secret and webhook id (our account_payment_paypal, model
account.payment.paypal.account) and a Stripe secret key and webhook
signing secret (Tryton's account.payment.stripe.account, encrypted by
utility_payment) are stored, committed, and the database is dumped as
plain text: ``pg_dump --format=plain`` on PostgreSQL, ``iterdump()`` of
the connection on SQLite. Both modules encrypt these columns with a Fernet
key kept outside the database: here a key file named by ``[utility]
secrets_key_file`` in the trytond configuration, as an operator sets it.
The audit trail never holds them either: the gateway accounts are not
audited and no audited field is a secret.
"""
import atexit
import importlib.util
import os
import shutil
import subprocess
import tempfile
import unittest
import uuid

from trytond import backend, config
from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, activate_module, drop_db
from trytond.transaction import Transaction

from .. import backup
from .tools import MODULES, PAYPAL

STRIPE = importlib.util.find_spec('utility_payment') is not None


def configure_secrets_key():
    """As an operator: a key file (mode 0600) named by [utility]
    secrets_key_file, unless the environment or a configuration file
    already sets a key."""
    if (config.get('utility', 'secrets_key', default=None)
            or config.get('utility', 'secrets_key_file', default=None)):
        return
    from cryptography.fernet import Fernet
    directory = tempfile.mkdtemp(prefix='trytond-secrets-')
    atexit.register(shutil.rmtree, directory, True)
    path = os.path.join(directory, 'secrets.key')
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'w') as file:
        file.write(Fernet.generate_key().decode() + '\n')
    if not config.has_section('utility'):
        config.add_section('utility')
    config.set('utility', 'secrets_key_file', path)


@unittest.skipUnless(PAYPAL and STRIPE,
    "account_payment_paypal or utility_payment is not installed")
class SecretsInDumpTestCase(unittest.TestCase):
    "A database dump does not show gateway secrets"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        configure_secrets_key()
        drop_db()
        activate_module(MODULES + ['utility_payment'])
        cls.secrets = {
            name: '%s-%s' % (name, uuid.uuid4().hex)
            for name in ['paypal_secret', 'paypal_webhook',
                'sk_test', 'whsec']}
        with Transaction().start(DB_NAME, 0) as transaction:
            pool = Pool()
            PayPal = pool.get('account.payment.paypal.account')
            Stripe = pool.get('account.payment.stripe.account')
            company = create_company()
            with set_company(company):
                PayPal.create([{
                            'name': 'PayPal',
                            'company': company.id,
                            'client_id': 'client-id',
                            'client_secret': cls.secrets['paypal_secret'],
                            'environment': 'sandbox',
                            'webhook_id': cls.secrets['paypal_webhook'],
                            }])
                Stripe.create([{
                            'name': 'Stripe',
                            'secret_key': cls.secrets['sk_test'],
                            'publishable_key': 'pk_test_public',
                            'webhook_signing_secret': cls.secrets['whsec'],
                            }])
            transaction.commit()

    @classmethod
    def tearDownClass(cls):
        drop_db()
        super().tearDownClass()

    def dump(self):
        "The plain text dump of the test database"
        if backup.backend_name() == 'postgresql':
            return subprocess.run(
                ['pg_dump', '--format=plain', '--dbname', DB_NAME],
                env=backup.pg_environ(config.get('database', 'uri')),
                capture_output=True, text=True, check=True).stdout
        database = backend.Database(DB_NAME).connect()
        connection = database.get_connection()
        try:
            return '\n'.join(connection.iterdump())
        finally:
            database.put_connection(connection)

    def test_dump_is_readable(self):
        "The dump holds the accounts (the check below is meaningful)"
        dump = self.dump()
        self.assertIn('client-id', dump)
        self.assertIn('pk_test_public', dump)
        self.assertIn('account_payment_paypal_account', dump)
        self.assertIn('account_payment_stripe_account', dump)

    def test_secret_not_in_dump(self):
        "No PayPal or Stripe secret is in the dump, only Fernet tokens"
        dump = self.dump()
        for name, value in self.secrets.items():
            self.assertNotIn(value, dump, name)
        self.assertGreaterEqual(dump.count("fernet:gAAAAA"), 4)

    def test_secrets_readable_by_gateways(self):
        "The gateway code still reads the clear values"
        with Transaction().start(DB_NAME, 0, readonly=True):
            pool = Pool()
            paypal, = pool.get('account.payment.paypal.account').search([])
            stripe, = pool.get('account.payment.stripe.account').search([])
            self.assertEqual(paypal.client_secret,
                self.secrets['paypal_secret'])
            self.assertEqual(paypal.webhook_id,
                self.secrets['paypal_webhook'])
            self.assertEqual(stripe.secret_key, self.secrets['sk_test'])
            self.assertEqual(stripe.webhook_signing_secret,
                self.secrets['whsec'])

    def test_audit_log_has_no_secret(self):
        "The audit trail does not copy secrets"
        with Transaction().start(DB_NAME, 0, readonly=True):
            Log = Pool().get('utility.audit.log')
            for log in Log.search([]):
                for value in self.secrets.values():
                    self.assertNotIn(value, log.changes or '')
