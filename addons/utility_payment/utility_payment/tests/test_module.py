from trytond.tests.test_tryton import ModuleTestCase


class UtilityPaymentTestCase(ModuleTestCase):
    "Test Utility Payment module"
    module = 'utility_payment'
    extras = ['account_dunning']


del ModuleTestCase
