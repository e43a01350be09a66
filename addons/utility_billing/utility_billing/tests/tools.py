"Set-up shared by the billing tests, inside a test transaction"
import datetime as dt
from decimal import Decimal

from trytond.modules.account.tests import create_chart, get_fiscalyear
from trytond.modules.account_invoice.tests import set_invoice_sequences
from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool


def setup_accounting(company, year=2024):
    """Chart with a 20% tax; fiscal years with periods and invoice numbers
    for the billed year and today's (credit notes are dated today).
    What the company has already (from the class's fixture) is kept."""
    pool = Pool()
    Account = pool.get('account.account')
    Tax = pool.get('account.tax')
    FiscalYear = pool.get('account.fiscalyear')
    Date = pool.get('ir.date')
    if not Account.search([('company', '=', company.id)], limit=1):
        create_chart(company, tax=True)
    for first in sorted({dt.date(year, 1, 1),
                Date.today().replace(month=1, day=1)}):
        if FiscalYear.search([
                    ('company', '=', company.id),
                    ('start_date', '<=', first),
                    ('end_date', '>=', first),
                    ], limit=1):
            continue
        fiscalyear = set_invoice_sequences(get_fiscalyear(company,
                today=first))
        fiscalyear.save()
        FiscalYear.create_period([fiscalyear])
    revenue, = Account.search([
            ('type.revenue', '=', True),
            ('closed', '!=', True),
            ('company', '=', company.id),
            ], limit=1)
    tax, = Tax.search([('company', '=', company.id)], limit=1)
    return revenue, tax


def accounting_fixture():
    "The provider most tests bill from, with its accounts (committed)"
    company = create_company()
    with set_company(company):
        setup_accounting(company)


def provider(name='Dunder Mifflin', currency=None):
    "The provider of the class's fixture, or a new one"
    Company = Pool().get('company.company')
    companies = Company.search([('party.name', '=', name)], limit=1)
    if companies:
        return companies[0]
    return create_company(name, currency)


def create_products(revenue, tax):
    "An energy product (kWh) and a fixed charge product (unit), taxed"
    pool = Pool()
    Category = pool.get('product.category')
    Template = pool.get('product.template')
    Uom = pool.get('product.uom')
    ModelData = pool.get('ir.model.data')
    category = Category(name="Utility charges", accounting=True,
        account_revenue=revenue, customer_taxes=[tax])
    category.save()
    kwh = Uom(ModelData.get_id('product', 'uom_energy_kwh'))
    unit = Uom(ModelData.get_id('product', 'uom_unit'))
    products = {}
    for code, name, uom in [
            ('energy', "Electricity", kwh),
            ('fixed', "Service charge", unit)]:
        template = Template(name=name, type='service', default_uom=uom,
            account_category=category,
            list_price=Decimal(0), products=[{'code': code}])
        template.save()
        products[code] = template.products[0]
    return products


def create_plan(company, products, name='Residential'):
    "0.40/day customer charge, 600 kWh/month at 0.11 then 0.135"
    pool = Pool()
    Plan = pool.get('utility.rate.plan')
    ServiceType = pool.get('utility.service.type')
    electricity, = ServiceType.search([('code', '=', 'electricity')])
    plan, = Plan.create([{
                'company': company.id,
                'code': name[:3].upper(),
                'name': name,
                'service_type': electricity.id,
                'versions': [('create', [{
                                'name': '2024',
                                'start_date': dt.date(2024, 1, 1),
                                'components': [('create', [{
                                                'sequence': 1,
                                                'code': 'customer',
                                                'name': "Customer charge",
                                                'kind': 'fixed',
                                                'per': 'day',
                                                'price': Decimal('0.40'),
                                                'product': products['fixed'].id,
                                                }, {
                                                'sequence': 2,
                                                'code': 'energy',
                                                'name': "Energy",
                                                'kind': 'blocks',
                                                'product': products['energy'].id,
                                                'blocks': [('create', [{
                                                                'threshold': Decimal(0),
                                                                'price': Decimal('0.11'),
                                                                }, {
                                                                'threshold': Decimal(600),
                                                                'price': Decimal('0.135'),
                                                                }])],
                                                }])],
                                }])],
                }])
    return plan


def create_cycle(company):
    Cycle = Pool().get('utility.billing.cycle')
    cycle, = Cycle.create([{'company': company.id, 'code': 'M1',
                'name': "Monthly, 1st", 'frequency': 'monthly',
                'billing_day': 1}])
    return cycle


def create_customer(company, index, plan, cycle, start=dt.date(2024, 1, 1),
        serial=None):
    "A customer with a service point, a meter installed and an agreement"
    pool = Pool()
    Party = pool.get('party.party')
    ServicePoint = pool.get('utility.service.point')
    Meter = pool.get('utility.meter')
    Agreement = pool.get('utility.service.agreement')
    party, = Party.create([{'name': 'Customer %s' % index,
                'addresses': [('create', [{'street': '%s Main St' % index,
                                'city': 'Springfield'}])]}])
    point = ServicePoint(code='SP%s' % index,
        service_type=plan.service_type, party=party,
        address=party.addresses[0], company=company)
    point.save()
    meter = Meter(serial_number=serial or 'M%s' % index,
        service_type=plan.service_type, dials=6, company=company,
        status='installed', installations=[{'service_point': point,
                'start': dt.datetime(2023, 12, 1)}])
    meter.save()
    agreement = Agreement(company=company, party=party,
        service_point=point, rate_plan=plan, cycle=cycle,
        invoice_address=party.addresses[0], start_date=start)
    agreement.save()
    Agreement.activate([agreement])
    return agreement, meter


def read(meter, when, value, kind='actual'):
    Reading = Pool().get('utility.meter.reading')
    reading = Reading(meter=meter, company=meter.company, date_time=when,
        value=Decimal(value), kind=kind)
    reading.save()
    Reading.validate_reading([reading])
    return reading


def create_payment_term(days):
    "A payment term due days after the invoice date"
    Term = Pool().get('account.invoice.payment_term')
    term, = Term.create([{'name': '%s days' % days,
                'lines': [('create', [{'type': 'remainder',
                                'relativedeltas': [('create', [{
                                                'days': days}])],
                                }])],
                }])
    return term


def setup_dunning(company, revenue, fee_amount=Decimal('5.00'),
        fee_percentage=None, **days):
    """The provider's default late-payment procedure; a fixed fee_amount
    or a fee_percentage of the overdue amount, credited to revenue"""
    pool = Pool()
    Category = pool.get('product.category')
    Template = pool.get('product.template')
    Uom = pool.get('product.uom')
    Journal = pool.get('account.journal')
    ModelData = pool.get('ir.model.data')
    Procedure = pool.get('account.dunning.procedure')
    category = Category(name="Late fees", accounting=True,
        account_revenue=revenue)
    category.save()
    template = Template(name="Late fee", type='service',
        default_uom=Uom(ModelData.get_id('product', 'uom_unit')),
        account_category=category, list_price=fee_amount,
        products=[{'code': 'LATE'}])
    template.save()
    journal = Journal(ModelData.get_id('account', 'journal_revenue'))
    return Procedure.create_default_procedure(company, template.products[0],
        journal, fee_percentage=fee_percentage, **days)


def pay_invoice(invoice, date, amount=None):
    "Pay invoice in cash on date and reconcile it when paid in full"
    pool = Pool()
    Account = pool.get('account.account')
    Journal = pool.get('account.journal')
    Method = pool.get('account.invoice.payment.method')
    MoveLine = pool.get('account.move.line')
    ModelData = pool.get('ir.model.data')
    cash, = Account.search([
            ('company', '=', invoice.company.id),
            ('code', '=', '1.1.1'),
            ], limit=1)
    method = Method(company=invoice.company, name="Cash",
        journal=Journal(ModelData.get_id('account', 'journal_cash')),
        credit_account=cash, debit_account=cash)
    method.save()
    if amount is None:
        amount = invoice.amount_to_pay
    lines = invoice.pay_invoice(amount, method, date)
    invoice = invoice.__class__(invoice.id)
    if not invoice.amount_to_pay:
        MoveLine.reconcile(list(invoice.lines_to_pay) + lines)
        # Reconciling queues this; queued tasks never run in a test.
        invoice.__class__.process([invoice])
    return invoice.__class__(invoice.id)
