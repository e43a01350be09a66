import datetime as dt
import unittest

from trytond.model.exceptions import AccessError, SQLConstraintError
from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction

from .tools import (
    create_customer, create_cycle, create_payment_term, create_plan,
    create_products, read, setup_accounting, setup_dunning)


def setup_provider(company, index):
    "Accounting, a plan, a cycle and one billed agreement for company"
    pool = Pool()
    Run = pool.get('utility.bill.run')
    Bill = pool.get('utility.bill')
    with set_company(company):
        revenue, tax = setup_accounting(company)
        plan = create_plan(company, create_products(revenue, tax))
        cycle = create_cycle(company)
        agreement, meter = create_customer(company, index, plan, cycle,
            serial='M%s' % index)
        read(meter, dt.datetime(2024, 1, 1), 1000)
        read(meter, dt.datetime(2024, 2, 1), 1500)
        run = Run(company=company, cycle=cycle,
            period_end=dt.date(2024, 1, 31), invoice_date=dt.date(2024, 2, 1))
        run.save()
        Run.preview([run])
        # Batches run here, not as tasks run after a commit.
        with Transaction().set_context(
                bill_run_inline=True, _skip_warnings=True):
            Run.process([run])
        bill, = Bill.search([('agreement', '=', agreement.id)])
        setup_dunning(company, revenue)
    return plan, agreement, bill


class ProviderTestCase(unittest.TestCase):
    "Utility providers: profile and isolation"

    @classmethod
    def setUpClass(cls):
        activate_module('utility_billing')

    @with_transaction()
    def test_profile(self):
        "Offerings, defaults, contact data and invoice numbering"
        pool = Pool()
        ServiceType = pool.get('utility.service.type')
        Party = pool.get('party.party')
        Offering = pool.get('company.company-utility.service.type')
        company = create_company("Springfield Power")
        with set_company(company):
            revenue, _ = setup_accounting(company)
            electricity, = ServiceType.search([('code', '=', 'electricity')])
            water, = ServiceType.search([('code', '=', 'water')])
            term = create_payment_term(21)
            company.utility_service_types = [electricity, water]
            company.utility_payment_term = term
            company.save()
            party = company.party
            party.contact_mechanisms = [
                {'type': 'phone', 'value': '+1 555 0100'},
                {'type': 'email', 'value': 'billing@example.com'},
                {'type': 'website', 'value': 'https://power.example.com'},
                ]
            party.addresses = [{'street': '1 Plant Road',
                        'city': 'Springfield', 'invoice': True}]
            party.save()

            company = company.__class__(company.id)
            self.assertEqual(set(company.utility_service_types),
                {electricity, water})
            self.assertEqual(company.utility_phone, '+1 555 0100')
            self.assertEqual(company.utility_email, 'billing@example.com')
            self.assertEqual(company.utility_website,
                'https://power.example.com')
            self.assertEqual(company.utility_address.street, '1 Plant Road')

            # Invoices are numbered by this year's fiscal year sequence.
            FiscalYear = pool.get('account.fiscalyear')
            fiscalyear = FiscalYear.find(company)
            self.assertEqual(company.utility_invoice_sequence,
                fiscalyear.invoice_sequences[0].out_invoice_sequence)

            # The provider's term applies when the customer has none.
            customer, = Party.create([{'name': "Customer"}])
            self.assertEqual(
                company.utility_agreement_payment_term(customer), term)
            own = create_payment_term(7)
            customer.customer_payment_term = own
            customer.save()
            self.assertEqual(
                company.utility_agreement_payment_term(customer), own)

            self.assertIsNone(company.utility_dunning_procedure)
            procedure = setup_dunning(company, revenue)
            self.assertEqual(company.utility_dunning_procedure, procedure)

            with self.assertRaises(SQLConstraintError):
                Offering.create([{'company': company.id,
                            'service_type': water.id}])

    @with_transaction()
    def test_provider_isolation(self):
        "A user of provider A sees A's records only"
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        Group = pool.get('res.group')
        Agreement = pool.get('utility.service.agreement')
        Plan = pool.get('utility.rate.plan')
        Bill = pool.get('utility.bill')
        Dunning = pool.get('account.dunning')
        company_a = create_company("Provider A")
        company_b = create_company("Provider B", currency=company_a.currency)
        plan_a, agreement_a, bill_a = setup_provider(company_a, 1)
        plan_b, agreement_b, bill_b = setup_provider(company_b, 2)
        # A date after both bills' due dates (invoice or posting date).
        Date = pool.get('ir.date')
        with Transaction().set_user(0), \
                Transaction().set_context(company=None):
            Dunning.utility_process_dunnings(
                Date.today() + dt.timedelta(days=2))
        dunning_a, = Dunning.search([('company', '=', company_a.id)])
        dunning_b, = Dunning.search([('company', '=', company_b.id)])

        group = Group(ModelData.get_id('utility_billing', 'group_billing'))
        user = User(login='clerk_a', companies=[company_a],
            company=company_a, groups=[group])
        user.save()
        with Transaction().set_user(user.id), \
                Transaction().set_context(_check_access=True,
                    company=company_a.id):
            for Model, own, other in [
                    (Agreement, agreement_a, agreement_b),
                    (Plan, plan_a, plan_b),
                    (Bill, bill_a, bill_b),
                    (Dunning, dunning_a, dunning_b),
                    ]:
                with self.subTest(model=Model.__name__):
                    self.assertEqual(Model.search([]), [own])
                    self.assertEqual(
                        Model.read([own.id], ['id']), [{'id': own.id}])
                    with self.assertRaises(AccessError):
                        Model.read([other.id], ['id'])
            # Switching the context to B grants nothing.
            with Transaction().set_context(company=company_b.id):
                self.assertEqual(Agreement.search([]), [agreement_a])

    @with_transaction()
    def test_access_denied_without_group(self):
        "A provider's user outside the billing groups reads no agreement"
        pool = Pool()
        User = pool.get('res.user')
        Agreement = pool.get('utility.service.agreement')
        company = create_company()
        user = User(login='outsider', companies=[company], company=company)
        user.save()
        with Transaction().set_user(user.id), \
                Transaction().set_context(_check_access=True,
                    company=company.id):
            with self.assertRaises(AccessError):
                Agreement.search([])

