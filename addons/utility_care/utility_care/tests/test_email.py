import datetime as dt
import functools
import unittest
from email.message import EmailMessage

import trytond.tools.misc
from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction
from utility_billing.tests.tools import (
    create_customer, create_cycle, create_plan, create_products,
    setup_accounting)

trytond.tools.misc.import_module = functools.cache(
    trytond.tools.misc.import_module)

MAILBOX = 'care@provider.example'
PDF = b'%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n'

# As a mail client sends it: folded and encoded headers, quoted-printable
# text with a quoted reply under it.
RAW_REPLY = b"""\
Return-Path: <jane@example.com>
Delivered-To: care@provider.example
From: =?utf-8?q?Jane_D=C3=B6e?= <Jane@Example.com>
To: Customer Care <care@provider.example>
Subject: =?utf-8?q?Re=3A_Water_leak_in_basement?= %(token)s
Date: Tue, 16 Jan 2024 09:30:00 +0100
Message-ID: <reply-1@mail.example.com>
In-Reply-To: <unknown@provider.example>
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: quoted-printable

The plumber came but it still drips under the m=C3=A9ter.
Please send someone again.

On Mon, 15 Jan 2024 at 10:00, Customer Care <care@provider.example> wrote:
> We are looking into it.
> Regards
"""


def mime(subject, text, sender='Jane Doe <Jane@Example.com>',
        to=MAILBOX, message_id=None, html=None, attachment=None,
        **headers):
    message = EmailMessage()
    message['From'] = sender
    message['To'] = to
    message['Subject'] = subject
    message['Date'] = 'Mon, 15 Jan 2024 08:00:00 +0000'
    if message_id:
        message['Message-ID'] = message_id
    for name, value in headers.items():
        message[name.replace('_', '-')] = value
    if text is not None:
        message.set_content(text)
        if html:
            message.add_alternative(html, subtype='html')
    else:
        message.set_content(html, subtype='html')
    if attachment:
        message.add_attachment(attachment, maintype='application',
            subtype='pdf', filename='meter-photo.pdf')
    return message.as_bytes()


class EmailIntakeTestCase(unittest.TestCase):
    "Service requests opened and answered by e-mail"

    @classmethod
    def setUpClass(cls):
        activate_module('utility_care')

    def setup(self, company):
        pool = Pool()
        Mailbox = pool.get('utility.care.mailbox')
        Team = pool.get('utility.care.team')
        ContactMechanism = pool.get('party.contact_mechanism')
        revenue, tax = setup_accounting(company)
        plan = create_plan(company, create_products(revenue, tax))
        cycle = create_cycle(company)
        self.agreement, _ = create_customer(company, 1, plan, cycle,
            serial='E%s' % company.id)
        self.party = self.agreement.party
        ContactMechanism.create([{'party': self.party.id, 'type': 'email',
                    'value': 'jane@example.com'}])
        self.team, = Team.create([{'name': "Field desk"}])
        self.mailbox, = Mailbox.create([{'email': 'Care@Provider.example',
                    'kind': 'service_issue', 'team': self.team.id}])

    def receive(self, raw):
        Email = Pool().get('utility.care.email')
        return Email.receive(raw)

    @with_transaction()
    def test_open_and_thread(self):
        "An e-mail opens a request; replies by token or header thread in"
        pool = Pool()
        Request = pool.get('utility.service.request')
        Attachment = pool.get('ir.attachment')
        Email = pool.get('utility.care.email')
        company = create_company()
        with set_company(company):
            self.setup(company)
            self.assertEqual(self.mailbox.email, MAILBOX)
            log = self.receive(mime("Water leak in basement",
                    "Water drips from the meter since this morning.",
                    message_id='<first@mail.example.com>',
                    html="<p>Water drips from the <b>meter</b></p>",
                    attachment=PDF))
            self.assertEqual(log.state, 'opened')
            self.assertEqual(log.sender, 'jane@example.com')
            self.assertEqual(log.date.date(), dt.date(2024, 1, 15))
            self.assertEqual(log.message_id, '<first@mail.example.com>')
            request = log.request
            self.assertEqual(request.party, self.party)
            self.assertEqual(request.agreement, self.agreement)
            self.assertEqual(request.channel, 'email')
            self.assertEqual(request.kind, 'service_issue')
            self.assertEqual(request.team, self.team)
            self.assertEqual(request.subject, "Water leak in basement")
            self.assertEqual([m.body for m in request.messages],
                ["Water drips from the meter since this morning."])
            self.assertEqual(request.messages[0].author, 'customer')
            attachment, = Attachment.search([
                    ('resource', '=', str(request))])
            self.assertEqual(attachment.name, 'meter-photo.pdf')
            self.assertEqual(bytes(attachment.data), PDF)
            # A service issue sends somebody out
            self.assertEqual(len(request.work_orders), 1)

            # Redelivered: nothing new
            again = self.receive(mime("Water leak in basement",
                    "Water drips from the meter since this morning.",
                    message_id='<first@mail.example.com>'))
            self.assertEqual(again, log)
            self.assertEqual(Request.search([], count=True), 1)

            # Staff asks; the customer answers with the token in the subject
            Request.wait([request])
            raw = RAW_REPLY % {b'token': ('[%s]' % request.number).encode()}
            reply = self.receive(raw)
            self.assertEqual(reply.state, 'threaded')
            self.assertEqual(reply.request, request)
            request = Request(request.id)
            self.assertEqual(request.state, 'in_progress')
            self.assertEqual(request.messages[-1].body,
                "The plumber came but it still drips under the m\u00e9ter.\n"
                "Please send someone again.")
            self.assertEqual(request.messages[-1].author, 'customer')

            # A reply to the staff's e-mail, found by In-Reply-To alone
            staff = request.messages[-1].__class__(
                request=request, author='staff', body="A crew comes today.",
                email_message_id='<sr-staff-1@provider.example>')
            staff.save()
            by_header = self.receive(mime("Re: your visit", None,
                    message_id='<second@mail.example.com>',
                    html="<div>Thanks,<br>I will be home.</div>"
                    "<style>p {color: red}</style>",
                    In_Reply_To='<sr-staff-1@provider.example>'))
            self.assertEqual(by_header.state, 'threaded')
            self.assertEqual(by_header.request, request)
            self.assertEqual(by_header.message.body,
                "Thanks,\nI will be home.")
            # and a reply to one of the customer's own e-mails
            by_ref = self.receive(mime("Re: Water leak", "Also the tap.",
                    message_id='<third@mail.example.com>',
                    References='<x@y> <first@mail.example.com>'))
            self.assertEqual(by_ref.request, request)
            self.assertEqual(len(Request(request.id).messages), 5)
            self.assertEqual(Request.search([], count=True), 1)
            self.assertEqual(Email.search([('request', '=', request.id)],
                    count=True), 4)

            # Once closed, a new e-mail on it opens a new request
            Request.finish([request])
            Request.close([request])
            later = self.receive(mime(
                    "Re: Water leak [%s]" % request.number, "Again!",
                    message_id='<fourth@mail.example.com>'))
            self.assertEqual(later.state, 'opened')
            self.assertNotEqual(later.request, request)

    @with_transaction()
    def test_refused(self):
        "Unknown senders, others' requests and unknown mailboxes"
        pool = Pool()
        Request = pool.get('utility.service.request')
        Party = pool.get('party.party')
        company = create_company()
        with set_company(company):
            self.setup(company)
            log = self.receive(mime("Hello", "Who are you?",
                    sender='stranger@example.net',
                    message_id='<s1@example.net>'))
            self.assertEqual(log.state, 'rejected')
            self.assertIn('stranger@example.net', log.reason)
            self.assertIsNone(log.request)
            self.assertEqual(Request.search([], count=True), 0)

            request = self.receive(mime("Leak", "Leak!",
                    message_id='<j1@example.com>')).request
            # Another customer quoting Jane's request number
            other, = Party.create([{'name': "Mallory",
                        'contact_mechanisms': [('create', [{
                                        'type': 'email',
                                        'value': 'mallory@example.org'}])]}])
            log = self.receive(mime("Re: [%s]" % request.number,
                    "Close it please", sender='mallory@example.org',
                    message_id='<m1@example.org>'))
            self.assertEqual(log.state, 'rejected')
            self.assertIn(request.number, log.reason)
            self.assertEqual(len(Request(request.id).messages), 1)

            with self.assertRaises(UserError) as cm:
                self.receive(mime("Hi", "Hi", to='sales@provider.example'))
            self.assertIn('sales@provider.example', cm.exception.message)

    @with_transaction()
    def test_access(self):
        "Inbound e-mails stay with their provider; only staff take them in"
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        Email = pool.get('utility.care.email')
        company_a = create_company()
        company_b = create_company(name="Other Provider")
        with set_company(company_a):
            self.setup(company_a)
            log = self.receive(mime("Leak", "Leak!",
                    message_id='<j1@example.com>'))

        def user(company, group):
            user = User(login='mail%s' % len(User.search([])),
                companies=[company], company=company,
                groups=[ModelData.get_id(*group.split('.'))])
            user.save()
            return user
        service_a = user(company_a, 'utility_billing.group_customer_service')
        service_b = user(company_b, 'utility_billing.group_customer_service')
        metering_a = user(company_a, 'utility_metering.group_metering')

        def as_user(user, company):
            return Transaction().set_user(user.id), \
                Transaction().set_context(company=company.id,
                    companies=[company.id], _check_access=True)
        u, c = as_user(service_b, company_b)
        with u, c:
            self.assertEqual(Email.search([]), [])
            with self.assertRaises(AccessError):
                Email.read([log.id], ['subject'])
        u, c = as_user(service_a, company_a)
        with u, c:
            self.assertEqual(Email.search([]), [log])
            reply = Email.receive(mime("Re: Leak", "More",
                    message_id='<j2@example.com>',
                    In_Reply_To='<j1@example.com>'))
            self.assertEqual(reply.request, log.request)
        u, c = as_user(metering_a, company_a)
        with u, c:
            with self.assertRaises(AccessError):
                Email.receive(mime("Re: Leak", "More",
                        message_id='<j3@example.com>'))
