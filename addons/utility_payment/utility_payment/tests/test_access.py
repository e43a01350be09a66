import unittest

from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction

from .tools import setup_provider


class AccessTestCase(unittest.TestCase):
    "Groups and provider isolation of payment records"

    @classmethod
    def setUpClass(cls):
        activate_module('utility_payment')

    def user(self, company, *groups):
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        user = User(login='user%s' % '_'.join(groups), companies=[company],
            company=company, groups=[
                ModelData.get_id(*g.split('.')) for g in groups])
        user.save()
        return user

    @with_transaction()
    def test_customer_service_reads_only_own_provider(self):
        "Customer service reads settings of its provider, writes none"
        pool = Pool()
        Provider = pool.get('utility.payment.provider')
        from utility_billing.tests.tools import setup_accounting
        companies, providers = [], []
        for name in ["North", "South"]:
            company = create_company(name)
            with set_company(company):
                setup_accounting(company)
                providers.append(setup_provider(company))
            companies.append(company)
        north, south = companies
        billing = self.user(north, 'utility_billing.group_billing')
        service = self.user(north,
            'utility_billing.group_customer_service')
        with Transaction().set_user(billing.id), \
                Transaction().set_context(_check_access=True,
                    company=north.id, companies=[north.id]):
            self.assertEqual(Provider.search([]), [providers[0]])
            with self.assertRaises(AccessError):
                Provider.write([Provider(providers[0].id)],
                    {'retry_days': '2'})
        with Transaction().set_user(service.id), \
                Transaction().set_context(_check_access=True,
                    company=north.id, companies=[north.id]):
            with self.assertRaises(AccessError):
                Provider.search([])
            History = pool.get('utility.payment.history')
            self.assertEqual(History.search([]), [])
