import unittest

from trytond.modules.company.tests import (
    CompanyTestMixin, PartyCompanyCheckEraseMixin)
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    ModuleTestCase, activate_module, drop_db, with_transaction)

from . import tools  # noqa: F401 (faster import_module)


class UtilityPrivacyTestCase(
        PartyCompanyCheckEraseMixin, CompanyTestMixin, ModuleTestCase):
    "Test Utility Privacy module"
    module = 'utility_privacy'

    @property
    def _skip_company_rule(self):
        # Purposes without a provider are shared by every provider: their
        # rule also lets company = None through.
        return super()._skip_company_rule | {
            ('utility.privacy.purpose', 'company')}


class WithoutNotificationTestCase(unittest.TestCase):
    "Without utility_notification (extras_depend) nothing asks for it"

    @classmethod
    def setUpClass(cls):
        # Not the database of a class before, which may have more modules.
        drop_db()
        activate_module('utility_privacy')

    @with_transaction()
    def test_export_and_erase(self):
        "The export and the erasure leave its models out"
        pool = Pool()
        Party = pool.get('party.party')
        Export = pool.get('utility.privacy.export')
        Erase = pool.get('party.erase', type='wizard')
        self.assertNotIn('utility.notification',
            {n for n, _ in pool.iterobject()})
        party, = Party.create([{'name': "Ned"}])
        data = Export.collect(party)
        self.assertEqual(list(data), [k for k, _ in Export.kinds()])
        self.assertNotIn('notifications', data)
        self.assertEqual(data['party'][0]['name'], "Ned")
        self.assertNotIn('quiet_hours_from', data['party'][0])
        session_id, _, _ = Erase.create()
        erase = Erase(session_id)
        models = {m.__name__ for m, *_ in erase.to_erase(party.id)}
        self.assertIn('utility.care.email', models)
        self.assertNotIn('utility.notification', models)
        Erase.delete(session_id)


del ModuleTestCase
