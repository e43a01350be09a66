import datetime as dt
import functools
import unittest
from decimal import Decimal

import trytond.tools.misc
from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import (
    CompanyTestMixin, create_company, create_employee, set_company)
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    ModuleTestCase, with_transaction)
from trytond.transaction import Transaction
from utility_billing.tests.tools import (
    accounting_fixture, create_customer, create_cycle, create_payment_term,
    create_plan, create_products, provider, read, setup_accounting,
    setup_dunning)
from utility_metering.tests.activation import activate_fixture

# 8.0 looks entry points up on every import_module call (slow tests).
trytond.tools.misc.import_module = functools.cache(
    trytond.tools.misc.import_module)

DUE = dt.date(2024, 2, 15)


def day(n):
    return DUE + dt.timedelta(days=n)


class UtilityCareTestCase(CompanyTestMixin, ModuleTestCase):
    "Test Utility Care module"
    module = 'utility_care'


class CareTestCase(unittest.TestCase):
    "Service requests: SLA, internal notes, disputes, moves"

    @classmethod
    def setUpClass(cls):
        activate_fixture(cls, 'utility_care', accounting_fixture)

    def setup(self, dunning=False):
        company = self.company
        revenue, tax = setup_accounting(company)
        products = create_products(revenue, tax)
        self.plan = create_plan(company, products)
        self.cycle = create_cycle(company)
        self.term = create_payment_term(14)
        if dunning:
            setup_dunning(company, revenue)

    def bill(self, index=1):
        "January 2024 billed to a new customer, due on DUE"
        pool = Pool()
        Run = pool.get('utility.bill.run')
        Bill = pool.get('utility.bill')
        agreement, meter = create_customer(self.company, index, self.plan,
            self.cycle, serial='M%s-%s' % (self.company.id, index))
        party = agreement.party
        party.customer_payment_term = self.term
        party.save()
        read(meter, dt.datetime(2024, 1, 1), 1000)
        read(meter, dt.datetime(2024, 2, 1), 1742)
        run = Run(company=self.company, cycle=self.cycle,
            period_end=dt.date(2024, 1, 31),
            invoice_date=dt.date(2024, 2, 1))
        run.save()
        Run.preview([run])
        with Transaction().set_context(
                _skip_warnings=True, bill_run_inline=True):
            Run.process([run])
        bill, = Bill.search([('agreement', '=', agreement.id)])
        self.assertEqual(bill.invoice.state, 'posted')
        return agreement, meter, bill

    def request(self, agreement, kind='billing_dispute', bill=None,
            **values):
        Request = Pool().get('utility.service.request')
        request, = Request.create([{
                    'company': self.company.id,
                    'party': agreement.party.id,
                    'agreement': agreement.id,
                    'bill': bill.id if bill else None,
                    'kind': kind,
                    'subject': "Too high",
                    'messages': [('create', [{
                                    'author': 'customer',
                                    'body': "My bill is too high"}])],
                    **values}])
        return request

    def in_company(func):
        @functools.wraps(func)
        def wrapper(self):
            self.company = provider()
            with set_company(self.company):
                return func(self)
        return wrapper

    @with_transaction()
    @in_company
    def test_sla_deadline_overdue(self):
        "The SLA of kind and priority sets the deadline; overdue searches"
        pool = Pool()
        SLA = pool.get('utility.care.sla')
        Team = pool.get('utility.care.team')
        Request = pool.get('utility.service.request')
        self.setup()
        employee = create_employee(self.company)
        team = Team(name="Billing desk", members=[employee])
        team.save()
        SLA.create([
                {'kind': 'billing_dispute', 'priority': 'normal',
                    'hours': 48, 'team': team.id},
                {'kind': 'billing_dispute', 'priority': 'urgent',
                    'hours': 4},
                ])
        agreement, meter = create_customer(self.company, 1, self.plan,
            self.cycle)
        before = dt.datetime.now()
        normal = self.request(agreement)
        urgent = self.request(agreement, priority='urgent',
            channel='phone')
        other = self.request(agreement, kind='service_issue')
        self.assertEqual(normal.state, 'new')
        self.assertEqual(normal.channel, 'phone')
        self.assertEqual(normal.team, team)
        self.assertEqual(normal.service_point, agreement.service_point)
        self.assertAlmostEqual(normal.deadline - before,
            dt.timedelta(hours=48), delta=dt.timedelta(minutes=1))
        self.assertAlmostEqual(urgent.deadline - before,
            dt.timedelta(hours=4), delta=dt.timedelta(minutes=1))
        self.assertIsNone(other.deadline)
        self.assertFalse(urgent.overdue)
        self.assertEqual(Request.search([('overdue', '=', True)]), [])

        # Five hours later the urgent one is late
        Request.write([urgent], {
                'deadline': dt.datetime.now() - dt.timedelta(hours=1)})
        self.assertTrue(Request(urgent.id).overdue)
        self.assertEqual(Request.search([('overdue', '=', True)]), [urgent])
        self.assertEqual(set(Request.search([('overdue', '=', False)])),
            {normal, other})
        # Waiting on the customer stops the clock
        Request.wait([urgent])
        self.assertEqual(Request.search([('overdue', '=', True)]), [])
        # A customer's answer puts it back in progress
        Message = pool.get('utility.service.request.message')
        Message.create([{'request': urgent.id, 'author': 'customer',
                    'body': "Here is my reading"}])
        self.assertEqual(Request(urgent.id).state, 'in_progress')
        self.assertEqual(Request.search([('overdue', '=', True)]), [urgent])

        # My requests
        Request.write([normal], {'employee': employee.id})
        with Transaction().set_context(employee=employee.id):
            self.assertEqual(Request.search([('mine', '=', True)]),
                [normal])

    @with_transaction()
    @in_company
    def test_internal_note_hidden(self):
        "The portal's query of the conversation leaves internal notes out"
        pool = Pool()
        Request = pool.get('utility.service.request')
        Message = pool.get('utility.service.request.message')
        self.setup()
        agreement, meter = create_customer(self.company, 1, self.plan,
            self.cycle)
        request = self.request(agreement, kind='service_issue')
        Message.create([
                {'request': request.id, 'body': "Crew sent",
                    'author': 'staff'},
                {'request': request.id, 'body': "Customer was rude",
                    'author': 'staff', 'internal': True},
                ])
        # As the portal reads it (utility_portal.routes.request_detail)
        portal_request, = Request.search([
                ('id', '=', request.id),
                ('party', 'in', [agreement.party.id]),
                ], limit=1)
        self.assertEqual([m.body for m in portal_request.messages],
            ["My bill is too high", "Crew sent"])
        # The back office reads the whole conversation
        self.assertEqual([m.body for m in portal_request.conversation],
            ["My bill is too high", "Crew sent", "Customer was rude"])
        self.assertEqual(
            list(Request.read([request.id], ['messages'])[0]['messages']),
            [m.id for m in portal_request.messages])

    @with_transaction()
    @in_company
    def test_dispute_pauses_dunning(self):
        "An open dispute pauses the invoice's dunning; resolution resumes it"
        pool = Pool()
        Dunning = pool.get('account.dunning')
        Request = pool.get('utility.service.request')
        self.setup(dunning=True)
        agreement, meter, bill = self.bill(1)
        agreement2, meter2, bill2 = self.bill(2)
        line, = bill.invoice.lines_to_pay
        line2, = bill2.invoice.lines_to_pay

        def dunning(line):
            with Transaction().set_context(active_test=False):
                dunnings = Dunning.search([('line', '=', line.id)])
            return dunnings[0] if dunnings else None

        # Disputed before it is overdue: no dunning at all
        request = self.request(agreement, bill=bill)
        Dunning.utility_process_dunnings(day(1))
        self.assertIsNone(dunning(line))
        self.assertEqual(dunning(line2).utility_notice, 'reminder')

        # Disputed while dunned: blocked, no late fee
        request2 = self.request(agreement2, bill=bill2)
        self.assertTrue(dunning(line2).blocked)
        self.assertEqual(dunning(line2).utility_dispute, request2)
        Dunning.utility_process_dunnings(day(15))
        self.assertIsNone(dunning(line))
        self.assertEqual(dunning(line2).utility_notice, 'reminder')

        # Resolved: dunning goes on
        Request.reject([request, request2], "The reading is right.")
        self.assertEqual(Request(request.id).state, 'resolved')
        self.assertEqual(Request(request.id).messages[-1].body,
            "The reading is right.")
        self.assertFalse(dunning(line2).blocked)
        Dunning.utility_process_dunnings(day(15))
        # A new dunning starts at the first level
        self.assertEqual(dunning(line).utility_notice, 'reminder')
        self.assertEqual(dunning(line2).utility_notice, 'late_fee')

        # Reopened by the customer: paused again
        Message = pool.get('utility.service.request.message')
        Message.create([{'request': request.id, 'author': 'customer',
                    'body': "No it is not"}])
        self.assertEqual(Request(request.id).state, 'in_progress')
        self.assertTrue(dunning(line).blocked)
        Dunning.utility_process_dunnings(day(30))
        self.assertEqual(dunning(line).utility_notice, 'reminder')
        self.assertEqual(dunning(line2).utility_notice, 'final_notice')

    @with_transaction()
    @in_company
    def test_credit_note_resolution(self):
        "A credit note of an agreed amount reduces the amount to pay"
        pool = Pool()
        Invoice = pool.get('account.invoice')
        self.setup()
        agreement, meter, bill = self.bill()
        invoice = bill.invoice
        self.assertEqual(invoice.amount_to_pay, Decimal('117.08'))
        request = self.request(agreement, bill=bill)
        credit = request.adjust(Decimal('10.00'))
        self.assertEqual(credit.state, 'posted')
        # 10.00 and the line's 20 % tax
        self.assertEqual(credit.total_amount, Decimal('-12.00'))
        self.assertEqual(Invoice(invoice.id).amount_to_pay,
            Decimal('105.08'))
        request = request.__class__(request.id)
        self.assertEqual(request.state, 'resolved')
        self.assertEqual(request.resolution, 'credited')
        self.assertEqual(request.credit_note, credit)
        self.assertIn('12.00', request.messages[-1].body)

    @with_transaction()
    @in_company
    def test_rebill_resolution(self):
        "A corrected reading rebills the disputed bill"
        pool = Pool()
        Reading = pool.get('utility.meter.reading')
        self.setup()
        agreement, meter, bill = self.bill()
        request = self.request(agreement, bill=bill)
        wrong, = Reading.search([('meter', '=', meter.id),
                ('value', '=', Decimal(1742))])
        correction = Reading(meter=meter, company=self.company,
            date_time=wrong.date_time, value=Decimal(1500), corrects=wrong)
        correction.save()
        Reading.validate_reading([correction])
        new_bill = request.rebill_bill()
        self.assertEqual(new_bill.replaces, bill)
        bill = bill.__class__(bill.id)
        self.assertEqual(bill.state, 'credited')
        self.assertEqual(new_bill.consumption, Decimal(500))
        self.assertLess(new_bill.total_amount, bill.invoice.total_amount)
        request = request.__class__(request.id)
        self.assertEqual(request.resolution, 'rebilled')
        self.assertEqual(request.new_bill, new_bill)
        self.assertEqual(request.state, 'resolved')

    @with_transaction()
    @in_company
    def test_move_out(self):
        "Move out: final reading, final bill, the next occupant's agreement"
        pool = Pool()
        Party = pool.get('party.party')
        Bill = pool.get('utility.bill')
        from utility_care.move import move
        self.setup()
        agreement, meter, bill = self.bill()
        request = self.request(agreement, kind='move_out',
            requested_date=dt.date(2024, 2, 10))
        newcomer, = Party.create([{'name': "Newcomer",
                    'addresses': [('create', [{'street': "1 Main St"}])]}])
        bills, new = move(request, agreement, dt.date(2024, 2, 10), 1900,
            new_party=newcomer)
        final, = bills
        self.assertEqual((final.period_start, final.period_end),
            (dt.date(2024, 2, 1), dt.date(2024, 2, 10)))
        self.assertEqual(final.consumption, Decimal(158))
        self.assertEqual(final.invoice.state, 'posted')
        self.assertEqual(agreement.state, 'closed')
        self.assertEqual(agreement.end_date, dt.date(2024, 2, 10))
        self.assertEqual(new.state, 'active')
        self.assertEqual(new.party, newcomer)
        self.assertEqual(new.start_date, dt.date(2024, 2, 11))
        self.assertEqual(new.service_point, agreement.service_point)
        self.assertEqual(new.next_period(),
            (dt.date(2024, 2, 11), dt.date(2024, 2, 29)))
        self.assertEqual(request.state, 'resolved')
        self.assertEqual(request.new_agreement, new)
        self.assertEqual(request.new_bill, final)
        # The newcomer's first month starts at the final reading
        read(meter, dt.datetime(2024, 3, 1), 2000)
        self.assertEqual(Bill.search([('agreement', '=', new.id)]), [])

    @with_transaction()
    def test_access(self):
        "Customer service works its provider's requests; set-up is admin's"
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        Request = pool.get('utility.service.request')
        Message = pool.get('utility.service.request.message')
        Team = pool.get('utility.care.team')
        SLA = pool.get('utility.care.sla')
        company_a = create_company()
        company_b = create_company(name="Other Provider")
        with set_company(company_a):
            self.company = company_a
            self.setup()
            agreement, _ = create_customer(company_a, 1, self.plan,
                self.cycle)
            request_a = self.request(agreement, kind='service_issue')
            Team.create([{'name': "A desk"}])

        def user(company, group):
            user = User(login='care%s' % len(User.search([])),
                companies=[company], company=company,
                groups=[ModelData.get_id(*group.split('.'))])
            user.save()
            return user

        service_b = user(company_b, 'utility_billing.group_customer_service')
        service_a = user(company_a, 'utility_billing.group_customer_service')
        billing_a = user(company_a, 'utility_billing.group_billing')
        nobody = user(company_a, 'res.group_admin')

        with Transaction().set_user(service_b.id), \
                Transaction().set_context(company=company_b.id,
                    companies=[company_b.id], _check_access=True):
            self.assertEqual(Request.search([]), [])
            self.assertEqual(Message.search([]), [])
            self.assertEqual(Team.search([]), [])
            with self.assertRaises(AccessError):
                Request.read([request_a.id], ['subject'])

        with Transaction().set_user(service_a.id), \
                Transaction().set_context(company=company_a.id,
                    companies=[company_a.id], _check_access=True):
            self.assertEqual(Request.search([]), [request_a])
            Request.write([request_a], {'priority': 'high'})
            Message.create([{'request': request_a.id, 'body': "Note",
                        'internal': True}])
            self.assertEqual(len(Team.search([])), 1)
            with self.assertRaises(AccessError):
                Team.create([{'name': "Mine"}])
            with self.assertRaises(AccessError):
                SLA.create([{'kind': 'service_issue', 'priority': 'low',
                            'hours': 1}])
            with self.assertRaises(AccessError):
                Request.delete([request_a])

        with Transaction().set_user(billing_a.id), \
                Transaction().set_context(company=company_a.id,
                    companies=[company_a.id], _check_access=True):
            self.assertEqual(Request.search([]), [request_a])
            with self.assertRaises(AccessError):
                Team.write(Team.search([]), {'name': "Renamed"})

        with Transaction().set_user(nobody.id), \
                Transaction().set_context(company=company_a.id,
                    companies=[company_a.id], _check_access=True):
            with self.assertRaises(AccessError):
                Request.search([])


del ModuleTestCase
