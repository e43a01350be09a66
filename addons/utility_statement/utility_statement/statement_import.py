"""Statement import: our CSV format beside Tryton's OFX and CAMT importers,
refusal of files already imported, and bill matching right after import.

CSV format (Tryton ships no CSV importer), UTF-8, comma or semicolon
separated, one header row naming the columns in any order:

    date,amount,reference,description,payer,payer_account,transaction_id
    2024-02-12,117.08,RF74 1,January bill,Customer 1,BE71096123456769,TX-0001

- date (required): ISO date YYYY-MM-DD, the booking date;
- amount (required): decimal with a dot, positive for money received;
- reference: the structured payment reference (RF…) the payer gave;
- description, payer, payer_account (IBAN), transaction_id: optional.

The bank account is the statement journal chosen in the wizard; the
statement starts from the journal's last end balance.
"""
import csv
import datetime as dt
import hashlib
import io
from decimal import Decimal, InvalidOperation

from trytond import backend
from trytond.i18n import gettext
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import grouped_slice

from .exceptions import CSVStatementError, DuplicateStatementError

CSV_COLUMNS = ['date', 'amount', 'reference', 'description', 'payer',
    'payer_account', 'transaction_id']


def _in_max():
    "How many values one query may hold on this backend"
    return backend.MAX_QUERY_PARAMS


class StatementImportStart(metaclass=PoolMeta):
    __name__ = 'account.statement.import.start'

    journal = fields.Many2One('account.statement.journal', "Journal",
        domain=[
            ('company', '=', Eval('company', -1)),
            ],
        states={
            'invisible': Eval('file_format') != 'csv',
            'required': Eval('file_format') == 'csv',
            },
        help="The bank account the CSV file comes from.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.file_format.selection.append(('csv', "CSV (utility statement)"))


class StatementImport(metaclass=PoolMeta):
    __name__ = 'account.statement.import'

    def do_import_(self, action):
        pool = Pool()
        Origin = pool.get('account.statement.origin')
        file_hash = hashlib.sha256(self.start.file_).hexdigest()
        name = 'parse_%s' % self.start.file_format
        parse = getattr(self, name)

        def parse_checked():
            # Refuse duplicates before Tryton saves anything.
            statements = list(parse())
            self._utility_check_duplicates(statements, file_hash)
            for statement in statements:
                statement.utility_file_hash = file_hash
            return statements
        setattr(self, name, parse_checked)
        try:
            action, data = super().do_import_(action)
        finally:
            delattr(self, name)
        Origin.utility_match_bills(Origin.utility_ids([
                    ('statement', 'in', data['res_id']),
                    ]))
        return action, data

    @classmethod
    def _utility_check_duplicates(cls, statements, file_hash):
        """Refuse a file, a statement or a bank transaction that was
        already imported (and not cancelled)"""
        pool = Pool()
        Journal = pool.get('account.statement.journal')
        Origin = pool.get('account.statement.origin')
        if not statements:
            return
        # Concurrent imports to a journal wait here, then see each other.
        Journal.lock(list({s.journal for s in statements}))
        company = statements[0].company
        cls._utility_refuse_statement([
                ('company', '=', company.id),
                ('utility_file_hash', '=', file_hash),
                ], 'utility_statement.msg_statement_file_imported')
        cls._utility_refuse_statement(['OR'] + [[
                    ('journal', '=', s.journal.id),
                    ('name', '=', s.name),
                    ('date', '=', s.date),
                    ] for s in statements],
            'utility_statement.msg_statement_imported')
        # The same bank transaction in another file (overlapping exports).
        numbered = {(s.journal.id, o.number, o.date, o.amount)
            for s in statements for o in s.origins if o.number}
        for keys in grouped_slice(list(numbered), 200):
            domain = ['OR'] + [[
                    ('statement.journal', '=', journal),
                    ('number', '=', number),
                    ('date', '=', date),
                    ('amount', '=', amount),
                    ] for journal, number, date, amount in keys]
            if duplicates := Origin.search([domain,
                        ('statement.state', '!=', 'cancelled'),
                        ], limit=1):
                duplicate, = duplicates
                raise DuplicateStatementError(gettext(
                        'utility_statement.msg_statement_transaction_imported',
                        number=duplicate.number,
                        date=duplicate.date,
                        statement=duplicate.statement.rec_name))

    @classmethod
    def _utility_refuse_statement(cls, domain, message):
        "Raise message when a statement not cancelled matches domain"
        Statement = Pool().get('account.statement')
        if duplicates := Statement.search([domain,
                    ('state', '!=', 'cancelled'),
                    ], limit=1):
            duplicate, = duplicates
            raise DuplicateStatementError(gettext(message,
                    statement=duplicate.rec_name,
                    journal=duplicate.journal.rec_name,
                    date=duplicate.date))

    def parse_csv(self):
        pool = Pool()
        Statement = pool.get('account.statement')
        Origin = pool.get('account.statement.origin')
        journal = self.start.journal
        if not journal:
            raise CSVStatementError(gettext(
                    'utility_statement.msg_csv_no_journal'))
        rows = self._csv_rows()
        origins = []
        for line_number, row in rows:
            origin = Origin()
            origin.date = self._csv_date(line_number, row['date'])
            origin.amount = journal.currency.round(
                self._csv_amount(line_number, row['amount']))
            origin.number = row.get('transaction_id') or None
            origin.description = (row.get('description')
                or row.get('reference') or None)
            information = {}
            for column, key in [
                    ('reference', 'csv_reference'),
                    ('payer', 'csv_payer'),
                    ('payer_account', 'csv_payer_account'),
                    ]:
                if row.get(column):
                    information[key] = row[column]
            origin.information = information
            origins.append(origin)
        if not origins:
            raise CSVStatementError(gettext(
                    'utility_statement.msg_csv_empty'))
        self._csv_parties(origins)

        statement = Statement()
        statement.company = self.start.company
        statement.journal = journal
        dates = [o.date for o in origins]
        statement.date = max(dates)
        file_hash = hashlib.sha256(self.start.file_).hexdigest()
        statement.name = '%s %s..%s %s' % (
            journal.name, min(dates), max(dates), file_hash[:8])
        total = sum(o.amount for o in origins)
        statement.total_amount = total
        statement.number_of_lines = len(origins)
        # A CSV export carries no balances: continue from the last one.
        statement.start_balance = (
            statement.on_change_with_start_balance() or Decimal(0))
        statement.end_balance = statement.start_balance + total
        statement.origins = origins
        yield statement

    def _csv_rows(self):
        try:
            text = bytes(self.start.file_).decode('utf-8-sig')
        except UnicodeDecodeError as exception:
            raise CSVStatementError(gettext(
                    'utility_statement.msg_csv_encoding',
                    error=str(exception))) from exception
        try:
            dialect = csv.Sniffer().sniff(text.split('\n', 1)[0], ',;')
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(io.StringIO(text), dialect)
        header = [c.strip().lower() for c in next(reader, [])]
        for column in ['date', 'amount']:
            if column not in header:
                raise CSVStatementError(gettext(
                        'utility_statement.msg_csv_missing_column',
                        column=column, columns=', '.join(CSV_COLUMNS)))
        for row in reader:
            if not any(c.strip() for c in row):
                continue
            yield reader.line_num, {
                k: (v or '').strip() for k, v in zip(header, row)}

    @staticmethod
    def _csv_date(line, value):
        try:
            return dt.date.fromisoformat(value)
        except (TypeError, ValueError):
            raise CSVStatementError(gettext(
                    'utility_statement.msg_csv_date',
                    line=line, value=value))

    @staticmethod
    def _csv_amount(line, value):
        try:
            amount = Decimal(value)
        except (TypeError, InvalidOperation):
            amount = None
        if amount is None or not amount.is_finite():
            raise CSVStatementError(gettext(
                    'utility_statement.msg_csv_amount',
                    line=line, value=value))
        return amount

    def _csv_parties(self, origins):
        "Set the payer from their IBAN with one query for the file"
        pool = Pool()
        AccountNumber = pool.get('bank.account.number')
        numbers = {o.information['csv_payer_account'].replace(' ', '')
            for o in origins if 'csv_payer_account' in o.information}
        owners = self._utility_iban_owners(AccountNumber, numbers)
        for origin in origins:
            number = origin.information.get('csv_payer_account', '')
            origin.party = owners.get(number.replace(' ', ''))

    @staticmethod
    def _utility_iban_owners(AccountNumber, numbers):
        "IBAN -> its account's first owner, for IBANs that are unique"
        found = {}
        for sub_numbers in grouped_slice(list(numbers), _in_max()):
            sub_numbers = list(sub_numbers)
            for number in AccountNumber.search(['OR',
                        ('number', 'in', sub_numbers),
                        ('number_compact', 'in', sub_numbers),
                        ]):
                key = (number.number_compact
                    if number.number_compact in numbers else number.number)
                found.setdefault(key, []).append(number)
        return {k: v[0].account.owners[0] for k, v in found.items()
            if len(v) == 1 and v[0].account.owners}

    def parse_camt(self):
        "Look the payers' IBANs up once per file instead of per entry"
        pool = Pool()
        AccountNumber = pool.get('bank.account.number')
        from lxml import etree
        root = etree.parse(io.BytesIO(self.start.file_)).getroot()
        numbers = set()
        for path in ['DbtrAcct', 'CdtrAcct']:
            numbers.update(n.text for n in root.iterfind(
                    './/{*}RltdPties/{*}%s/{*}Id/{*}IBAN' % path) if n.text)
        self._utility_camt_owners = self._utility_iban_owners(
            AccountNumber, numbers)
        yield from super().parse_camt()

    parse_camt_052_001 = parse_camt
    parse_camt_053_001 = parse_camt
    parse_camt_054_001 = parse_camt

    def camt_party(self, camt_statement, entry, detail):
        owners = getattr(self, '_utility_camt_owners', None)
        if owners is None:
            return super().camt_party(camt_statement, entry, detail)
        path = {
            'DBIT': './{*}RltdPties/{*}CdtrAcct/{*}Id/{*}IBAN',
            'CRDT': './{*}RltdPties/{*}DbtrAcct/{*}Id/{*}IBAN',
            }[entry.findtext('./{*}CdtDbtInd')]
        return owners.get(detail.findtext(path))

    def camt_information(self, camt_statement, entry, detail):
        information = super().camt_information(camt_statement, entry, detail)
        # The structured creditor reference (ISO 11649) of the transfer.
        reference = detail.findtext(
            './{*}RmtInf/{*}Strd/{*}CdtrRefInf/{*}Ref')
        if reference:
            information['camt_creditor_reference'] = reference
        return information
