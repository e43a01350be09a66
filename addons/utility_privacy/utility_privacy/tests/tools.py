"""Data shared by the privacy tests: two providers with billed customers,
built once per run and committed (activate_fixture)"""
import datetime as dt
import functools

import trytond.tools.misc
from trytond.modules.company.tests import set_company
from trytond.pool import Pool
from trytond.transaction import Transaction

from utility_billing.tests.tools import (
    accounting_fixture, create_customer, create_cycle, create_plan,
    create_products, pay_invoice, provider, read, setup_accounting)

# 8.0 looks entry points up on every import_module call (slow tests).
trytond.tools.misc.import_module = functools.cache(
    trytond.tools.misc.import_module)

# The provider of most tests (utility_billing's fixture) and another one
OURS = 'Dunder Mifflin'
THEIRS = 'Shelbyville Water'
# Customers 1 to 3 are OURS's, customer 4 THEIRS's; each is billed for
# January 2024 (posted, unpaid) and has a portal login.
CUSTOMERS = {OURS: [1, 2, 3], THEIRS: [4]}
PASSWORD = 'Meter-Reading-7xQ'
PHONE = '+15550199'


def email(index):
    return 'customer%s@example.com' % index


def privacy_fixture():
    "Both providers, their rates, their customers billed (committed)"
    pool = Pool()
    Run = pool.get('utility.bill.run')
    Party = pool.get('party.party')
    User = pool.get('web.user')
    Journal = pool.get('account.payment.journal')
    accounting_fixture()
    for name, indexes in CUSTOMERS.items():
        company = provider(name)
        # Bill runs are back-dated: their past-due-date warning is skipped.
        with set_company(company), Transaction().set_context(
                bill_run_inline=True, _skip_warnings=True):
            revenue, tax = setup_accounting(company)
            plan = create_plan(company, create_products(revenue, tax))
            cycle = create_cycle(company)
            Journal.create([{'name': "Manual", 'company': company.id,
                        'currency': company.currency.id,
                        'process_method': 'manual'}])
            for index in indexes:
                agreement, meter = create_customer(company, index, plan,
                    cycle, serial='M%s' % index)
                party = agreement.party
                Party.write([party], {'contact_mechanisms': [('create', [
                                    {'type': 'email', 'value': email(index)},
                                    {'type': 'phone', 'value': PHONE}])]})
                # A previous occupant's reading is not this customer's.
                read(meter, dt.datetime(2023, 12, 5), 900)
                read(meter, dt.datetime(2024, 1, 1), 1000)
                read(meter, dt.datetime(2024, 2, 1), 1742)
                users = User.create([{'email': email(index),
                            'party': party.id, 'email_valid': True}])
                User.write(users, {'password': PASSWORD})
            run = Run(company=company, cycle=cycle,
                period_end=dt.date(2024, 1, 31),
                invoice_date=dt.date(2024, 2, 1))
            run.save()
            Run.preview([run])
            Run.process([run])


def customer(index):
    "(agreement, bill) of the fixture's customer index"
    pool = Pool()
    Agreement = pool.get('utility.service.agreement')
    Bill = pool.get('utility.bill')
    agreement, = Agreement.search([('party.name', '=', 'Customer %s' % index)])
    bill, = Bill.search([('agreement', '=', agreement.id)])
    return agreement, bill


def web_user(party):
    User = Pool().get('web.user')
    user, = User.search([('party', '=', party.id)])
    return user


def in_company(func):
    "Run the test in OURS, bill runs inline"
    @functools.wraps(func)
    def wrapper(self):
        self.company = provider(OURS)
        with set_company(self.company), Transaction().set_context(
                bill_run_inline=True, _skip_warnings=True):
            return func(self)
    return wrapper


def pay(bill):
    "Pay the bill's invoice and record a succeeded manual payment"
    pool = Pool()
    Journal = pool.get('account.payment.journal')
    Payment = pool.get('account.payment')
    Group = pool.get('account.payment.group')
    invoice = pay_invoice(bill.invoice, dt.date(2024, 2, 10))
    journal, = Journal.search([('company', '=', bill.company.id)])
    payment = Payment(company=bill.company, journal=journal, kind='receivable',
        party=bill.party, amount=invoice.total_amount,
        date=dt.date(2024, 2, 10), reference="Cheque 1001")
    payment.save()
    # Receivable payments skip approval; manual ones go in a group.
    Payment.submit([payment])

    def group():
        group = Group(company=bill.company, journal=journal,
            kind='receivable')
        group.save()
        return group
    Payment.process([payment], group)
    Payment.succeed([payment])
    return invoice, payment


def close(agreement, end=dt.date(2024, 1, 31)):
    Agreement = Pool().get('utility.service.agreement')
    Agreement.write([agreement], {'end_date': end})
    Agreement.close([agreement])


def dispute(agreement, bill, **values):
    "A billing dispute with a customer message and an internal note"
    Request = Pool().get('utility.service.request')
    request, = Request.create([{
                'company': agreement.company.id,
                'party': agreement.party.id,
                'agreement': agreement.id,
                'bill': bill.id,
                'kind': 'billing_dispute',
                'subject': "Bill too high for 1 Main St",
                'messages': [('create', [{
                                'author': 'customer',
                                'body': "Call me on +1 555 0199"}, {
                                'author': 'staff',
                                'internal': True,
                                'body': "Customer sounded upset"}])],
                **values}])
    return request


def notify(agreement, bill, message="Your card ending 4242 was declined"):
    Notification = Pool().get('utility.payment.notification')
    notification, = Notification.create([{
                'company': agreement.company.id,
                'party': agreement.party.id,
                'agreement': agreement.id,
                'bill': bill.id,
                'kind': 'autopay_failed',
                'message': message,
                }])
    return notification


def user(company, *groups, login=None):
    "A back-office user of company in groups (xml ids)"
    pool = Pool()
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    user, = User.create([{
                'login': login or 'user%s' % len(User.search([])),
                'companies': [('add', [company.id])],
                'company': company.id,
                'groups': [('add', [ModelData.get_id(*g.split('.'))
                            for g in groups])],
                }])
    return user


def as_user(user, company):
    "The context managers to act as user in company, access checked"
    return (Transaction().set_user(user.id),
        Transaction().set_context(_check_access=True,
            company=company.id, companies=[company.id]))

