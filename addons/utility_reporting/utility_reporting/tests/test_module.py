from trytond.modules.company.tests import CompanyTestMixin
from trytond.tests.test_tryton import ModuleTestCase


class UtilityReportingTestCase(CompanyTestMixin, ModuleTestCase):
    "Test Utility Reporting module"
    module = 'utility_reporting'


del ModuleTestCase
