"""Green Button "Download My Data" from the customer portal: the logged-in
customer's own service points only, a valid ESPI feed, login required."""
import datetime as dt
import os
import re
import unittest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from werkzeug.test import Client
from werkzeug.wrappers import Response

from trytond.modules.company.tests import set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, with_transaction
from trytond.transaction import Transaction
from trytond.wsgi import app

from utility_metering.tests.activation import activate_fixture

from utility_integration import espi

from .tools import billed_data, integration_fixture

try:
    import utility_portal  # noqa: F401
except ImportError:
    utility_portal = None

BASE = '/%s/portal' % DB_NAME
PASSWORD = 'correct horse battery'
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
NS = {'a': espi.NS_ATOM, 'espi': espi.NS_ESPI}


def portal_fixture():
    """integration_fixture's two billed customers, each with a portal
    login (committed)"""
    pool = Pool()
    User = pool.get('web.user')
    Company = pool.get('company.company')
    integration_fixture()
    company, = Company.search([])
    with set_company(company):
        agreement1, agreement2, _ = billed_data(company)
    users = User.create([{
                'email': 'one@example.com', 'party': agreement1.party.id,
                'email_valid': True,
                }, {
                'email': 'two@example.com', 'party': agreement2.party.id,
                'email_valid': True,
                }])
    User.write(users, {'password': PASSWORD})


def values(document):
    return [int(v) for v in document.xpath(
            '//espi:IntervalReading/espi:value/text()', namespaces=NS)]


@unittest.skipUnless(utility_portal, "utility_portal is not installed")
class PortalGreenButtonTestCase(unittest.TestCase):
    "The portal's Green Button download"

    @classmethod
    def setUpClass(cls):
        activate_fixture(cls, ['utility_integration', 'utility_portal'],
            portal_fixture)

    def agreements(self):
        "{e-mail: agreement id, service point id} of the fixture"
        with Transaction().start(DB_NAME, 0):
            User = Pool().get('web.user')
            Agreement = Pool().get('utility.service.agreement')
            result = {}
            for user in User.search([]):
                agreement, = Agreement.search([('party', '=', user.party)])
                result[user.email] = (agreement.id,
                    agreement.service_point.id)
            return result

    def login(self, email):
        client = Client(app, Response)
        response = client.get(BASE + '/login')
        token = CSRF.search(response.text).group(1)
        response = client.post(BASE + '/login', data={'csrf_token': token,
                'email': email, 'password': PASSWORD})
        self.assertEqual(response.status_code, 303, response.text)
        return client

    def test_download_own_data(self):
        "The customer's usage page links to a valid feed of their own data"
        points = self.agreements()
        _, own = points['one@example.com']
        _, other = points['two@example.com']
        client = self.login('one@example.com')

        response = client.get(BASE + '/usage')
        self.assertEqual(response.status_code, 200)
        self.assertIn('href="%s/green-button"' % BASE, response.text)
        self.assertIn('Green Button: download my data', response.text)

        response = client.get(BASE + '/green-button')
        self.assertEqual(response.status_code, 200)
        self.assertIn('<option value="%s" selected>' % own,
            response.text)
        self.assertNotIn('value="%s"' % other, response.text)
        # The last 13 months by default
        today = dt.date.today()
        first = today.replace(day=1)
        self.assertIn('name="start" value="%s"'
            % first.replace(year=first.year - 1), response.text)
        self.assertIn('name="end" value="%s"' % today, response.text)

        response = client.get(BASE + '/green-button.xml', query_string={
                'service_point': own, 'start': '2024-01-01',
                'end': '2024-03-31'})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.mimetype, 'application/atom+xml')
        self.assertEqual(response.headers['Content-Disposition'],
            'attachment; filename="green-button-SP1-2024-01-01-'
            '2024-03-31.xml"')
        self.assertEqual(response.headers['Cache-Control'], 'no-store')
        espi.validate(response.data)
        document = etree.fromstring(response.data)
        # Customer 1 only: 742 and 600 kWh in Wh, not customer 2's 300, 200
        self.assertEqual(values(document), [742000, 600000])
        self.assertEqual(len(document.xpath(
                    '//espi:UsagePoint', namespaces=NS)), 1)
        self.assertEqual(len(document.xpath(
                    '//espi:UsageSummary', namespaces=NS)), 2)
        self.assertIn('Customer 1', document.findtext(
                'a:title', namespaces=NS))
        self.assertNotIn(b'Customer 2', response.data)

        # The same feed as the back office's for the agreement
        with Transaction().start(DB_NAME, 0):
            Agreement = Pool().get('utility.service.agreement')
            agreement = Agreement(points['one@example.com'][0])
            expected = etree.fromstring(espi.green_button_xml(agreement,
                    dt.date(2024, 1, 1), dt.date(2024, 3, 31)))
        self.assertEqual(values(document), values(expected))

    def test_default_period(self):
        "Without dates the file covers the last 13 months"
        points = self.agreements()
        _, own = points['two@example.com']
        client = self.login('two@example.com')
        response = client.get(BASE + '/green-button.xml',
            query_string={'service_point': own})
        self.assertEqual(response.status_code, 200)
        espi.validate(response.data)
        today = dt.date.today()
        first = today.replace(day=1)
        first = first.replace(year=first.year - 1)
        self.assertTrue(response.headers['Content-Disposition'].endswith(
                '-%s-%s.xml"' % (first, today)))

    def test_other_customer_refused(self):
        "Another customer's service point, or none, is not found"
        points = self.agreements()
        _, other = points['two@example.com']
        client = self.login('one@example.com')
        for query in [{'service_point': other}, {},
                {'service_point': 'x'}, {'service_point': 2 ** 40},
                {'service_point': other, 'start': '2024-01-01',
                    'end': '2024-03-31'}]:
            with self.subTest(query=query):
                response = client.get(BASE + '/green-button.xml',
                    query_string=query)
                self.assertEqual(response.status_code, 404)
                self.assertNotIn(b'<feed', response.data)

    def test_bad_dates(self):
        "Dates that are no dates or in the wrong order are explained"
        points = self.agreements()
        _, own = points['one@example.com']
        client = self.login('one@example.com')
        for start, end, text in [
                ('2024-13-01', '2024-03-31', 'year-month-day'),
                ('0001-01-01', '2024-03-31', 'year-month-day'),
                ('2024-01-01', '9999-12-31', 'year-month-day'),
                ('2024-03-01', '2024-01-01', 'must not be after'),
                ]:
            with self.subTest(start=start, end=end):
                response = client.get(BASE + '/green-button.xml',
                    query_string={'service_point': own, 'start': start,
                        'end': end})
                self.assertEqual(response.status_code, 400)
                self.assertIn(text, response.text)
                self.assertIn('value="%s"' % start, response.text)

    def test_fuzz_dates(self):
        "Generated dates are answered with the file or the form, never 500"
        points = self.agreements()
        _, own = points['one@example.com']
        client = self.login('one@example.com')
        texts = st.one_of(st.text(max_size=20), st.sampled_from([
                    '\x00', '2024-02-30', '2024-02-29', '0001-01-01',
                    '9999-12-31', '1969-12-31', '1970-01-01', '9' * 400,
                    '<script>alert(1)</script>', '١٢٣', '']))

        # The same examples on every run (as the repository's other
        # property tests): a failure is reproducible.
        @settings(max_examples=25, deadline=None, database=None,
            derandomize=True, suppress_health_check=[HealthCheck.too_slow])
        @given(texts, texts)
        def check(start, end):
            response = client.get(BASE + '/green-button.xml',
                query_string={'service_point': own, 'start': start,
                    'end': end})
            self.assertIn(response.status_code, {200, 400},
                (start, end, response.text[:500]))
            self.assertNotIn(b'Traceback', response.data)
            if response.status_code == 200:
                espi.validate(response.data)

        check()

    def test_login_required(self):
        "Logged out, the pages redirect to the login"
        points = self.agreements()
        _, own = points['one@example.com']
        client = Client(app, Response)
        for path, query in [('/green-button', {}),
                ('/green-button.xml', {'service_point': own})]:
            with self.subTest(path=path):
                response = client.get(BASE + path, query_string=query)
                self.assertEqual(response.status_code, 303)
                self.assertIn('/portal/login?next=', response.location)

    def test_french(self):
        "The page follows the customer's language"
        here = os.path.dirname(os.path.dirname(__file__))

        def set_lang(code):
            with Transaction().start(DB_NAME, 0) as transaction:
                pool = Pool()
                Lang = pool.get('ir.lang')
                Translation = pool.get('ir.translation')
                Party = pool.get('party.party')
                User = pool.get('web.user')
                Company = pool.get('company.company')
                lang = None
                if code:
                    lang, = Lang.search([('code', '=', code)])
                    Lang.write([lang], {'translatable': True})
                    # This module's texts only: loading every module's
                    # French takes long.
                    Translation.translation_import(code,
                        'utility_integration',
                        [os.path.join(here, 'locale', code + '.po')])
                user, = User.search([('email', '=', 'two@example.com')])
                company, = Company.search([])
                with Transaction().set_context(company=company.id):
                    Party.write([Party(user.party.id)],
                        {'lang': lang.id if lang else None})
                transaction.commit()

        set_lang('fr')
        try:
            client = self.login('two@example.com')
            response = client.get(BASE + '/usage')
            self.assertIn('Green Button : télécharger mes données',
                response.text)
            response = client.get(BASE + '/green-button')
            self.assertIn('lang="fr"', response.text)
            self.assertIn('<label for="service_point">Point de service'
                '</label>', response.text)
            self.assertIn('Télécharger</button>', response.text)
        finally:
            set_lang(None)

    @with_transaction()
    def test_messages_defined(self):
        "Every text the portal page asks for is a message"
        ModelData = Pool().get('ir.model.data')
        here = os.path.dirname(os.path.dirname(__file__))
        keys = set()
        for name in ['portal.py', os.path.join('templates',
                    'green_button.html')]:
            with open(os.path.join(here, name)) as fp:
                keys |= set(re.findall(r"'(msg_[a-z0-9_]+)'", fp.read()))
        self.assertIn('msg_portal_green_button_intro', keys)
        for key in sorted(keys):
            with self.subTest(key=key):
                self.assertTrue(ModelData.get_id('utility_integration', key))
