"""Who may use the integrations: model grants, record rules and the
groups of the wizards."""
import unittest

from trytond.modules.company.tests import create_company
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction

from .tools import (
    ACCOUNTANT, ADMIN, BILLING, GROUPS, METERING, SERVICE, as_user, user)

MODES = {'r': 'read', 'w': 'write', 'c': 'create', 'd': 'delete'}
MATRIX = {
    'utility.meter.data.source': {ADMIN: 'rwcd', METERING: 'rw'},
    }
WIZARDS = {
    'wizard_green_button_agreement': {SERVICE, BILLING, ADMIN},
    'wizard_green_button_party': {SERVICE, BILLING, ADMIN},
    'wizard_ledger_export': {ACCOUNTANT},
    }


class AccessTestCase(unittest.TestCase):
    "Integration access rights"

    @classmethod
    def setUpClass(cls):
        activate_module('utility_integration')

    @with_transaction()
    def test_matrix(self):
        "Every group gets exactly its grants"
        pool = Pool()
        Access = pool.get('ir.model.access')
        company = create_company()
        users = {g: user(company, g) for g in GROUPS}
        users[None] = user(company)
        for model, grants in MATRIX.items():
            for group, user_ in users.items():
                allowed = grants.get(group, '')
                with Transaction().set_user(user_.id), \
                        Transaction().set_context(_check_access=True):
                    for letter, mode in MODES.items():
                        with self.subTest(model=model, group=group,
                                mode=mode):
                            self.assertEqual(
                                Access.check(model, mode,
                                    raise_exception=False),
                                letter in allowed)

    @with_transaction()
    def test_wizard_groups(self):
        "Each wizard is offered to its groups only"
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        ActionWizard = pool.get('ir.action.wizard')
        for xml_id, groups in WIZARDS.items():
            action = ActionWizard(ModelData.get_id(
                    'utility_integration', xml_id))
            self.assertEqual({g.id for g in action.groups},
                {ModelData.get_id(*g.split('.')) for g in groups}, xml_id)

    @with_transaction()
    def test_provider_rule(self):
        "A provider's sources are invisible to another provider's staff"
        Source = Pool().get('utility.meter.data.source')
        mine = create_company()
        theirs = create_company(name="Other Utility")
        source, = Source.create([{'company': theirs.id, 'name': "Theirs",
                    'wsdl': 'http://127.0.0.1:9/?wsdl'}])
        with as_user(user(mine, ADMIN)):
            self.assertEqual(Source.search([]), [])
        with as_user(user(theirs, ADMIN)):
            self.assertEqual(Source.search([]), [source])
