from trytond.modules.company.tests import CompanyTestMixin
from trytond.tests.test_tryton import ModuleTestCase

from .tools import EXTRAS


class UtilityOpsTestCase(CompanyTestMixin, ModuleTestCase):
    "Test Utility Ops module"
    module = 'utility_ops'
    extras = EXTRAS


del ModuleTestCase
