"""Gateway secrets must not be readable in a database dump (issue 8).

A PayPal client secret and webhook id are stored through our PayPal
gateway module (account_payment_paypal, model
account.payment.paypal.account), committed, and the database is dumped
as plain text: ``pg_dump --format=plain`` on PostgreSQL, ``iterdump()``
of the connection on SQLite.

FINDING: they are stored in clear text (fields.Char), so the dump shows
them; Tryton's own account_payment_stripe does the same with its Stripe
secret key and webhook signing secret, and account_payment_braintree with
its private key. ``test_secret_not_in_dump`` is therefore an expected
failure until the secrets are encrypted or moved to a secrets file; it
turns into an "unexpected success" (a failing run) once they are, and the
decorator must then go. The audit trail itself never holds them: the
paypal account is not audited and no audited field is a secret
(``test_audit_log_has_no_secret``).
"""
import subprocess
import unittest
import uuid

from trytond import backend, config
from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, activate_module, drop_db
from trytond.transaction import Transaction

from .. import backup
from .tools import MODULES, PAYPAL


@unittest.skipUnless(PAYPAL, "account_payment_paypal is not installed")
class SecretsInDumpTestCase(unittest.TestCase):
    "A database dump does not show gateway secrets"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        drop_db()
        activate_module(MODULES)
        cls.secret = 'SECRET-%s' % uuid.uuid4().hex
        cls.webhook = 'WEBHOOK-%s' % uuid.uuid4().hex
        with Transaction().start(DB_NAME, 0) as transaction:
            Account = Pool().get('account.payment.paypal.account')
            company = create_company()
            with set_company(company):
                Account.create([{
                            'name': 'PayPal',
                            'company': company.id,
                            'client_id': 'client-id',
                            'client_secret': cls.secret,
                            'environment': 'sandbox',
                            'webhook_id': cls.webhook,
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
        "The dump holds the account (the check below is meaningful)"
        dump = self.dump()
        self.assertIn('client-id', dump)
        self.assertIn('account_payment_paypal_account', dump)

    @unittest.expectedFailure  # clear text today: see the module docstring
    def test_secret_not_in_dump(self):
        "Neither the client secret nor the webhook id is in the dump"
        dump = self.dump()
        self.assertNotIn(self.secret, dump)
        self.assertNotIn(self.webhook, dump)

    def test_audit_log_has_no_secret(self):
        "The audit trail does not copy secrets"
        with Transaction().start(DB_NAME, 0, readonly=True):
            Log = Pool().get('utility.audit.log')
            for log in Log.search([]):
                self.assertNotIn(self.secret, log.changes or '')
