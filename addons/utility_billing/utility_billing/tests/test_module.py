from trytond.modules.company.tests import CompanyTestMixin
from trytond.tests.test_tryton import ModuleTestCase


class UtilityBillingTestCase(CompanyTestMixin, ModuleTestCase):
    "Test Utility Billing module"
    module = 'utility_billing'


del ModuleTestCase
