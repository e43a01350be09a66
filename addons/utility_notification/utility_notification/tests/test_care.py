"""Service request updates, with utility_care activated beside us"""
import datetime as dt
import unittest

from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

from utility_metering.tests.activation import activate_fixture

from . import tools
from .tools import in_company, notification_fixture


class RequestUpdateTestCase(unittest.TestCase):
    "Staff answers and resolutions of service requests reach the customer"

    @classmethod
    def setUpClass(cls):
        activate_fixture(cls, ['utility_notification', 'utility_care'],
            notification_fixture)

    @with_transaction()
    @in_company
    def test_request_update(self):
        pool = Pool()
        Request = pool.get('utility.service.request')
        Message = pool.get('utility.service.request.message')
        Notification = pool.get('utility.notification')
        Mailbox = pool.get('utility.care.mailbox')
        InboundEmail = pool.get('utility.care.email')
        company = self.company
        Mailbox.create([{'company': company.id,
                    'email': 'care@dunder.example'}])
        jane, _ = tools.bills()
        party = jane.party
        request, = Request.create([{
                    'company': company.id, 'party': party.id,
                    'agreement': jane.agreement.id, 'kind': 'service_issue',
                    'subject': "No hot water",
                    'messages': [('create', [{'author': 'customer',
                                    'body': "Since Monday"}])],
                    }])
        answer, _ = Message.create([
                {'request': request.id, 'author': 'staff',
                    'body': "A crew comes on Friday."},
                {'request': request.id, 'author': 'staff',
                    'internal': True, 'body': "Customer was rude"},
                ])
        now = dt.datetime.now()
        today = dt.date.today()

        def collect():
            return [n for n in Notification.collect(company, today, now)
                if n.channel == 'email' and n.event != 'bill_ready']

        def send():
            with Transaction().set_context(
                    utility_notification_inline=True):
                Notification.send_pending(now)
            return [d for d in self.mailbox.pop()
                if d.recipients == ['jane@example.com']]
        update, = collect()
        self.assertEqual(update.event, 'request_update')
        self.assertEqual(update.origin, request)
        self.assertIn('A crew comes on Friday.', update.body)
        self.assertNotIn('rude', update.body)
        # The subject names the request: a reply threads back by it.
        self.assertEqual(update.subject,
            'Update on your request "No hot water" [%s]' % request.number)
        # (told already: only what follows is sent)
        Notification.cancel(Notification.search([('state', '=', 'pending')]))

        Request.reject([request], "The boiler is yours to repair.")
        self.assertEqual(Request(request.id).state, 'resolved')
        created = collect()
        self.assertEqual(sorted(n.key.split(':')[0] for n in created),
            ['message', 'state'])
        self.assertEqual(collect(), [])
        delivered, = send()
        self.assertEqual(delivered.subject,
            'Your 2 notifications from %s' % company.rec_name)
        self.assertIn("The boiler is yours to repair.", delivered.body)
        self.assertIn('"No hot water" has an update:\nResolved',
            delivered.body)
        # Answers go to the provider's care mailbox, which threads the
        # customer's reply into the request by the message it answers.
        self.assertEqual(delivered.message['Reply-To'],
            'care@dunder.example')
        reason = Message.search([('request', '=', request.id),
                ('author', '=', 'staff'), ('id', '!=', answer.id),
                ('internal', '=', False)])[0]
        self.assertEqual(reason.email_message_id,
            delivered.message['Message-ID'])
        InboundEmail.receive(
            'From: jane@example.com\r\nTo: care@dunder.example\r\n'
            'Subject: Re: Your 2 notifications\r\n'
            'Message-ID: <reply-1@example.com>\r\n'
            'In-Reply-To: %s\r\n\r\nIt is not mine, it belongs to the '
            'building.\r\n' % delivered.message['Message-ID'])
        reply = Message.search([('request', '=', request.id),
                ('author', '=', 'customer')], order=[('id', 'DESC')])[0]
        self.assertEqual(reply.body,
            'It is not mine, it belongs to the building.')
        self.assertEqual(Request(request.id).state, 'in_progress')

    @with_transaction()
    @in_company
    def test_portal_switch_and_preferences(self):
        "The portal's e-mail switch sets the default; a preference wins"
        jane, _ = tools.bills()
        party = jane.party
        party.portal_notify_email = False
        party.save()
        self.assertEqual(party.notification_channels('leak'), {'portal'})
        party.notification_preferences = [{'event': 'leak',
                'channel': 'email', 'enabled': True}]
        party.save()
        self.assertEqual(party.notification_channels('leak'),
            {'portal', 'email'})
        self.assertEqual(party.notification_channels('bill_ready'),
            {'portal'})
        party.portal_notify_sms = True
        party.save()
        self.assertEqual(party.notification_channels('bill_ready'),
            {'portal', 'sms'})
