import datetime as dt
import unittest
from decimal import Decimal

from trytond.exceptions import UserError
from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction

from utility_billing.tests.tools import (
    create_customer, create_cycle, create_plan, create_products, read,
    setup_accounting)

D = Decimal
# January 2024 use per customer (kWh) and their party categories.
CUSTOMERS = {
    1: (742, ['Residential']),
    2: (400, []),
    3: (1000, ['Residential', 'Commercial']),
    }


def setup_billed(company):
    """The tools' plan (0.40/day, 600 kWh/month at 0.11 then 0.135) billed
    for January 2024 to three customers, and a proposed version from 2025
    (0.50/day, 0.12 per kWh)"""
    pool = Pool()
    Run = pool.get('utility.bill.run')
    Category = pool.get('party.category')
    Version = pool.get('utility.rate.version')
    revenue, tax = setup_accounting(company)
    products = create_products(revenue, tax)
    plan = create_plan(company, products)
    other = create_plan(company, products, name='Other')
    cycle = create_cycle(company)
    categories = {}
    for index, (use, names) in CUSTOMERS.items():
        agreement, meter = create_customer(company, index, plan, cycle)
        for name in names:
            if name not in categories:
                categories[name] = Category(name=name)
                categories[name].save()
        agreement.party.categories = [categories[n] for n in names]
        agreement.party.save()
        read(meter, dt.datetime(2024, 1, 1), 1000)
        read(meter, dt.datetime(2024, 2, 1), 1000 + use)
    run = Run(company=company, cycle=cycle,
        period_end=dt.date(2024, 1, 31), invoice_date=dt.date(2024, 2, 1))
    run.save()
    Run.preview([run])
    with Transaction().set_context(_skip_warnings=True, bill_run_inline=True):
        Run.process([run])
    proposed, = Version.create([{
                'plan': plan.id,
                'name': 'Proposed 2025',
                'start_date': dt.date(2025, 1, 1),
                'components': [('create', [{
                                'sequence': 1, 'code': 'customer',
                                'name': "Customer charge", 'kind': 'fixed',
                                'per': 'day', 'price': D('0.50'),
                                'product': products['fixed'].id,
                                }, {
                                'sequence': 2, 'code': 'energy',
                                'name': "Energy", 'kind': 'variable',
                                'price': D('0.12'),
                                'product': products['energy'].id,
                                }])],
                }])
    return plan, other, proposed


class RateImpactTestCase(unittest.TestCase):
    "Rate change impact on known bills"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('utility_reporting')

    @with_transaction()
    def test_impact(self):
        "revenue now and proposed, bill change quartiles per class"
        pool = Pool()
        Bill = pool.get('utility.bill')
        RateImpact = pool.get('utility.reporting.rate_impact',
            type='wizard')
        company = create_company()
        with set_company(company):
            plan, other, proposed = setup_billed(company)
            bills = Bill.search([])
            self.assertEqual(len(bills), 3)
            # Billed: 31 × 0.40 plus the blocks.
            self.assertEqual(sorted(b.invoice.untaxed_amount for b in bills),
                [D('56.40'), D('97.57'), D('132.40')])

            result = RateImpact.simulate(plan, proposed, dt.date(2024, 12, 31))
            self.assertEqual(result['start_date'], dt.date(2024, 1, 1))
            self.assertEqual(result['bills'], 3)
            self.assertEqual(result['current_revenue'], D('286.37'))
            # 31 × 0.50 + 742, 400 and 1000 × 0.12
            self.assertEqual(result['proposed_revenue'], D('303.54'))
            self.assertEqual(result['revenue_change'], D('17.17'))
            self.assertEqual(result['revenue_change_percent'], D('6.00'))
            classes = {c['customer_class']: c for c in result['classes']}
            self.assertEqual(set(classes), {
                    'All customers', 'Residential', 'Commercial',
                    'No class'})

            def figures(name):
                c = classes[name]
                return [c[n] for n in ['customers', 'bills',
                        'current_revenue', 'proposed_revenue',
                        'min', 'p25', 'median', 'p75', 'max']]
            # Bill changes: 6.97, 7.10 and 3.10.
            self.assertEqual(figures('All customers'), [3, 3,
                    D('286.37'), D('303.54'),
                    D('3.10'), D('5.04'), D('6.97'), D('7.04'), D('7.10')])
            self.assertEqual(figures('Residential'), [2, 2,
                    D('229.97'), D('240.04'),
                    D('3.10'), D('4.07'), D('5.04'), D('6.00'), D('6.97')])
            self.assertEqual(figures('Commercial'), [1, 1,
                    D('132.40'), D('135.50')] + [D('3.10')] * 5)
            self.assertEqual(figures('No class'), [1, 1,
                    D('56.40'), D('63.50')] + [D('7.10')] * 5)

            with self.subTest("through the wizard"):
                session_id, _, _ = RateImpact.create()
                # As root: the action's groups are tested in test_access.
                with Transaction().set_user(0):
                    values = RateImpact.execute(session_id, {
                            'start': {
                                'company': company.id,
                                'plan': plan.id,
                                'version': proposed.id,
                                'date': dt.date(2024, 12, 31),
                                }}, 'result')
                defaults = values['view']['defaults']
                self.assertEqual(defaults['proposed_revenue'], D('303.54'))
                self.assertEqual(len(defaults['classes']), 4)
                RateImpact.delete(session_id)

            with self.subTest("bad input"):
                other_version, = other.versions
                with self.assertRaises(UserError) as cm:
                    RateImpact.simulate(plan, other_version,
                        dt.date(2024, 12, 31))
                self.assertIn(other_version.rec_name, cm.exception.message)
                with self.assertRaises(UserError) as cm:
                    RateImpact.simulate(plan, proposed, dt.date(2023, 12, 31))
                self.assertIn(plan.rec_name, cm.exception.message)
                # A twelve-month window that misses January 2024.
                with self.assertRaises(UserError):
                    RateImpact.simulate(plan, proposed, dt.date(2025, 2, 1))

    @with_transaction()
    def test_access(self):
        "only billing, administrators and accountants run the simulator"
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        RateImpact = pool.get('utility.reporting.rate_impact',
            type='wizard')
        company = create_company()
        stranger, billing = User.create([{
                    'name': "Stranger", 'login': 'stranger',
                    'companies': [('add', [company.id])],
                    'company': company.id,
                    }, {
                    'name': "Biller", 'login': 'biller',
                    'companies': [('add', [company.id])],
                    'company': company.id,
                    'groups': [('add', [ModelData.get_id(
                                    'utility_billing', 'group_billing')])],
                    }])
        action_id = ModelData.get_id('utility_reporting', 'wizard_rate_impact')
        with Transaction().set_user(stranger.id), \
                Transaction().set_context(action_id=action_id):
            with self.assertRaises(UserError):
                RateImpact.check_access()
        with Transaction().set_user(billing.id), \
                Transaction().set_context(action_id=action_id):
            RateImpact.check_access()
