"""Notifications end to end: events from billing, payments, dunning and
metering, delivered to a real SMTP server on loopback."""
import datetime as dt
import os
import unittest
from decimal import Decimal

import trytond.config as config
from trytond.model.exceptions import AccessError
from trytond.model.modelview import AccessButtonError
from trytond.modules.company.tests import create_company
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

from utility_billing.tests.tools import pay_invoice
from utility_metering.tests.activation import activate_fixture

from . import tools
from .tools import (
    ADMIN, BILLING, DUE, METERING, SERVICE, in_company, notification_fixture,
    user)


class NotificationTestCase(unittest.TestCase):
    "Events become notifications delivered by e-mail and in the portal"

    @classmethod
    def setUpClass(cls):
        activate_fixture(cls, 'utility_notification', notification_fixture)

    def setUp(self):
        # Collected now, long after the fixture's 2024 bills were posted.
        self.now = dt.datetime.now().replace(microsecond=0)

    def customers(self, **values):
        """The fixture's bills of Customer 1 (jane@example.com) and
        Customer 2 (john@example.com), with values set on Customer 1"""
        jane, john = tools.bills()
        party = jane.party
        for name, value in values.items():
            setattr(party, name, value)
        party.save()
        return jane, john

    def collect(self, today=None, now=None):
        Notification = Pool().get('utility.notification')
        return Notification.collect(self.company,
            today or dt.date.today(), now or self.now)

    def send(self, now=None):
        Notification = Pool().get('utility.notification')
        with Transaction().set_context(utility_notification_inline=True):
            Notification.send_pending(now or self.now)

    def delivered(self):
        "The messages received since the last call, by recipient"
        return {d.recipients[0]: d for d in self.mailbox.pop()}

    def notifications(self, party, **domain):
        Notification = Pool().get('utility.notification')
        return Notification.search([('party', '=', party.id)]
            + [(k, '=', v) for k, v in domain.items()],
            order=[('id', 'ASC')])

    @with_transaction()
    @in_company
    def test_bill_ready(self):
        "A posted bill reaches each customer by e-mail and in the portal once"
        Notification = Pool().get('utility.notification')
        jane, john = self.customers()
        party = jane.party
        number = jane.invoice.number

        created = self.collect()
        self.assertEqual(sorted((n.party.name, n.event, n.channel, n.state)
                for n in created), [
                ('Customer 1', 'bill_ready', 'email', 'pending'),
                ('Customer 1', 'bill_ready', 'portal', 'sent'),
                ('Customer 2', 'bill_ready', 'email', 'pending'),
                ('Customer 2', 'bill_ready', 'portal', 'sent')])
        self.assertEqual(self.mailbox.messages, [])
        # A second scan finds nothing new.
        self.assertEqual(self.collect(), [])

        self.send()
        delivered = self.delivered()
        self.assertEqual(sorted(delivered),
            ['jane@example.com', 'john@example.com'])
        mail = delivered['jane@example.com']
        self.assertEqual(mail.subject, 'Your bill %s is ready' % number)
        # create_company's currency has "usd" for symbol
        self.assertEqual(mail.body, 'Hello Customer 1,\n\n'
            'Your bill %s for 01/01/2024 to 01/31/2024 is ready: '
            'usd117.08, due on 02/15/2024.\n\nDunder Mifflin\n' % number)
        self.assertEqual(mail.message['Auto-Submitted'], 'auto-generated')
        self.assertEqual(mail.message['Content-Language'], 'en')
        self.assertEqual(mail.sender, 'alerts@utility.test')
        self.assertEqual(delivered['john@example.com'].subject,
            'Your bill %s is ready' % john.invoice.number)
        email, = self.notifications(party, channel='email')
        self.assertEqual((email.state, email.attempts, email.sent_at),
            ('sent', 1, self.now))
        self.assertEqual(email.message_id, mail.message['Message-ID'])
        self.assertEqual(email.origin, jane)
        # Sent once: nothing is due any more.
        self.send(self.now + dt.timedelta(days=1))
        self.assertEqual(self.mailbox.pop(), [])

        # The portal lists it until read, only to its customer.
        portal, = Notification.portal_notifications(party)
        self.assertEqual(portal.subject, 'Your bill %s is ready' % number)
        self.assertFalse(portal.portal_read)
        other, = Notification.portal_notifications(john.party)
        self.assertEqual(
            Notification.portal_mark_read(party, [portal, other]), [portal])
        self.assertTrue(Notification(portal.id).portal_read)
        self.assertFalse(Notification(other.id).portal_read)

    @with_transaction()
    @in_company
    def test_language(self):
        "A French customer reads French; an English one English"
        pool = Pool()
        Lang = pool.get('ir.lang')
        Translation = pool.get('ir.translation')
        fr, = Lang.search([('code', '=', 'fr')])
        fr.translatable = True
        fr.save()
        Translation.translation_import('fr', 'utility_notification',
            os.path.join(os.path.dirname(__file__), '..', 'locale',
                'fr.po'))
        en, = Lang.search([('code', '=', 'en')])
        jane, john = self.customers(lang=fr)
        john.party.lang = en
        john.party.save()
        self.collect()
        self.send()
        delivered = self.delivered()
        jean = delivered['jane@example.com']
        self.assertEqual(jean.subject,
            'Votre facture %s est disponible' % jane.invoice.number)
        self.assertIn('Bonjour Customer 1,', jean.body)
        self.assertIn('du 01.01.2024 au 31.01.2024', jean.body)
        self.assertIn('117,08', jean.body)
        self.assertEqual(jean.message['Content-Language'], 'fr')
        english = delivered['john@example.com']
        self.assertEqual(english.subject,
            'Your bill %s is ready' % john.invoice.number)
        self.assertIn('117.08', english.body)
        self.assertEqual(english.message['Content-Language'], 'en')

    @with_transaction()
    @in_company
    def test_daily_digest(self):
        "A digest customer gets one mail at the digest time for the day"
        jane, john = self.customers(notification_digest='daily',
            notification_digest_time=dt.time(8, 0))
        # On 13 February the bill is ready and also due within 3 days.
        now = dt.datetime(2024, 2, 13, 10, 0)
        self.collect(dt.date(2024, 2, 13), now)
        pending = self.notifications(jane.party, channel='email')
        self.assertEqual(sorted(n.event for n in pending),
            ['bill_ready', 'due_soon'])
        self.assertEqual({n.scheduled for n in pending},
            {dt.datetime(2024, 2, 14, 8, 0)})

        self.send(now)
        # The customer who wants mails as they happen gets both at once,
        # as one message rather than two.
        delivered, = self.mailbox.pop()
        self.assertEqual(delivered.recipients, ['john@example.com'])
        self.assertEqual(delivered.subject, 'Your 2 notifications from %s'
            % self.company.rec_name)

        self.send(dt.datetime(2024, 2, 14, 7, 59))
        self.assertEqual(self.mailbox.pop(), [])
        self.send(dt.datetime(2024, 2, 14, 8, 0))
        delivered, = self.mailbox.pop()
        self.assertEqual(delivered.recipients, ['jane@example.com'])
        self.assertEqual(delivered.subject, 'Your 2 notifications from %s'
            % self.company.rec_name)
        number = jane.invoice.number
        self.assertIn('Your bill %s is ready' % number, delivered.body)
        self.assertIn('Bill %s is due on 02/15/2024' % number, delivered.body)
        self.assertEqual(delivered.body.count('Hello Customer 1,'), 1)
        self.assertTrue(all(n.state == 'sent' and n.digest
                for n in self.notifications(jane.party, channel='email')))

    @with_transaction()
    @in_company
    def test_quiet_hours(self):
        "Mails wait for the end of the quiet hours, in the provider's time"
        jane, john = self.customers(
            notification_quiet_start=dt.time(22, 0),
            notification_quiet_end=dt.time(7, 0))
        self.company.timezone = 'Europe/Paris'
        self.company.save()
        # 22:30 UTC is 23:30 in Paris: quiet until 07:00 Paris = 06:00 UTC
        now = dt.datetime(2024, 2, 2, 22, 30)
        self.collect(dt.date(2024, 2, 2), now)
        email, = self.notifications(jane.party, channel='email')
        self.assertEqual(email.scheduled, dt.datetime(2024, 2, 3, 6, 0))
        portal, = self.notifications(jane.party, channel='portal')
        self.assertEqual(portal.state, 'sent')

        self.send(now)
        self.assertEqual(list(self.delivered()), ['john@example.com'])
        self.send(dt.datetime(2024, 2, 3, 5, 59))
        self.assertEqual(self.mailbox.pop(), [])
        self.send(dt.datetime(2024, 2, 3, 6, 0))
        self.assertEqual(list(self.delivered()), ['jane@example.com'])

    @with_transaction()
    @in_company
    def test_quiet_hours_set_later(self):
        "Quiet hours set after logging still hold the mail back"
        jane, _ = self.customers()
        now = dt.datetime(2024, 2, 2, 12, 30)
        self.collect(dt.date(2024, 2, 2), now)
        party = jane.party
        party.notification_quiet_start = dt.time(12, 0)
        party.notification_quiet_end = dt.time(14, 0)
        party.save()
        self.send(now)
        self.assertEqual(list(self.delivered()), ['john@example.com'])
        email, = self.notifications(party, channel='email')
        self.assertEqual((email.state, email.scheduled),
            ('pending', dt.datetime(2024, 2, 2, 14, 0)))
        self.send(dt.datetime(2024, 2, 2, 14, 0))
        self.assertEqual(list(self.delivered()), ['jane@example.com'])

    @with_transaction()
    @in_company
    def test_opt_out_and_sms(self):
        "An opted-out channel gets nothing; SMS goes through the provider"
        Notification = Pool().get('utility.notification')
        jane, john = self.customers(notification_preferences=[
                {'event': 'bill_ready', 'channel': 'email',
                    'enabled': False},
                {'event': 'bill_ready', 'channel': 'sms', 'enabled': True},
                ])
        party = jane.party
        party.contact_mechanisms += ({'type': 'mobile',
                'value': '+33 6 12 34 56 78'},)
        party.save()
        self.assertEqual(party.notification_channels('bill_ready'),
            {'portal', 'sms'})
        self.assertEqual(party.notification_channels('due_soon'),
            {'portal', 'email'})

        # Without an SMS provider installed, SMS is not logged at all.
        self.collect()
        self.assertEqual([n.channel for n in self.notifications(party)],
            ['portal'])

        sent = []

        class Provider:
            def send(self, number, text):
                sent.append((number, text))
                return 'sms-%s' % len(sent)
        other = john.party
        other.notification_preferences = [
            {'event': 'bill_ready', 'channel': 'sms', 'enabled': True}]
        other.contact_mechanisms += ({'type': 'mobile',
                'value': '+1 555 0100'},)
        other.save()
        original = Notification.sms_provider
        Notification.sms_provider = classmethod(lambda cls: Provider())
        try:
            created = self.collect()
            self.send()
        finally:
            Notification.sms_provider = original
        # Now that SMS can be sent, the bill is logged for it, to both.
        self.assertEqual(sorted((n.party.name, n.channel) for n in created),
            [('Customer 1', 'sms'), ('Customer 2', 'sms')])
        self.assertEqual(sorted(sent), [
                ('+1 555 0100', 'Your bill %s is ready'
                    % john.invoice.number),
                ('+33 6 12 34 56 78', 'Your bill %s is ready'
                    % jane.invoice.number)])
        sms, = self.notifications(other, channel='sms')
        self.assertEqual(sms.state, 'sent')
        self.assertIn(sms.message_id, {'sms-1', 'sms-2'})
        # The opted-out customer's e-mail was never written; the other
        # customer's went out when the first scan logged it.
        self.assertEqual(self.notifications(party, channel='email'), [])
        self.assertEqual(list(self.delivered()), ['john@example.com'])

    @with_transaction()
    @in_company
    def test_sms_without_provider(self):
        "Logged SMS fail with why when the provider is gone"
        Notification = Pool().get('utility.notification')
        jane, _ = self.customers()
        party = jane.party
        party.contact_mechanisms += ({'type': 'mobile',
                'value': '+1 555 0199'},)
        party.notification_preferences = [
            {'event': 'bill_ready', 'channel': 'sms', 'enabled': True}]
        party.save()
        original = Notification.sms_provider
        Notification.sms_provider = classmethod(lambda cls: object())
        try:
            self.collect()
        finally:
            Notification.sms_provider = original
        self.send()
        sms, = self.notifications(party, channel='sms')
        self.assertEqual((sms.state, sms.attempts, sms.error),
            ('failed', 1, 'No SMS provider is installed.'))

    @with_transaction()
    @in_company
    def test_failed_delivery_retried(self):
        "A refused mail is logged failed with the error and tried again"
        jane, _ = self.customers()
        self.collect()
        self.mailbox.refuse = {'jane@example.com'}
        self.send()
        # The other customer's mail is not held back by it.
        self.assertEqual(list(self.delivered()), ['john@example.com'])
        email, = self.notifications(jane.party, channel='email')
        self.assertEqual((email.state, email.attempts), ('failed', 1))
        self.assertIn('550', email.error)
        self.assertIn('jane@example.com', email.error)
        self.assertEqual(email.scheduled,
            self.now + dt.timedelta(minutes=15))

        # Not before its retry time
        self.mailbox.refuse = set()
        self.send(self.now + dt.timedelta(minutes=14))
        self.assertEqual(self.mailbox.pop(), [])
        self.send(self.now + dt.timedelta(minutes=15))
        self.assertEqual(list(self.delivered()), ['jane@example.com'])
        email, = self.notifications(jane.party, channel='email')
        self.assertEqual((email.state, email.attempts, email.error),
            ('sent', 2, None))

    @with_transaction()
    @in_company
    def test_retries_stop(self):
        "After the last try the mail stays failed; Retry starts again"
        Notification = Pool().get('utility.notification')
        jane, _ = self.customers()
        self.collect()
        self.mailbox.refuse = True
        now = self.now
        delays = []
        for attempt in range(1, 6):
            self.send(now)
            email, = self.notifications(jane.party, channel='email')
            self.assertEqual((email.state, email.attempts),
                ('failed', attempt))
            if attempt < 5:
                delays.append(email.scheduled - now)
                now = email.scheduled
        self.assertEqual(delays, [dt.timedelta(minutes=15),
                dt.timedelta(hours=1), dt.timedelta(hours=4),
                dt.timedelta(hours=16)])
        self.send(now + dt.timedelta(days=30))
        email, = self.notifications(jane.party, channel='email')
        self.assertEqual(email.attempts, 5)
        self.mailbox.refuse = set()
        Notification.retry([email])
        self.send(dt.datetime.now() + dt.timedelta(seconds=1))
        # (the other customer's mail stays failed)
        self.assertEqual(list(self.delivered()), ['jane@example.com'])

    @with_transaction()
    @in_company
    def test_server_down(self):
        "An unreachable mail server fails the delivery, not the cron"
        jane, _ = self.customers()
        self.collect()
        uri = config.get('email', 'uri')
        config.set('email', 'uri', 'smtp://127.0.0.1:1')
        try:
            self.send()
        finally:
            config.set('email', 'uri', uri)
        email, = self.notifications(jane.party, channel='email')
        self.assertEqual((email.state, email.attempts), ('failed', 1))
        self.assertTrue(email.error)

    @with_transaction()
    @in_company
    def test_no_address(self):
        "A customer without e-mail address: failed for good, with why"
        jane, _ = self.customers(contact_mechanisms=[])
        self.collect()
        self.send()
        email, = self.notifications(jane.party, channel='email')
        self.assertEqual((email.state, email.attempts), ('failed', 5))
        self.assertEqual(email.error, 'Customer "Customer 1" has no '
            'address for channel "email".')
        self.assertEqual(list(self.delivered()), ['john@example.com'])

    @with_transaction()
    @in_company
    def test_payment_notifications(self):
        "utility_payment's pending notifications are delivered, marked sent"
        PaymentNotification = Pool().get('utility.payment.notification')
        jane, john = self.customers()
        failed, stopped, ok = PaymentNotification.create([{
                    'company': self.company.id, 'party': jane.party.id,
                    'bill': jane.id, 'invoice': jane.invoice.id,
                    'kind': kind, 'message': 'x'}
                for kind in ['autopay_failed', 'autopay_stopped',
                    'autopay_succeeded']])
        # An opted-out customer's notice is cancelled, not left pending.
        john.party.notification_preferences = [
            {'event': 'payment_received', 'channel': c, 'enabled': False}
            for c in ['email', 'portal']]
        john.party.save()
        unwanted, = PaymentNotification.create([{
                    'company': self.company.id, 'party': john.party.id,
                    'bill': john.id, 'kind': 'autopay_succeeded'}])
        self.collect()
        self.assertEqual([PaymentNotification(n.id).state
                for n in [failed, stopped, ok, unwanted]],
            ['sent', 'sent', 'sent', 'cancelled'])
        self.assertEqual(sorted(n.event for n in self.notifications(
                    jane.party, channel='portal')),
            ['bill_ready', 'payment_failed', 'payment_failed',
                'payment_received'])
        self.send()
        delivered = self.delivered()['jane@example.com']
        number = jane.invoice.number
        self.assertEqual(delivered.subject,
            'Your 4 notifications from %s' % self.company.rec_name)
        self.assertIn('Payment failed for bill %s' % number, delivered.body)
        self.assertIn('Payment received for bill %s' % number,
            delivered.body)

    @with_transaction()
    @in_company
    def test_payment_received(self):
        "A bill paid in full, however, is told once, with what was paid"
        pool = Pool()
        PaymentNotification = pool.get('utility.payment.notification')
        Invoice = pool.get('account.invoice')
        Method = pool.get('account.invoice.payment.method')
        MoveLine = pool.get('account.move.line')
        jane, john = self.customers()
        self.collect()
        invoice = pay_invoice(jane.invoice, dt.date(2024, 2, 10),
            Decimal('100'))
        # Partly paid: what was paid and what is left, once
        email, = [n for n in self.collect() if n.channel == 'email']
        self.assertEqual((email.party, email.event, email.origin),
            (jane.party, 'payment_partial', jane))
        self.assertEqual(email.body, 'Hello Customer 1,\n\n'
            'We received your payment of usd100.00 for bill %s. Thank you. '
            'usd17.08 remains to pay, due on 02/15/2024.\n\nDunder Mifflin'
            % invoice.number)
        self.assertEqual(self.collect(), [])
        method, = Method.search([('company', '=', self.company.id)])
        invoice.pay_invoice(invoice.amount_to_pay, method,
            dt.date(2024, 2, 12))
        invoice = Invoice(invoice.id)
        MoveLine.reconcile(
            list(invoice.lines_to_pay) + list(invoice.payment_lines))
        Invoice.process([invoice])
        invoice = Invoice(invoice.id)
        self.assertEqual(invoice.state, 'paid')
        received = [n for n in self.collect() if n.channel == 'email']
        email, = received
        self.assertEqual((email.party, email.event, email.origin),
            (jane.party, 'payment_received', jane))
        self.assertEqual(email.body, 'Hello Customer 1,\n\n'
            'We received your payment of usd117.08 for bill %s. '
            'Thank you.\n\nDunder Mifflin' % invoice.number)
        # Autopay's notice of the same payment adds nothing: it is sent.
        notice, = PaymentNotification.create([{
                    'company': self.company.id, 'party': jane.party.id,
                    'bill': jane.id, 'invoice': jane.invoice.id,
                    'kind': 'autopay_succeeded'}])
        self.assertEqual(self.collect(), [])
        self.assertEqual(PaymentNotification(notice.id).state, 'sent')

    @with_transaction()
    @in_company
    def test_failed_payment(self):
        "A failed payment of a bill (a portal checkout) is told once"
        pool = Pool()
        Payment = pool.get('account.payment')
        Journal = pool.get('account.payment.journal')
        Group = pool.get('account.payment.group')
        jane, john = self.customers()
        journal = Journal(name="Cards", process_method='manual',
            company=self.company, currency=self.company.currency)
        journal.save()
        payments = []
        for bill in [jane, john]:
            line, = bill.invoice.lines_to_pay
            payments.append(Payment(company=self.company, journal=journal,
                    kind='receivable', party=bill.party, line=line,
                    amount=line.debit, origin=bill))
        Payment.save(payments)
        group = Group(company=self.company, journal=journal,
            kind='receivable')
        group.save()
        Payment.write(payments, {'group': group.id})
        Payment.submit(payments)
        Payment.proceed(payments)
        failed, ok = payments
        failed.stripe_error_message = "Your card was declined."
        failed.save()
        Payment.fail([failed])
        Payment.succeed([ok])
        created = [n for n in self.collect() if n.event == 'payment_failed']
        self.assertEqual(sorted((n.party, n.channel) for n in created),
            [(jane.party, 'email'), (jane.party, 'portal')])
        email, = [n for n in created if n.channel == 'email']
        self.assertEqual(email.origin, jane)
        self.assertEqual(email.subject,
            'Payment failed for bill %s' % jane.invoice.number)
        self.assertIn('Your payment of usd117.08 for bill %s did not go '
            'through: Your card was declined.' % jane.invoice.number,
            email.body)
        self.assertEqual(
            [n for n in self.collect() if n.event == 'payment_failed'], [])

    @with_transaction()
    @in_company
    def test_dunning(self):
        "Overdue, late fee and final notice are told once per level"
        Dunning = Pool().get('account.dunning')
        jane, _ = self.customers()
        party, number = jane.party, jane.invoice.number

        def step(days):
            date = DUE + dt.timedelta(days=days)
            Dunning.utility_process_dunnings(date)
            return sorted(n.event for n in self.collect(date)
                if n.channel == 'email' and n.party == party)
        self.assertEqual(step(1), ['bill_ready', 'overdue'])
        self.assertEqual(step(2), [])
        self.assertEqual(step(15), ['late_fee'])
        self.assertEqual(step(30), ['final_notice'])
        late_fee, = self.notifications(party, event='late_fee',
            channel='email')
        self.assertEqual(late_fee.subject, 'Late fee on bill %s' % number)
        self.assertIn('is still unpaid (usd117.08). '
            'A late fee of usd5.00 has been charged.', late_fee.body)
        self.assertEqual(late_fee.origin, jane)

    @with_transaction()
    @in_company
    def test_consumption_alerts(self):
        "High consumption and leak alerts of metering reach the customer"
        Alert = Pool().get('utility.consumption.alert')
        jane, _ = self.customers()
        point = jane.service_point
        high, leak = Alert.create([{
                    'company': self.company.id, 'service_point': point.id,
                    'kind': kind, 'period_start': dt.date(2024, 3, 1),
                    'period_end': dt.date(2024, 3, 8),
                    'detected_on': dt.date(2024, 3, 8),
                    'details': 'Daily use 40 kWh.'}
                for kind in ['high_consumption', 'continuous_use']])
        Alert.close([leak])
        self.collect(dt.date(2024, 3, 8))
        alert, = self.notifications(jane.party, channel='email',
            event='high_consumption')
        self.assertEqual(alert.origin, high)
        self.assertEqual(alert.subject, 'High consumption at %s'
            % point.rec_name)
        self.assertIn('Daily use 40 kWh.', alert.body)
        # A closed alert is not news any more.
        self.assertEqual(self.notifications(jane.party, event='leak'), [])
        Alert.create([{
                    'company': self.company.id, 'service_point': point.id,
                    'kind': 'continuous_use',
                    'period_start': dt.date(2024, 3, 10),
                    'period_end': dt.date(2024, 3, 17),
                    'detected_on': dt.date(2024, 3, 17)}])
        self.collect(dt.date(2024, 3, 17))
        leak_mail, = self.notifications(jane.party, channel='email',
            event='leak')
        self.assertEqual(leak_mail.subject, 'Possible leak at %s'
            % point.rec_name)

    @with_transaction()
    @in_company
    def test_readings(self):
        "A read coming up is announced; one missed is reported"
        Route = Pool().get('utility.reading.route')
        jane, _ = self.customers()
        point = jane.service_point
        Route.create([{'company': self.company.id, 'code': 'R1',
                    'name': "North", 'frequency': 'monthly',
                    'start_date': dt.date(2024, 1, 1), 'read_day': 20,
                    'tolerance_days': 1,
                    'service_points': [('add', [point.id])]}])

        def reading_events(today):
            return [n for n in self.collect(today)
                if n.channel == 'email' and n.event != 'bill_ready']
        # 16 March: the read of the 20th (window 19th-21st) is not close.
        self.assertEqual(reading_events(dt.date(2024, 3, 16)), [])
        window, = reading_events(dt.date(2024, 3, 17))
        self.assertEqual((window.party, window.event, window.origin),
            (jane.party, 'reading_window', point))
        self.assertEqual(window.subject, 'Meter reading on 03/20/2024')
        # Nobody read it: on the 22nd it is missed.
        missed, = reading_events(dt.date(2024, 3, 22))
        self.assertEqual(missed.event, 'reading_missed')
        self.assertIn('was not read between 03/19/2024 and 03/21/2024',
            missed.body)
        self.assertEqual(self.collect(dt.date(2024, 3, 23)), [])

    @with_transaction()
    @in_company
    def test_cron_queues_deliveries(self):
        "The sending cron queues one task per customer: no mail inline"
        pool = Pool()
        Notification = pool.get('utility.notification')
        Queue = pool.get('ir.queue')
        self.customers()
        self.collect()
        Notification.send_pending(self.now)
        self.assertEqual(self.mailbox.pop(), [])
        tasks = Queue.search([('name', '=', 'utility_notification')])
        self.assertEqual(len(tasks), 2)
        for task in tasks:
            task.run()
        self.assertEqual(sorted(self.delivered()),
            ['jane@example.com', 'john@example.com'])

    @with_transaction()
    @in_company
    def test_collect_all(self):
        "The collecting cron covers every provider, each its customers"
        Notification = Pool().get('utility.notification')
        other = create_company("Shelbyville Water")
        created = Notification.collect_all()
        self.assertEqual({n.company for n in created}, {self.company})
        self.assertEqual(len(created), 4)
        with Transaction().set_context(company=other.id):
            self.assertEqual(Notification.collect_all(), [])


class AccessTestCase(unittest.TestCase):
    "Customer service reads, administrators manage, providers apart"

    @classmethod
    def setUpClass(cls):
        activate_fixture(cls, 'utility_notification', notification_fixture)

    @with_transaction()
    @in_company
    def test_access(self):
        pool = Pool()
        Notification = pool.get('utility.notification')
        Preference = pool.get('utility.notification.preference')
        jane, _ = tools.bills()
        party = jane.party
        ours = self.company
        theirs = create_company("Shelbyville Water")
        records = {}
        for company in [ours, theirs]:
            records[company], = Notification.create([{
                        'company': company.id, 'party': party.id,
                        'event': 'bill_ready', 'channel': 'portal',
                        'key': str(company.id), 'state': 'sent'}])
        failed, = Notification.create([{'company': ours.id,
                    'party': party.id, 'event': 'bill_ready',
                    'channel': 'email', 'key': 'failed', 'state': 'failed',
                    'attempts': 5}])
        preference, = Preference.create([{'party': party.id,
                    'event': 'leak', 'channel': 'sms'}])
        service = user(ours, SERVICE)
        billing = user(ours, BILLING)
        admin = user(ours, ADMIN)
        metering = user(ours, METERING)
        mine = {records[ours], failed}
        with Transaction().set_user(service.id), Transaction().set_context(
                _check_access=True, company=ours.id):
            # Only its own provider's notifications
            self.assertEqual(set(Notification.search([])), mine)
            with self.assertRaises(AccessError):
                Notification.read([records[theirs].id], ['subject'])
            with self.assertRaises(AccessError):
                Notification.write([records[ours]], {'subject': 'x'})
            with self.assertRaises(AccessError):
                Notification.create([{'company': ours.id,
                            'party': party.id, 'event': 'leak',
                            'channel': 'email', 'key': 'x'}])
            with self.assertRaises(AccessButtonError):
                Notification.cancel([records[ours]])
            # After fixing the customer's address, service sends again.
            Notification.retry([failed])
            self.assertEqual(failed.state, 'pending')
            # A customer on the phone: service sets their preferences.
            Preference.write([preference], {'enabled': False})
            Preference.create([{'party': party.id,
                        'event': 'leak', 'channel': 'email'}])
            self.assertEqual(len(Preference.search(
                        [('party', '=', party.id)])), 2)
        with Transaction().set_user(billing.id), Transaction().set_context(
                _check_access=True, company=ours.id):
            self.assertEqual(set(Notification.search([])), mine)
            with self.assertRaises(AccessError):
                Notification.delete([records[ours]])
            with self.assertRaises(AccessButtonError):
                Notification.retry([records[ours]])
            with self.assertRaises(AccessError):
                Preference.write([preference], {'enabled': True})
        with Transaction().set_user(metering.id), Transaction().set_context(
                _check_access=True, company=ours.id):
            with self.assertRaises(AccessError):
                Notification.search([])
            with self.assertRaises(AccessError):
                Preference.search([])
        with Transaction().set_user(admin.id), Transaction().set_context(
                _check_access=True, company=ours.id):
            self.assertEqual(set(Notification.search([])), mine)
            with self.assertRaises(AccessError):
                Notification.write([records[theirs]], {'subject': 'x'})
            Preference.write([preference], {'enabled': True})
            Notification.delete(list(mine))
            self.assertEqual(Notification.search([]), [])
