"""Deterministic demo data for utility billing.

On top of the metering demo (run here, or reused when its provider
exists): a chart of accounts with fiscal years and a utility tax, one
product per unit billed, four rate plans (residential electricity with a
daily charge, two inclining blocks and a summer season; electricity
time-of-use; water with a meter-size charge and three blocks; gas priced
in therms), a monthly cycle, one active agreement per service point, then
a bill run for each of the last 12 months (exceptions kept on the runs),
payments for most invoices, overdue ones for a few customers and, with
utility_billing's dunning procedure, reminders and late fees; a supply
zone over the water points with a bulk meter that measured their use and
some losses (see ``create_supply_zone``).

Python API, inside a transaction with the pool loaded::

    from utility_billing import demo
    demo.generate(customers=20, seed=1)

Command line::

    python -m utility_billing.demo --database DB [--config FILE] \\
        [--customers N] [--seed S] [--months M]

The time-of-use plan is defined (and priced by ``RatePlan.simulate``) but
no agreement uses it: bill runs price the meter's total register only, so
a peak/off-peak plan would bill no energy.
"""
import argparse
import datetime as dt
import random
import sys
import time
from decimal import Decimal

from utility_metering import demo as metering_demo

DEFAULT_CUSTOMERS = 20
BILL_MONTHS = 12
# Rows per write checked by an exclusion constraint in Python on SQLite.
SQLITE_SLICE = 25
PAY_SLICE = 100
# Bills go out after the meter routes (days 1 to 10) are read.
INVOICE_DELAY = dt.timedelta(days=10)
PAYMENT_DAYS = 21
TAX_RATE = Decimal('0.05')
# Share of customers who pay after the due date, and who stopped paying.
LATE_SHARE = 0.15
DEFAULTER_SHARE = 0.12
# Months a defaulter has not paid.
DEFAULT_MONTHS = 3
TOU_PEAK_SHARE = Decimal('0.35')
LATE_FEE = Decimal('10.00')
# Weeks of dunning cron passes replayed before today.
DUNNING_WEEKS = 6
RATE_INCREASE = Decimal('1.03')  # on 1 January inside the billed year
METER_SIZES = ['0.625'] * 6 + ['0.75'] * 3 + ['1']
# Monthly water charge factor per meter size (inches), as AWWA tables do.
METER_SIZE_FACTORS = [
    ('0.625', '1'), ('0.75', '1.5'), ('1', '2.5'), ('1.5', '5'),
    ('2', '8')]
# Tables locked on the way (singletons, overlap checks, posting).
LOCKED_TABLES = [
    'account_configuration', 'utility_heat_factor',
    'utility_billing_configuration', 'account_journal_period']
PLAN_CODES = {
    'electricity': 'E-RES', 'tou': 'E-TOU', 'water': 'W-RES', 'gas': 'G-RES'}
PRODUCTS = [
    # code, name, uom xml id
    ('ENERGY', "Electricity", 'product.uom_energy_kwh'),
    ('WATER', "Water", 'product.uom_cubic_meter'),
    ('GAS', "Natural gas", 'utility_metering.uom_therm'),
    ('CHARGE', "Service charge", 'product.uom_unit'),
    ]


def add_months(date, months):
    return metering_demo.add_months(date, months)


def month_end(date):
    return add_months(date.replace(day=1), 1) - dt.timedelta(days=1)


def _component(sequence, code, name, kind, product, **values):
    values.update({
            'sequence': sequence,
            'code': code,
            'name': name,
            'kind': kind,
            'product': product.id,
            })
    if 'blocks' in values:
        values['blocks'] = [('create', [
                    {'threshold': Decimal(t), 'price': Decimal(p)}
                    for t, p in values['blocks']])]
    return values


def plan_components(service, products, factor=Decimal(1)):
    "Components of a plan; factor scales the prices of a later version"
    def p(price):
        return (Decimal(price) * factor).quantize(Decimal('0.0001'))

    charge = products['CHARGE']
    if service == 'electricity':
        energy = products['ENERGY']
        return [
            _component(10, 'customer', "Customer charge", 'fixed', charge,
                per='day', price=p('0.35')),
            _component(20, 'summer', "Energy, summer", 'blocks', energy,
                season_start='06-01', season_end='09-30',
                blocks=[(0, p('0.1150')), (600, p('0.1450'))]),
            _component(30, 'winter', "Energy, non-summer", 'blocks', energy,
                season_start='10-01', season_end='05-31',
                blocks=[(0, p('0.1050')), (800, p('0.1250'))]),
            ]
    if service == 'tou':
        energy = products['ENERGY']
        return [
            _component(10, 'customer', "Customer charge", 'fixed', charge,
                per='day', price=p('0.40')),
            _component(20, 'peak', "Energy, peak", 'variable', energy,
                register='peak', price=p('0.2150')),
            _component(30, 'offpeak', "Energy, off-peak", 'variable',
                energy, register='offpeak', price=p('0.0750')),
            ]
    if service == 'water':
        water = products['WATER']
        return [
            _component(10, 'meter', "Meter charge", 'fixed', charge,
                per='month', price=p('12.50'), attribute='meter_size',
                blocks=METER_SIZE_FACTORS),
            _component(20, 'water', "Water use", 'blocks', water,
                blocks=[(0, p('1.85')), (10, p('2.45')), (25, p('3.40'))]),
            ]
    if service == 'gas':
        gas = products['GAS']
        return [
            _component(10, 'customer', "Customer charge", 'fixed', charge,
                per='month', price=p('14.00')),
            _component(20, 'delivery', "Gas delivery", 'variable', gas,
                price=p('0.3850')),
            _component(30, 'supply', "Gas supply", 'variable', gas,
                price=p('0.6200')),
            ]
    raise ValueError(service)


PLANS = [
    # key, service type code, name, plan values
    ('electricity', 'electricity', "Residential electricity",
        {'quantity_digits': 0}),
    ('tou', 'electricity', "Residential electricity, time of use",
        {'quantity_digits': 0, 'tou_default_register': 'offpeak',
            # peak on weekday evenings; its agreements need hourly reads
            'tou_periods': [('create', [{
                            'register': 'peak',
                            'weekdays': ['0', '1', '2', '3', '4'],
                            'start_hour': 16, 'end_hour': 21}])]}),
    ('water', 'water', "Residential water", {'quantity_digits': 1}),
    ('gas', 'gas', "Residential gas",
        {'quantity_digits': 1, 'convert_heat_factor': True}),
    ]


def generate(customers=DEFAULT_CUSTOMERS, seed=1, months=24, today=None,
        verbose=False):
    """Create the metering demo (unless its provider exists) and bill it.

    months is the history of readings (at least 13); the last 12 whole
    months before today are billed. Must run inside a transaction with
    the pool loaded. Returns a dict of counts or None when the billing
    demo already exists.
    """
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    def say(*args):
        if verbose:
            print(*args, flush=True)

    if months < BILL_MONTHS + 1:
        raise ValueError("months must be at least %d" % (BILL_MONTHS + 1))
    pool = Pool()
    Company = pool.get('company.company')
    Plan = pool.get('utility.rate.plan')

    if today is None:
        today = dt.date.today()
    started = time.monotonic()
    metering = metering_demo.generate(customers=customers, seed=seed,
        months=months, today=today, verbose=verbose)
    company, = Company.search([
            ('party.name', '=', metering_demo.COMPANY_NAME)], limit=1)
    if Plan.search([
                ('company', '=', company.id),
                ('code', '=', PLAN_CODES['electricity']),
                ], limit=1):
        say("Billing demo already loaded for %s: nothing to do."
            % metering_demo.COMPANY_NAME)
        return None
    say("Metering demo %s in %.1f s" % (
            'created' if metering else 'reused',
            time.monotonic() - started))

    # A separate stream: the same billing whether metering ran now or not.
    rng = random.Random('utility_billing.demo:%s' % seed)
    last_month = add_months(today.replace(day=1), -1)
    first_month = add_months(last_month, -(BILL_MONTHS - 1))

    # The demo posts a year of past invoices: their past due dates would
    # stop a user (not root) on a warning each.
    with Transaction().set_context(company=company.id, _skip_warnings=True):
        step = time.monotonic()
        accounts = setup_accounting(company, first_month, today)
        products = create_products(company, accounts)
        plans = create_plans(company, products, first_month, last_month)
        create_heat_factors(company, rng, first_month, today)
        say("Accounting, products and rate plans in %.1f s" % (
                time.monotonic() - step))
        step = time.monotonic()
        agreements, missing_size = create_agreements(
            company, rng, plans, accounts['payment_term'], first_month)
        say("%d agreements in %.1f s" % (
                len(agreements), time.monotonic() - step))
        runs = run_bills(company, agreements, first_month, BILL_MONTHS,
            today, say)
        step = time.monotonic()
        payments = pay_invoices(company, accounts, rng, today)
        say("Payments in %.1f s" % (time.monotonic() - step))
        fees = apply_fees(company, accounts, today, say)
        zone = create_supply_zone(company, seed, first_month, last_month)

    summary = summarize(company, plans, runs, payments, fees,
        today)
    summary['missing_meter_size'] = missing_size
    if zone:
        summary.update(zone)
    summary['tou_example'] = tou_example(plans['tou'], last_month)
    if metering:
        summary['readings'] = metering['readings']
    say("Created billing demo for %s in %.1f s:" % (
            metering_demo.COMPANY_NAME, time.monotonic() - started))
    for key, value in summary.items():
        say("  %-22s %s" % (key, value))
    return summary


def _xml_id(module_xml_id):
    from trytond.pool import Pool
    ModelData = Pool().get('ir.model.data')
    module, xml_id = module_xml_id.split('.')
    return ModelData.get_id(module, xml_id)


def setup_accounting(company, first_month, today):
    """Chart of accounts from Tryton's template, fiscal years with periods
    and invoice sequences from first_month's year on, a utility tax, a
    payment term and a payment method. Returns a dict of records."""
    from trytond.pool import Pool
    pool = Pool()
    Account = pool.get('account.account')
    Tax = pool.get('account.tax')
    FiscalYear = pool.get('account.fiscalyear')
    Sequence = pool.get('ir.sequence.strict')
    InvoiceSequence = pool.get('account.fiscalyear.invoice_sequence')
    Journal = pool.get('account.journal')
    PaymentMethod = pool.get('account.invoice.payment.method')
    PaymentTerm = pool.get('account.invoice.payment_term')

    if not Account.search([('company', '=', company.id)], limit=1):
        create_chart(company)

    move_type = _xml_id('account.sequence_type_account_move')
    invoice_type = _xml_id('account_invoice.sequence_type_account_invoice')
    # Through the real today too: dunning fee moves are dated by ir.date.
    last_year = max(today, dt.date.today()).year
    for year in range(first_month.year, last_year + 1):
        start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
        if FiscalYear.search([
                    ('company', '=', company.id),
                    ('start_date', '<=', end),
                    ('end_date', '>=', start),
                    ], limit=1):
            continue

        def sequence(name, prefix, type_=invoice_type):
            sequence = Sequence(name='%s %s' % (name, year),
                company=company, sequence_type=type_,
                prefix='%s%s-' % (prefix, year), padding=6)
            sequence.save()
            return sequence
        fiscalyear = FiscalYear(name=str(year), company=company,
            start_date=start, end_date=end,
            move_sequence=sequence("Account moves", 'M', move_type))
        fiscalyear.invoice_sequences = [InvoiceSequence(
                company=company,
                out_invoice_sequence=sequence("Customer invoices", 'INV'),
                out_credit_note_sequence=sequence("Customer credit notes",
                    'CN'),
                in_invoice_sequence=sequence("Supplier invoices", 'SUP'),
                in_credit_note_sequence=sequence("Supplier credit notes",
                    'SCN'))]
        fiscalyear.save()
        FiscalYear.create_period([fiscalyear])

    def account(domain):
        found = Account.search([('company', '=', company.id),
                ('closed', '!=', True)] + domain, limit=1)
        return found[0] if found else None

    revenue = account([('type.revenue', '=', True)])
    tax_account = (account([('code', '=', '6.3.4')])
        or account([('type.statement', '=', 'balance'),
                ('name', 'ilike', '%tax%')]))
    cash = (account([('code', '=', '1.1.1')])
        or account([('type.receivable', '=', False),
                ('type.statement', '=', 'balance')]))
    tax, = Tax.create([{
                'company': company.id,
                'name': "Utility tax %s%%" % (TAX_RATE * 100).normalize(),
                'description': "Municipal utility tax",
                'type': 'percentage',
                'rate': TAX_RATE,
                'invoice_account': tax_account.id,
                'credit_note_account': tax_account.id,
                }])
    journal, = Journal.search([('type', '=', 'cash')], limit=1)
    method, = PaymentMethod.create([{
                'company': company.id,
                'name': "Bank transfer",
                'journal': journal.id,
                'debit_account': cash.id,
                'credit_account': cash.id,
                }])
    term, = PaymentTerm.create([{
                'name': "Net %d days" % PAYMENT_DAYS,
                'lines': [('create', [{
                                'type': 'remainder',
                                'relativedeltas': [('create', [{
                                                'days': PAYMENT_DAYS,
                                                }])],
                                }])],
                }])
    return {
        'revenue': revenue,
        'tax': tax,
        'payment_method': method,
        'payment_term': term,
        }


def create_chart(company):
    "Run account's Create Chart wizard with the English template"
    from trytond.pool import Pool
    pool = Pool()
    Account = pool.get('account.account')
    AccountTemplate = pool.get('account.account.template')
    CreateChart = pool.get('account.create_chart', type='wizard')

    template = AccountTemplate(
        _xml_id('account.account_template_root_en'))
    session_id, _, _ = CreateChart.create()
    wizard = CreateChart(session_id)
    wizard.account.account_template = template
    wizard.account.company = company
    wizard.transition_create_account()
    fields = list(wizard.properties._fields.keys())
    for name, value in wizard.states['properties'].get_defaults(
            wizard, 'properties', fields).items():
        if name in wizard.properties._fields:
            setattr(wizard.properties, name, value)
    for kind in ['receivable', 'payable']:
        name = 'account_%s' % kind
        if not getattr(wizard.properties, name, None):
            account, = Account.search([
                    ('type.%s' % kind, '=', True),
                    ('party_required', '=', True),
                    ('company', '=', company.id),
                    ], limit=1)
            setattr(wizard.properties, name, account)
    wizard.transition_create_properties()
    CreateChart.delete(session_id)


def create_products(company, accounts):
    "One service product per billed unit, taxed, through one category"
    from trytond.pool import Pool
    pool = Pool()
    Category = pool.get('product.category')
    Template = pool.get('product.template')

    category, = Category.create([{
                'name': "Utility charges",
                'accounting': True,
                'account_revenue': accounts['revenue'].id,
                'customer_taxes': [('add', [accounts['tax'].id])],
                }])
    templates = Template.create([{
                'name': name,
                'type': 'service',
                'default_uom': _xml_id(uom),
                'account_category': category.id,
                'list_price': Decimal(0),
                'products': [('create', [{'code': code}])],
                } for code, name, uom in PRODUCTS])
    return {code: template.products[0]
        for (code, _, _), template in zip(PRODUCTS, templates)}


def create_plans(company, products, first_month, last_month):
    """The four rate plans; a second version on 1 January when the billed
    months cross a year"""
    from trytond.pool import Pool
    pool = Pool()
    Plan = pool.get('utility.rate.plan')
    ServiceType = pool.get('utility.service.type')

    types = {t.code: t for t in ServiceType.search([])}
    new_year = dt.date(last_month.year, 1, 1)
    values = []
    for key, service, name, extra in PLANS:
        versions = [{
                'name': "Tariff %s" % first_month.year,
                'start_date': first_month,
                'components': [('create', plan_components(key, products))],
                }]
        if first_month < new_year:
            versions.append({
                    'name': "Tariff %s" % new_year.year,
                    'start_date': new_year,
                    'components': [('create', plan_components(
                                    key, products, RATE_INCREASE))],
                    })
        values.append(dict(extra,
                company=company.id,
                code=PLAN_CODES[key],
                name=name,
                service_type=types[service].id,
                block_basis='month',
                versions=[('create', versions)]))
    return {key: plan for (key, *_), plan in zip(PLANS, Plan.create(values))}


def create_heat_factors(company, rng, first_month, today):
    "Monthly therms per CCF for gas, the current one left open"
    from trytond.pool import Pool
    pool = Pool()
    HeatFactor = pool.get('utility.heat.factor')
    ServiceType = pool.get('utility.service.type')

    gas, = ServiceType.search([('code', '=', 'gas')])
    if HeatFactor.search([
                ('company', '=', company.id),
                ('service_type', '=', gas.id),
                ], limit=1):
        return
    values, month = [], first_month
    while month <= today:
        following = add_months(month, 1)
        values.append({
                'company': company.id,
                'service_type': gas.id,
                'start_date': month,
                'end_date': (following - dt.timedelta(days=1)
                    if following <= today else None),
                'factor': Decimal(rng.randint(1020, 1050)) / 1000,
                })
        month = following
    HeatFactor.create(values)


def create_agreements(company, rng, plans, payment_term, start):
    """A monthly cycle and one active agreement per service point.

    Water points get a meter size, except one (when there are two or
    more): its bills stop in the runs as an exception to fix.
    """
    from trytond.pool import Pool
    pool = Pool()
    Company = pool.get('company.company')
    Cycle = pool.get('utility.billing.cycle')
    Party = pool.get('party.party')
    ServicePoint = pool.get('utility.service.point')
    Agreement = pool.get('utility.service.agreement')

    cycle, = Cycle.create([{
                'company': company.id,
                'code': 'MONTHLY',
                'name': "Monthly, from the 1st",
                'frequency': 'monthly',
                'billing_day': 1,
                }])
    points = ServicePoint.search([
            ('company', '=', company.id),
            ], order=[('code', 'ASC')])
    water = [p for p in points if p.service_type.code == 'water']
    missing = rng.choice(water) if len(water) >= 2 else None
    to_write = []
    for point in water:
        if point != missing:
            to_write.extend([[point], {
                        'meter_size': rng.choice(METER_SIZES)}])
    if to_write:
        ServicePoint.write(*to_write)
    # Also the customers' own term: Agreement.get_invoice's on_change_type
    # replaces the agreement's term with the party's.
    Party.write(list({p.party for p in points}),
        {'customer_payment_term': payment_term.id})
    if 'utility_payment_term' in Company._fields:
        Company.write([company], {'utility_payment_term': payment_term.id})
    methods = ['bank_transfer', 'direct_debit', 'card', 'paypal']
    values = []
    for point in points:
        party = point.party
        values.append({
                'company': company.id,
                'party': party.id,
                'service_point': point.id,
                'rate_plan': plans[point.service_type.code].id,
                'cycle': cycle.id,
                'invoice_address': (point.address or party.addresses[0]).id,
                'payment_term': payment_term.id,
                'payment_method': rng.choice(methods),
                'start_date': start,
                })
    agreements = []
    # Slices: on SQLite the one-active-agreement exclusion is checked with
    # one nested OR per row, which overflows SQLite's parser past ~50.
    for n in range(0, len(values), SQLITE_SLICE):
        sub = Agreement.create(values[n:n + SQLITE_SLICE])
        Agreement.activate(sub)
        agreements.extend(sub)
    return agreements, missing.code if missing else None


def run_bills(company, agreements, first_month, count, today, say):
    "One bill run per month, previewed then processed, oldest first"
    from trytond import backend
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    pool = Pool()
    Run = pool.get('utility.bill.run')
    Configuration = pool.get('utility.billing.configuration')

    if backend.name == 'sqlite':
        # Same exclusion check on bills: bill in batches SQLite can parse.
        config = Configuration(1)
        config.bill_batch_size = SQLITE_SLICE
        config.save()
    runs = []
    cycle = agreements[0].cycle if agreements else None
    for n in range(count):
        step = time.monotonic()
        period_end = month_end(add_months(first_month, n))
        run = Run(company=company, cycle=cycle, period_end=period_end,
            invoice_date=min(period_end + INVOICE_DELAY, today))
        run.save()
        Run.preview([run])
        # Months build on each other: bill now, not in queued tasks that
        # would run after the commit.
        with Transaction().set_context(bill_run_inline=True):
            Run.process([run])
        run = Run(run.id)
        runs.append(run)
        say("  bill run %s: %d bills, %d exceptions, %s untaxed (%.1f s)"
            % (period_end.strftime('%Y-%m'), run.bill_count,
                run.exception_count, run.total_amount,
                time.monotonic() - step))
    return runs


def pay_invoices(company, accounts, rng, today):
    """Pay the bills the way customers do.

    Most pay within the term, some pay late, and defaulters stopped paying
    their last months: those invoices stay overdue.
    """
    from trytond.pool import Pool
    pool = Pool()
    Bill = pool.get('utility.bill')

    bills = Bill.search([
            ('company', '=', company.id),
            ('invoice.state', '=', 'posted'),
            ], order=[('invoice.invoice_date', 'ASC'), ('id', 'ASC')])
    parties = sorted({b.party for b in bills}, key=lambda p: p.id)
    n_default = max(1, round(len(parties) * DEFAULTER_SHARE))
    n_late = max(1, round(len(parties) * LATE_SHARE))
    chosen = rng.sample(parties, min(len(parties), n_default + n_late))
    defaulters = set(chosen[:n_default])
    late = set(chosen[n_default:])
    stop = add_months(today.replace(day=1), -DEFAULT_MONTHS)
    payments = []
    for bill in bills:
        invoice = bill.invoice
        if bill.party in late:
            delay = rng.randint(PAYMENT_DAYS + 5, PAYMENT_DAYS + 30)
        else:
            delay = rng.randint(3, PAYMENT_DAYS - 3)
        date = invoice.invoice_date + dt.timedelta(days=delay)
        if date > today:
            continue  # not paid yet
        if bill.party in defaulters and invoice.invoice_date >= stop:
            continue
        payments.append((invoice, date))
    # Slices: validating the invoices' payment lines builds one SQL clause
    # per invoice, too deep for SQLite over a few hundred.
    for n in range(0, len(payments), PAY_SLICE):
        pay(company, accounts['payment_method'],
            payments[n:n + PAY_SLICE])
    return {
        'late_payers': len(late),
        'defaulters': len(defaulters),
        }


def pay(company, method, payments):
    """Post one payment move per (invoice, date) and reconcile it.

    Invoice.pay_invoice does the same for one invoice at a time; saving,
    posting and reconciling all moves at once is several times faster.
    Same currency, whole amount: what a bank statement of the demo pays.
    """
    from trytond.pool import Pool
    pool = Pool()
    Invoice = pool.get('account.invoice')
    Move = pool.get('account.move')
    Line = pool.get('account.move.line')
    Period = pool.get('account.period')

    periods = {}
    moves = []
    for invoice, date in payments:
        if date not in periods:
            periods[date] = Period.find(company, date=date)
        amount = invoice.total_amount
        counterpart = Line(account=method.debit_account.current(date=date),
            debit=amount, credit=0)
        if counterpart.account.party_required:
            counterpart.party = invoice.party
        moves.append(Move(company=company, journal=method.journal,
                period=periods[date], date=date, origin=invoice,
                description=invoice.number,
                lines=[Line(account=invoice.account, party=invoice.party,
                        debit=0, credit=amount), counterpart]))
    Move.save(moves)
    Move.post(moves)
    to_add, to_reconcile = {}, []
    for (invoice, _), move in zip(payments, moves):
        line, = [l for l in move.lines if l.account == invoice.account]
        to_add[invoice] = [line]
        to_reconcile.append([line] + [l for l in invoice.lines_to_pay
                if not l.reconciliation])
    Invoice.add_payment_lines(to_add)
    # One call: one queued invoice process task instead of one per bill.
    Line.reconcile(*to_reconcile)
    # The queued task runs only after commit; paid is wanted now.
    Invoice.process([i for i, _ in payments])


def apply_fees(company, accounts, today, say):
    """Dun overdue bills: a reminder, then a late fee, then a final notice,
    as the daily dunning cron does over the last weeks.

    Uses utility_billing's dunning procedure helper when it is there;
    returns None (no fees) otherwise.
    """
    from trytond.pool import Pool
    pool = Pool()
    try:
        Procedure = pool.get('account.dunning.procedure')
        Dunning = pool.get('account.dunning')
        Fee = pool.get('account.dunning.fee.dunning_level')
    except KeyError:
        Procedure = None
    if Procedure is None or not hasattr(
            Procedure, 'create_default_procedure') or not hasattr(
            Dunning, 'utility_process_dunnings'):
        say("No dunning support: overdue invoices are left without fees.")
        return None
    Journal = pool.get('account.journal')
    Category = pool.get('product.category')
    Template = pool.get('product.template')

    # No tax: account_dunning_fee posts the fee without one.
    category, = Category.create([{
                'name': "Fees",
                'accounting': True,
                'account_revenue': accounts['revenue'].id,
                }])
    template, = Template.create([{
                'name': "Late payment fee",
                'type': 'service',
                'default_uom': _xml_id('product.uom_unit'),
                'account_category': category.id,
                'list_price': LATE_FEE,
                'products': [('create', [{'code': 'LATE-FEE'}])],
                }])
    journal, = Journal.search([('type', '=', 'revenue')], limit=1)
    Procedure.create_default_procedure(company, template.products[0],
        journal)
    # Each pass moves a dunning one level up when its delay has passed.
    for weeks in range(DUNNING_WEEKS, -1, -1):
        Dunning.utility_process_dunnings(today - dt.timedelta(weeks=weeks))
    dunnings = Dunning.search([('company', '=', company.id)])
    fees = Fee.search([('dunning.company', '=', company.id)])
    return {
        'dunnings': len(dunnings),
        'late_fees': len(fees),
        'late_fee_total': sum((f.amount for f in fees), Decimal(0)),
        'final_notices': len([d for d in dunnings
                if d.utility_notice == 'final_notice']),
        }


def create_supply_zone(company, seed, first_month, last_month):
    """A supply zone (district metered area) over all the water points,
    with a bulk meter read at local midnight starting each billed month
    and the month after.

    The bulk meter measures the zone's metered use of each calendar month
    (its points' consumption, pro-rated by days) plus losses of 8 to 18 %
    (leaks, under-registering meters): the Unaccounted-for Consumption
    report compares it with what was billed. Returns a dict for the
    summary, or None without water points."""
    from trytond.pool import Pool
    from utility_metering.meter import company_timezone
    pool = Pool()
    ServiceType = pool.get('utility.service.type')
    ServicePoint = pool.get('utility.service.point')
    Meter = pool.get('utility.meter')
    Reading = pool.get('utility.meter.reading')
    Zone = pool.get('utility.supply.zone')

    water, = ServiceType.search([('code', '=', 'water')])
    points = ServicePoint.search([
            ('company', '=', company.id),
            ('service_type', '=', water.id),
            ], order=[('code', 'ASC')])
    if not points:
        return None
    # Its own stream: the rest of the demo stays the same.
    rng = random.Random('utility_billing.demo.zone:%s' % seed)
    tzinfo = company_timezone(company)

    def local_midnight(date):
        return dt.datetime.combine(date, dt.time(), tzinfo=tzinfo
            ).astimezone(dt.timezone.utc).replace(tzinfo=None)

    months = []
    month = first_month
    while month <= last_month:
        months.append(month)
        month = add_months(month, 1)
    usages = Meter.consumptions([(point, month, month_end(month))
            for month in months for point in points])
    metered = [sum((u.quantity for u in usages[n:n + len(points)]),
            Decimal(0)) for n in range(0, len(usages), len(points))]

    meter, = Meter.create([{
                'company': company.id,
                'serial_number': 'BULK-W-0001',
                'service_type': water.id,
                'dials': 8,
                'multiplier': Decimal(1),
                'status': 'installed',
                }])
    value = Decimal(rng.randint(100000, 900000))
    values = [(local_midnight(first_month), value, Decimal(0))]
    for month, use in zip(months, metered):
        use = (use * Decimal(str(1 + rng.uniform(0.08, 0.18)))).quantize(
            Decimal(1))
        value += use
        values.append(
            (local_midnight(add_months(month, 1)), value, use))
    Reading.create([{
                'company': company.id,
                'meter': meter.id,
                'date_time': when,
                'value': value,
                'kind': 'actual',
                'source': 'integration',
                'state': 'valid',
                'consumption': use,
                'rollover': False,
                } for when, value, use in values])
    zone, = Zone.create([{
                'company': company.id,
                'code': 'DMA-N',
                'name': "North Hill",
                'service_type': water.id,
                'bulk_meters': [('add', [meter.id])],
                'service_points': [('add', [p.id for p in points])],
                }])
    return {
        'supply_zone': zone.rec_name,
        'zone_points': len(points),
        'bulk_readings': len(values),
        }


def tou_example(plan, month):
    "What the time-of-use plan charges for 600 kWh, 35 % on peak"
    Plan = type(plan)
    total = Decimal(600)
    peak = total * TOU_PEAK_SHARE
    result = Plan.simulate([plan], month, month_end(month),
        {'peak': peak, 'offpeak': total - peak})
    return '%s: %s kWh on peak, %s off-peak = %s untaxed' % (
        month.strftime('%Y-%m'), peak.quantize(Decimal(1)),
        (total - peak).quantize(Decimal(1)), result['untaxed_amount'])


def summarize(company, plans, runs, payments, fees, today):
    from trytond.pool import Pool
    pool = Pool()
    Bill = pool.get('utility.bill')
    Invoice = pool.get('account.invoice')
    RunLine = pool.get('utility.bill.run.line')
    Agreement = pool.get('utility.service.agreement')

    invoices = Invoice.search([
            ('company', '=', company.id),
            ('type', '=', 'out'),
            ])
    posted = [i for i in invoices if i.state == 'posted']
    overdue = [i for i in posted if any(
            l.maturity_date and l.maturity_date < today
            for l in i.lines_to_pay if not l.reconciliation)]
    summary = {
        'rate_plans': len(plans),
        'agreements': Agreement.search_count([
                ('company', '=', company.id),
                ('state', '=', 'active'),
                ]),
        'bill_runs': len(runs),
        'bills': Bill.search_count([('company', '=', company.id)]),
        'estimated_bills': Bill.search_count([
                ('company', '=', company.id),
                ('estimated', '=', True),
                ]),
        'exceptions': RunLine.search_count([
                ('run', 'in', [r.id for r in runs]),
                ('state', '=', 'exception'),
                ]),
        'invoices': len(invoices),
        'paid': len([i for i in invoices if i.state == 'paid']),
        'open_not_due': len(posted) - len(overdue),
        'overdue': len(overdue),
        'overdue_amount': sum((i.amount_to_pay for i in overdue),
            Decimal(0)),
        'billed_total': sum((i.total_amount for i in invoices), Decimal(0)),
        'late_payers': payments['late_payers'],
        'defaulters': payments['defaulters'],
        }
    if fees is not None:
        summary.update(fees)
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Generate utility billing demo data (metering included)")
    parser.add_argument('--database', '-d', required=True)
    parser.add_argument('--config', '-c')
    parser.add_argument('--customers', type=int, default=DEFAULT_CUSTOMERS)
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--months', type=int, default=24,
        help="months of readings (at least %d)" % (BILL_MONTHS + 1))
    args = parser.parse_args(argv)

    from trytond import config
    if args.config:
        config.update_etc(args.config)
    from trytond.pool import Pool
    from trytond.transaction import Transaction, TransactionError
    from trytond.worker import run_task

    started = time.monotonic()
    pool = Pool(args.database)
    pool.init()
    # Restart when Tryton asks for a lock, as its dispatcher does; the
    # tables the demo is known to lock are taken from the start.
    extras = {'_lock_tables': list(LOCKED_TABLES)}
    while True:
        with Transaction().start(args.database, 0, context={},
                **extras) as transaction:
            try:
                summary = generate(customers=args.customers,
                    seed=args.seed, months=args.months, verbose=True)
            except TransactionError as e:
                transaction.rollback()
                e.fix(extras)
                print("Restarting with locks: %s" % extras, flush=True)
                continue
            transaction.commit()
            break
    # As trytond's dispatcher does: tasks queued without a worker run
    # after the commit.
    tasks = Transaction().tasks
    if tasks:
        step = time.monotonic()
        print("Running %d queued tasks (invoice reports, invoice states)"
            % len(tasks), flush=True)
        while tasks:
            run_task(pool, tasks.pop())
        print("Queued tasks in %.1f s" % (time.monotonic() - step))
    if summary is not None:
        print("Done in %.1f s" % (time.monotonic() - started))
    return 0


if __name__ == '__main__':
    sys.exit(main())
