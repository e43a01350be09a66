"""The portal's notification pages, through trytond's WSGI app: a
customer reads and sets only their own"""
import datetime as dt
import os
import re
import unittest
from importlib import import_module

from hypothesis import given
from hypothesis import strategies as st
from werkzeug.test import Client
from werkzeug.wrappers import Response

from trytond.modules.company.tests import set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME
from trytond.transaction import Transaction
from trytond.wsgi import app

from utility_billing.tests.tools import provider
from utility_metering.tests.activation import activate_fixture

from utility_portal import web as portal_web
from utility_portal.tests import test_portal_fuzz as fuzz

from ..events import EVENTS
from .tools import PASSWORD, notification_fixture

BASE = '/%s/portal' % DB_NAME
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


def portal_fixture():
    "notification_fixture's customers told in the portal of their bills"
    notification_fixture()
    Notification = Pool().get('utility.notification')
    company = provider()
    with set_company(company):
        Notification.collect(company, dt.date.today())


class PortalNotificationTestCase(unittest.TestCase):
    "Customers' notifications and preferences in the portal"

    @classmethod
    def setUpClass(cls):
        activate_fixture(cls, ['utility_notification', 'utility_care'],
            portal_fixture)

    def csrf(self, client, path):
        response = client.get(BASE + path)
        self.assertEqual(response.status_code, 200, response.text[:500])
        return CSRF.search(response.text).group(1)

    def login(self, email):
        client = Client(app, Response)
        response = client.post(BASE + '/login', data={
                'csrf_token': self.csrf(client, '/login'),
                'email': email, 'password': PASSWORD})
        self.assertEqual(response.status_code, 303, response.text[:500])
        return client

    def post(self, client, path, data):
        return client.post(BASE + path,
            data=dict(data, csrf_token=self.csrf(client, path)))

    def portal_notifications(self, name):
        "(id, subject, read) of the customer's portal notifications"
        with Transaction().start(DB_NAME, 0):
            Notification = Pool().get('utility.notification')
            return [(n.id, n.subject, n.portal_read)
                for n in Notification.search([
                        ('party.name', '=', name),
                        ('channel', '=', 'portal'),
                        ])]

    def party(self, name):
        "The customer's settings as stored"
        with Transaction().start(DB_NAME, 0):
            Party = Pool().get('party.party')
            party, = Party.search([('name', '=', name)])
            return {
                'digest': (party.notification_digest,
                    party.notification_digest_time),
                'quiet': (party.notification_quiet_start,
                    party.notification_quiet_end),
                'preferences': sorted((p.event, p.channel, bool(p.enabled))
                    for p in party.notification_preferences),
                'due_soon': party.notification_channels('due_soon'),
                }

    def test_login_required(self):
        "Anonymous visitors are sent to the login page"
        client = Client(app, Response)
        for path in ['/notifications', '/notifications/preferences']:
            response = client.get(BASE + path)
            self.assertEqual(response.status_code, 303)
            self.assertIn('/login?next=', response.headers['Location'])

    def test_list_and_mark_read(self):
        "A customer reads their notifications, not another's"
        (mine, subject, read), = self.portal_notifications('Customer 1')
        (theirs, their_subject, _), = self.portal_notifications('Customer 2')
        self.assertFalse(read)
        client = self.login('jane@example.com')
        page = client.get(BASE + '/notifications')
        self.assertEqual(page.status_code, 200)
        self.assertIn('Unread: 1', page.text)
        self.assertIn(subject, page.text)
        self.assertNotIn(their_subject, page.text)
        # The body without greeting and signature
        self.assertIn('is ready: usd117.08, due on 02/15/2024.', page.text)
        self.assertNotIn('Hello Customer 1', page.text)

        # Another customer's notification is not found...
        response = self.post(client, '/notifications',
            {'notification': str(theirs)})
        self.assertEqual(response.status_code, 404)
        self.assertEqual(self.portal_notifications('Customer 2'),
            [(theirs, their_subject, False)])
        # ... nor hidden among one's own.
        response = client.post(BASE + '/notifications', data={
                'csrf_token': self.csrf(client, '/notifications'),
                'notification': [str(mine), str(theirs)]})
        self.assertEqual(response.status_code, 404)
        self.assertEqual(self.portal_notifications('Customer 1'),
            [(mine, subject, False)])
        # Without the form's token, nothing.
        response = client.post(BASE + '/notifications',
            data={'notification': str(mine)})
        self.assertEqual(response.status_code, 403)

        response = self.post(client, '/notifications',
            {'notification': str(mine)})
        self.assertEqual(response.status_code, 200)
        self.assertIn('Marked as read.', response.text)
        self.assertNotIn('Unread:', response.text)
        self.assertEqual(self.portal_notifications('Customer 1'),
            [(mine, subject, True)])
        self.assertEqual(self.portal_notifications('Customer 2'),
            [(theirs, their_subject, False)])

    def test_menu_and_profile(self):
        """The menu shows the notifications with the number unread; the
        profile links the preferences"""
        (theirs, subject, read), = self.portal_notifications('Customer 2')
        self.assertFalse(read)
        client = self.login('john@example.com')
        try:
            page = client.get(BASE + '/dashboard').text
            self.assertIn('<a href="%s/notifications">Notifications '
                '<span class="badge" aria-hidden="true">1</span>'
                '<span class="visually-hidden"> (Unread: 1)</span></a>'
                % BASE, page)
            # before the profile
            self.assertLess(page.index('/notifications"'),
                page.index('/profile"'))
            page = client.get(BASE + '/profile').text
            self.assertIn('<a href="%s/notifications/preferences">'
                'Notification preferences</a>' % BASE, page)
            # Read: the count goes on the page that marks it
            page = self.post(client, '/notifications', {}).text
            self.assertIn('Marked as read.', page)
            self.assertIn('<a href="%s/notifications" aria-current="page">'
                'Notifications</a>' % BASE, page)
            self.assertNotIn('class="badge"', page)
        finally:
            with Transaction().start(DB_NAME, 0) as transaction:
                Notification = Pool().get('utility.notification')
                Notification.write([Notification(theirs)],
                    {'portal_read': False})
                transaction.commit()

    def test_preferences(self):
        "Events and channels, digest and quiet hours set in the portal"
        client = self.login('john@example.com')
        page = client.get(BASE + '/notifications/preferences')
        self.assertEqual(page.status_code, 200)
        # Defaults: e-mail and portal for every event; no SMS provider.
        self.assertIn('<input type="checkbox" id="due_soon-email" '
            'name="due_soon-email" value="1" checked '
            'aria-label="Bill Due Soon: E-mail">', page.text)
        self.assertNotIn('-sms"', page.text)
        before = self.party('Customer 2')
        self.assertEqual(before['preferences'], [])

        form = {'%s-%s' % (event, channel): '1'
            for event in ['bill_ready', 'due_soon', 'overdue']
            for channel in ['email', 'portal']}
        # No e-mail for "due soon"; nothing at all for a missed reading
        # (absent from the form: not ticked).
        del form['due_soon-email']
        form.update(digest='daily', digest_time='07:30',
            quiet_start='22:00', quiet_end='07:00')
        # Half the quiet hours: refused, nothing saved, shown as typed
        response = self.post(client, '/notifications/preferences',
            dict(form, quiet_end=''))
        self.assertEqual(response.status_code, 200)
        self.assertIn('Enter both ends of the quiet hours, or neither.',
            response.text)
        self.assertIn('value="22:00"', response.text)
        self.assertEqual(self.party('Customer 2'), before)
        response = self.post(client, '/notifications/preferences',
            dict(form, digest_time='7h'))
        self.assertIn('Enter times as hours and minutes', response.text)
        self.assertEqual(self.party('Customer 2'), before)

        response = self.post(client, '/notifications/preferences', form)
        self.assertEqual(response.status_code, 200)
        self.assertIn('Your notification preferences are saved.',
            response.text)
        after = self.party('Customer 2')
        self.assertEqual(after['digest'], ('daily', dt.time(7, 30)))
        self.assertEqual(after['quiet'], (dt.time(22, 0), dt.time(7, 0)))
        self.assertEqual(after['due_soon'], {'portal'})
        # Only what differs from the defaults is kept.
        self.assertIn(('due_soon', 'email', False), after['preferences'])
        self.assertIn(('reading_missed', 'portal', False),
            after['preferences'])
        self.assertNotIn(('bill_ready', 'email', False),
            after['preferences'])
        self.assertEqual(len(after['preferences']), 1 + 2 * 10)
        # The form shows them back.
        self.assertIn('<input type="checkbox" id="due_soon-email" '
            'name="due_soon-email" value="1" '
            'aria-label="Bill Due Soon: E-mail">', response.text)
        self.assertIn('value="07:30"', response.text)

        # Ticked again: back to the defaults, no preference left.
        form = {'%s-%s' % (event, channel): '1'
            for event in ['bill_ready', 'payment_received',
                'payment_partial', 'payment_failed', 'due_soon', 'overdue',
                'late_fee', 'final_notice', 'high_consumption', 'leak',
                'reading_window', 'reading_missed', 'request_update']
            for channel in ['email', 'portal']}
        response = self.post(client, '/notifications/preferences',
            dict(form, digest='immediate'))
        self.assertIn('Your notification preferences are saved.',
            response.text)
        after = self.party('Customer 2')
        self.assertEqual(after['preferences'], [])
        self.assertEqual(after['digest'][0], 'immediate')
        # Jane's are hers.
        self.assertEqual(self.party('Customer 1')['preferences'], [])

    def test_fuzz_forms(self):
        """Generated input to the preferences and notifications forms (the
        portal's fuzz test): a form, a 400 or a 404, never a server error"""
        client = self.login('jane@example.com')
        events = [e for e, _n in EVENTS]
        texts = fuzz.texts
        times = st.one_of(texts, st.sampled_from(
                ['07:30', '24:00', '23:59', '7:5', '-1:00', '12:00:00']))

        @fuzz.FUZZ
        @given(st.data())
        def check(data):
            if data.draw(st.booleans(), label='preferences'):
                path = '/notifications/preferences'
                values = {'%s-%s' % (e, c): data.draw(texts, label=e)
                    for e in data.draw(st.lists(st.sampled_from(events),
                            max_size=4), label='ticked')
                    for c in ['email', 'portal', 'sms']}
                values['digest'] = data.draw(st.one_of(texts,
                        st.sampled_from(['immediate', 'daily'])))
                for name in ['digest_time', 'quiet_start', 'quiet_end']:
                    values[name] = data.draw(times, label=name)
            else:
                path = '/notifications'
                values = {'notification': data.draw(st.lists(st.one_of(
                                texts, fuzz.ids.map(str)), max_size=3))}
            response = self.post(client, path, values)
            self.assertIn(response.status_code, fuzz.ANSWERS,
                '%s %r: %s' % (path, values, response.text[:1000]))
            self.assertNotIn('Traceback', response.text)
            sent = [v for value in values.values()
                for v in (value if isinstance(value, list) else [value])]
            if any(portal_web.CONTROL_CHARACTERS.search(v) for v in sent):
                self.assertEqual(response.status_code, 400)

        try:
            check()
        finally:
            # Jane's settings and notifications as the fixture made them
            with Transaction().start(DB_NAME, 0) as transaction:
                pool = Pool()
                Party = pool.get('party.party')
                Preference = pool.get('utility.notification.preference')
                Notification = pool.get('utility.notification')
                party, = Party.search([('name', '=', 'Customer 1')])
                Preference.delete(list(party.notification_preferences))
                Party.write([party], {'notification_digest': 'immediate',
                        'notification_quiet_start': None,
                        'notification_quiet_end': None})
                Notification.write(Notification.search([
                            ('party', '=', party.id)]),
                    {'portal_read': False})
                transaction.commit()

    def set_lang(self, name, code):
        with Transaction().start(DB_NAME, 0) as transaction:
            pool = Pool()
            Lang = pool.get('ir.lang')
            Party = pool.get('party.party')
            Translation = pool.get('ir.translation')
            party, = Party.search([('name', '=', name)])
            lang = None
            if code:
                lang, = Lang.search([('code', '=', code)])
                if not lang.translatable:
                    Lang.write([lang], {'translatable': True})
                    # the pages' modules only: all take seconds
                    for module in ['utility_portal', 'utility_notification']:
                        Translation.translation_import(code, module,
                            os.path.join(os.path.dirname(
                                    import_module(module).__file__),
                                'locale', code + '.po'))
            # (a party's language is a value per provider)
            with Transaction().set_context(company=provider().id):
                Party.write([party], {'lang': lang.id if lang else None})
            transaction.commit()

    def test_french(self):
        "A French customer's pages are in French"
        self.set_lang('Customer 1', 'fr')
        try:
            client = self.login('jane@example.com')
            page = client.get(BASE + '/notifications/preferences')
            self.assertIn('<html lang="fr">', page.text)
            self.assertIn('<h1>Préférences de notification</h1>', page.text)
            self.assertIn('aria-label="Échéance proche: E-mail"', page.text)
            self.assertIn('Récapitulatif quotidien', page.text)
            page = client.get(BASE + '/notifications')
            self.assertIn('Non lues : 1', page.text)
        finally:
            self.set_lang('Customer 1', None)
