import os
import re

from trytond.modules.company.tests import CompanyTestMixin
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction


class UtilityNotificationTestCase(CompanyTestMixin, ModuleTestCase):
    "Test Utility Notification module"
    module = 'utility_notification'
    extras = ['utility_portal', 'utility_care']

    @property
    def _skip_company_rule(self):
        # The default notification templates are every provider's (no
        # company): their global rule lets those through (access.xml).
        return super()._skip_company_rule | {
            ('ir.email.template', 'utility_company')}

    @with_transaction()
    def test_portal_messages_defined(self):
        "Every text the portal pages ask for is ours or the portal's"
        ModelData = Pool().get('ir.model.data')
        here = os.path.dirname(os.path.dirname(__file__))
        keys = set()
        for path in [os.path.join(here, 'portal.py')] + [
                os.path.join(here, 'templates', n)
                for n in os.listdir(os.path.join(here, 'templates'))]:
            with open(path) as fp:
                keys |= set(re.findall(r"'(msg_[a-z0-9_]+)'", fp.read()))
        self.assertIn('msg_notifications_none', keys)
        for key in sorted(keys):
            module = ('utility_notification'
                if key.startswith('msg_notifications') else 'utility_portal')
            with self.subTest(key=key):
                self.assertTrue(ModelData.get_id(module, key))


del ModuleTestCase
