"Data shared by the notification tests, built once per run"
import datetime as dt
import functools

from trytond.modules.company.tests import set_company
from trytond.pool import Pool
from trytond.transaction import Transaction

from utility_billing.tests.tools import (
    accounting_fixture, create_customer, create_cycle, create_payment_term,
    create_plan, create_products, provider, read, setup_accounting,
    setup_dunning)

from .smtp_server import smtp_server

# The bills of January 2024 are dated 1 February and due 14 days later.
DUE = dt.date(2024, 2, 15)
# Customer 1 and Customer 2, by e-mail address
EMAILS = ['jane@example.com', 'john@example.com']
# Their portal password
PASSWORD = 'correct horse battery'
ADMIN = 'utility_metering.group_utility_admin'
BILLING = 'utility_billing.group_billing'
SERVICE = 'utility_billing.group_customer_service'
METERING = 'utility_metering.group_metering'


def notification_fixture():
    """The billing tests' provider with its late-payment procedure and two
    customers with an e-mail address, each billed 117.08 for January 2024,
    due on DUE; with the portal, each has a web user (committed)"""
    pool = Pool()
    Run = pool.get('utility.bill.run')
    accounting_fixture()
    company = provider()
    # Bill runs are back-dated: their past-due-date warning is skipped.
    with set_company(company), Transaction().set_context(
            bill_run_inline=True, _skip_warnings=True):
        revenue, tax = setup_accounting(company)
        plan = create_plan(company, create_products(revenue, tax))
        cycle = create_cycle(company)
        term = create_payment_term(14)
        setup_dunning(company, revenue)
        parties = []
        for index, email in enumerate(EMAILS, 1):
            agreement, meter = create_customer(company, index, plan, cycle)
            party = agreement.party
            party.customer_payment_term = term
            party.contact_mechanisms = [{'type': 'email', 'value': email}]
            party.save()
            parties.append(party)
            read(meter, dt.datetime(2024, 1, 1), 1000)
            read(meter, dt.datetime(2024, 2, 1), 1742)
        run = Run(company=company, cycle=cycle,
            period_end=dt.date(2024, 1, 31), invoice_date=dt.date(2024, 2, 1))
        run.save()
        Run.preview([run])
        Run.process([run])
        try:
            User = pool.get('web.user')
        except KeyError:
            return
        users = User.create([{'email': email, 'party': party.id,
                    'email_valid': True}
                for email, party in zip(EMAILS, parties)])
        User.write(users, {'password': PASSWORD})


def bills():
    "The fixture's bills of Customer 1 and Customer 2"
    Bill = Pool().get('utility.bill')
    return Bill.search([('company', '=', provider().id)],
        order=[('party.name', 'ASC')])


def in_company(func):
    "Run the test in the fixture's provider, with a mailbox on loopback"
    @functools.wraps(func)
    def wrapper(self):
        self.company = provider()
        with set_company(self.company), smtp_server() as self.mailbox:
            return func(self)
    return wrapper


def user(company, *groups):
    "A back-office user of company in groups"
    pool = Pool()
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    user = User(login='user%s' % len(User.search([])),
        companies=[company], company=company,
        groups=[ModelData.get_id(*g.split('.')) for g in groups])
    user.save()
    return user
