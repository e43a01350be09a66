"""Provider Manager: its own provider's profile, rates and contact data,
nothing of other providers or of customers."""
import datetime as dt
import unittest

from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction

from utility_billing.tests.tools import create_payment_term, provider
from utility_metering.tests.activation import activate_fixture

from .tools import OURS, THEIRS, as_user, customer, privacy_fixture, user

MANAGER = 'utility_privacy.group_provider_manager'
SERVICE = 'utility_billing.group_customer_service'


class ProviderManagerTestCase(unittest.TestCase):
    "Grants and denials of the Provider Manager group"

    @classmethod
    def setUpClass(cls):
        activate_fixture(cls, ['utility_privacy', 'utility_notification'],
            privacy_fixture)

    def user(self, company, *groups):
        return user(company, *groups)

    def as_user(self, user, company):
        return as_user(user, company)

    def providers(self):
        "The fixture's providers, each with a phone, its plan, a customer"
        pool = Pool()
        Party = pool.get('party.party')
        Plan = pool.get('utility.rate.plan')
        ours, theirs = provider(OURS), provider(THEIRS)
        records = {}
        for company, index in [(ours, 1), (theirs, 4)]:
            Party.write([company.party], {'contact_mechanisms': [
                        ('create', [{'type': 'phone',
                                    'value': '+1555010%s' % company.id}])]})
            plan, = Plan.search([('company', '=', company.id)])
            agreement, _ = customer(index)
            records[company] = plan, agreement
        return ours, theirs, records

    @with_transaction()
    def test_own_profile_rates_and_contacts(self):
        "A manager edits its provider's profile, contact data and rates"
        pool = Pool()
        Company = pool.get('company.company')
        Party = pool.get('party.party')
        Mechanism = pool.get('party.contact_mechanism')
        Address = pool.get('party.address')
        Plan = pool.get('utility.rate.plan')
        Version = pool.get('utility.rate.version')
        ours, theirs, records = self.providers()
        term = create_payment_term(21)
        manager = self.user(ours, MANAGER)
        user, context = self.as_user(manager, ours)
        with user, context:
            self.assertEqual(Company.search([]), [ours])
            Company.write([ours], {'utility_payment_term': term.id})
            profile, = Company.read([ours.id], ['utility_phone',
                    'utility_email', 'utility_payment_term'])
            self.assertEqual(profile['utility_payment_term'], term.id)
            # Contact data: the provider's party.
            phone, = Mechanism.search([('party', '=', ours.party.id)])
            Mechanism.write([phone], {'value': '+15550999'})
            Mechanism.create([{'party': ours.party.id, 'type': 'email',
                        'value': 'care@spl.example'}])
            Address.write(list(ours.party.addresses),
                {'street': "1 Power Plant Road"})
            Party.write([ours.party], {'name': "Springfield Power & Light"})
            # Rates: the provider's plans and their versions.
            plan, _ = records[ours]
            self.assertEqual(Plan.search([]), [plan])
            Plan.write([plan], {'name': "Residential (2024)"})
            new, = Plan.create([{'company': ours.id, 'code': 'R25',
                        'name': "Residential 2025",
                        'service_type': plan.service_type.id}])
            Version.create([{'plan': new.id, 'name': '2025',
                        'start_date': dt.date(2025, 1, 1)}])
            self.assertEqual(len(Plan.search([])), 2)
        self.assertEqual(Company(ours.id).utility_email, 'care@spl.example')
        self.assertEqual(Company(ours.id).party.name,
            "Springfield Power & Light")

    @with_transaction()
    def test_nothing_of_other_providers_or_customers(self):
        "Other providers and customers are out of reach"
        pool = Pool()
        Company = pool.get('company.company')
        Party = pool.get('party.party')
        Mechanism = pool.get('party.contact_mechanism')
        Plan = pool.get('utility.rate.plan')
        Agreement = pool.get('utility.service.agreement')
        Bill = pool.get('utility.bill')
        Reading = pool.get('utility.meter.reading')
        Erasure = pool.get('utility.privacy.erasure')
        ours, theirs, records = self.providers()
        _, our_agreement = records[ours]
        their_plan, _ = records[theirs]
        manager = self.user(ours, MANAGER)
        user, context = self.as_user(manager, ours)
        with user, context:
            with self.assertRaises(AccessError):
                Company.read([theirs.id], ['party'])
            with self.assertRaises(AccessError):
                Company.write([theirs], {'utility_payment_term': None})
            with self.assertRaises(AccessError):
                Party.write([theirs.party], {'name': "Hacked"})
            # A new party would be no provider's: refused too.
            with self.assertRaises(AccessError):
                Party.create([{'name': "Somebody"}])
            with self.assertRaises(AccessError):
                Plan.read([their_plan.id], ['name'])
            # Customers are not the manager's business.
            with self.assertRaises(AccessError):
                Party.read([our_agreement.party.id], ['name'])
            self.assertNotIn(our_agreement.party, Party.search([]))
            for Model in [Agreement, Bill, Reading, Erasure]:
                with self.assertRaises(AccessError):
                    Model.search([])
            # A provider's profile is not created or deleted here.
            with self.assertRaises(AccessError):
                Company.create([{'party': ours.party.id,
                            'currency': ours.currency.id}])
            with self.assertRaises(AccessError):
                Company.delete([ours])
        their_mechanisms = Mechanism.search(
            [('party', '=', theirs.party.id)])
        user, context = self.as_user(manager, ours)
        with user, context:
            with self.assertRaises(AccessError):
                Mechanism.write(their_mechanisms, {'value': '+10000000'})

    @with_transaction()
    def test_staff_rights_kept(self):
        "Customer service with the manager group still sees customers"
        pool = Pool()
        Party = pool.get('party.party')
        ours, theirs, records = self.providers()
        _, agreement = records[ours]
        both = self.user(ours, MANAGER, SERVICE)
        user, context = self.as_user(both, ours)
        with user, context:
            self.assertIn(agreement.party, Party.search([]))
            Party.read([agreement.party.id], ['name'])
