"""The README's "Who may do what" matrix, generated over every model of
MODULES (utility_privacy with all it depends on, and
utility_notification); the models of utility_reporting,
utility_statement, utility_integration, utility_ops and
account_payment_paypal are not activated here, so not walked.

The test walks every stored ``utility.*`` model of the activated modules
and every Tryton model one of our modules grants on (an ir.model.access
record from a utility_* module), and every group of the matrix, and
asserts read, write, create and delete against MATRIX: grants and
denials alike. A model missing from MATRIX, a MATRIX row whose model no
longer exists, and a ``utility.*`` model without any access record of
its own fail the test.

To see the rights in force (e.g. after adding a model), run it with
UTILITY_ACCESS_MATRIX_DUMP=1: it prints them as MATRIX rows.
"""
import os
import unittest

from trytond.model import ModelStorage
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction

from . import tools  # noqa: F401 (faster import_module)

# The modules whose models the matrix covers: utility_privacy and what it
# depends on (metering, billing, payment, portal, care), and
# utility_notification (privacy's other tests use the same modules).
MODULES = ['utility_privacy', 'utility_notification']
GROUPS = [
    ('admin', 'utility_metering.group_utility_admin'),
    ('billing', 'utility_billing.group_billing'),
    ('metering', 'utility_metering.group_metering'),
    ('service', 'utility_billing.group_customer_service'),
    ('accountant', 'account.group_account'),
    ('provider', 'utility_privacy.group_provider_manager'),
    # A back-office user in none of the groups above.
    ('other', None),
    ]
MODES = [('r', 'read'), ('w', 'write'), ('c', 'create'), ('d', 'delete')]
A = 'rwcd'

# model: (admin, billing, metering, service, accountant, provider, other)
MATRIX = {
    # utility_metering
    'utility.service.type': (A, 'r', 'r', 'r', 'r', 'r', ''),
    'utility.heat.factor': (A, 'r', 'r', 'r', 'r', '', ''),
    'utility.service.point': (A, 'r', A, 'r', 'r', '', ''),
    'utility.meter': (A, 'r', A, 'r', 'r', '', ''),
    'utility.meter.installation': (A, 'r', A, 'r', 'r', '', ''),
    'utility.meter.reading': (A, 'r', A, 'r', 'r', '', ''),
    'utility.consumption.alert': (A, 'r', A, 'r', 'r', '', ''),
    'utility.reading.route': (A, '', A, '', '', '', ''),
    'utility.supply.zone': (A, 'r', A, 'r', 'r', '', ''),
    'utility.supply.zone-utility.meter': (A, 'r', A, 'r', 'r', '', ''),
    'utility.supply.zone-utility.service.point': (
        A, 'r', A, 'r', 'r', '', ''),
    # utility_billing
    'utility.billing.configuration': (A, 'r', '', '', '', '', ''),
    'utility.billing.cycle': (A, A, '', 'r', 'r', 'r', ''),
    'utility.rate.plan': (A, A, '', 'r', 'r', A, ''),
    'utility.rate.version': (A, A, '', 'r', 'r', A, ''),
    'utility.rate.component': (A, A, '', 'r', 'r', A, ''),
    'utility.rate.block': (A, A, '', 'r', 'r', A, ''),
    'utility.rate.tou.period': (A, A, '', 'r', 'r', A, ''),
    'utility.rate.holiday': (A, A, '', 'r', 'r', A, ''),
    'utility.service.agreement': (A, A, '', 'rwc', 'r', '', ''),
    # Bills are never deleted: a wrong bill is credited and rebilled.
    'utility.bill': ('rwc', 'rwc', '', 'r', 'r', '', ''),
    'utility.bill-utility.meter.reading': (
        'rwc', 'rwc', '', 'r', 'r', '', ''),
    'utility.bill.run': (A, A, '', '', 'r', '', ''),
    'utility.bill.run.line': (A, A, '', '', 'r', '', ''),
    'account.dunning.procedure': (A, 'r', '', 'r', 'r', '', ''),
    'account.dunning.level': (A, 'r', '', 'r', 'r', '', ''),
    'account.dunning.fee': (A, 'r', '', 'r', 'r', '', ''),
    'account.dunning.fee.dunning_level': ('r', 'r', '', 'r', 'r', '', ''),
    # utility_payment
    'account.dunning': (A, 'rw', '', 'r', 'r', '', ''),
    'utility.payment.provider': (A, 'r', '', '', 'r', '', ''),
    'utility.payment.autopay.attempt': ('rw', 'rw', '', 'r', 'r', '', ''),
    'utility.payment.notification': ('rw', 'rw', '', 'r', '', '', ''),
    'utility.payment.history': ('r', 'r', '', 'r', 'r', '', ''),
    'account.payment.stripe.customer': (A, 'rwc', '', 'r', '', '', ''),
    # utility_portal and utility_care
    'utility.service.request': (A, 'rwc', '', 'rwc', '', '', ''),
    'utility.service.request.message': (A, 'rwc', '', 'rwc', '', '', ''),
    'utility.care.team': (A, 'r', '', 'r', '', '', ''),
    'utility.care.sla': (A, 'r', '', 'r', '', '', ''),
    'utility.care.team-company.employee': (A, 'r', '', 'r', '', '', ''),
    'utility.care.mailbox': (A, '', '', 'r', '', '', ''),
    'utility.care.email': (A, '', '', 'rc', '', '', ''),
    'utility.work.order': (A, 'r', 'rwc', 'rwc', '', '', ''),
    'utility.webhook.endpoint': (A, '', '', '', '', '', ''),
    'utility.webhook.delivery': ('rwd', '', '', 'r', '', '', ''),
    'sale.opportunity': (A, 'r', '', 'rwc', '', '', ''),
    # utility_notification
    'utility.notification': (A, 'r', '', 'r', '', '', ''),
    # Everybody reads Tryton's e-mail templates; a provider's utility
    # administrators write its notification templates (record rules).
    'ir.email.template': (A, 'r', 'r', 'r', 'r', 'r', 'r'),
    # The customer's, for every provider: no provider rule.
    'utility.notification.preference': (A, '', '', A, '', '', ''),
    # utility_privacy
    'utility.privacy.purpose': (A, 'r', 'r', 'r', 'r', '', ''),
    'utility.privacy.consent': (A, 'r', '', 'rwc', '', '', ''),
    'utility.privacy.erasure': (A, '', '', 'rwc', '', '', ''),
    'utility.privacy.retention': (A, '', '', 'r', '', '', ''),
    # Provider Manager on Tryton's company and party models: record rules
    # (test_provider_manager.py) keep it to its own providers' records.
    'company.company': ('r', 'r', 'r', 'r', 'r', 'rw', 'r'),
    'party.party': (A, A, A, A, A, A, A),
    'party.address': (A, A, A, A, A, A, A),
    'party.contact_mechanism': (A, A, A, A, A, A, A),
    }


def our_module(module):
    return module.startswith('utility_')


class AccessMatrixTestCase(unittest.TestCase):
    "Who may read, write, create and delete what, for every model"

    @classmethod
    def setUpClass(cls):
        activate_module(MODULES)

    def walked_models(self):
        """Stored utility.* models, and the Tryton models our modules
        grant on"""
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        Access = pool.get('ir.model.access')
        models = {name for name, Model in pool.iterobject()
            if name.startswith('utility.')
            and issubclass(Model, ModelStorage)}
        data = ModelData.search([('model', '=', 'ir.model.access')])
        accesses = Access.browse([d.db_id for d in data
                if our_module(d.module)])
        models |= {a.model for a in accesses}
        return models

    def users(self):
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        users = {}
        for column, xml_id in GROUPS:
            groups = ([ModelData.get_id(*xml_id.split('.'))]
                if xml_id else [])
            users[column], = User.create([{
                        'login': 'matrix_%s' % column,
                        'groups': [('add', groups)],
                        }])
        return users

    def rights(self, models, users):
        "{model: tuple of rights per GROUPS column} in force"
        Access = Pool().get('ir.model.access')
        result = {}
        for model in sorted(models):
            row = []
            for column, _ in GROUPS:
                with Transaction().set_user(users[column].id), \
                        Transaction().set_context(_check_access=True):
                    row.append(''.join(letter for letter, mode in MODES
                            if Access.check(model, mode,
                                raise_exception=False)))
            result[model] = tuple(row)
        return result

    @with_transaction()
    def test_matrix(self):
        "Every group gets exactly the matrix's rights on every model"
        models = self.walked_models()
        rights = self.rights(models, self.users())
        if os.environ.get('UTILITY_ACCESS_MATRIX_DUMP'):
            for model, row in rights.items():
                print('    %r: (%s),' % (model, ', '.join(
                            'A' if r == A else repr(r) for r in row)))
        self.assertEqual(sorted(models - set(MATRIX)), [],
            msg="models missing from MATRIX")
        self.assertEqual(sorted(set(MATRIX) - models), [],
            msg="MATRIX rows of models that are not walked")
        for model in sorted(models):
            for (column, _), expected, actual in zip(
                    GROUPS, MATRIX[model], rights[model]):
                with self.subTest(model=model, group=column):
                    self.assertEqual(''.join(sorted(actual, key=A.index)),
                        ''.join(sorted(expected, key=A.index)))

    @with_transaction()
    def test_every_model_has_access_records(self):
        "A utility model without an access record of its own fails"
        pool = Pool()
        Access = pool.get('ir.model.access')
        models = {m for m in self.walked_models()
            if m.startswith('utility.')}
        with_records = {a.model for a in Access.search([
                    ('model', 'in', list(models))])}
        missing = []
        for model in sorted(models - with_records):
            Model = pool.get(model)
            # Rights delegated to a parent (__access__) or a read-only
            # report over other tables (table_query) count as declared.
            if Model.__access__ or callable(
                    getattr(Model, 'table_query', None)):
                continue
            missing.append(model)
        self.assertEqual(missing, [])

    @with_transaction()
    def test_denial_raises(self):
        "A denied action raises an access error, whatever the entry point"
        from trytond.model.exceptions import AccessError
        pool = Pool()
        users = self.users()
        for model, row in sorted(MATRIX.items()):
            Model = pool.get(model)
            for (column, _), allowed in zip(GROUPS, row):
                if 'r' in allowed:
                    continue
                with Transaction().set_user(users[column].id), \
                        Transaction().set_context(_check_access=True):
                    with self.subTest(model=model, group=column):
                        with self.assertRaises(AccessError):
                            Model.search([], limit=1)
