from trytond.modules.company.tests import CompanyTestMixin
from trytond.tests.test_tryton import ModuleTestCase


class UtilityIntegrationTestCase(CompanyTestMixin, ModuleTestCase):
    "Test Utility Integration module"
    module = 'utility_integration'


del ModuleTestCase
