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

texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(['\x00', 'a\x00b', '1e400', '-1', 'NaN', '0x10',
            '9' * 400, '2024-02-30', '0001-01-01', '9999-12-31',
            '<script>alert(1)</script>', "' OR 1=1 --", '١٢٣', '',
            ' ' * 3]))
ids = st.one_of(st.integers(-2**63, 2**63), st.integers(0, 50))


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
        forms = {
            '/reading': ['meter', 'value'],
            '/requests/new': ['kind', 'bill', 'subject', 'body',
                'requested_date'],
            '/profile': ['alert_threshold', 'bill_threshold', 'phone',
                'contact_email', 'street', 'postal_code', 'city'],
            '/password': ['current', 'password', 'password2'],
            }

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
        @given(st.sampled_from(['/login', '/signup', '/forgot-password']),
            st.data())
        def check(path, data):
            client = self.client()
            names = {
                '/login': ['email', 'password'],
                '/signup': ['number', 'postcode', 'amount', 'email',
                    'password', 'password2'],
                '/forgot-password': ['email'],
                }[path]
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
