"""Journal entries of an accounting period exported for an external
accounting or audit system, as CSV or Excel, with a reconciliation check.

One row per journal item (account.move.line) of the provider's moves of
the period (posted moves only, unless asked), ordered by move date, move
number and item. The column mapping:

=================  ===============================================  ======
Column             Tryton source                                    Type
=================  ===============================================  ======
Entry              move number (``#<move id>`` while unnumbered)    text
Date               move effective date                              date
Post Date          move post date                                   date
Period             accounting period name                           text
Journal            journal code (its name when it has no code)      text
Account            account code                                     text
Account Name       account name                                     text
Party Code         party code                                       text
Party              party name                                       text
Description        item description, else the move's                text
Origin             move origin as ``model,id``                      text
Debit              item debit                                       money
Credit             item credit                                      money
Balance            debit - credit                                   money
Currency           provider's currency code                         text
Second Amount      amount in second currency                        number
Second Currency    second currency code                             text
Maturity Date      item maturity date                               date
Reconciliation     reconciliation number                            text
State              move state (posted or draft)                     text
Line ID            journal item id                                  integer
=================  ===============================================  ======

Rows are read with one query, fetched in batches (a server-side cursor on
PostgreSQL) and written as they come (xlsxwriter's constant_memory mode),
so only a batch is held in memory. Excel cells are real numbers and dates;
the header row is frozen and filtered.

While writing, debit, credit and item count are summed per account; the
reconciliation compares them with Tryton's own account figures for the
period (account.account debit, credit and line_count with the period, and
posted-only, in the context) and lists every difference, so an export is
proven equal to the ledger.
"""
import csv
import datetime as dt
import io
import tempfile
from collections import defaultdict
from decimal import Decimal

import xlsxwriter
from sql import Literal
from sql.conditionals import Coalesce

from trytond import backend
from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.tools import sqlite_apply_types
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .exceptions import LedgerExportError

BATCH = 1000
# (key, title, kind, width in characters)
COLUMNS = [
    ('entry', "Entry", 'char', 16),
    ('date', "Date", 'date', 12),
    ('post_date', "Post Date", 'date', 12),
    ('period', "Period", 'char', 14),
    ('journal', "Journal", 'char', 12),
    ('account', "Account", 'char', 12),
    ('account_name', "Account Name", 'char', 30),
    ('party_code', "Party Code", 'char', 12),
    ('party', "Party", 'char', 30),
    ('description', "Description", 'char', 40),
    ('origin', "Origin", 'char', 24),
    ('debit', "Debit", 'money', 14),
    ('credit', "Credit", 'money', 14),
    ('balance', "Balance", 'money', 14),
    ('currency', "Currency", 'char', 9),
    ('second_amount', "Second Amount", 'number', 14),
    ('second_currency', "Second Currency", 'char', 9),
    ('maturity_date', "Maturity Date", 'date', 12),
    ('reconciliation', "Reconciliation", 'char', 16),
    ('state', "State", 'char', 9),
    ('line', "Line ID", 'integer', 10),
    ]
HEADER = [c[1] for c in COLUMNS]
KINDS = [c[2] for c in COLUMNS]
INDEX = {c[0]: i for i, c in enumerate(COLUMNS)}


def _decimal(value):
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def _date(value):
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def ledger_rows(company, period, posted_only=True):
    "Iterator of the export rows (lists in COLUMNS order) of the period"
    pool = Pool()
    Line = pool.get('account.move.line')
    Move = pool.get('account.move')
    Account = pool.get('account.account')
    Journal = pool.get('account.journal')
    Period = pool.get('account.period')
    Party = pool.get('party.party')
    Currency = pool.get('currency.currency')
    Reconciliation = pool.get('account.move.reconciliation')
    transaction = Transaction()
    line = Line.__table__()
    move = Move.__table__()
    account = Account.__table__()
    journal = Journal.__table__()
    period_t = Period.__table__()
    party = Party.__table__()
    second = Currency.__table__()
    reconciliation = Reconciliation.__table__()
    where = (move.company == company.id) & (move.period == period.id)
    if posted_only:
        where &= move.state == 'posted'
    query = (line
        .join(move, condition=line.move == move.id)
        .join(account, condition=line.account == account.id)
        .join(journal, condition=move.journal == journal.id)
        .join(period_t, condition=move.period == period_t.id)
        .join(party, 'LEFT', condition=line.party == party.id)
        .join(second, 'LEFT', condition=line.second_currency == second.id)
        .join(reconciliation, 'LEFT',
            condition=line.reconciliation == reconciliation.id)
        .select(*[c.as_('c%s' % i) for i, c in enumerate([
                    move.id, move.number, move.date, move.post_date,
                    period_t.name, Coalesce(journal.code, journal.name),
                    account.code, account.name, party.code, party.name,
                    Coalesce(line.description, move.description),
                    move.origin, Coalesce(line.debit, Literal(0)),
                    Coalesce(line.credit, Literal(0)),
                    line.amount_second_currency, second.code,
                    line.maturity_date, reconciliation.number, move.state,
                    line.id, line.account])],
            where=where,
            order_by=[move.date.asc, move.number.asc, move.id.asc,
                line.id.asc]))
    if backend.name == 'sqlite':
        sqlite_apply_types(query, [None, None, 'DATE', 'DATE', None, None,
                None, None, None, None, None, None, 'NUMERIC', 'NUMERIC',
                'NUMERIC', None, 'DATE', None, None, None, None])
    if backend.name == 'postgresql':
        # A named cursor fetches the rows from the server in batches.
        cursor = transaction.connection.cursor(
            name='utility_integration_ledger')
    else:
        cursor = transaction.connection.cursor()
    currency = company.currency.code
    cursor.execute(*query)
    try:
        while True:
            batch = cursor.fetchmany(BATCH)
            if not batch:
                break
            for (move_id, number, date, post_date, period_name, journal_,
                    code, account_name, party_code, party_name, description,
                    origin, debit, credit, second_amount, second_code,
                    maturity, reconciliation_number, state, line_id,
                    account_id) in batch:
                debit, credit = _decimal(debit), _decimal(credit)
                yield account_id, [
                    number or '#%s' % move_id, _date(date), _date(post_date),
                    period_name, journal_, code, account_name, party_code,
                    party_name, description, origin, debit, credit,
                    debit - credit, currency, _decimal(second_amount),
                    second_code, _date(maturity), reconciliation_number,
                    state, line_id]
    finally:
        cursor.close()


class Totals:
    "Debit, credit and item count per account id of the exported rows"

    def __init__(self):
        self.debit = defaultdict(Decimal)
        self.credit = defaultdict(Decimal)
        self.count = defaultdict(int)

    def add(self, account_id, row):
        self.debit[account_id] += row[INDEX['debit']]
        self.credit[account_id] += row[INDEX['credit']]
        self.count[account_id] += 1

    def counted(self, rows):
        for account_id, row in rows:
            self.add(account_id, row)
            yield row


def write_csv(rows):
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as file:
        text = io.TextIOWrapper(file, encoding='utf-8', newline='')
        writer = csv.writer(text)
        writer.writerow(HEADER)
        for row in rows:
            writer.writerow([_csv_value(k, v) for k, v in zip(KINDS, row)])
        text.flush()
        file.seek(0)
        content = file.read()
        text.detach()
        return content


def _csv_value(kind, value):
    if value is None:
        return ''
    if kind == 'date':
        return value.isoformat()
    return str(value)


def write_xlsx(rows, currency, sheet_name):
    digits = currency.digits if currency else 2
    money = '#,##0' + ('.' + '0' * digits if digits else '')
    with tempfile.NamedTemporaryFile(suffix='.xlsx') as file:
        workbook = xlsxwriter.Workbook(file.name, {
                'constant_memory': True,
                'tmpdir': tempfile.gettempdir(),
                'in_memory': False,
                })
        sheet = workbook.add_worksheet(sheet_name[:31])
        bold = workbook.add_format({'bold': True})
        formats = {
            'date': workbook.add_format({'num_format': 'yyyy-mm-dd'}),
            'money': workbook.add_format({'num_format': money}),
            'number': workbook.add_format({'num_format': '#,##0.00####'}),
            'integer': workbook.add_format({'num_format': '0'}),
            }
        for col, (_, title, _, width) in enumerate(COLUMNS):
            sheet.set_column(col, col, max(width, len(title) + 2))
        # constant_memory writes each row once, in order.
        sheet.write_row(0, 0, HEADER, bold)
        sheet.freeze_panes(1, 0)
        n = 0
        for n, row in enumerate(rows, 1):
            for col, (kind, value) in enumerate(zip(KINDS, row)):
                if value is None:
                    sheet.write_blank(n, col, None, formats.get(kind))
                elif kind == 'date':
                    sheet.write_datetime(n, col,
                        dt.datetime.combine(value, dt.time()),
                        formats['date'])
                elif kind in formats:
                    # Excel numbers are doubles; the cell format shows the
                    # currency's digits, CSV keeps the exact decimals.
                    sheet.write_number(n, col, float(value), formats[kind])
                else:
                    sheet.write_string(n, col, str(value))
        sheet.autofilter(0, 0, n, len(COLUMNS) - 1)
        workbook.close()
        file.seek(0)
        return file.read()


def export_ledger(company, period, format_='xlsx', posted_only=True):
    "(file content, Totals) of the period's journal items"
    User = Pool().get('res.user')
    transaction = Transaction()
    # Rows are read with SQL: keep to the user's companies as the ORM would.
    if (transaction.user
            and company not in User(transaction.user).companies):
        raise LedgerExportError(gettext(
                'utility_integration.msg_ledger_company_access',
                company=company.rec_name))
    if period.company != company:
        raise LedgerExportError(gettext(
                'utility_integration.msg_ledger_period_company',
                period=period.rec_name, company=company.rec_name))
    totals = Totals()
    rows = totals.counted(ledger_rows(company, period, posted_only))
    if format_ == 'csv':
        content = write_csv(rows)
    elif format_ == 'xlsx':
        content = write_xlsx(rows, company.currency,
            gettext('utility_integration.msg_ledger_sheet'))
    else:
        raise ValueError(format_)
    return content, totals


def reconcile(company, period, totals, posted_only=True):
    """Differences between the exported totals and Tryton's account debit,
    credit and item count for the period: a list of (account, figure,
    ledger value, exported value); empty when the export equals the
    ledger"""
    Account = Pool().get('account.account')
    context = {
        'company': company.id,
        'periods': [period.id],
        'fiscalyear': period.fiscalyear.id,
        'posted': posted_only,
        }
    differences = []
    with Transaction().set_context(context):
        accounts = Account.search([('company', '=', company.id)],
            order=[('code', 'ASC'), ('id', 'ASC')])
        ids = {a.id for a in accounts}
        # Items on another provider's account cannot be in this ledger.
        for account_id in set(totals.count) - ids:
            differences.append((str(account_id), 'account', 0,
                    totals.count[account_id]))
        figures = Account.get_credit_debit(accounts,
            ['debit', 'credit', 'line_count'])
        for account in accounts:
            for name, exported in [
                    ('debit', totals.debit.get(account.id, Decimal(0))),
                    ('credit', totals.credit.get(account.id, Decimal(0))),
                    ('line_count', totals.count.get(account.id, 0)),
                    ]:
                ledger = figures[name].get(account.id) or 0
                if ledger != exported:
                    differences.append(
                        (account.rec_name, name, ledger, exported))
    return differences


def reconciliation_report(totals, differences):
    debit = sum(totals.debit.values(), Decimal(0))
    credit = sum(totals.credit.values(), Decimal(0))
    lines = [gettext('utility_integration.msg_ledger_totals',
            accounts=len(totals.count), items=sum(totals.count.values()),
            debit=debit, credit=credit)]
    if differences:
        lines.append(gettext('utility_integration.msg_ledger_differences',
                count=len(differences)))
        lines.extend(gettext('utility_integration.msg_ledger_difference',
                account=a, figure=f, ledger=l, exported=e)
            for a, f, l, e in differences)
    else:
        lines.append(gettext('utility_integration.msg_ledger_reconciled'))
    return '\n'.join(str(l) for l in lines)


class LedgerExportStart(ModelView):
    "Ledger Export Start"
    __name__ = 'utility.integration.ledger_export.start'
    company = fields.Many2One('company.company', "Company", required=True)
    period = fields.Many2One('account.period', "Period", required=True,
        domain=[('fiscalyear.company', '=', Eval('company', -1))])
    format = fields.Selection([
            ('xlsx', "Excel"),
            ('csv', "CSV"),
            ], "Format", required=True)
    posted_only = fields.Boolean("Posted Only",
        help="Leave draft moves out, as the ledger's balances do.")

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_format():
        return 'xlsx'

    @staticmethod
    def default_posted_only():
        return True


class LedgerExportResult(ModelView):
    "Ledger Export Result"
    __name__ = 'utility.integration.ledger_export.result'
    file = fields.Binary("File", filename='filename', readonly=True)
    filename = fields.Char("File Name", readonly=True)
    reconciliation = fields.Text("Reconciliation", readonly=True)


class LedgerExport(Wizard):
    "Ledger Export"
    __name__ = 'utility.integration.ledger_export'
    start = StateView('utility.integration.ledger_export.start',
        'utility_integration.ledger_export_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Export", 'export', 'tryton-ok', default=True),
            ])
    export = StateTransition()
    result = StateView('utility.integration.ledger_export.result',
        'utility_integration.ledger_export_result_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def transition_export(self):
        company = self.start.company
        period = self.start.period
        content, totals = export_ledger(company, period, self.start.format,
            self.start.posted_only)
        differences = reconcile(company, period, totals,
            self.start.posted_only)
        self.result.file = content
        self.result.filename = 'ledger-%s-%s.%s' % (
            company.rec_name, period.rec_name, self.start.format)
        self.result.reconciliation = reconciliation_report(
            totals, differences)
        return 'result'

    def default_result(self, fields):
        return {
            'file': self.result.file,
            'filename': self.result.filename,
            'reconciliation': self.result.reconciliation,
            }
