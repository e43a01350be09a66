from trytond.modules.company.tests import CompanyTestMixin
from trytond.tests.test_tryton import ModuleTestCase


class UtilityNotificationTestCase(CompanyTestMixin, ModuleTestCase):
    "Test Utility Notification module"
    module = 'utility_notification'
    extras = ['utility_portal', 'utility_care']


del ModuleTestCase
