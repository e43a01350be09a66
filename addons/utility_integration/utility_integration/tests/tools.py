"Billed data shared by the integration tests, inside a test transaction"
import datetime as dt
import functools
from contextlib import contextmanager
from decimal import Decimal

from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.transaction import Transaction

from utility_billing.tests.tools import (
    create_customer, create_cycle, create_plan, create_products, provider,
    read, setup_accounting)

ADMIN = 'utility_metering.group_utility_admin'
BILLING = 'utility_billing.group_billing'
METERING = 'utility_metering.group_metering'
SERVICE = 'utility_billing.group_customer_service'
ACCOUNTANT = 'account.group_account'
GROUPS = [ADMIN, BILLING, METERING, SERVICE, ACCOUNTANT]
TIMEZONE = 'America/New_York'


def provider_fixture():
    """A provider in New York time billing in USD (840) with its accounts
    (committed)"""
    company = create_company()
    company.timezone = TIMEZONE
    company.save()
    company.currency.numeric_code = '840'
    company.currency.save()
    with set_company(company):
        setup_accounting(company)
    return company


def integration_fixture():
    "provider_fixture's provider with billed_data (committed)"
    company = provider_fixture()
    with set_company(company), Transaction().set_context(
            bill_run_inline=True, _skip_warnings=True):
        billed_data(company)


def in_company(func):
    "Run the test inside the provider of the class's fixture"
    @functools.wraps(func)
    def wrapper(self):
        self.company = company = provider()
        # Bill runs process inline instead of queued tasks; they are
        # back-dated, so their past-due-date warning is skipped.
        with set_company(company), Transaction().set_context(
                bill_run_inline=True, _skip_warnings=True):
            return func(self)
    return wrapper


def local(year, month, day, hour=0):
    "Naive UTC of a New York wall time (the database stores UTC)"
    from zoneinfo import ZoneInfo
    value = dt.datetime(year, month, day, hour, tzinfo=ZoneInfo(TIMEZONE))
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None)


def billed_data(company):
    """Two customers billed for January and February 2024.

    Customer 1 (meter M1): reads 1000 on 1 Jan, 1300 (estimated) on
    15 Jan, 1742 on 1 Feb, 2342 on 1 Mar, all at local midnight.
    Customer 2 (meter M2): 500, 800, 1000 on 1 Jan, 1 Feb, 1 Mar.
    Returns (agreement 1, agreement 2, bills)."""
    pool = Pool()
    Run = pool.get('utility.bill.run')
    Bill = pool.get('utility.bill')
    Agreement = pool.get('utility.service.agreement')
    agreements = Agreement.search([('company', '=', company.id)],
        order=[('id', 'ASC')])
    if agreements:
        # integration_fixture's, committed
        agreement1, agreement2 = agreements
        bills = Bill.search([('company', '=', company.id)],
            order=[('period_start', 'ASC'), ('id', 'ASC')])
        return agreement1, agreement2, bills
    revenue, tax = setup_accounting(company)
    products = create_products(revenue, tax)
    plan = create_plan(company, products)
    cycle = create_cycle(company)
    agreement1, meter1 = create_customer(company, 1, plan, cycle)
    agreement2, meter2 = create_customer(company, 2, plan, cycle)
    read(meter1, local(2024, 1, 1), 1000)
    read(meter1, local(2024, 1, 15), 1300, kind='estimated')
    read(meter1, local(2024, 2, 1), 1742)
    read(meter1, local(2024, 3, 1), 2342)
    read(meter2, local(2024, 1, 1), 500)
    read(meter2, local(2024, 2, 1), 800)
    read(meter2, local(2024, 3, 1), 1000)
    for period_end in [dt.date(2024, 1, 31), dt.date(2024, 2, 29)]:
        run = Run(company=company, cycle=cycle, period_end=period_end,
            invoice_date=period_end + dt.timedelta(days=1))
        run.save()
        Run.preview([run])
        Run.process([run])
    bills = Bill.search([('company', '=', company.id)],
        order=[('period_start', 'ASC'), ('id', 'ASC')])
    assert len(bills) == 4, bills
    assert all(b.invoice.state == 'posted' for b in bills)
    return agreement1, agreement2, bills


def user(company, *groups):
    "A user of company in groups"
    pool = Pool()
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    user = User(login='user%s' % len(User.search([])),
        companies=[company], company=company,
        groups=[ModelData.get_id(*g.split('.')) for g in groups])
    user.save()
    return user


@contextmanager
def as_user(user):
    "Act as user with access checks, as over RPC"
    transaction = Transaction()
    with transaction.set_user(user.id), transaction.set_context(
            _check_access=True, company=user.company.id,
            companies=[user.company.id]):
        yield


CENT = Decimal('0.01')
