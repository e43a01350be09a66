"""The README's access matrix for billing records, grants and denials,
and provider isolation by record rules."""
import datetime as dt
import unittest

from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction

from .tools import (
    create_customer, create_cycle, create_plan, create_products,
    setup_accounting)

ADMIN = 'utility_metering.group_utility_admin'
BILLING = 'utility_billing.group_billing'
METERING = 'utility_metering.group_metering'
SERVICE = 'utility_billing.group_customer_service'
ACCOUNTANT = 'account.group_account'
GROUPS = [ADMIN, BILLING, METERING, SERVICE, ACCOUNTANT]

ALL = 'rwcd'
# model: {group: permissions}; a group not named has no access at all.
MATRIX = {
    'utility.billing.configuration': {ADMIN: ALL, BILLING: 'r'},
    'utility.billing.cycle': {
        ADMIN: ALL, BILLING: ALL, SERVICE: 'r', ACCOUNTANT: 'r'},
    'utility.rate.plan': {
        ADMIN: ALL, BILLING: ALL, SERVICE: 'r', ACCOUNTANT: 'r'},
    'utility.rate.version': {
        ADMIN: ALL, BILLING: ALL, SERVICE: 'r', ACCOUNTANT: 'r'},
    'utility.rate.component': {
        ADMIN: ALL, BILLING: ALL, SERVICE: 'r', ACCOUNTANT: 'r'},
    'utility.rate.block': {
        ADMIN: ALL, BILLING: ALL, SERVICE: 'r', ACCOUNTANT: 'r'},
    'utility.rate.tou.period': {
        ADMIN: ALL, BILLING: ALL, SERVICE: 'r', ACCOUNTANT: 'r'},
    'utility.rate.holiday': {
        ADMIN: ALL, BILLING: ALL, SERVICE: 'r', ACCOUNTANT: 'r'},
    'utility.service.agreement': {
        ADMIN: ALL, BILLING: ALL, SERVICE: 'rwc', ACCOUNTANT: 'r'},
    # Bills are never deleted: a wrong bill is credited and rebilled.
    'utility.bill': {
        ADMIN: 'rwc', BILLING: 'rwc', SERVICE: 'r', ACCOUNTANT: 'r'},
    'utility.bill.run': {ADMIN: ALL, BILLING: ALL, ACCOUNTANT: 'r'},
    'utility.bill.run.line': {ADMIN: ALL, BILLING: ALL, ACCOUNTANT: 'r'},
    # Metering records that billing staff read but never change.
    'utility.meter.reading': {
        ADMIN: ALL, METERING: ALL, BILLING: 'r', SERVICE: 'r',
        ACCOUNTANT: 'r'},
    'utility.service.point': {
        ADMIN: ALL, METERING: ALL, BILLING: 'r', SERVICE: 'r',
        ACCOUNTANT: 'r'},
    'utility.supply.zone': {
        ADMIN: ALL, METERING: ALL, BILLING: 'r', SERVICE: 'r',
        ACCOUNTANT: 'r'},
    'utility.supply.zone-utility.meter': {
        ADMIN: ALL, METERING: ALL, BILLING: 'r', SERVICE: 'r',
        ACCOUNTANT: 'r'},
    'utility.supply.zone-utility.service.point': {
        ADMIN: ALL, METERING: ALL, BILLING: 'r', SERVICE: 'r',
        ACCOUNTANT: 'r'},
    }
MODES = {'r': 'read', 'w': 'write', 'c': 'create', 'd': 'delete'}


class AccessTestCase(unittest.TestCase):
    "Who may read, write, create and delete billing records"

    @classmethod
    def setUpClass(cls):
        activate_module('utility_billing')

    def user(self, company, *groups):
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        user = User(login='user%s' % len(User.search([])),
            companies=[company], company=company,
            groups=[ModelData.get_id(*g.split('.')) for g in groups])
        user.save()
        return user

    @with_transaction()
    def test_matrix(self):
        "Every group gets exactly its grants on every billing model"
        pool = Pool()
        Access = pool.get('ir.model.access')
        company = create_company()
        users = {g: self.user(company, g) for g in GROUPS}
        users[None] = self.user(company)
        for model, grants in MATRIX.items():
            for group, user in users.items():
                allowed = grants.get(group, '')
                with Transaction().set_user(user.id), \
                        Transaction().set_context(_check_access=True):
                    for letter, mode in MODES.items():
                        with self.subTest(model=model, group=group,
                                mode=mode):
                            self.assertEqual(
                                Access.check(model, mode,
                                    raise_exception=False),
                                letter in allowed)

    @with_transaction()
    def test_denials_raise(self):
        "A denied action is refused with an access error, not ignored"
        pool = Pool()
        Run = pool.get('utility.bill.run')
        Agreement = pool.get('utility.service.agreement')
        Bill = pool.get('utility.bill')
        company = create_company()
        with set_company(company):
            revenue, tax = setup_accounting(company)
            plan = create_plan(company, create_products(revenue, tax))
            cycle = create_cycle(company)
            agreement, _ = create_customer(company, 1, plan, cycle)
        service = self.user(company, SERVICE)
        metering = self.user(company, METERING)
        with Transaction().set_user(service.id), Transaction().set_context(
                _check_access=True, company=company.id):
            # Customer service reads agreements but runs no bills.
            self.assertEqual(Agreement.search([]), [agreement])
            with self.assertRaises(AccessError):
                Run.create([{'company': company.id, 'cycle': cycle.id,
                            'period_end': dt.date(2024, 1, 31),
                            'invoice_date': dt.date(2024, 2, 1)}])
            with self.assertRaises(AccessError):
                Agreement.delete([agreement])
        with Transaction().set_user(metering.id), Transaction().set_context(
                _check_access=True, company=company.id):
            with self.assertRaises(AccessError):
                Agreement.search([])
            with self.assertRaises(AccessError):
                Bill.search([])

    @with_transaction()
    def test_provider_isolation(self):
        "Billing staff of one provider never see another provider's records"
        pool = Pool()
        Agreement = pool.get('utility.service.agreement')
        Plan = pool.get('utility.rate.plan')
        Cycle = pool.get('utility.billing.cycle')
        ours = create_company("Springfield Power")
        theirs = create_company("Shelbyville Water")
        records = {}
        for company in [ours, theirs]:
            with set_company(company):
                revenue, tax = setup_accounting(company)
                plan = create_plan(company, create_products(revenue, tax))
                cycle = create_cycle(company)
                agreement, _ = create_customer(company, company.id, plan,
                    cycle, serial='M%s' % company.id)
                records[company] = (agreement, plan, cycle)
        clerk = self.user(ours, BILLING)
        with Transaction().set_user(clerk.id), Transaction().set_context(
                _check_access=True, company=ours.id):
            agreement, plan, cycle = records[ours]
            self.assertEqual(Agreement.search([]), [agreement])
            self.assertEqual(Plan.search([]), [plan])
            self.assertEqual(Cycle.search([]), [cycle])
            other, _, _ = records[theirs]
            # Asking for the other provider's record by id is refused.
            with self.assertRaises(AccessError):
                Agreement.read([other.id], ['number'])
            with self.assertRaises(AccessError):
                Agreement.write([Agreement(other.id)], {'deposit': 0})
