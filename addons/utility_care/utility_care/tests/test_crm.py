import datetime as dt
import functools
import unittest

import trytond.tools.misc
from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import (
    create_company, create_employee, set_company)
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction
from utility_billing.tests.tools import (
    create_cycle, create_plan, create_products, setup_accounting)

trytond.tools.misc.import_module = functools.cache(
    trytond.tools.misc.import_module)


class CRMTestCase(unittest.TestCase):
    "Prospects become customers with service agreements"

    @classmethod
    def setUpClass(cls):
        activate_module('utility_care')

    def setup(self, company):
        revenue, tax = setup_accounting(company)
        self.plan = create_plan(company, create_products(revenue, tax))
        self.cycle = create_cycle(company)
        self.employee = create_employee(company)

    def prospect(self, company, **values):
        pool = Pool()
        Party = pool.get('party.party')
        Opportunity = pool.get('sale.opportunity')
        party, = Party.create([{'name': "Bakery Ltd",
                    'addresses': [('create', [{'street': "5 Mill Road",
                                    'city': "Springfield"}])]}])
        opportunity, = Opportunity.create([dict({
                        'company': company.id,
                        'party': party.id,
                        'employee': self.employee.id,
                        'description': "New bakery: 3-phase connection",
                        'utility_prospect': 'new_connection',
                        'utility_rate_plan': self.plan.id,
                        }, **values)])
        return opportunity

    def run_wizard(self, opportunity, **values):
        "Run Create Service Agreement as the client does"
        CreateAgreement = Pool().get(
            'utility.opportunity.agreement', type='wizard')
        with Transaction().set_context(active_model='sale.opportunity',
                active_id=opportunity.id, active_ids=[opportunity.id]):
            session_id, _, _ = CreateAgreement.create()
            result = CreateAgreement.execute(session_id, {}, 'start')
            defaults = {k: v for k, v in result['view']['defaults'].items()
                if '.' not in k}
            data = {'start': dict(defaults, **values)}
            result = CreateAgreement.execute(session_id, data, 'create_')
            CreateAgreement.delete(session_id)
        return defaults, result

    @with_transaction()
    def test_won_prospect_agreement(self):
        "A won new connection gets a service point and a draft agreement"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Agreement = pool.get('utility.service.agreement')
        company = create_company()
        with set_company(company):
            self.setup(company)
            opportunity = self.prospect(company)
            Opportunity.opportunity([opportunity])
            # Not won yet
            with self.assertRaises(UserError) as cm:
                self.run_wizard(opportunity)
            self.assertIn('must be won', cm.exception.message)
            Opportunity.convert([opportunity])
            sale, = opportunity.sales
            # What sale.process does once the sale is confirmed
            Opportunity.won([opportunity])
            self.assertEqual(opportunity.state, 'won')

            defaults, result = self.run_wizard(opportunity,
                point_code='BAKERY-1', cycle=self.cycle.id,
                start_date=dt.date(2024, 3, 1))
            party = opportunity.party
            self.assertEqual(defaults['rate_plan'], self.plan.id)
            self.assertEqual(defaults['invoice_address'],
                party.addresses[0].id)
            agreement, = Agreement.search([('opportunity', '=',
                        opportunity.id)])
            self.assertEqual(result['actions'][0][1]['res_id'],
                [agreement.id])
            self.assertEqual(agreement.state, 'draft')
            self.assertEqual(agreement.party, party)
            self.assertEqual(agreement.rate_plan, self.plan)
            self.assertEqual(agreement.cycle, self.cycle)
            self.assertEqual(agreement.start_date, dt.date(2024, 3, 1))
            self.assertTrue(agreement.number)
            point = agreement.service_point
            self.assertEqual(point.code, 'BAKERY-1')
            self.assertEqual(point.service_type, self.plan.service_type)
            self.assertEqual(point.address, party.addresses[0])
            self.assertEqual(point.company, company)
            self.assertEqual(Opportunity(opportunity.id).utility_agreements,
                (agreement,))
            # The customer is connected
            Agreement.activate([agreement])
            self.assertEqual(agreement.next_period(),
                (dt.date(2024, 3, 1), dt.date(2024, 3, 31)))
            # A move-in copy does not claim the prospect
            copy, = Agreement.copy([agreement])
            self.assertIsNone(copy.opportunity)

    @with_transaction()
    def test_existing_point_other_provider(self):
        "An existing point is reused; another provider's plan is refused"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Agreement = pool.get('utility.service.agreement')
        ServicePoint = pool.get('utility.service.point')
        other = create_company(name="Other Provider")
        with set_company(other):
            self.setup(other)
            other_plan = self.plan
        company = create_company()
        with set_company(company):
            self.setup(company)
            opportunity = self.prospect(company,
                utility_prospect='commercial')
            point = ServicePoint(code='SHOP-9',
                service_type=self.plan.service_type,
                party=opportunity.party,
                address=opportunity.party.addresses[0])
            point.save()
            Opportunity.opportunity([opportunity])
            Opportunity.convert([opportunity])
            Opportunity.won([opportunity])
            with self.assertRaises(UserError) as cm:
                self.run_wizard(opportunity, service_point=point.id,
                    rate_plan=other_plan.id, cycle=self.cycle.id)
            self.assertIn('another provider', cm.exception.message)
            self.run_wizard(opportunity, service_point=point.id,
                cycle=self.cycle.id)
            agreement, = Agreement.search([('opportunity', '=',
                        opportunity.id)])
            self.assertEqual(agreement.service_point, point)
            self.assertEqual(ServicePoint.search([
                        ('company', '=', company.id)]), [point])

    @with_transaction()
    def test_access(self):
        "Customer service works its provider's prospects"
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        Opportunity = pool.get('sale.opportunity')
        company_a = create_company()
        company_b = create_company(name="Other Provider")
        with set_company(company_a):
            self.setup(company_a)
            opportunity = self.prospect(company_a)

        def user(company, group):
            user = User(login='crm%s' % len(User.search([])),
                companies=[company], company=company,
                groups=[ModelData.get_id(*group.split('.'))])
            user.save()
            return user
        service_a = user(company_a, 'utility_billing.group_customer_service')
        service_b = user(company_b, 'utility_billing.group_customer_service')
        metering_a = user(company_a, 'utility_metering.group_metering')
        for user_, company, visible in [
                (service_a, company_a, [opportunity]),
                (service_b, company_b, [])]:
            with Transaction().set_user(user_.id), \
                    Transaction().set_context(company=company.id,
                        companies=[company.id], _check_access=True):
                self.assertEqual(Opportunity.search([]), visible)
        with Transaction().set_user(service_a.id), \
                Transaction().set_context(company=company_a.id,
                    companies=[company_a.id], _check_access=True):
            Opportunity.write([opportunity], {'comment': "Called back"})
        with Transaction().set_user(metering_a.id), \
                Transaction().set_context(company=company_a.id,
                    companies=[company_a.id], _check_access=True):
            with self.assertRaises(AccessError):
                Opportunity.search([])
