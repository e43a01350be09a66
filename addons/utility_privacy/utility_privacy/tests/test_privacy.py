"""GDPR/CCPA in the back office: data export, erasure with its refusals
and log, consents and the CRM webhook, retention and the record of
processing activities; with utility_notification activated, whose
records are in the export, the erasure and the retention."""
import csv
import datetime as dt
import io
import json
import unittest
import zipfile
from decimal import Decimal

import pypdf

from trytond.model.exceptions import ValidationError
from trytond.modules.company.tests import set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

from utility_billing.tests.tools import provider
from utility_metering.tests.activation import activate_fixture
# Stripe accounts keep their keys encrypted with a configured key.
from utility_payment.tests import tools as payment_tools  # noqa: F401

from .tools import (
    OURS, PHONE, THEIRS, close, customer, dispute, email, in_company,
    notify, pay, privacy_fixture, web_user)

MODULES = ['utility_privacy', 'utility_notification']
KINDS = ['party', 'addresses', 'contacts', 'agreements', 'readings', 'bills',
    'payments', 'service_requests', 'service_request_messages', 'consents',
    'payment_notifications', 'portal_accounts', 'emails_received',
    'emails_sent', 'notifications', 'notification_preferences']


def pdf_text(content):
    reader = pypdf.PdfReader(io.BytesIO(content))
    # Table cells wrap: compare words, not lines.
    return ' '.join(' '.join(p.extract_text() for p in reader.pages).split())


def archive_data(content):
    return json.loads(zipfile.ZipFile(io.BytesIO(content)).read(
            'data.json'))['data']


class PrivacyTestCase(unittest.TestCase):
    "Export, erasure, consents, retention"

    @classmethod
    def setUpClass(cls):
        activate_fixture(cls, MODULES, privacy_fixture)

    def customer(self, index=1, paid=True, closed=True):
        "The fixture's customer index, paid and moved out as asked"
        agreement, bill = customer(index)
        self.invoice, self.payment = bill.invoice, None
        if paid:
            self.invoice, self.payment = pay(bill)
        if closed:
            close(agreement)
        return agreement, bill

    def erase(self, party, legal_basis='gdpr_art17'):
        Erasure = Pool().get('utility.privacy.erasure')
        erasure = Erasure.request_erasure(party, self.company,
            legal_basis=legal_basis)
        Erasure.process([erasure])
        return Erasure(erasure.id)

    def notification(self, party, **values):
        """A utility_notification log entry of party, sent by e-mail (and
        logged by Tryton as the party's e-mail)"""
        pool = Pool()
        Notification = pool.get('utility.notification')
        SentEmail = pool.get('ir.email')
        sent, = SentEmail.create([{'recipients': email(party.id),
                    'subject': "Your bill is ready, %s" % party.name,
                    'body': "<p>Hello %s</p>" % party.name,
                    'resource': str(party),
                    'addresses': [('create', [{
                                    'address': email(party.id)}])]}])
        notification, = Notification.create([dict({
                        'company': self.company.id,
                        'party': party.id,
                        'event': 'bill_ready',
                        'channel': 'email',
                        'key': 'bill:%s' % party.id,
                        'recipient': email(party.name.split()[-1]),
                        'subject': "Your bill is ready, %s" % party.name,
                        'body': "Hello %s" % party.name,
                        'state': 'sent',
                        'email': sent.id,
                        }, **values)])
        return notification

    def email_received(self, party):
        "An e-mail the customer wrote to customer care"
        pool = Pool()
        Mailbox = pool.get('utility.care.mailbox')
        Email = pool.get('utility.care.email')
        mailbox, = Mailbox.create([{'company': self.company.id,
                    'email': 'care@dunder.example'}])
        received, = Email.create([{'company': self.company.id,
                    'mailbox': mailbox.id, 'party': party.id,
                    'sender': email(party.name.split()[-1]),
                    'message_id': '<abc@example.com>',
                    'subject': "Meter in my garden", 'state': 'rejected',
                    'date': dt.datetime(2024, 3, 1, 9),
                    'body': "I am home after 5pm, Homer"}])
        return received

    # Export ------------------------------------------------------------

    @with_transaction()
    @in_company
    def test_export_archive(self):
        "The ZIP holds JSON, a CSV per kind and a PDF summary"
        pool = Pool()
        Export = pool.get('utility.privacy.export')
        Consent = pool.get('utility.privacy.consent')
        Reading = pool.get('utility.meter.reading')
        Preference = pool.get('utility.notification.preference')
        Party = pool.get('party.party')
        agreement, bill = self.customer(closed=False)
        party = agreement.party
        dispute(agreement, bill)
        notify(agreement, bill)
        self.notification(party)
        self.email_received(party)
        Preference.create([{'party': party.id, 'event': 'due_soon',
                    'channel': 'sms', 'enabled': True}])
        Party.write([party], {'notification_quiet_start': dt.time(22),
                'notification_quiet_end': dt.time(7)})
        Consent.set_consent(party, 'marketing', self.company, True,
            date=dt.date(2024, 1, 5))

        name, content = Export.archive(party)
        self.assertEqual(name, 'personal-data-%s' % party.code)
        archive = zipfile.ZipFile(io.BytesIO(content))
        self.assertEqual(set(archive.namelist()),
            {'data.json', 'summary.pdf'} | {'%s.csv' % k for k in KINDS})
        data = json.loads(archive.read('data.json'))['data']
        self.assertEqual(data['party'][0]['name'], "Customer 1")
        self.assertEqual(data['party'][0]['quiet_hours_from'], '22:00:00')
        self.assertEqual(data['addresses'][0]['street'], "1 Main St")
        self.assertEqual({c['value'] for c in data['contacts']},
            {email(1), PHONE})
        self.assertEqual(data['agreements'][0]['account_number'],
            agreement.number)
        # The previous occupant's December reading is left out.
        held = Reading.search([
                ('service_point', '=', agreement.service_point.id)])
        self.assertIn(dt.date(2023, 12, 5),
            {r.date_time.date() for r in held})
        self.assertEqual(sorted(r['read_at'] for r in data['readings']),
            sorted(r.date_time.isoformat() for r in held
                if r.date_time.date() >= agreement.start_date))
        self.assertNotIn('2023-12-05',
            {r['read_at'][:10] for r in data['readings']})
        self.assertEqual(data['bills'][0]['invoice'], bill.invoice.number)
        self.assertEqual(data['bills'][0]['total'],
            str(bill.invoice.total_amount))
        self.assertEqual(data['payments'][0]['reference'], "Cheque 1001")
        self.assertEqual(data['service_requests'][0]['subject'],
            "Bill too high for 1 Main St")
        # The customer's conversation, not staff's internal notes.
        self.assertEqual([m['body'] for m in
                data['service_request_messages']],
            ["Call me on +1 555 0199"])
        self.assertEqual(data['consents'][0]['purpose'], 'marketing')
        self.assertEqual(data['consents'][0]['given'], '2024-01-05')
        self.assertEqual(data['payment_notifications'][0]['message'],
            "Your card ending 4242 was declined")
        self.assertEqual(data['portal_accounts'],
            [{'email': email(1), 'email_verified': True, 'active': True,
                    'created': data['portal_accounts'][0]['created']}])
        self.assertEqual(data['emails_received'][0]['text'],
            "I am home after 5pm, Homer")
        self.assertEqual(data['emails_sent'][0]['subject'],
            "Your bill is ready, Customer 1")
        self.assertEqual(data['notifications'][0]['subject'],
            "Your bill is ready, Customer 1")
        self.assertEqual(data['notification_preferences'],
            [{'event': 'due_soon', 'channel': 'sms', 'enabled': True}])

        rows = list(csv.DictReader(io.StringIO(
                    archive.read('readings.csv').decode())))
        self.assertEqual(sorted(Decimal(r['value']) for r in rows),
            sorted(Decimal(r['value']) for r in data['readings']))
        self.assertIn(Decimal(1742), {Decimal(r['value']) for r in rows})
        self.assertEqual(archive.read('consents.csv').decode().splitlines()[0],
            'provider,purpose,purpose_name,given,withdrawn,source')

        pdf = archive.read('summary.pdf')
        self.assertTrue(pdf.startswith(b'%PDF'))
        text = pdf_text(pdf)
        self.assertIn("Customer 1", text)
        self.assertIn(agreement.number, text)
        self.assertIn("Cheque 1001", text)

    @with_transaction()
    @in_company
    def test_export_button_report(self):
        "The party's button prints the ZIP of the user's providers only"
        pool = Pool()
        Party = pool.get('party.party')
        ModelData = pool.get('ir.model.data')
        Report = pool.get('utility.privacy.export.report', type='report')
        agreement, bill = self.customer(closed=False)
        party = agreement.party
        self.assertEqual(Party.utility_privacy_export([party]),
            ModelData.get_id('utility_privacy', 'report_party_export'))
        theirs = provider(THEIRS)
        with Transaction().set_context(companies=[theirs.id]):
            ext, content, _, name = Report.execute([party.id], {})
        self.assertEqual(ext, 'zip')
        self.assertEqual(name, 'personal-data-%s' % party.code)
        data = archive_data(content)
        # The person is there, the other provider's records are not.
        self.assertEqual(data['party'][0]['name'], "Customer 1")
        self.assertEqual(data['agreements'], [])
        self.assertEqual(data['bills'], [])
        with Transaction().set_context(companies=[self.company.id]):
            _, content, _, _ = Report.execute([party.id], {})
        self.assertEqual(len(archive_data(content)['bills']), 1)

    @with_transaction()
    @in_company
    def test_export_report_denied(self):
        "Only customer service and administrators may print the export"
        from trytond.model.exceptions import AccessError

        from .tools import as_user, user
        pool = Pool()
        Report = pool.get('utility.privacy.export.report', type='report')
        agreement, _ = customer(1)
        metering = user(self.company, 'utility_metering.group_metering')
        service = user(self.company,
            'utility_billing.group_customer_service')
        for clerk, allowed in [(metering, False), (service, True)]:
            as_clerk, context = as_user(clerk, self.company)
            with as_clerk, context:
                if allowed:
                    ext, _, _, _ = Report.execute([agreement.party.id], {})
                    self.assertEqual(ext, 'zip')
                else:
                    with self.assertRaises(AccessError):
                        Report.execute([agreement.party.id], {})

    # Erasure -----------------------------------------------------------

    @with_transaction()
    @in_company
    def test_erasure_refused_open_balance(self):
        "An unpaid bill refuses the erasure and logs the balance"
        agreement, bill = self.customer(paid=False)
        party = agreement.party
        erasure = self.erase(party)
        self.assertEqual(erasure.state, 'refused')
        self.assertIn("open balance", erasure.reason)
        self.assertIn(str(bill.invoice.total_amount), erasure.reason)
        self.assertEqual(erasure.processed_by.id, Transaction().user)
        party = party.__class__(party.id)
        self.assertEqual(party.name, "Customer 1")
        self.assertTrue(party.active)

    @with_transaction()
    @in_company
    def test_erasure_refused_open_dispute(self):
        "An open billing dispute refuses it; once cancelled, it goes through"
        Request = Pool().get('utility.service.request')
        agreement, bill = self.customer()
        request = dispute(agreement, bill)
        erasure = self.erase(agreement.party)
        self.assertEqual(erasure.state, 'refused')
        self.assertIn("billing dispute", erasure.reason)
        self.assertIn(request.number, erasure.reason)

        Request.cancel([request])
        erasure = self.erase(agreement.party)
        self.assertEqual(erasure.state, 'erased')

    @with_transaction()
    @in_company
    def test_erasure_refused_running_agreement(self):
        "A current customer is not erased"
        agreement, bill = self.customer(closed=False)
        erasure = self.erase(agreement.party, legal_basis='ccpa_1798_105')
        self.assertEqual(erasure.state, 'refused')
        self.assertEqual(erasure.legal_basis, 'ccpa_1798_105')
        self.assertIn(agreement.number, erasure.reason)

    @with_transaction()
    @in_company
    def test_erasure_keeps_law_records_deidentified(self):
        "Personal data go; invoices, bills, payments stay on a blank party"
        pool = Pool()
        Party = pool.get('party.party')
        Address = pool.get('party.address')
        Mechanism = pool.get('party.contact_mechanism')
        Invoice = pool.get('account.invoice')
        Payment = pool.get('account.payment')
        Bill = pool.get('utility.bill')
        Request = pool.get('utility.service.request')
        Message = pool.get('utility.service.request.message')
        PaymentNotification = pool.get('utility.payment.notification')
        Notification = pool.get('utility.notification')
        Preference = pool.get('utility.notification.preference')
        Email = pool.get('utility.care.email')
        Opportunity = pool.get('sale.opportunity')
        StripeAccount = pool.get('account.payment.stripe.account')
        StripeCustomer = pool.get('account.payment.stripe.customer')
        WebUser = pool.get('web.user')
        Reading = pool.get('utility.meter.reading')
        Erasure = pool.get('utility.privacy.erasure')
        agreement, bill = self.customer()
        party = agreement.party
        code = party.code
        login = web_user(party)
        request = dispute(agreement, bill)
        Request.cancel([request])
        payment_notification = notify(agreement, bill)
        notification = self.notification(party)
        Preference.create([{'party': party.id, 'event': 'due_soon',
                    'channel': 'sms', 'enabled': True}])
        received = self.email_received(party)
        opportunity, = Opportunity.create([{'company': self.company.id,
                    'party': party.id, 'description': "Homer's garage",
                    'comment': "Call after 5pm"}])
        account = StripeAccount(name="Stripe", secret_key='sk_test_1',
            publishable_key='pk_test_1')
        account.save()
        card, = StripeCustomer.create([{'party': party.id,
                    'stripe_account': account.id}])
        Party.write([party], {'addresses': [('create', [{
                            'street': "742 Evergreen Terrace",
                            'city': "Springfield"}])]})
        readings = Reading.search([('meter', '=', bill.readings[0].meter)])

        erasure = self.erase(party)
        self.assertEqual(erasure.state, 'erased', erasure.reason)
        self.assertEqual(erasure.party_code, code)
        self.assertEqual(erasure.legal_basis, 'gdpr_art17')
        self.assertIsNotNone(erasure.processed_date)

        party = Party(party.id)
        self.assertIsNone(party.name)
        self.assertEqual(party.code, code)
        self.assertFalse(party.active)
        with Transaction().set_context(active_test=False):
            mechanisms = Mechanism.search([('party', '=', party.id)])
            addresses = Address.search([('party', '=', party.id)])
        self.assertEqual({m.value for m in mechanisms}, {'****'})
        by_id = {a.id: a for a in addresses}
        # The premise keeps its street for the next occupant.
        premise = by_id[agreement.service_point.address.id]
        self.assertEqual(premise.street, "1 Main St")
        self.assertIsNone(premise.party_name)
        self.assertTrue(premise.active)
        home, = [a for a in addresses if a.id != premise.id]
        self.assertFalse(home.street)
        self.assertIsNone(home.city)
        self.assertIsNone(WebUser(login.id).email)

        invoice = Invoice(self.invoice.id)
        self.assertEqual(invoice.state, 'paid')
        self.assertEqual(invoice.party, party)
        self.assertEqual(invoice.total_amount, self.invoice.total_amount)
        payment = Payment(self.payment.id)
        self.assertEqual(payment.state, 'succeeded')
        self.assertEqual(payment.party, party)
        self.assertEqual(Bill(bill.id).invoice, invoice)
        self.assertEqual(len(Reading.browse(readings)), len(readings))

        request = Request(request.id)
        self.assertEqual(request.subject, '****')
        self.assertEqual({m.body for m in Message.search(
                        [('request', '=', request.id)])}, {'****'})
        self.assertIsNone(
            PaymentNotification(payment_notification.id).message)
        notification = Notification(notification.id)
        self.assertEqual((notification.recipient, notification.subject,
                notification.body, notification.event, notification.state),
            (None, '****', None, 'bill_ready', 'sent'))
        self.assertEqual((notification.email.recipients,
                notification.email.subject, notification.email.body,
                [a.address for a in notification.email.addresses]),
            ('****', '****', None, ['****']))
        self.assertEqual(Preference.search([('party', '=', party.id)]), [])
        received = Email(received.id)
        self.assertEqual((received.sender, received.subject, received.body),
            ('****', '****', None))
        opportunity = Opportunity(opportunity.id)
        self.assertEqual((opportunity.description, opportunity.comment),
            ('****', None))
        with Transaction().set_context(active_test=False):
            self.assertFalse(StripeCustomer(card.id).active)

        # The log is evidence: a processed entry is not deleted.
        with self.assertRaises(Exception):
            Erasure.delete([erasure])

    @with_transaction()
    @in_company
    def test_erase_wizard_logs(self):
        "Tryton's erase wizard logs each request; a refusal is shown"
        pool = Pool()
        Erase = pool.get('party.erase', type='wizard')
        Erasure = pool.get('utility.privacy.erasure')
        Party = pool.get('party.party')
        agreement, bill = self.customer(paid=False)
        party = agreement.party
        Party.write([party], {'active': False})
        session_id, _, _ = Erase.create()
        result = Erase.execute(session_id, {'ask': {
                    'party': party.id,
                    'utility_company': self.company.id,
                    'utility_legal_basis': 'ccpa_1798_105',
                    }}, 'erase')
        self.assertEqual(result['view']['state'], 'utility_refused')
        self.assertIn("open balance",
            result['view']['defaults']['utility_refusal'])
        erasure, = Erasure.search([('party', '=', party.id)])
        self.assertEqual((erasure.state, erasure.channel,
                erasure.legal_basis),
            ('refused', 'back_office', 'ccpa_1798_105'))
        Erase.delete(session_id)

        pay(bill)
        session_id, _, _ = Erase.create()
        result = Erase.execute(session_id, {'ask': {
                    'party': party.id,
                    'utility_company': self.company.id,
                    'utility_legal_basis': 'gdpr_art17',
                    }}, 'erase')
        self.assertNotIn('view', result)
        Erase.delete(session_id)
        erasures = Erasure.search([('party', '=', party.id)],
            order=[('id', 'ASC')])
        self.assertEqual([e.state for e in erasures], ['refused', 'erased'])
        self.assertIsNone(Party(party.id).name)

    # Consents ----------------------------------------------------------

    @with_transaction()
    @in_company
    def test_consent_given_and_withdrawn(self):
        "Consents count between their given and withdrawn dates"
        pool = Pool()
        Consent = pool.get('utility.privacy.consent')
        Party = pool.get('party.party')
        Purpose = pool.get('utility.privacy.purpose')
        party, = Party.create([{'name': "Marge"}])
        company = self.company
        self.assertFalse(Consent.has_consent(party, 'crm_sharing', company))
        consent = Consent.set_consent(party, 'crm_sharing', company, True,
            date=dt.date(2024, 3, 1))
        self.assertEqual(consent.state, 'given')
        self.assertTrue(Consent.has_consent(party, 'crm_sharing', company,
                date=dt.date(2024, 3, 1)))
        self.assertFalse(Consent.has_consent(party, 'crm_sharing', company,
                date=dt.date(2024, 2, 29)))
        self.assertFalse(Consent.has_consent(party, 'marketing', company))
        # Giving twice keeps the running consent.
        self.assertEqual(Consent.set_consent(party, 'crm_sharing', company,
                True), consent)

        Consent.set_consent(party, 'crm_sharing', company, False,
            date=dt.date(2024, 6, 30))
        consent = Consent(consent.id)
        self.assertEqual(consent.withdrawn_date, dt.date(2024, 6, 30))
        self.assertEqual(consent.state, 'withdrawn')
        self.assertTrue(Consent.has_consent(party, 'crm_sharing', company,
                date=dt.date(2024, 6, 29)))
        self.assertFalse(Consent.has_consent(party, 'crm_sharing', company,
                date=dt.date(2024, 6, 30)))
        self.assertEqual(Consent.search([('state', '=', 'withdrawn')]),
            [consent])

        # A contract purpose needs no consent record.
        self.assertTrue(Consent.has_consent(party, 'billing', company))
        billing, = Purpose.search([('code', '=', 'billing')])
        with self.assertRaises(ValidationError):
            Consent.create([{'company': company.id, 'party': party.id,
                        'purpose': billing.id,
                        'given_date': dt.date(2024, 1, 1)}])
        # Withdrawn before given is refused.
        marketing, = Purpose.search([('code', '=', 'marketing')])
        with self.assertRaises(ValidationError):
            Consent.create([{'company': company.id, 'party': party.id,
                        'purpose': marketing.id,
                        'given_date': dt.date(2024, 2, 1),
                        'withdrawn_date': dt.date(2024, 1, 1)}])
        # Two running consents to one purpose are refused.
        Consent.create([{'company': company.id, 'party': party.id,
                    'purpose': marketing.id,
                    'given_date': dt.date(2024, 2, 1)}])
        with self.assertRaises(ValidationError):
            Consent.create([{'company': company.id, 'party': party.id,
                        'purpose': marketing.id,
                        'given_date': dt.date(2024, 3, 1)}])
        # An unknown purpose is named in the error.
        with self.assertRaisesRegex(ValidationError, 'newsletter'):
            Consent.has_consent(party, 'newsletter', company)

    @with_transaction()
    @in_company
    def test_crm_webhook_needs_consent(self):
        "The CRM hears of a customer only while they consent to it"
        pool = Pool()
        Endpoint = pool.get('utility.webhook.endpoint')
        Delivery = pool.get('utility.webhook.delivery')
        Consent = pool.get('utility.privacy.consent')
        Party = pool.get('party.party')
        Purpose = pool.get('utility.privacy.purpose')
        Endpoint.create([{'company': self.company.id, 'name': "CRM",
                    'url': 'http://127.0.0.1:9/hook'}])
        agreement, bill = customer(1)
        other, _ = customer(2)
        # (deliveries are queued; none is posted in a test)

        def sent():
            "[(event, customer id)] of the deliveries"
            result = []
            for delivery in Delivery.search([], order=[('id', 'ASC')]):
                data = json.loads(delivery.payload)['data']
                result.append((delivery.event,
                        data['id'] if delivery.event.startswith('customer.')
                        else data['customer']['id']))
            return result

        homer, marge = agreement.party.id, other.party.id
        Party.write([agreement.party, other.party], {'name': "Renamed"})
        dispute(agreement, bill)
        self.assertEqual(sent(), [])

        Consent.set_consent(agreement.party, 'crm_sharing', self.company,
            True, date=dt.date(2024, 1, 1))
        # Consent sends the customer's data at once.
        self.assertEqual(sent(), [('customer.updated', homer)])
        Party.write([agreement.party, other.party], {'name': "Homer"})
        dispute(agreement, bill, subject="Again")
        events = sent()
        self.assertEqual(events[:2],
            [('customer.updated', homer), ('customer.updated', homer)])
        self.assertIn(('service_request.created', homer), events)
        self.assertEqual({c for _, c in events}, {homer})

        Consent.set_consent(agreement.party, 'crm_sharing', self.company,
            False)
        Party.write([agreement.party], {'name': "Homer J."})
        dispute(agreement, bill, subject="Third")
        self.assertEqual(sent(), events)

        # A provider whose CRM is its processor (contract) needs none.
        Purpose.create([{'company': self.company.id, 'code': 'crm_sharing',
                    'name': "CRM (processor)", 'legal_basis': 'contract'}])
        Party.write([other.party], {'name': "Marge"})
        self.assertEqual(sent()[-1], ('customer.updated', marge))

    # Retention ---------------------------------------------------------

    @with_transaction()
    @in_company
    def test_retention_cron(self):
        "Expired data are de-identified, recent and open ones are kept"
        pool = Pool()
        Retention = pool.get('utility.privacy.retention')
        Request = pool.get('utility.service.request')
        Message = pool.get('utility.service.request.message')
        PaymentNotification = pool.get('utility.payment.notification')
        Notification = pool.get('utility.notification')
        Email = pool.get('utility.care.email')
        Endpoint = pool.get('utility.webhook.endpoint')
        Delivery = pool.get('utility.webhook.delivery')
        Erasure = pool.get('utility.privacy.erasure')
        Party = pool.get('party.party')
        Date = pool.get('ir.date')
        today = Date.today()
        agreement, bill = self.customer()
        party = agreement.party
        closed = dispute(agreement, bill, subject="Closed one")
        Request.finish([closed])
        Request.close([closed])
        still_open = dispute(agreement, bill, kind='service_issue',
            subject="Open one")
        sent = notify(agreement, bill, message="Sent")
        PaymentNotification.send([sent])
        pending = notify(agreement, bill, message="Pending")
        logged = self.notification(party)
        waiting = self.notification(party, key='bill:later',
            state='pending')
        received = self.email_received(party)
        endpoint, = Endpoint.create([{'company': self.company.id,
                    'name': "CRM", 'url': 'http://127.0.0.1:9/hook'}])
        delivered, queued = Delivery.create([{
                    'company': self.company.id, 'endpoint': endpoint.id,
                    'event': 'customer.updated', 'uuid': str(i),
                    'payload': '{"name": "Homer"}', 'state': state}
                for i, state in enumerate(['delivered', 'pending'])])
        Retention.create([
                {'company': self.company.id, 'kind': 'service_request',
                    'months': 24},
                {'company': self.company.id, 'kind': 'notification',
                    'months': 12},
                {'company': self.company.id, 'kind': 'inbound_email',
                    'months': 6},
                {'company': self.company.id, 'kind': 'webhook_delivery',
                    'months': 3},
                {'company': self.company.id, 'kind': 'former_customer',
                    'months': 120},
                ])

        # Nothing has expired yet.
        Retention.deidentify_expired()
        self.assertEqual(Request(closed.id).subject, "Closed one")
        self.assertEqual(PaymentNotification(sent.id).message, "Sent")
        self.assertEqual(Delivery(delivered.id).payload, '{"name": "Homer"}')
        self.assertEqual(Erasure.search([]), [])

        # 4 months on: webhook payloads.
        Retention.deidentify_expired(today + dt.timedelta(days=4 * 31))
        self.assertEqual(Delivery(delivered.id).payload, '****')
        self.assertEqual(Delivery(queued.id).payload, '{"name": "Homer"}')
        self.assertEqual(Email(received.id).body,
            "I am home after 5pm, Homer")

        # 7 months on: e-mails received.
        Retention.deidentify_expired(today + dt.timedelta(days=7 * 31))
        self.assertEqual((Email(received.id).sender, Email(received.id).body),
            ('****', None))
        self.assertEqual(Notification(logged.id).subject,
            "Your bill is ready, Customer 1")

        # 13 months on: notifications' texts.
        Retention.deidentify_expired(today + dt.timedelta(days=400))
        self.assertIsNone(PaymentNotification(sent.id).message)
        self.assertEqual(PaymentNotification(pending.id).message, "Pending")
        self.assertEqual((Notification(logged.id).subject,
                Notification(logged.id).recipient), ('****', None))
        self.assertEqual((Notification(logged.id).email.subject,
                Notification(logged.id).email.body), ('****', None))
        self.assertEqual(Notification(waiting.id).email.subject,
            "Your bill is ready, Customer 1")
        self.assertEqual(Notification(waiting.id).body, "Hello Customer 1")
        self.assertEqual(Request(closed.id).subject, "Closed one")

        # 25 months on: closed requests and their messages too.
        Retention.deidentify_expired(today + dt.timedelta(days=25 * 31))
        self.assertEqual(Request(closed.id).subject, '****')
        self.assertEqual({m.body for m in Message.search(
                        [('request', '=', closed.id)])}, {'****'})
        self.assertEqual(Request(still_open.id).subject, "Open one")
        self.assertEqual(Erasure.search([]), [])

        # Ten years after the move-out the former customer is erased (the
        # open request is a service issue, not a dispute).
        Retention.deidentify_expired(dt.date(2034, 2, 1))
        erasure, = Erasure.search([])
        self.assertEqual((erasure.legal_basis, erasure.channel,
                erasure.state), ('retention', 'retention', 'erased'))
        self.assertIsNone(Party(party.id).name)
        # An erased customer is not asked again.
        Retention.deidentify_expired(dt.date(2034, 3, 1))
        self.assertEqual(len(Erasure.search([])), 1)

    @with_transaction()
    @in_company
    def test_retention_refusal_logged_once_a_month(self):
        "A former customer with a balance is refused, then retried later"
        pool = Pool()
        Retention = pool.get('utility.privacy.retention')
        Erasure = pool.get('utility.privacy.erasure')
        self.customer(paid=False)
        Retention.create([{'company': self.company.id,
                    'kind': 'former_customer', 'months': 1}])
        Retention.deidentify_expired(dt.date(2024, 6, 1))
        erasure, = Erasure.search([])
        self.assertEqual(erasure.state, 'refused')
        self.assertIn("open balance", erasure.reason)
        Retention.deidentify_expired(dt.date(2024, 6, 2))
        self.assertEqual(len(Erasure.search([])), 1)
        Retention.deidentify_expired(dt.date(2024, 7, 5))
        self.assertEqual(len(Erasure.search([])), 2)

    # Record of processing activities ----------------------------------

    @with_transaction()
    @in_company
    def test_processing_activities_report(self):
        "The purposes print as a record of processing activities"
        pool = Pool()
        Purpose = pool.get('utility.privacy.purpose')
        Report = pool.get('utility.privacy.processing.report',
            type='report')
        Purpose.create([{'company': self.company.id, 'code': 'smart_meter',
                    'name': "Smart meter interval data",
                    'legal_basis': 'legal_obligation',
                    'recipients': "Grid operator"}])
        purposes = Purpose.search([])
        self.assertGreaterEqual({p.code for p in purposes},
            {'billing', 'marketing', 'crm_sharing', 'smart_meter'})
        ext, content, _, _ = Report.execute([p.id for p in purposes], {})
        self.assertEqual(ext, 'pdf')
        text = pdf_text(content)
        self.assertIn("Record of Processing Activities", text)
        self.assertIn("Sharing with an external CRM", text)
        self.assertIn("Grid operator", text)
        self.assertIn(self.company.rec_name, text)
        self.assertIn("Legal Obligation (GDPR Art. 6(1)", text)


class ProviderRulesTestCase(unittest.TestCase):
    "Each provider's privacy records are its own"

    @classmethod
    def setUpClass(cls):
        activate_fixture(cls, MODULES, privacy_fixture)

    @with_transaction()
    def test_other_provider_records_hidden(self):
        "Consents, erasures, retention periods and team members of another"
        from trytond.model.exceptions import AccessError
        from trytond.modules.company.tests import create_employee

        from .tools import as_user, user
        pool = Pool()
        Consent = pool.get('utility.privacy.consent')
        Erasure = pool.get('utility.privacy.erasure')
        Retention = pool.get('utility.privacy.retention')
        Purpose = pool.get('utility.privacy.purpose')
        Team = pool.get('utility.care.team')
        TeamEmployee = pool.get('utility.care.team-company.employee')
        ours, theirs = provider(OURS), provider(THEIRS)
        records = {}
        for company, index in [(ours, 1), (theirs, 4)]:
            with set_company(company):
                agreement, _ = customer(index)
                party = agreement.party
                consent = Consent.set_consent(party, 'marketing', company,
                    True)
                erasure = Erasure.request_erasure(party, company)
                retention, = Retention.create([{'company': company.id,
                            'kind': 'notification', 'months': 12}])
                purpose, = Purpose.create([{'company': company.id,
                            'code': 'survey', 'name': "Survey"}])
                team, = Team.create([{'company': company.id,
                            'name': "Care", 'members': [('add', [
                                        create_employee(company).id])]}])
                member, = TeamEmployee.search([('team', '=', team.id)])
                records[company] = [(Consent, consent),
                    (Erasure, erasure), (Retention, retention),
                    (Purpose, purpose), (TeamEmployee, member)]
        admin = user(ours, 'utility_metering.group_utility_admin')
        as_admin, context = as_user(admin, ours)
        with as_admin, context:
            for Model, record in records[ours]:
                with self.subTest(model=Model.__name__):
                    self.assertIn(record, Model.search([]))
                    Model.read([record.id], ['id'])
            for Model, record in records[theirs]:
                with self.subTest(model=Model.__name__):
                    self.assertNotIn(record, Model.search([]))
                    with self.assertRaises(AccessError):
                        Model.read([record.id], ['id'])
            # The shared purposes (no provider) are everybody's.
            self.assertTrue(Purpose.search([('company', '=', None)]))
