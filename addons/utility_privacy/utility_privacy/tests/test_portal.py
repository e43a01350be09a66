"""The customer's privacy page in the portal, through trytond's WSGI app:
their own data only, consents, erasure requests and their outcome.

Each request commits like in production: the tests use one customer each
(customers 1 to 3 of the fixture), so their order does not matter."""
import io
import json
import re
import unittest
import zipfile

from werkzeug.test import Client
from werkzeug.wrappers import Response

from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME
from trytond.transaction import Transaction
from trytond.wsgi import app

from utility_metering.tests.activation import activate_fixture

from .tools import PASSWORD, email, privacy_fixture

BASE = '/%s/portal' % DB_NAME
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


class PortalPrivacyTestCase(unittest.TestCase):
    "Download my data, consents and erasure requests in the portal"

    @classmethod
    def setUpClass(cls):
        activate_fixture(cls, ['utility_privacy', 'utility_notification'],
            privacy_fixture)

    def csrf(self, client, path):
        response = client.get(BASE + path)
        self.assertEqual(response.status_code, 200, response.text[:500])
        return CSRF.search(response.text).group(1)

    def login(self, index):
        client = Client(app, Response)
        response = client.post(BASE + '/login', data={
                'csrf_token': self.csrf(client, '/login'),
                'email': email(index), 'password': PASSWORD})
        self.assertEqual(response.status_code, 303, response.text[:500])
        return client

    def post(self, client, path, data):
        return client.post(BASE + path,
            data=dict(data, csrf_token=self.csrf(client, '/privacy')))

    def consents(self, index):
        "{purpose code: (source, withdrawn)} of customer index"
        with Transaction().start(DB_NAME, 0):
            Consent = Pool().get('utility.privacy.consent')
            return {c.purpose.code: (c.source, bool(c.withdrawn_date))
                for c in Consent.search([
                        ('party.name', '=', 'Customer %s' % index)])}

    def test_login_required(self):
        "Anonymous visitors are sent to the login page, posts refused"
        client = Client(app, Response)
        for path in ['/privacy', '/privacy/export']:
            response = client.get(BASE + path)
            self.assertEqual(response.status_code, 303)
            self.assertIn('/login?next=', response.headers['Location'])
        # Without the CSRF token of a session a post is forbidden.
        response = client.post(BASE + '/privacy/erasure',
            data={'confirm': '1'})
        self.assertEqual(response.status_code, 403)

    def test_download_own_data(self):
        "The archive holds the customer's data, no other customer's"
        client = self.login(1)
        page = client.get(BASE + '/profile')
        self.assertIn('href="%s/privacy"' % BASE, page.text)
        page = client.get(BASE + '/privacy')
        self.assertEqual(page.status_code, 200)
        self.assertIn('href="%s/privacy/export"' % BASE, page.text)
        response = client.get(BASE + '/privacy/export')
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.mimetype, 'application/zip')
        self.assertEqual(response.headers['Cache-Control'], 'no-store')
        self.assertRegex(response.headers['Content-Disposition'],
            r'^attachment; filename="personal-data-.+\.zip"$')
        archive = zipfile.ZipFile(io.BytesIO(response.data))
        self.assertIn('summary.pdf', archive.namelist())
        self.assertIn('notifications.csv', archive.namelist())
        data = json.loads(archive.read('data.json'))['data']
        self.assertEqual(data['party'][0]['name'], "Customer 1")
        self.assertEqual(data['portal_accounts'][0]['email'], email(1))
        self.assertEqual([a['street'] for a in data['addresses']],
            ["1 Main St"])
        self.assertEqual(len(data['bills']), 1)
        raw = response.data + b''.join(
            archive.read(n) for n in archive.namelist())
        for other in [2, 3, 4]:
            self.assertNotIn(email(other).encode(), raw)

    def test_consents(self):
        "The customer gives and withdraws their own consents"
        client = self.login(2)
        page = client.get(BASE + '/privacy')
        self.assertIn('value="marketing"', page.text)
        self.assertIn('value="crm_sharing"', page.text)
        # Contract purposes need no consent: not offered.
        self.assertNotIn('value="billing"', page.text)

        response = self.post(client, '/privacy/consents',
            {'purpose': ['marketing', 'crm_sharing']})
        self.assertEqual(response.status_code, 200, response.text[:500])
        self.assertIn('Your choices are saved.', response.text)
        self.assertEqual(self.consents(2), {
                'marketing': ('portal', False),
                'crm_sharing': ('portal', False)})
        self.assertEqual(self.consents(1), {})

        response = self.post(client, '/privacy/consents',
            {'purpose': ['marketing']})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self.consents(2), {
                'marketing': ('portal', False),
                'crm_sharing': ('portal', True)})
        self.assertRegex(response.text,
            r'<input[^>]*id="purpose-marketing"[^>]* checked[ >]')
        self.assertNotRegex(response.text,
            r'<input[^>]*id="purpose-crm_sharing"[^>]* checked[ >]')

        # A purpose that does not need consent, or does not exist
        for code in ['billing', 'no_such_purpose']:
            response = self.post(client, '/privacy/consents',
                {'purpose': [code]})
            self.assertEqual(response.status_code, 400)
        self.assertEqual(self.consents(2)['marketing'], ('portal', False))

    def test_erasure_request(self):
        "The request is logged for staff, its refusal shown with the reason"
        client = self.login(3)
        response = self.post(client, '/privacy/erasure', {})
        self.assertEqual(response.status_code, 400)
        self.assertIn('Tick the box', response.text)
        response = self.post(client, '/privacy/erasure', {'confirm': '1',
                'legal_basis': 'retention'})
        self.assertEqual(response.status_code, 400)

        response = self.post(client, '/privacy/erasure', {'confirm': '1',
                'legal_basis': 'ccpa_1798_105', 'note': "Moving abroad"})
        self.assertEqual(response.status_code, 200, response.text[:500])
        self.assertIn('Your erasure request is received.', response.text)
        self.assertNotIn('name="confirm"', response.text)
        response = self.post(client, '/privacy/erasure', {'confirm': '1'})
        self.assertEqual(response.status_code, 400)
        self.assertIn('being processed', response.text)

        with Transaction().start(DB_NAME, 0) as transaction:
            Erasure = Pool().get('utility.privacy.erasure')
            erasure, = Erasure.search([
                    ('party.name', '=', 'Customer 3')])
            self.assertEqual((erasure.state, erasure.channel,
                    erasure.legal_basis, erasure.note),
                ('requested', 'portal', 'ccpa_1798_105', "Moving abroad"))
            # Staff process it: a current customer is refused.
            Erasure.process([erasure])
            transaction.commit()

        page = client.get(BASE + '/privacy')
        self.assertEqual(page.status_code, 200)
        self.assertIn('Refused', page.text)
        self.assertIn('is still running; close it first', page.text)
        # Refused: the customer may ask again.
        self.assertIn('name="confirm"', page.text)
