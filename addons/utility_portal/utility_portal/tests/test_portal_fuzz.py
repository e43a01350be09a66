"""Fuzz pass over the portal's forms and route parameters (hypothesis).

Generated values (NUL bytes, huge numbers, odd dates, long and non-Latin
text, other customers' or non-existent ids) are posted to every form and
put into every URL parameter of a logged-in customer. No page may fail
with a server error or show a traceback: bad input is answered with the
form and its message, a 404 or a 400.
"""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, RouteTestCase
from trytond.transaction import Transaction

# The module, not the class: pytest would run its tests here again.
from . import test_portal

BASE = test_portal.BASE

ANSWERS = {200, 303, 400, 403, 404, 405, 429}
FUZZ = settings(max_examples=25, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture])

# Generated text without control characters, which every form refuses
# before reading it (test_control_characters): with them, most examples
# would stop there. NUL stays among the samples.
texts = st.one_of(
    st.text(st.characters(blacklist_categories=('Cc', 'Cs')), max_size=40),
    st.sampled_from(['\x00', 'a\x00b', '1e400', '-1', 'NaN', '0x10',
            '9' * 400, '2024-02-30', '0001-01-01', '9999-12-31',
            '<script>alert(1)</script>', "' OR 1=1 --", '١٢٣', '',
            ' ' * 3]))
ids = st.one_of(st.integers(-2**63, 2**63), st.integers(0, 50))
# Control characters that no form field holds; a text area's line ends pass
CONTROLS = ['\x00', '\x07', '\x1b', '\x7f', '\x85']
# Every form of the portal, by path: its fields
FORMS = {
    '/reading': ['meter', 'value'],
    '/requests/new': ['kind', 'bill', 'subject', 'body', 'requested_date'],
    '/profile': ['alert_threshold', 'bill_threshold', 'phone',
        'contact_email', 'street', 'postal_code', 'city'],
    '/password': ['current', 'password', 'password2'],
    }
PUBLIC_FORMS = {
    '/login': ['email', 'password'],
    '/signup': ['number', 'postcode', 'amount', 'email', 'password',
        'password2'],
    '/forgot-password': ['email'],
    '/reset-password': ['email', 'token', 'password', 'password2'],
    }


class PortalFuzzTestCase(RouteTestCase):
    "Generated input to every form and route parameter"
    module = 'utility_portal'
    data = {}
    # The portal tests' customers, bills and requests (customer A logs in).
    _portal = test_portal.PortalRouteTestCase
    setUpClass = classmethod(_portal.setUpClass.__func__)
    setUpDatabase = classmethod(_portal.setUpDatabase.__func__)
    csrf = _portal.csrf
    login = _portal.login
    post = _portal.post

    def assertAnswered(self, response, what):
        self.assertIn(response.status_code, ANSWERS,
            '%s: %s' % (what, response.text[:1000]))
        self.assertNotIn('Traceback', response.text, what)

    def test_route_parameters(self):
        client = self.login()

        @FUZZ
        @given(ids, st.sampled_from(['/bills/%s', '/bills/%s/pdf',
                    '/requests/%s']))
        def check(value, pattern):
            path = pattern % value
            self.assertAnswered(client.get(BASE + path), path)

        check()

    def test_query_strings(self):
        client = self.login()

        @FUZZ
        @given(texts, st.sampled_from([('/requests/new', 'kind'),
                    ('/requests/new', 'bill'), ('/validate-email', 'token'),
                    ('/reset-password', 'token'), ('/login', 'next')]))
        def check(value, target):
            path, name = target
            response = client.get(BASE + path, query_string={name: value})
            self.assertAnswered(response, '%s?%s=%r' % (path, name, value))

        check()

    def test_forms(self):
        client = self.login()
        forms = FORMS

        @FUZZ
        @given(st.sampled_from(sorted(forms)), st.data())
        def check(path, data):
            values = {name: data.draw(texts, label=name)
                for name in forms[path]}
            if path == '/reading' and data.draw(st.booleans()):
                # Mostly the customer's own meter, to reach validation.
                values['meter'] = str(self.data['meter_a'])
            response = self.post(client, path, values)
            self.assertAnswered(response, '%s %r' % (path, values))

        try:
            check()
        finally:
            # The failed logins would throttle the other tests' logins.
            with Transaction().start(DB_NAME, 0) as transaction:
                Attempt = Pool().get('web.user.authenticate.attempt')
                Attempt.delete(Attempt.search([]))
                transaction.commit()

    def test_public_forms(self):
        @FUZZ
        @given(st.sampled_from(sorted(PUBLIC_FORMS)), st.data())
        def check(path, data):
            client = self.client()
            names = PUBLIC_FORMS[path]
            values = {n: data.draw(texts, label=n) for n in names}
            response = self.post(client, path, values)
            self.assertAnswered(response, '%s %r' % (path, values))

        try:
            check()
        finally:
            # The failed logins would throttle the other tests' logins.
            with Transaction().start(DB_NAME, 0) as transaction:
                Attempt = Pool().get('web.user.authenticate.attempt')
                Attempt.delete(Attempt.search([]))
                transaction.commit()

    def test_control_characters(self):
        """A control character in any field or query string is refused
        with a 400 that says why, and nothing is written (PostgreSQL
        refuses NUL in text: it was a server error)"""
        message = 'The form contained control characters'

        def refused(response, what):
            self.assertEqual(response.status_code, 400,
                '%s: %s' % (what, response.text[:500]))
            self.assertIn(message, response.text, what)
        try:
            client = self.client()
            for path, names in sorted(PUBLIC_FORMS.items()):
                for name in names:
                    for control in CONTROLS:
                        values = {n: 'x@example.com' for n in names}
                        values[name] = 'a%sb' % control
                        refused(self.post(client, path, values),
                            '%s %s %r' % (path, name, control))
            client = self.login()
            requests = self.requests()
            for path, names in sorted(FORMS.items()):
                for name in names:
                    values = {n: '1' for n in names}
                    values[name] = '\x00'
                    refused(self.post(client, path, values),
                        '%s %s' % (path, name))
            # The logged-in customer sees the page in the portal's frame.
            response = client.get(BASE + '/requests/new',
                query_string={'kind': 'move_in\x00'})
            refused(response, 'query string')
            self.assertIn('/logout', response.text)
            # A request that would be valid but for the NUL is not opened.
            response = self.post(client, '/requests/new', {
                    'kind': 'service_issue', 'subject': 'No power\x00',
                    'body': 'Since Monday'})
            refused(response, 'request')
            self.assertEqual(self.requests(), requests)
            # Line ends of a text area are text.
            response = self.post(client, '/profile', {
                    'street': '1 Main St\r\nFlat 2\tleft'})
            self.assertNotEqual(response.status_code, 400)
        finally:
            # The failed logins would throttle the other tests' logins.
            with Transaction().start(DB_NAME, 0) as transaction:
                Attempt = Pool().get('web.user.authenticate.attempt')
                Attempt.delete(Attempt.search([]))
                transaction.commit()

    def requests(self):
        "The number of service requests"
        with Transaction().start(DB_NAME, 0):
            return Pool().get('utility.service.request').search_count([])
