import datetime as dt
import functools
import io
import os
import re
import zipfile
from decimal import Decimal
from unittest.mock import patch

import trytond.config as config
import trytond.tools.misc
from trytond.modules.company.tests import (
    CompanyTestMixin, create_company, set_company)
from trytond.modules.currency.tests import add_currency_rate
from utility_billing.tests.tools import (
    create_customer, create_cycle, create_payment_term, create_plan,
    create_products, read, setup_accounting)
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    DB_NAME, ModuleTestCase, RouteTestCase, with_transaction)
from trytond.transaction import Transaction, TransactionError

from utility_portal import web

# 8.0 looks entry points up on every import_module call (slow tests).
trytond.tools.misc.import_module = functools.cache(
    trytond.tools.misc.import_module)

BASE = '/%s/portal' % DB_NAME
PASSWORD = 'correct horse battery'
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


class UtilityPortalTestCase(CompanyTestMixin, ModuleTestCase):
    "Test Utility Portal module"
    module = 'utility_portal'

    @with_transaction()
    def test_messages_defined(self):
        "Every text a template or page asks for is a message"
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        here = os.path.dirname(os.path.dirname(__file__))
        keys = set()
        for folder in ['templates', '.']:
            path = os.path.join(here, folder)
            for name in os.listdir(path):
                if name.endswith(('.html', '.py')):
                    with open(os.path.join(path, name)) as fp:
                        keys |= set(re.findall(r"'(msg_[a-z0-9_]+)'",
                                fp.read()))
        for status in [400, 403, 404, 405, 429, 500]:
            keys |= {'msg_error_%s' % status, 'msg_error_%s_text' % status}
        for key in sorted(keys):
            with self.subTest(key=key):
                self.assertTrue(ModelData.get_id('utility_portal', key))


def customer(company, plan, cycle, term, index, postcode, readings=True):
    """An agreement billed by the previous system until 2023 with a meter
    read monthly from February 2023 to April 2024"""
    pool = Pool()
    Agreement = pool.get('utility.service.agreement')
    Installation = pool.get('utility.meter.installation')
    Address = pool.get('party.address')
    agreement, meter = create_customer(company, index, plan, cycle,
        start=dt.date(2023, 3, 1))
    Address.write([agreement.service_point.address],
        {'postal_code': postcode})
    Installation.write(list(meter.installations),
        {'start': dt.datetime(2023, 2, 1)})
    Agreement.write([agreement], {'payment_term': term.id,
            'billed_until': dt.date(2023, 12, 31)})
    value = 10000
    month = dt.date(2023, 2, 1)
    while readings and month <= dt.date(2024, 4, 1):
        read(meter, dt.datetime.combine(month, dt.time()), value)
        value += 500 + (300 if month.month in {11, 12, 1, 2} else 0)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return agreement, meter


class PortalRouteTestCase(RouteTestCase):
    "The portal pages through trytond's WSGI app"
    module = 'utility_portal'
    data = {}

    @classmethod
    def setUpClass(cls):
        # RouteTestCase's set-up does not retry on the table locks the
        # accounting set-up asks for, as with_transaction does.
        super(RouteTestCase, cls).setUpClass()
        extras = {}
        while True:
            with Transaction().start(DB_NAME, 1, **extras) as transaction:
                try:
                    cls.setUpDatabase()
                except TransactionError as e:
                    transaction.rollback()
                    e.fix(extras)
                    continue
                break

    @classmethod
    def setUpDatabase(cls):
        pool = Pool()
        Currency = pool.get('currency.currency')
        Run = pool.get('utility.bill.run')
        Bill = pool.get('utility.bill')
        User = pool.get('web.user')
        Request = pool.get('utility.service.request')
        usd, = Currency.create([{'name': "US Dollar", 'code': 'USD',
                    'symbol': '$', 'digits': 2,
                    'rounding': Decimal('0.01')}])
        add_currency_rate(usd, 1)
        company = create_company("Springfield Power & Light", usd)
        with set_company(company), Transaction().set_context(
                bill_run_inline=True, _skip_warnings=True):
            revenue, tax = setup_accounting(company)
            products = create_products(revenue, tax)
            plan = create_plan(company, products)
            cycle = create_cycle(company)
            term = create_payment_term(14)
            a, meter_a = customer(company, plan, cycle, term, 1, '49007')
            b, meter_b = customer(company, plan, cycle, term, 2, '49008')
            # Without a login yet: for sign-up and linking.
            c, _ = customer(company, plan, cycle, term, 3, 'AB1 2CD',
                readings=False)
            d, _ = customer(company, plan, cycle, term, 4, '49010',
                readings=False)
            Route = pool.get('utility.reading.route')
            route, = Route.create([{'company': company.id, 'code': 'R1',
                        'name': "Route 1", 'frequency': 'monthly',
                        'start_date': dt.date(2023, 1, 1), 'read_day': 15,
                        'tolerance_days': 3,
                        'service_points': [('add', [a.service_point.id])],
                        }])
            for end in [dt.date(2024, 1, 31), dt.date(2024, 2, 29),
                    dt.date(2024, 3, 31)]:
                run = Run(company=company, cycle=cycle, period_end=end,
                    invoice_date=end + dt.timedelta(days=1))
                run.save()
                Run.preview([run])
                Run.process([run])
            bill_b = Bill.search([('agreement', '=', b.id)],
                order=[('period_start', 'DESC')])[0]
            user_a, user_b = User.create([{
                        'email': 'a@example.com', 'party': a.party.id,
                        'email_valid': True,
                        }, {
                        'email': 'b@example.com', 'party': b.party.id,
                        'email_valid': True,
                        }])
            User.write([user_a, user_b], {'password': PASSWORD})
            request_b, = Request.create([{'company': company.id,
                        'party': b.party.id, 'agreement': b.id,
                        'kind': 'service_issue', 'subject': "Flicker",
                        'messages': [('create', [{'author': 'customer',
                                        'body': "Lights flicker"}])],
                        }])
        cls.data.update(a=a.id, b=b.id, c=c.id, d=d.id,
            meter_a=meter_a.id, meter_b=meter_b.id,
            number_c=c.number, number_d=d.number, number_b=b.number,
            bill_b=bill_b.id, bill_b_total=bill_b.total_amount,
            request_b=request_b.id, company=company.id)

    # --- helpers ---------------------------------------------------------
    def csrf(self, client, path='/login'):
        response = client.get(BASE + path)
        match = CSRF.search(response.text)
        self.assertTrue(match, response.text[:500])
        return match.group(1)

    def login(self, email='a@example.com', password=PASSWORD):
        client = self.client()
        token = self.csrf(client)
        response = client.post(BASE + '/login', data={'csrf_token': token,
                'email': email, 'password': password})
        self.assertEqual(response.status_code, 303, response.text)
        return client

    def post(self, client, path, data, form_path=None):
        data = dict(data, csrf_token=self.csrf(client, form_path or path))
        return client.post(BASE + path, data=data)

    def bill_ids(self, agreement):
        with Transaction().start(DB_NAME, 0):
            Bill = Pool().get('utility.bill')
            return [b.id for b in Bill.search(
                    [('agreement', '=', self.data[agreement])],
                    order=[('period_start', 'ASC')])]

    # --- authentication --------------------------------------------------
    def test_login_page_and_cookie_flags(self):
        "Login sets an HttpOnly, Secure, SameSite=Lax session cookie"
        client = self.client()
        response = client.get(BASE + '/login')
        self.assertEqual(response.status_code, 200)
        self.assertIn('<label for="email">', response.text)
        self.assertIn('class="skip-link"', response.text)
        self.assertEqual(response.headers['X-Frame-Options'], 'DENY')
        token = CSRF.search(response.text).group(1)
        response = client.post(BASE + '/login', data={'csrf_token': token,
                'email': 'A@example.com', 'password': PASSWORD})
        self.assertEqual(response.status_code, 303)
        self.assertTrue(response.location.endswith('/portal/dashboard'))
        cookies = [c for c in response.headers.getlist('Set-Cookie')
            if c.startswith('portal_session=')]
        self.assertEqual(len(cookies), 1)
        for flag in ['HttpOnly', 'Secure', 'SameSite=Lax', 'Max-Age=',
                'Path=%s' % BASE]:
            self.assertIn(flag, cookies[0])
        self.assertEqual(client.get(BASE + '/dashboard').status_code, 200)

    def test_secure_flag_configurable(self):
        "A local http demo can turn the Secure flag off"
        if not config.has_section('utility_portal'):
            config.add_section('utility_portal')
        config.set('utility_portal', 'secure_cookie', 'False')
        try:
            client = self.client()
            response = client.get(BASE + '/login')
            cookie = response.headers['Set-Cookie']
            self.assertNotIn('Secure', cookie)
        finally:
            config.set('utility_portal', 'secure_cookie', 'True')

    def test_pages_need_login(self):
        "Every customer page redirects to the login when logged out"
        client = self.client()
        for path in ['/dashboard', '/bills', '/bills/1', '/bills/1/pdf',
                '/reading', '/usage', '/usage.csv', '/usage.xlsx',
                '/requests', '/requests/new', '/requests/1', '/profile',
                '/password']:
            with self.subTest(path=path):
                response = client.get(BASE + path)
                self.assertEqual(response.status_code, 303)
                self.assertIn('/portal/login?next=', response.location)
        response = client.get(BASE + '/')
        self.assertTrue(response.location.endswith('/portal/login'))

    def test_login_wrong_password_and_throttle(self):
        "Wrong passwords fail; then the e-mail is throttled (429)"
        client = self.client()
        config.set('session', 'max_attempt', '2')
        try:
            with patch('time.sleep'):
                statuses = []
                for _ in range(5):
                    token = self.csrf(client)
                    response = client.post(BASE + '/login', data={
                            'csrf_token': token, 'email': 'b@example.com',
                            'password': 'wrong password'})
                    statuses.append(response.status_code)
                self.assertEqual(statuses[:3], [200, 200, 200])
                self.assertIn(
                    'The e-mail or password is not correct', response.text
                    if statuses[-1] == 200 else 'The e-mail or password is '
                    'not correct')
                self.assertEqual(statuses[-1], 429)
                self.assertIn('Too many attempts', response.text)
                # Even the right password is refused while throttled.
                token = self.csrf(client)
                response = client.post(BASE + '/login', data={
                        'csrf_token': token, 'email': 'b@example.com',
                        'password': PASSWORD})
                self.assertEqual(response.status_code, 429)
        finally:
            config.set('session', 'max_attempt', '5')
            with Transaction().start(DB_NAME, 0) as transaction:
                Attempt = Pool().get('web.user.authenticate.attempt')
                Attempt.delete(Attempt.search([]))
                transaction.commit()

    def test_login_bad_and_next(self):
        "A failed login says so with an alert; next only goes to the portal"
        client = self.client()
        token = self.csrf(client)
        with patch('time.sleep'):
            response = client.post(BASE + '/login', data={
                    'csrf_token': token, 'email': 'nobody@example.com',
                    'password': 'x'})
        self.assertEqual(response.status_code, 200)
        self.assertIn('role="alert"', response.text)
        self.assertIn('The e-mail or password is not correct', response.text)
        for next_, expected in [
                (BASE + '/bills', BASE + '/bills'),
                ('https://evil.example/', BASE + '/dashboard'),
                (BASE + '//evil.example', BASE + '/dashboard')]:
            client = self.client()
            token = self.csrf(client)
            response = client.post(BASE + '/login', data={
                    'csrf_token': token, 'email': 'a@example.com',
                    'password': PASSWORD, 'next': next_})
            self.assertTrue(response.location.endswith(expected),
                (next_, response.location))

    def test_csrf_required(self):
        "A POST without the form's token is refused (403)"
        client = self.client()
        client.get(BASE + '/login')
        response = client.post(BASE + '/login', data={
                'email': 'a@example.com', 'password': PASSWORD})
        self.assertEqual(response.status_code, 403)
        self.assertIn('Not allowed', response.text)
        response = client.post(BASE + '/login', data={'csrf_token': '0' * 64,
                'email': 'a@example.com', 'password': PASSWORD})
        self.assertEqual(response.status_code, 403)
        client = self.login()
        response = client.post(BASE + '/logout')
        self.assertEqual(response.status_code, 403)
        self.assertEqual(client.get(BASE + '/dashboard').status_code, 200)

    def test_logout(self):
        "Logging out ends the session on the server"
        client = self.login()
        session = client.get_cookie('portal_session', path=BASE).value
        response = self.post(client, '/logout', {}, '/dashboard')
        self.assertEqual(response.status_code, 303)
        self.assertIn('notice=logged_out', response.location)
        self.assertEqual(client.get(BASE + '/dashboard').status_code, 303)
        # The old cookie is worthless too.
        client = self.client()
        client.set_cookie('portal_session', session, path=BASE)
        self.assertEqual(client.get(BASE + '/dashboard').status_code, 303)

    def test_session_expires(self):
        "A session older than [session] web_timeout is not accepted"
        client = self.login()
        config.set('session', 'web_timeout', '1')
        try:
            with Transaction().start(DB_NAME, 0) as transaction:
                Session = Pool().get('web.user.session')
                table = Session.__table__()
                cursor = transaction.connection.cursor()
                cursor.execute(*table.update(
                        [table.create_date, table.write_date],
                        [dt.datetime(2020, 1, 1), dt.datetime(2020, 1, 1)]))
                transaction.commit()
            self.assertEqual(client.get(BASE + '/dashboard').status_code,
                303)
        finally:
            config.set('session', 'web_timeout', str(30 * 24 * 60 * 60))

    def test_signup_validate_login(self):
        "Sign up with account number and postcode, validate, log in"
        client = self.client()
        with patch('trytond.modules.web_user.user'
                '.send_message_transactional') as send:
            token = self.csrf(client, '/signup')
            response = client.post(BASE + '/signup', data={
                    'csrf_token': token, 'number': self.data['number_c'],
                    'postcode': 'ab1-2cd', 'email': 'c@example.com',
                    'password': PASSWORD, 'password2': PASSWORD})
            self.assertEqual(response.status_code, 303, response.text)
            self.assertIn('notice=signed_up', response.location)
            send.assert_called_once()
            message = send.call_args[0][0]
            self.assertEqual(message['To'], 'c@example.com')
            body = message.get_body(('html',)).get_content()
        url = re.search(r'href="([^"]*validate-email[^"]*)"', body).group(1)
        self.assertIn('/portal/validate-email?token=', url)
        # Not validated yet: no login.
        token = self.csrf(client)
        response = client.post(BASE + '/login', data={'csrf_token': token,
                'email': 'c@example.com', 'password': PASSWORD})
        self.assertIn('Confirm your e-mail address first', response.text)
        path = url[url.index('/portal/'):].replace('&amp;', '&')
        response = client.get(BASE + path[len('/portal'):])
        self.assertIn('notice=validated', response.location)
        response = client.get(BASE + '/validate-email?token=bad')
        self.assertIn('notice=invalid_token', response.location)
        token = self.csrf(client)
        response = client.post(BASE + '/login', data={'csrf_token': token,
                'email': 'c@example.com', 'password': PASSWORD})
        self.assertEqual(response.status_code, 303)
        response = client.get(BASE + '/dashboard')
        self.assertIn(self.data['number_c'], response.text)

    def test_signup_bill_amount_and_errors(self):
        "A recent bill total is a second factor; wrong factors are refused"
        client = self.client()
        amount = str(self.data['bill_b_total'])
        with patch('trytond.modules.web_user.user'
                '.send_message_transactional') as send:
            for factor, ok in [({'postcode': '99999'}, False),
                    ({'amount': '1.23'}, False),
                    ({'amount': 'abc'}, False),
                    ({}, False),
                    ({'amount': amount}, True)]:
                with self.subTest(factor=factor):
                    token = self.csrf(client, '/signup')
                    response = client.post(BASE + '/signup', data=dict({
                                'csrf_token': token,
                                'number': self.data['number_b'],
                                'email': 'b2@example.com',
                                'password': PASSWORD,
                                'password2': PASSWORD}, **factor))
                    if ok:
                        self.assertEqual(response.status_code, 303)
                    else:
                        self.assertEqual(response.status_code, 200)
                        self.assertIn('role="alert"', response.text)
            self.assertEqual(send.call_count, 1)
            token = self.csrf(client, '/signup')
            response = client.post(BASE + '/signup', data={
                    'csrf_token': token, 'number': self.data['number_b'],
                    'postcode': '49008', 'email': 'b3@example.com',
                    'password': 'short', 'password2': 'other'})
            self.assertIn('at least 10 characters', response.text)
            self.assertIn('not the same', response.text)

    def test_forgot_and_reset_password(self):
        "A reset link by e-mail sets a new password and ends sessions"
        old_client = self.login('b@example.com')
        client = self.client()
        with patch('trytond.modules.web_user.user'
                '.send_message_transactional') as send:
            token = self.csrf(client, '/forgot-password')
            response = client.post(BASE + '/forgot-password', data={
                    'csrf_token': token, 'email': 'unknown@example.com'})
            self.assertIn('notice=reset_sent', response.location)
            self.assertEqual(send.call_count, 0)
            token = self.csrf(client, '/forgot-password')
            response = client.post(BASE + '/forgot-password', data={
                    'csrf_token': token, 'email': 'b@example.com'})
            self.assertIn('notice=reset_sent', response.location)
            self.assertEqual(send.call_count, 1)
            body = send.call_args[0][0].get_body(('html',)).get_content()
        url = re.search(r'href="([^"]*reset-password[^"]*)"', body).group(1)
        path = url[url.index('/portal/') + len('/portal'):].replace(
            '&amp;', '&')
        response = client.get(BASE + path)
        self.assertEqual(response.status_code, 200)
        token = CSRF.search(response.text).group(1)
        form = dict(re.findall(
                r'name="(email|token)" value="([^"]*)"', response.text))
        new = 'a new password 2024'
        with patch('time.sleep'):
            response = client.post(BASE + '/reset-password', data=dict(form,
                    csrf_token=token, token='wrong', password=new,
                    password2=new))
            self.assertIn('expired or was already used', response.text)
        with Transaction().start(DB_NAME, 0) as transaction:
            User = Pool().get('web.user')
            user, = User.search([('email', '=', 'b@example.com')])
            user.set_reset_password_token()
            user.save()
            form['token'] = user.reset_password_token
            transaction.commit()
        with patch('time.sleep'):
            response = client.post(BASE + '/reset-password', data=dict(form,
                    csrf_token=token, password=new, password2=new))
        self.assertIn('notice=password_reset', response.location)
        self.assertEqual(old_client.get(BASE + '/dashboard').status_code, 303)
        self.login('b@example.com', new)
        with Transaction().start(DB_NAME, 0) as transaction:
            User = Pool().get('web.user')
            User.write(User.search([('email', '=', 'b@example.com')]),
                {'password': PASSWORD})
            transaction.commit()

    def test_change_password(self):
        "Changing the password needs the current one"
        client = self.login('b@example.com')
        response = self.post(client, '/password', {'current': 'wrong',
                'password': 'another password', 'password2':
                'another password'})
        self.assertIn('current password is not correct', response.text)
        response = self.post(client, '/password', {'current': PASSWORD,
                'password': 'another password', 'password2':
                'another password'})
        self.assertIn('notice=password_changed', response.location)
        self.assertEqual(client.get(BASE + '/dashboard').status_code, 200)
        response = self.post(client, '/password', {
                'current': 'another password', 'password': PASSWORD,
                'password2': PASSWORD})
        self.assertEqual(response.status_code, 303)

    # --- dashboard and bills ---------------------------------------------
    def test_dashboard(self):
        "Balance, due date, last bill, 13-month chart with a data table"
        client = self.login()
        response = client.get(BASE + '/dashboard')
        self.assertEqual(response.status_code, 200)
        text = response.text
        self.assertIn('Balance', text)
        self.assertIn('$', text)
        self.assertIn('<svg', text)
        self.assertIn('role="img"', text)
        self.assertIn('<table class="data">', text)
        self.assertIn('March\xa02024', text)
        self.assertIn('Same month last year', text)
        self.assertNotIn(self.data['number_b'], text)

    def test_bills_list_detail_pdf(self):
        "Bills list, itemised detail with traces, PDF download"
        client = self.login()
        response = client.get(BASE + '/bills')
        self.assertEqual(response.status_code, 200)
        ids = self.bill_ids('a')
        self.assertEqual(len(ids), 3)
        for id_ in ids:
            self.assertIn('%s/bills/%s"' % (BASE, id_), response.text)
        response = client.get(BASE + '/bills/%s' % ids[-1])
        self.assertEqual(response.status_code, 200)
        self.assertIn('How this was computed', response.text)
        self.assertIn('<pre>', response.text)
        self.assertIn('id="pay"', response.text)
        self.assertIn('Total', response.text)
        response = client.get(BASE + '/bills/%s/pdf' % ids[-1])
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.mimetype, 'application/pdf')
        self.assertTrue(response.data.startswith(b'%PDF'))
        self.assertIn('attachment;', response.headers['Content-Disposition'])

    def test_idor_bills(self):
        "Customer A cannot see B's bills or PDFs by changing the id"
        client = self.login()
        for path in ['/bills/%s', '/bills/%s/pdf']:
            response = client.get(BASE + path % self.data['bill_b'])
            self.assertEqual(response.status_code, 404)
            self.assertIn('Page not found', response.text)
        response = client.get(BASE + '/bills/999999')
        self.assertEqual(response.status_code, 404)

    def test_idor_account_switch(self):
        "A cannot switch to B's agreement"
        client = self.login()
        response = self.post(client, '/account',
            {'agreement': str(self.data['b'])}, '/dashboard')
        self.assertEqual(response.status_code, 404)
        # A forged cookie is ignored: the page stays on A's account.
        client.set_cookie('portal_account', str(self.data['b']), path=BASE)
        response = client.get(BASE + '/dashboard')
        self.assertNotIn(self.data['number_b'], response.text)

    # --- readings ----------------------------------------------------------
    def test_submit_reading(self):
        "A reading is validated by the metering rules"
        client = self.login()
        response = client.get(BASE + '/reading')
        self.assertEqual(response.status_code, 200)
        self.assertIn('<label for="value">', response.text)
        self.assertIn('Your next reading is expected between', response.text)
        response = self.post(client, '/reading',
            {'meter': str(self.data['meter_a']), 'value': '100'})
        self.assertEqual(response.status_code, 200)
        self.assertIn('was not accepted', response.text)
        self.assertIn('role="alert"', response.text)
        response = self.post(client, '/reading',
            {'meter': str(self.data['meter_a']), 'value': 'x'})
        self.assertIn('positive number', response.text)
        with Transaction().start(DB_NAME, 0):
            Reading = Pool().get('utility.meter.reading')
            last, = Reading.search([('meter', '=', self.data['meter_a']),
                    ('state', 'in', ['valid', 'billed'])], limit=1)
            value = last.value
        # A plausible use since April 2024 (months at ~20/day).
        days = (dt.date.today() - dt.date(2024, 4, 1)).days
        response = self.post(client, '/reading',
            {'meter': str(self.data['meter_a']),
                'value': str(value + 17 * days)})
        self.assertEqual(response.status_code, 200)
        self.assertIn('was accepted', response.text, response.text)
        with Transaction().start(DB_NAME, 0):
            Reading = Pool().get('utility.meter.reading')
            reading, = Reading.search([('meter', '=', self.data['meter_a']),
                    ('source', '=', 'portal'), ('state', '=', 'valid')])
            self.assertEqual(reading.kind, 'customer')

    def test_idor_reading(self):
        "A cannot submit a reading for B's meter"
        client = self.login()
        response = self.post(client, '/reading',
            {'meter': str(self.data['meter_b']), 'value': '99999'})
        self.assertEqual(response.status_code, 404)
        with Transaction().start(DB_NAME, 0):
            Reading = Pool().get('utility.meter.reading')
            self.assertFalse(Reading.search([
                        ('meter', '=', self.data['meter_b']),
                        ('source', '=', 'portal')]))

    # --- usage -------------------------------------------------------------
    def test_usage_and_exports(self):
        "Usage history with chart, table, CSV and XLSX with typed cells"
        client = self.login()
        response = client.get(BASE + '/usage')
        self.assertEqual(response.status_code, 200)
        self.assertIn('<svg', response.text)
        self.assertIn('usage.csv', response.text)
        response = client.get(BASE + '/usage.csv')
        self.assertEqual(response.mimetype, 'text/csv')
        lines = response.text.strip().splitlines()
        self.assertEqual(len(lines), 4)
        self.assertTrue(lines[1].startswith('2024-01-01,2024-01-31,'))
        response = client.get(BASE + '/usage.xlsx')
        self.assertEqual(response.status_code, 200)
        with zipfile.ZipFile(io.BytesIO(response.data)) as book:
            sheet = book.read('xl/worksheets/sheet1.xml').decode()
        # Dates are serial numbers with a style; amounts are numbers.
        self.assertRegex(sheet, r'<c r="A2" s="\d+"><v>45292</v></c>')
        self.assertRegex(sheet, r'<c r="C2" s="\d"><v>[0-9.]+</v></c>')
        self.assertRegex(sheet, r'<c r="F2" s="\d"><v>[0-9.]+</v></c>')

    def test_links_of_other_modules(self):
        "Other modules add entries to the menu and links to the profile"
        def menu(portal):
            calls.append(portal.request.path)
            return [web.MenuLink(portal.url('/extra'), 'Extra', '3',
                    '3 new'), web.MenuLink(portal.url('/other'), 'Other')]

        def profile(portal):
            return [(portal.url('/extra/settings'), 'Extra settings')]
        calls = []
        client = self.login()
        web.menu_links.append(menu)
        web.profile_links.append(profile)
        try:
            page = client.get(BASE + '/dashboard').text
            profile_page = client.get(BASE + '/profile').text
        finally:
            web.menu_links.remove(menu)
            web.profile_links.remove(profile)
        # Once per page, before the profile, with the badge read out
        self.assertEqual(calls, [BASE + '/dashboard', BASE + '/profile'])
        self.assertIn('<a href="%s/extra">Extra <span class="badge" '
            'aria-hidden="true">3</span><span class="visually-hidden"> '
            '(3 new)</span></a>' % BASE, page)
        self.assertIn('<a href="%s/other">Other</a>' % BASE, page)
        self.assertLess(page.index('/requests">'), page.index('/extra">'))
        self.assertLess(page.index('/other">'), page.index('/profile">'))
        self.assertIn('<a href="%s/dashboard" aria-current="page">' % BASE,
            page)
        self.assertIn('<a href="%s/extra/settings">Extra settings</a>'
            % BASE, profile_page)
        self.assertNotIn('/extra/settings', page)
        # Without them, the portal's own menu
        page = client.get(BASE + '/dashboard').text
        self.assertNotIn('/extra', page)
        self.assertNotIn('class="badge"', page)

    # --- service requests --------------------------------------------------
    def test_service_request(self):
        "Open a billing dispute, follow it, reply"
        client = self.login()
        bill = self.bill_ids('a')[-1]
        response = client.get(BASE + '/requests/new?kind=billing_dispute'
            '&bill=%s' % bill)
        self.assertEqual(response.status_code, 200)
        response = self.post(client, '/requests/new',
            {'kind': 'billing_dispute', 'subject': "Too high",
                'body': "March is too high"})
        self.assertIn('Choose the bill you question', response.text)
        response = self.post(client, '/requests/new',
            {'kind': 'billing_dispute', 'bill': str(bill),
                'subject': "Too high", 'body': "March is too high"})
        self.assertEqual(response.status_code, 303)
        path = response.location[response.location.index('/requests/'):]
        path = path.split('?')[0]
        response = client.get(BASE + path)
        self.assertIn('March is too high', response.text)
        self.assertIn('Open', response.text)
        response = self.post(client, path, {'body': "Any news?"})
        self.assertEqual(response.status_code, 303)
        response = client.get(BASE + '/requests')
        self.assertIn('Too high', response.text)
        self.assertNotIn('Flicker', response.text)
        response = self.post(client, '/requests/new',
            {'kind': 'move_out', 'subject': "Moving", 'body': "Bye"})
        self.assertIn('date of the move', response.text)

    def test_idor_requests(self):
        "A cannot read or answer B's request, nor dispute B's bill"
        client = self.login()
        path = '/requests/%s' % self.data['request_b']
        self.assertEqual(client.get(BASE + path).status_code, 404)
        response = self.post(client, path, {'body': "hijack"}, '/requests')
        self.assertEqual(response.status_code, 404)
        response = self.post(client, '/requests/new',
            {'kind': 'billing_dispute', 'bill': str(self.data['bill_b']),
                'subject': "x", 'body': "x"})
        self.assertEqual(response.status_code, 404)
        with Transaction().start(DB_NAME, 0):
            Message = Pool().get('utility.service.request.message')
            self.assertFalse(Message.search([('body', '=', 'hijack')]))

    # --- profile -------------------------------------------------------------
    def test_profile(self):
        "Contact details, invoice address and preferences are saved"
        client = self.login()
        response = client.get(BASE + '/profile')
        self.assertEqual(response.status_code, 200)
        response = self.post(client, '/profile', {'phone': '+1 555 0101',
                'contact_email': 'home@example.com', 'street': '1 Main St',
                'postal_code': '49007', 'city': 'Springfield',
                'paperless': '1', 'notify_sms': '1',
                'alert_threshold': '750', 'bill_threshold': '120.50'})
        self.assertEqual(response.status_code, 303, response.text)
        response = client.get(BASE + '/profile?notice=profile_saved')
        self.assertIn('+1 555 0101', response.text)
        self.assertIn('value="120.50"', response.text)
        with Transaction().start(DB_NAME, 0):
            Agreement = Pool().get('utility.service.agreement')
            party = Agreement(self.data['a']).party
            self.assertTrue(party.portal_paperless)
            self.assertFalse(party.portal_notify_email)
            self.assertEqual(party.portal_bill_threshold, Decimal('120.50'))
        response = self.post(client, '/profile', {'alert_threshold': '-5'})
        self.assertEqual(response.status_code, 200)
        self.assertIn('positive number', response.text)

    def test_link_account_and_switch(self):
        "A second account under one login, chosen with the switcher"
        client = self.login('b@example.com')
        response = self.post(client, '/profile/link',
            {'number': self.data['number_d'], 'postcode': '00000'},
            '/profile')
        self.assertEqual(response.status_code, 400)
        response = self.post(client, '/profile/link',
            {'number': self.data['number_d'], 'postcode': '49010'},
            '/profile')
        self.assertEqual(response.status_code, 303)
        response = client.get(BASE + '/dashboard')
        self.assertIn('id="account-switcher"', response.text)
        self.assertIn(self.data['number_d'], response.text)
        response = self.post(client, '/account',
            {'agreement': str(self.data['b'])}, '/dashboard')
        self.assertEqual(response.status_code, 303)
        response = client.get(BASE + '/bills')
        self.assertIn('/bills/%s"' % self.data['bill_b'], response.text)

    # --- errors and language -----------------------------------------------
    def test_error_page_without_traceback(self):
        "An unexpected error shows a generic page, never a traceback"
        client = self.login()
        with patch('utility_portal.routes.bills_of',
                side_effect=ZeroDivisionError("secret detail")):
            response = client.get(BASE + '/bills')
        self.assertEqual(response.status_code, 500)
        self.assertIn('Something went wrong', response.text)
        self.assertNotIn('secret detail', response.text)
        self.assertNotIn('Traceback', response.text)

    def test_static_and_method_errors(self):
        "The stylesheet and script are served; wrong methods are refused"
        client = self.client()
        response = client.get(BASE + '/static/portal.css')
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.mimetype, 'text/css')
        self.assertIn(':focus-visible', response.text)
        response = client.get(BASE + '/static/portal.js')
        self.assertEqual(response.mimetype, 'text/javascript')
        response = client.get(BASE + '/logout')
        self.assertEqual(response.status_code, 405)
        self.assertNotIn('Traceback', response.text)
        response = client.get(BASE + '/no-such-page')
        # trytond's own catch-all routes answer POST only
        self.assertIn(response.status_code, {404, 405})
        response = client.get('/no_such_db/portal/login')
        self.assertEqual(response.status_code, 404)

    def test_localised_dates_and_money(self):
        "Dates and amounts follow the customer's language"
        with Transaction().start(DB_NAME, 0) as transaction:
            pool = Pool()
            Lang = pool.get('ir.lang')
            Agreement = pool.get('utility.service.agreement')
            Party = pool.get('party.party')
            fr, = Lang.search([('code', '=', 'fr')])
            Lang.write([fr], {'translatable': True})
            with Transaction().set_context(company=self.data['company']):
                Party.write([Agreement(self.data['a']).party],
                    {'lang': fr.id})
            transaction.commit()
        try:
            client = self.login()
            response = client.get(BASE + '/bills')
            self.assertIn('01.03.2024 – 31.03.2024', response.text)
            self.assertIn('lang="fr"', response.text)
            self.assertRegex(response.text, r'\d,\d\d\xa0\$')
        finally:
            with Transaction().start(DB_NAME, 0) as transaction:
                pool = Pool()
                Agreement = pool.get('utility.service.agreement')
                Party = pool.get('party.party')
                with Transaction().set_context(company=self.data['company']):
                    Party.write([Agreement(self.data['a']).party],
                        {'lang': None})
                transaction.commit()


class PortalFrenchTestCase(RouteTestCase):
    "Pages in the visitor's language, from the module's translations"
    module = 'utility_portal'

    @classmethod
    def setUpDatabase(cls):
        # French as the database's language, on the run's English database
        # (activating every module in French takes minutes).
        pool = Pool()
        Configuration = pool.get('ir.configuration')
        Lang = pool.get('ir.lang')
        fr, = Lang.search([('code', '=', 'fr')])
        Lang.load_translations([fr])
        configuration = Configuration(1)
        configuration.language = 'fr'
        configuration.save()

    def test_login_page_in_french(self):
        client = self.client()
        response = client.get(BASE + '/login',
            headers={'Accept-Language': 'fr-FR,fr;q=0.9,en;q=0.5'})
        self.assertEqual(response.status_code, 200)
        self.assertIn('lang="fr"', response.text)
        self.assertIn('Se connecter', response.text)
        self.assertIn('Mot de passe oublié', response.text)
        # Another language falls back to the database's.
        response = client.get(BASE + '/login',
            headers={'Accept-Language': 'de'})
        self.assertIn('Se connecter', response.text)

    def test_changed_translation_shows(self):
        "The portal's texts, kept per process, follow a changed message"
        client = self.client()
        headers = {'Accept-Language': 'fr'}
        self.assertIn('Mot de passe oublié',
            client.get(BASE + '/login', headers=headers).text)

        def write(text):
            with Transaction().start(DB_NAME, 0) as transaction:
                pool = Pool()
                Message = pool.get('ir.message')
                ModelData = pool.get('ir.model.data')
                message = Message(ModelData.get_id(
                        'utility_portal', 'msg_forgot_password'))
                with Transaction().set_context(language='fr'):
                    Message.write([message], {'text': text})
                transaction.commit()
        write("Mot de passe perdu ?")
        try:
            response = client.get(BASE + '/login', headers=headers)
            self.assertIn('Mot de passe perdu ?', response.text)
            self.assertNotIn('Mot de passe oublié', response.text)
        finally:
            write("Mot de passe oublié")


del ModuleTestCase
