"Set-up shared by the statement tests, inside a test transaction"
import datetime as dt
import functools

from trytond.modules.company.tests import create_company, set_company
from trytond.modules.currency.tests import add_currency_rate, create_currency
from trytond.pool import Pool
from trytond.transaction import Transaction

from utility_billing.tests.tools import (
    create_customer, create_cycle, create_plan, create_products, provider,
    read, setup_accounting)

# The provider's bank account (statement files name it) and a payer's.
COMPANY_IBAN = 'BE71096123456769'
PAYER_IBAN = 'DE79370400440123619900'


def statement_fixture():
    """The provider billed in USD with its accounts, rate plan, billing
    cycle and bank journal (committed once per run)"""
    currency = create_currency('USD')
    add_currency_rate(currency, 1)
    company = create_company(currency=currency)
    with set_company(company):
        revenue, tax = setup_accounting(company)
        create_plan(company, create_products(revenue, tax))
        create_cycle(company)
        create_bank_journal(company)


def in_company(func):
    "Run the test as a user of statement_fixture's provider"
    @functools.wraps(func)
    def wrapper(self):
        pool = Pool()
        Plan = pool.get('utility.rate.plan')
        Cycle = pool.get('utility.billing.cycle')
        StatementJournal = pool.get('account.statement.journal')
        # with_transaction may run the test again (to take locks): start
        # from no customer each time.
        self.customers = {}
        self.company = provider()
        company = [('company', '=', self.company.id)]
        self.plan, = Plan.search(company, order=[('id', 'ASC')], limit=1)
        self.cycle, = Cycle.search(company, order=[('id', 'ASC')], limit=1)
        self.journal, = StatementJournal.search(
            company, order=[('id', 'ASC')], limit=1)
        # Imports lock the (committed) journal: Tryton restarts the
        # transaction to take the lock, which a subTest would swallow.
        StatementJournal.lock([self.journal])
        # Bill runs post in this transaction; back-dated runs ask no
        # warning (see utility_billing's bill run tests).
        with set_company(self.company), Transaction().set_context(
                bill_run_inline=True, _skip_warnings=True):
            return func(self)
    return wrapper


def create_bank_journal(company, iban=COMPANY_IBAN, validation='amount'):
    "A statement journal for the provider's bank account"
    pool = Pool()
    Party = pool.get('party.party')
    Bank = pool.get('bank')
    BankAccount = pool.get('bank.account')
    Account = pool.get('account.account')
    AccountJournal = pool.get('account.journal')
    StatementJournal = pool.get('account.statement.journal')
    ModelData = pool.get('ir.model.data')
    bank_party = Party(name="Bank of %s" % company.rec_name)
    bank_party.save()
    bank = Bank(party=bank_party)
    bank.save()
    account = BankAccount(bank=bank, owners=[company.party],
        currency=company.currency, numbers=[{'type': 'iban', 'number': iban}])
    account.save()
    cash, = Account.search([
            ('company', '=', company.id),
            ('code', '=', '1.1.1'),
            ], limit=1)
    journal = StatementJournal(name="Bank", company=company,
        currency=company.currency, validation=validation,
        journal=AccountJournal(ModelData.get_id(
                'account_statement', 'journal_statement')),
        account=cash, bank_account=account)
    journal.save()
    return journal


def meter_reads(test, index, *values, start=dt.date(2024, 1, 1)):
    """Customer index (created at the first call) reads values at the
    first days of the months from start"""
    customers = test.customers
    if index not in customers:
        customers[index] = create_customer(test.company, index, test.plan,
            test.cycle, start=start)
    agreement, meter = customers[index]
    month = start
    for value in values:
        read(meter, dt.datetime.combine(month, dt.time()), value)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return agreement


def bill_run(test, period_end):
    "Bill the month ending on period_end; return {customer index: invoice}"
    pool = Pool()
    Run = pool.get('utility.bill.run')
    Bill = pool.get('utility.bill')
    run = Run(company=test.company, cycle=test.cycle, period_end=period_end,
        invoice_date=period_end + dt.timedelta(days=1))
    run.save()
    Run.preview([run])
    Run.process([run])
    bills = {b.agreement: b for b in Bill.search([('bill_run', '=', run.id)])}
    return {index: bills[agreement].invoice
        for index, (agreement, _) in test.customers.items()
        if agreement in bills}


def import_statement(company, data, file_format, journal=None):
    "Run the statement import wizard; return the statements it created"
    pool = Pool()
    Wizard = pool.get('account.statement.import', type='wizard')
    Statement = pool.get('account.statement')
    session_id, _, _ = Wizard.create()
    start = {
        'company': company.id,
        'file_': data,
        'file_format': file_format,
        }
    if journal:
        start['journal'] = journal.id
    result = Wizard.execute(session_id, {'start': start}, 'import_')
    Wizard.delete(session_id)
    action, = result['actions']
    return Statement.browse(action[1]['res_id'])


def csv_file(*rows, header='date,amount,reference,description,payer,'
        'payer_account,transaction_id'):
    return ('\n'.join([header] + list(rows)) + '\n').encode('utf-8')


def validate(statements):
    """Validate statements as an accountant; return the invoices they pay
    processed, as Tryton's queue would after the commit"""
    pool = Pool()
    Statement = pool.get('account.statement')
    Invoice = pool.get('account.invoice')
    Statement.validate_statement(statements)
    invoices = list({l.invoice for s in Statement.browse(statements)
            for l in s.lines if l.invoice})
    Invoice.process(invoices)
    return Invoice.browse(invoices)


def receivable_balance(party):
    "The customer's receivable balance (negative: a credit)"
    Party = Pool().get('party.party')
    return Party(party.id).receivable
