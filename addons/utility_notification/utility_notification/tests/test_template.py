"""The texts of the notifications: the provider's e-mail templates, per
language, sent as HTML with its plain text and logged as ir.email"""
import os
import unittest

from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import create_company
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

from utility_metering.tests.activation import activate_fixture

from . import tools
from .tools import ADMIN, in_company, notification_fixture, user


class TemplateTestCase(unittest.TestCase):
    "Notifications written with ir.email.template"

    @classmethod
    def setUpClass(cls):
        activate_fixture(cls, 'utility_notification', notification_fixture)

    def default(self, event):
        Template = Pool().get('ir.email.template')
        template, = Template.search([
                ('utility_event', '=', event),
                ('utility_company', '=', None),
                ])
        return template

    def collect_and_send(self):
        Notification = Pool().get('utility.notification')
        Notification.collect(self.company, self.today)
        with Transaction().set_context(utility_notification_inline=True):
            Notification.send_pending()
        return {d.recipients[0]: d for d in self.mailbox.pop()}

    @property
    def today(self):
        return Pool().get('ir.date').today()

    @with_transaction()
    @in_company
    def test_provider_template_per_language(self):
        "A provider's own template, in each customer's language"
        pool = Pool()
        Template = pool.get('ir.email.template')
        Lang = pool.get('ir.lang')
        Email = pool.get('ir.email')
        Notification = pool.get('utility.notification')
        jane, john = tools.bills()
        fr, = Lang.search([('code', '=', 'fr')])
        fr.translatable = True
        fr.save()
        party = jane.party
        party.lang = fr
        party.name = 'Jane <& Co>'
        party.save()
        default = self.default('bill_ready')
        own, = Template.copy([default], {
                'name': "Our bill mail",
                'utility_company': self.company.id,
                'subject': "Bill ${number}: ${amount}",
                'body': "<p>Dear customer, pay <b>${amount}</b> by ${due}."
                "</p>",
                })
        with Transaction().set_context(language='fr'):
            Template.write([own], {
                    'subject': "Facture ${number} : ${amount}",
                    'body': "<p>Cher client, payez <b>${amount}</b> "
                    "avant le ${due}.</p>",
                    })
        # Another provider keeps the default
        other = create_company("Shelbyville Water")
        self.assertEqual(
            Template.utility_templates(other)['bill_ready'], default)
        self.assertEqual(
            Template.utility_templates(self.company)['bill_ready'], own)

        delivered = self.collect_and_send()
        number = john.invoice.number
        english = delivered['john@example.com']
        self.assertEqual(english.subject, 'Bill %s: usd117.08' % number)
        self.assertEqual(english.body, 'Hello Customer 2,\n\n'
            'Dear customer, pay **usd117.08** by 02/15/2024.\n\n'
            'Dunder Mifflin\n')
        self.assertIn('<p>Hello Customer 2,</p>', english.html)
        self.assertIn('<p>Dear customer, pay <b>usd117.08</b> by '
            '02/15/2024.</p>', english.html)
        self.assertIn('<html lang="en">', english.html)

        french = delivered['jane@example.com']
        self.assertEqual(french.subject,
            'Facture %s : 117,08\xa0usd' % jane.invoice.number)
        # The customer's name is text, in the HTML too (the layout's
        # French is in fr.po, not loaded here: test_default_french)
        self.assertIn('<p>Hello Jane &lt;&amp; Co&gt;,</p>', french.html)
        self.assertIn('Hello Jane <& Co>,', french.body)
        # (html2text writes no-break spaces as spaces)
        self.assertIn('payez **117,08 usd** avant le 15.02.2024.',
            french.body)
        self.assertEqual(french.message['Content-Language'], 'fr')

        # Each mail is logged as Tryton's e-mail of the customer.
        email, = [n for n in Notification.search([
                    ('party', '=', party.id), ('channel', '=', 'email')])]
        logged = email.email
        self.assertEqual(logged.resource, party)
        self.assertEqual(logged.subject, french.subject)
        self.assertEqual(logged.message_id, email.message_id)
        self.assertEqual(logged.recipients, 'jane@example.com')
        self.assertIn('avant le 15.02.2024.', logged.body)
        self.assertEqual(Email.search_count([
                    ('resource', '=', str(john.party))]), 1)
        # The portal shows the event's text, without greeting
        portal, = Notification.portal_notifications(party)
        self.assertEqual(portal.text,
            'Cher client, payez **117,08 usd** avant le 15.02.2024.')

    @with_transaction()
    @in_company
    def test_default_french(self):
        "The default templates are translated"
        pool = Pool()
        Lang = pool.get('ir.lang')
        Translation = pool.get('ir.translation')
        fr, = Lang.search([('code', '=', 'fr')])
        fr.translatable = True
        fr.save()
        Translation.translation_import('fr', 'utility_notification',
            os.path.join(os.path.dirname(__file__), '..', 'locale',
                'fr.po'))
        jane, _ = tools.bills()
        jane.party.lang = fr
        jane.party.save()
        french = self.collect_and_send()['jane@example.com']
        self.assertEqual(french.subject,
            'Votre facture %s est disponible' % jane.invoice.number)
        self.assertEqual(french.body, 'Bonjour Customer 1,\n\n'
            'Votre facture %s du 01.01.2024 au 31.01.2024 est disponible : '
            '117,08 usd, à régler avant le 15.02.2024.\n\n'
            'Dunder Mifflin\n' % jane.invoice.number)

    @with_transaction()
    @in_company
    def test_administrator_expressions(self):
        "A system administrator's template reads the record (Genshi)"
        pool = Pool()
        Template = pool.get('ir.email.template')
        Group = pool.get('res.group')
        ModelData = pool.get('ir.model.data')
        admin = user(self.company, ADMIN)
        admin.groups += (Group(ModelData.get_id('res', 'group_admin')),)
        admin.save()
        jane, john = tools.bills()
        with Transaction().set_user(admin.id), Transaction().set_context(
                _check_access=True, company=self.company.id):
            Template.copy([self.default('bill_ready')], {
                    'utility_company': self.company.id,
                    'subject': "${record.agreement.number}: "
                    "${format_currency(record.invoice.total_amount, "
                    "None, record.invoice.currency)}",
                    })
        delivered = self.collect_and_send()
        self.assertEqual(delivered['jane@example.com'].subject,
            '%s: usd117.08' % jane.agreement.number)

    @with_transaction()
    @in_company
    def test_access(self):
        """A provider's utility administrators write their own templates,
        with substitutions of names only"""
        pool = Pool()
        Template = pool.get('ir.email.template')
        ours = self.company
        theirs = create_company("Shelbyville Water")
        default = self.default('bill_ready')
        model = default.model
        their, = Template.copy([default], {'utility_company': theirs.id})
        admin = user(ours, ADMIN)

        def values(**values):
            return dict({'model': model.id, 'name': "Ours",
                    'utility_event': 'due_soon', 'utility_company': ours.id,
                    'subject': "Pay ${amount}", 'body': "<p>$$5 off</p>"},
                **values)
        with Transaction().set_user(admin.id), Transaction().set_context(
                _check_access=True, company=ours.id):
            found = Template.search([('utility_event', '=', 'bill_ready')])
            self.assertIn(default, found)
            self.assertNotIn(their, found)
            with self.assertRaises(AccessError):
                Template.write([default], {'subject': "Bill"})
            with self.assertRaises(AccessError):
                Template.create([values(utility_company=theirs.id)])
            own, = Template.create([values()])
            for unsafe in ["${record.party.name}",
                    "${__import__('os').getcwd()}", "$amount.real",
                    "#if True\nx\n#end"]:
                with self.subTest(unsafe=unsafe):
                    with self.assertRaises(Exception) as cm:
                        Template.write([own], {'body': unsafe})
                    self.assertIn('only use substitutions of names',
                        cm.exception.message)
            # One template per event and provider
            with self.assertRaises(Exception) as cm:
                Template.create([values(name="Twice")])
            self.assertIn('same notification for the same provider',
                cm.exception.message)
            Template.delete([own])
