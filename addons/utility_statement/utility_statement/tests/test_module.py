from trytond.modules.company.tests import CompanyTestMixin
from trytond.tests.test_tryton import ModuleTestCase


class UtilityStatementTestCase(CompanyTestMixin, ModuleTestCase):
    "Test Utility Statement module"
    module = 'utility_statement'
    extras = ['account_statement_rule']


del ModuleTestCase
