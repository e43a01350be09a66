"""Post new customer invoices with bulk SQL.

`post_new_customer_invoices` writes the rows `Invoice.save` followed by
`Invoice.post` would write for unsaved customer invoices, with one
INSERT per table: bill runs post hundreds of invoices per batch and the
ORM spends most of its time re-reading and re-validating what it has just
built.

Every amount comes from Tryton's own methods on the unsaved records
(`_compute_taxes`, the line's `on_change_with_amount` and
`get_move_lines`, `InvoiceTax.get_move_lines`, `PaymentTerm.compute`,
`Invoice._get_move_line`), numbers from the same sequences through
`get_many` (which locks strict sequences), periods from `Period.find` as
`get_move` and `set_number` do; column values and defaults are
converted as `ModelSQL.create` does. Whatever is outside that (another
backend, another currency, modules overriding the invoice or the move,
pending warnings, triggers, payment mean rules, lines that Move.post would
reconcile) is posted by the ORM.
"""
import re
from collections import defaultdict
from decimal import Decimal
from itertools import groupby

from sql.functions import CurrentTimestamp

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Model
from trytond.model.modelstorage import local_cache
from trytond.modules.account_invoice.exceptions import InvoiceNumberError
from trytond.pool import Pool
from trytond.transaction import Transaction

# Models the fast path writes and the modules whose code for them it
# reproduces; any other module extending them sends invoices to the ORM.
MODELS = [
    'account.invoice',
    'account.invoice.line',
    'account.invoice.line-account.tax',
    'account.invoice.tax',
    'account.move',
    'account.move.line',
    'account.tax.line',
    ]
REVIEWED_MODULES = {
    'trytond.modules.account.',
    'trytond.modules.account_invoice.',
    # Only add origins (Move) and dunning fields without defaults
    'trytond.modules.account_dunning.',
    'trytond.modules.account_dunning_fee.',
    'utility_billing.',
    }
_AUDIT = {'id', 'create_uid', 'create_date', 'write_uid', 'write_date'}


def _reviewed(pool):
    "True when only the reviewed modules extend the written models"
    for name in MODELS:
        for klass in pool.get(name).__mro__:
            module = klass.__module__ + '.'
            if not module.startswith('trytond.modules.'):
                if module.startswith('trytond.') or klass is object:
                    continue
            if not any(module.startswith(m) for m in REVIEWED_MODULES):
                return False
    return True


def fast_path_available():
    "True when the bulk path may be used in this transaction"
    pool = Pool()
    Trigger = pool.get('ir.trigger')
    PaymentMeanRule = pool.get('account.invoice.payment.mean.rule')
    if backend.name != 'postgresql':
        return False
    # Warnings are keyed by record ids: let the ORM raise them.
    if not Transaction().context.get('_skip_warnings'):
        return False
    if not _reviewed(pool):
        return False
    for name in MODELS:
        if name == 'account.invoice.line-account.tax':
            continue
        if Trigger.get_triggers(name, 'create'):
            return False
        if Trigger.get_triggers(name, 'write'):
            return False
    # set_payment_means would create payment means
    if PaymentMeanRule.search([], limit=1):
        return False
    return True


def _eligible(invoice):
    "True when the invoice is an unsaved plain customer invoice"
    return (invoice.id is None or invoice.id < 0) \
        and invoice.type == 'out' \
        and getattr(invoice, 'state', None) in {None, 'draft'} \
        and invoice.currency == invoice.company.currency \
        and not getattr(invoice, 'number', None) \
        and not getattr(invoice, 'move', None) \
        and not getattr(invoice, 'taxes', None) \
        and not getattr(invoice, 'alternative_payees', None) \
        and not getattr(invoice, 'payment_means', None) \
        and all(l.type == 'line' and (l.id is None or l.id < 0)
            for l in invoice.lines)


def post_new_customer_invoices(invoices):
    """Save and post unsaved customer invoices.

    The same rows as Invoice.save + Invoice.post; the invoices become
    saved records (their ids set) in the given list order.
    """
    pool = Pool()
    Invoice = pool.get('account.invoice')
    invoices = list(invoices)
    if not invoices:
        return
    fast, slow = [], []
    if fast_path_available():
        for invoice in invoices:
            (fast if _eligible(invoice) else slow).append(invoice)
    else:
        slow = invoices
    if fast:
        slow.extend(_BulkPost(fast).run())
    if slow:
        Invoice.save(slow)
        Invoice.post(slow)


class _Fallback(Exception):
    "The invoice needs the ORM"


class _BulkPost:

    def __init__(self, invoices):
        pool = Pool()
        self.pool = pool
        self.Invoice = pool.get('account.invoice')
        self.Line = pool.get('account.invoice.line')
        self.LineTax = pool.get('account.invoice.line-account.tax')
        self.Tax = pool.get('account.invoice.tax')
        self.Move = pool.get('account.move')
        self.MoveLine = pool.get('account.move.line')
        self.TaxLine = pool.get('account.tax.line')
        self.invoices = invoices
        self.transaction = Transaction()

    def run(self):
        "Post what the bulk path handles, return the invoices it does not"
        pool = self.pool
        Date = pool.get('ir.date')
        MoveLine = self.MoveLine
        done, rest = [], []
        # As create does, so Tryton's methods find every field
        _fill_defaults(self.Invoice, self.invoices)
        _fill_defaults(self.Line, [l for i in self.invoices for l in i.lines])
        self.today = {}
        # By object: a record's hash changes when its id is set
        self.taxes, self.moves = {}, {}
        for invoice in self.invoices:
            company = invoice.company
            if company not in self.today:
                with Transaction().set_context(company=company.id):
                    self.today[company] = Date.today()
            try:
                self._compute(invoice)
            except _Fallback:
                rest.append(invoice)
            else:
                done.append(invoice)
        if not done:
            return rest
        self.invoices = done

        # Period.find in _compute refused closed periods (the move's
        # domain); MoveLine.on_modification checks the journal period.
        journal_periods = set()
        for invoice in done:
            move = self.moves[id(invoice)]
            key = (move.journal, move.period)
            if key not in journal_periods:
                MoveLine.check_journal_period_modify(move.period,
                    move.journal)
                journal_periods.add(key)
        move_lines = [l for i in done for l in self.moves[id(i)].lines]
        _fill_defaults(MoveLine, move_lines)
        _fill_defaults(self.TaxLine, [t for l in move_lines
                for t in (getattr(l, 'tax_lines', None) or [])])
        _fill_defaults(self.Tax, [t for i in done for t in self.taxes[id(i)]])
        _fill_defaults(self.Move, [self.moves[id(i)] for i in done])
        MoveLine.check_account(
            [l for i in done for l in self.moves[id(i)].lines])

        self._set_number()
        self._set_move_number()
        self._insert()
        self.Invoice.__queue__.print_invoice(done)
        return rest

    def _compute(self, invoice):
        "Taxes, cached amounts and the move as update_taxes and get_move"
        pool = self.pool
        Tax = self.Tax
        Move = self.Move
        Period = pool.get('account.period')
        today = self.today[invoice.company]
        currency = invoice.currency
        for line in invoice.lines:
            # As save would: the parent is known when the line is created
            line.invoice = invoice
        taxes = []
        for key, value in invoice._compute_taxes():
            value = dict(value)
            value.pop('invoice', None)
            tax = Tax(**value)
            tax.invoice = invoice
            taxes.append(tax)
        self.taxes[id(invoice)] = taxes
        # get_amount: lines rounded, taxes as stored
        zero = currency.round(Decimal(0))
        for line in invoice.lines:
            line.amount = line.on_change_with_amount()
        untaxed = sum((l.amount for l in invoice.lines), zero)
        tax_amount = sum((t.amount for t in taxes), zero)
        invoice.untaxed_amount_cache = untaxed
        invoice.tax_amount_cache = tax_amount
        invoice.total_amount_cache = untaxed + tax_amount
        invoice.untaxed_amount = untaxed
        invoice.tax_amount = tax_amount
        invoice.total_amount = untaxed + tax_amount

        move_lines = []
        for line in self._line_lines(invoice):
            move_lines += line.get_move_lines()
        for tax in taxes:
            move_lines += tax.get_move_lines()
        payment_term_date = getattr(invoice, 'payment_term_date', None)
        if invoice.payment_term:
            payment_date = payment_term_date or invoice.invoice_date or today
            term_lines = invoice.payment_term.compute(
                invoice.total_amount, currency, payment_date)
        else:
            term_lines = [(payment_term_date or today, invoice.total_amount)]
        for date, amount in term_lines:
            move_lines.append(invoice._get_move_line(date, amount))
        # Move.post checks the balance in SQL; the same invoices always
        # balance in the company currency.
        if sum(l.debit - l.credit for l in move_lines) != 0:
            raise _Fallback
        for line in move_lines:
            # Move.post reconciles empty lines of reconcilable accounts
            # (and the invoice then goes to process)
            if not line.debit and not line.credit and line.account.reconcile:
                raise _Fallback
            line.state = 'valid'
        accounting_date = (getattr(invoice, 'accounting_date', None)
            or invoice.invoice_date or today)
        period = Period.find(invoice.company, date=accounting_date)
        move = Move()
        move.journal = invoice.journal
        move.period = period
        move.date = accounting_date
        move.origin = invoice
        move.company = invoice.company
        move.lines = move_lines
        move.state = 'posted'
        move.post_date = today
        self.moves[id(invoice)] = move
        if not move_lines:
            raise _Fallback

    @staticmethod
    def _line_lines(invoice):
        # As read back: ordered by sequence (NULLS FIRST) then creation
        return sorted(invoice.lines, key=lambda l: (
                l.sequence is not None, l.sequence or 0))

    def _set_number(self):
        "Invoice.set_number: one get_many per sequence and date"
        pool = self.pool
        Lang = pool.get('ir.lang')
        Invoice = self.Invoice
        sequences = set()
        for company, grouped in groupby(
                self.invoices, key=lambda i: i.company):
            today = self.today[company]

            def invoice_date(invoice):
                return invoice.invoice_date or today
            to_number = defaultdict(list)
            for invoice in sorted(grouped, key=invoice_date):
                if not getattr(invoice, 'tax_identifier', None):
                    invoice.tax_identifier = invoice.get_tax_identifier()
                if not getattr(invoice, 'party_tax_identifier', None):
                    invoice.party_tax_identifier = (
                        invoice.party.tax_identifier)
                if not invoice.invoice_date:
                    invoice.invoice_date = today
                invoice.sequence_type_cache = invoice._sequence_type
                sequence, sequence_date = invoice._number_sequence()
                to_number[(sequence, sequence_date)].append(invoice)
                if sequence not in sequences:
                    date = invoice_date(invoice)
                    after_invoices = Invoice.search([
                            ('sequence', '=', sequence),
                            ('invoice_date', '>', date),
                            ],
                        limit=1, order=[('invoice_date', 'DESC')])
                    if after_invoices:
                        after_invoice, = after_invoices
                        raise InvoiceNumberError(
                            gettext('account_invoice.msg_invoice_number_after',
                                invoice=invoice.rec_name,
                                sequence=sequence.rec_name,
                                date=Lang.get().strftime(date),
                                after_invoice=after_invoice.rec_name))
                    sequences.add(sequence)
            for (sequence, date), n_invoices in to_number.items():
                # get_many locks a strict sequence once for all numbers
                with Transaction().set_context(
                        date=date, company=company.id):
                    numbers = list(sequence.get_many(len(n_invoices)))
                for invoice, number in zip(n_invoices, numbers):
                    invoice.sequence = sequence
                    invoice.number = number

    def _set_move_number(self):
        "Move.post: moves numbered in invoice order per period sequence"
        missing_number = defaultdict(list)
        for invoice in self.invoices:
            move = self.moves[id(invoice)]
            missing_number[move.period.move_sequence_used].append(move)
        for sequence, moves in missing_number.items():
            for move, number in zip(
                    moves, sequence.get_many(len(moves))):
                move.number = number

    def _insert(self):
        pool = self.pool
        User = pool.get('res.user')
        Invoice = self.Invoice
        invoices = self.invoices
        employee = User(self.transaction.user).employee
        lines = [l for i in invoices for l in i.lines]
        taxes = [t for i in invoices for t in self.taxes[id(i)]]
        moves = [self.moves[id(i)] for i in invoices]
        move_lines = [l for m in moves for l in m.lines]
        tax_lines = [t for l in move_lines for t in (
                getattr(l, 'tax_lines', None) or [])]
        # Ids first: rows refer to each other
        for Model_, records in [
                (Invoice, invoices),
                (self.Line, lines),
                (self.Tax, taxes),
                (self.Move, moves),
                (self.MoveLine, move_lines),
                (self.TaxLine, tax_lines),
                ]:
            ids = self.transaction.database.nextid(
                self.transaction.connection, Model_._table,
                count=len(records)) if records else []
            if len(records) == 1:
                ids = [ids]
            for record, id_ in zip(records, ids):
                record._id = id_
        for invoice in invoices:
            invoice.move = self.moves[id(invoice)]
            invoice.state = 'posted'
            # set_employee('posted_by', when='before')
            if (employee and not getattr(invoice, 'posted_by', None)
                    and invoice.company == employee.company):
                invoice.posted_by = employee
        for move, invoice in zip(moves, invoices):
            for line in move.lines:
                line.move = move
                for tax_line in (getattr(line, 'tax_lines', None) or []):
                    tax_line.move_line = line

        # post writes the invoices and their moves, not the other rows;
        # foreign keys are checked per statement: moves first.
        self._insert_rows(self.Move, moves, written=True)
        self._insert_rows(Invoice, invoices, written=True)
        self._insert_rows(self.Line, lines)
        self._insert_line_taxes(lines)
        self._insert_rows(self.Tax, taxes)
        self._insert_rows(self.MoveLine, move_lines)
        self._insert_rows(self.TaxLine, tax_lines)
        for Model_, records in [
                (Invoice, invoices),
                (self.Line, lines),
                (self.Tax, taxes),
                (self.Move, moves),
                (self.MoveLine, move_lines),
                (self.TaxLine, tax_lines),
                ]:
            _as_saved(Model_, records)

    def _insert_line_taxes(self, lines):
        table = self.LineTax.__table__()
        pairs = [(line.id, tax.id)
            for line in lines for tax in (line.taxes or [])]
        if pairs:
            transaction = self.transaction
            ids = transaction.database.nextid(
                transaction.connection, self.LineTax._table,
                count=len(pairs))
            if len(pairs) == 1:
                ids = [ids]
            rows = [[l, t, i, transaction.user, CurrentTimestamp()]
                for (l, t), i in zip(pairs, ids)]
            _execute_insert(self.LineTax, table,
                [table.line, table.tax, table.id, table.create_uid,
                    table.create_date], rows)

    def _insert_rows(self, Model_, records, written=False):
        "Insert records as ModelSQL.create stores them"
        if not records:
            return
        table = Model_.__table__()
        names = [n for n, f in Model_._fields.items()
            if not hasattr(f, 'set') and n not in _AUDIT]
        missing = {n for r in records for n in names if n not in r._values}
        defaults = Model_._clean_defaults(
            Model_.default_get(sorted(missing), with_rec_name=False)
            ) if missing else {}
        user = self.transaction.user
        rows = []
        for record in records:
            values = {}
            for name in names:
                if name in record._values:
                    value = record._values[name]
                else:
                    value = defaults.get(name)
                values[name] = value
            if Model_ == self.Invoice:
                values.update(_number_fields(values['number']))
            row = []
            for name in names:
                field = Model_._fields[name]
                value = values[name]
                if isinstance(value, Model):
                    value = (str(value) if field._type == 'reference'
                        else value.id)
                elif isinstance(value, (list, tuple)) and value and all(
                        isinstance(v, Model) for v in value):
                    value = [v.id for v in value]
                value = field.sql_format(value)
                if field.required and value is None:
                    raise ValueError(
                        f"{Model_.__name__}.{name} is required")
                row.append(value)
            row += [record.id, user, CurrentTimestamp()]
            if written:
                row += [user, CurrentTimestamp()]
            rows.append(row)
        columns = [getattr(table, n) for n in names] + [
            table.id, table.create_uid, table.create_date]
        if written:
            columns += [table.write_uid, table.write_date]
        _execute_insert(Model_, table, columns, rows)


def _fill_defaults(Model_, records):
    "Set the defaults create would store and empty relations"
    if not records:
        return
    missing = {n for r in records for n, f in Model_._fields.items()
        if n not in _AUDIT and n not in r._values
        and (not hasattr(f, 'set') or f._type in {'one2many', 'many2many'})}
    stored = {n for n in missing if not hasattr(Model_._fields[n], 'set')}
    defaults = Model_._clean_defaults(
        Model_.default_get(sorted(stored), with_rec_name=False)
        ) if stored else {}
    for record in records:
        for name in missing:
            if name in record._values:
                continue
            if name in stored:
                setattr(record, name, defaults.get(name))
            else:
                setattr(record, name, [])


def _number_fields(number):
    "Invoice.compute_fields for the number"
    values = {'number_alnum': (re.sub(r'[\W_]', '', number)
            if number is not None else None)}
    try:
        values['number_digit'] = int(re.sub(r'\D', '', number or '')[-18:])
    except ValueError:
        values['number_digit'] = None
    return values


def _execute_insert(Model_, table, columns, rows):
    "One INSERT per table, split only by the driver's parameter limit"
    cursor = Transaction().connection.cursor()
    size = max(1, backend.MAX_QUERY_PARAMS // (len(columns) + 1))
    for start in range(0, len(rows), size):
        cursor.execute(*table.insert(columns, rows[start:start + size]))


def _as_saved(Model_, records):
    "Turn the inserted instances into records read back from the table"
    transaction = Transaction()
    ids = [r.id for r in records]
    cache = local_cache(Model_, transaction)
    for record in records:
        record._values = None
        record._init_values = None
        record._ids = ids
        record._local_cache = cache
