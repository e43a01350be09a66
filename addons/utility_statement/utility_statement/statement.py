"""Bank statement transfers matched to bills by payment reference.

Each bill is a posted customer invoice whose structured payment reference
is Tryton's ISO 11649 creditor reference (``RF`` + check digits + the
invoice number, or the customer code when the accounting configuration
says so). Imported transfers (statement origins) are matched in batches:
the references of all origins are resolved with one query per slice, the
amounts to pay of all candidate invoices are read together, and the
statement lines are created in one call.
"""
import re
from collections import defaultdict, namedtuple
from decimal import Decimal

from sql import Literal, Null, Union
from sql.aggregate import Count, Sum
from sql.conditionals import Case, Coalesce
from sql.functions import CurrentTimestamp, Upper
from stdnum import iso11649

from trytond import backend
from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If
from trytond.tools import grouped_slice, sqlite_apply_types
from trytond.transaction import Transaction

# "RF" + 2 check digits + up to 21 characters, possibly printed in groups
# of four; not preceded by a letter or digit (e.g. "TRANSFER18").
_REFERENCE = re.compile(r'(?<![0-9A-Z])RF\d{2}(?: ?[0-9A-Z]){1,21}')
# Where a bank puts the reference, most structured first.
REFERENCE_KEYS = [
    'camt_creditor_reference',
    'camt_remittance_information',
    'camt_end_to_end_identification',
    'csv_reference',
    ]


def find_reference(*texts):
    "Return the first valid ISO 11649 reference found in texts, compacted"
    for text in texts:
        if not text or not isinstance(text, str):
            continue
        for match in _REFERENCE.finditer(text.upper()):
            candidate = match.group().replace(' ', '')
            # A bank may glue the next word to the reference: keep the
            # longest prefix whose check digits are right.
            while len(candidate) > 4:
                if iso11649.is_valid(candidate):
                    return candidate
                candidate = candidate[:-1]


# A statement line to insert, in the column order of _utility_create_lines
_LineValues = namedtuple('_LineValues', ['statement', 'origin', 'number',
        'description', 'date', 'amount', 'party', 'account', 'related_to'])


def _in_max():
    "How many values one query may hold on this backend"
    return backend.MAX_QUERY_PARAMS


class Statement(metaclass=PoolMeta):
    __name__ = 'account.statement'

    utility_file_hash = fields.Char("File Hash", readonly=True,
        help="SHA-256 of the imported file; "
        "the same file cannot be imported twice.")
    utility_to_reconcile = fields.Function(fields.Integer(
            "Transfers to Reconcile",
            help="Transfers that no bill matched: "
            "an accountant must add their lines."),
        'get_utility_to_reconcile', searcher='search_utility_to_reconcile')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'utility_match': {
                    'invisible': Eval('state') != 'draft',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('/tree', 'visual',
                If(Eval('utility_to_reconcile', 0) > 0, 'warning', '')),
            ]

    @classmethod
    def _utility_to_reconcile_query(cls):
        "Unmatched transfers whose amount is not yet fully on lines"
        pool = Pool()
        Origin = pool.get('account.statement.origin')
        Line = pool.get('account.statement.line')
        origin = Origin.__table__()
        line = Line.__table__()
        pending = origin.join(line, 'LEFT',
            condition=line.origin == origin.id
            ).select(origin.statement.as_('statement'),
            where=origin.utility_match == 'unmatched',
            group_by=[origin.id, origin.statement, origin.amount],
            having=origin.amount - Coalesce(Sum(line.amount), 0) != 0)
        return pending.select(pending.statement.as_('statement'),
            Count(pending.statement).as_('count'),
            group_by=pending.statement)

    @classmethod
    def get_utility_to_reconcile(cls, statements, name):
        cursor = Transaction().connection.cursor()
        query = cls._utility_to_reconcile_query()
        result = dict.fromkeys(map(int, statements), 0)
        for sub_ids in grouped_slice(list(result), _in_max()):
            cursor.execute(*query.select(query.statement, query.count,
                    where=query.statement.in_(list(sub_ids))))
            result.update(cursor)
        return result

    @classmethod
    def search_utility_to_reconcile(cls, name, clause):
        _, operator, value = clause
        Operator = fields.SQL_OPERATORS[operator]
        statement = cls.__table__()
        query = cls._utility_to_reconcile_query()
        return [('id', 'in', statement.join(query, 'LEFT',
                    condition=query.statement == statement.id
                    ).select(statement.id,
                    where=Operator(Coalesce(query.count, 0), value)))]

    @classmethod
    def copy(cls, statements, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('utility_file_hash')
        return super().copy(statements, default=default)

    @classmethod
    @ModelView.button
    def utility_match(cls, statements):
        "Match the transfers without lines to the open bills"
        pool = Pool()
        Origin = pool.get('account.statement.origin')
        Origin.utility_match_bills(Origin.utility_ids([
                    ('statement', 'in', [s.id for s in statements]),
                    ('statement.state', '=', 'draft'),
                    ('lines', '=', None),
                    ]))


class Origin(metaclass=PoolMeta):
    __name__ = 'account.statement.origin'

    utility_reference = fields.Char("Payment Reference", readonly=True,
        help="The structured reference found in the transfer.")
    utility_match = fields.Selection([
            (None, ""),
            ('matched', "Matched"),
            ('partial', "Partial Payment"),
            ('overpaid', "Over-payment"),
            ('unmatched', "To Reconcile"),
            ], "Bill Match", readonly=True, sort=False)
    utility_match_note = fields.Char("Match Note", readonly=True)

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('/tree', 'visual',
                If(Eval('utility_match') == 'unmatched', 'danger', '')),
            ]

    @classmethod
    def copy(cls, origins, default=None):
        default = default.copy() if default is not None else {}
        for name in ['utility_reference', 'utility_match',
                'utility_match_note']:
            default.setdefault(name)
        return super().copy(origins, default=default)

    @classmethod
    def utility_ids(cls, domain):
        """Ids of the origins in domain, in order, without instantiating
        them: a browse list of n records costs O(n²) in Tryton 8.0"""
        cursor = Transaction().connection.cursor()
        cursor.execute(*cls.search(domain, order=[('id', 'ASC')],
                query=True))
        return [i for i, in cursor]

    @staticmethod
    def utility_find_reference(description, information):
        "The payment reference of a transfer, structured places first"
        information = information or {}
        return find_reference(
            *(information.get(k) for k in REFERENCE_KEYS),
            description,
            *(v for k, v in sorted(information.items())
                if k not in REFERENCE_KEYS))

    @classmethod
    def utility_match_bills(cls, origins):
        """Create the statement lines paying the bills the transfers refer
        to and flag each transfer; what no bill matches is left to the
        accountants with the reason.

        Works on rows read in bulk: instantiating a record per transfer
        and per bill cost 3 ms each (bench/statement_match.py)."""
        pool = Pool()
        Statement = pool.get('account.statement')
        Invoice = pool.get('account.invoice')
        Configuration = pool.get('account.configuration')
        Lang = pool.get('ir.lang')

        rows = cls.read(list(map(int, origins)), [
                'statement', 'number', 'description', 'date', 'amount',
                'information'])
        statements = {s.id: s for s in Statement.browse(
                list({r['statement'] for r in rows}))}
        rows = [r for r in rows if statements[r['statement']].state == 'draft']
        if not rows:
            return
        lang = Lang.get()
        configuration = Configuration(1)
        for row in rows:
            row['reference'] = cls.utility_find_reference(
                row['description'], row['information'])

        # (company id, reference) -> ids of the invoices it may pay
        candidates = {}
        by_company = defaultdict(set)
        for row in rows:
            if row['reference'] and row['amount'] > 0:
                company = statements[row['statement']].company
                by_company[company].add(row['reference'])
        for company, references in by_company.items():
            source = configuration.get_multivalue(
                'customer_payment_reference_number', company=company.id)
            candidates.update(getattr(
                    cls, '_utility_candidates_%s' % source)(
                    company, references))
        invoices = {r['id']: r for r in Invoice.read(
                list({i for l in candidates.values() for i in l}),
                ['company', 'type', 'state', 'number', 'currency', 'party',
                    'account'])}
        to_pay = cls._utility_amounts_to_pay(invoices)

        lines, flags = [], {}
        for row in rows:
            statement = statements[row['statement']]
            match, note, new_lines = cls._utility_allocate(
                row, statement, [invoices[i] for i in candidates.get(
                        (statement.company.id, row['reference']), [])],
                to_pay, lang)
            lines.extend(new_lines)
            flags[row['id']] = (row['reference'], match, note)
        if lines:
            cls._utility_create_lines(lines)
        cls._utility_flag(flags)

    @classmethod
    def _utility_flag(cls, flags):
        """Store {origin id: (reference, match, note)} with one UPDATE per
        slice: the ORM write re-validates the amounts of every origin
        (3.6 ms per origin in bench/statement_match.py)."""
        table = cls.__table__()
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        for ids in grouped_slice(list(flags), min(500, _in_max())):
            ids = list(ids)
            values = []
            for index, column in enumerate([table.utility_reference,
                        table.utility_match, table.utility_match_note]):
                # Typed: PostgreSQL cannot infer a NULL parameter's type.
                values.append(Case(*((table.id == i,
                                Literal(flags[i][index]).cast('VARCHAR'))
                            for i in ids), else_=column))
            cursor.execute(*table.update(
                    [table.utility_reference, table.utility_match,
                        table.utility_match_note,
                        table.write_uid, table.write_date],
                    values + [transaction.user, CurrentTimestamp()],
                    where=table.id.in_(list(ids))))
        transaction.counter += 1

    @classmethod
    def _utility_amounts_to_pay(cls, invoices):
        """{id: amount to pay} of the posted customer invoices read as
        {id: values}, as Tryton's amount_to_pay, with one query per
        slice: its per-invoice reads took 35 ms per invoice
        (bench/statement_match.py)"""
        pool = Pool()
        Invoice = pool.get('account.invoice')
        Company = pool.get('company.company')
        Currency = pool.get('currency.currency')
        MoveLine = pool.get('account.move.line')
        PaymentLine = pool.get('account.invoice-account.move.line')
        line = MoveLine.__table__()
        payment = PaymentLine.__table__()
        cursor = Transaction().connection.cursor()
        company_currency = {c.id: c.currency.id for c in Company.browse(
                list({i['company'] for i in invoices.values()}))}
        invoices_values = invoices.values()
        invoices = [i for i in invoices_values if i['state'] == 'posted']
        # Tryton converts foreign-currency amounts: let it do those.
        foreign = [i['id'] for i in invoices
            if i['currency'] != company_currency[i['company']]
            or i['type'] != 'out']
        result = dict(Invoice.get_amount_to_pay(
                Invoice.browse(foreign), 'amount_to_pay'))
        invoices = [i['id'] for i in invoices if i['id'] not in result]
        for sub_invoices in grouped_slice(invoices, _in_max()):
            sub_invoices = list(sub_invoices)
            to_pay = Invoice._query_lines_to_pay(sub_invoices)
            unpaid = Union(
                to_pay.join(line, condition=line.id == to_pay.line).select(
                    to_pay.invoice.as_('invoice'),
                    (line.debit - line.credit).as_('amount'),
                    where=line.reconciliation == Null),
                payment.join(line, condition=line.id == payment.line).select(
                    payment.invoice.as_('invoice'),
                    (line.debit - line.credit).as_('amount'),
                    where=(line.reconciliation == Null)
                    & payment.invoice.in_(list(sub_invoices))),
                all_=True)
            query = unpaid.select(unpaid.invoice.as_('invoice'),
                Sum(unpaid.amount).as_('amount'),
                group_by=unpaid.invoice)
            if backend.name == 'sqlite':
                sqlite_apply_types(query, [None, 'NUMERIC'])
            cursor.execute(*query)
            result.update(cursor)
        currencies = {c.id: c for c in Currency.browse(
                list({i['currency'] for i in invoices_values}))}
        currency = {i['id']: currencies[i['currency']]
            for i in invoices_values}
        for invoice in invoices:
            result[invoice] = currency[invoice].round(
                Decimal(result.get(invoice) or 0))
        return result

    @classmethod
    def _utility_create_lines(cls, lines):
        """Insert the statement lines with one INSERT per slice.

        The ORM's create validates the invoice domain of related_to with
        one query per line (a domain per party): 20 ms per line in
        bench/statement_match.py. The lines were built from that domain
        (company, currency, party, account and posted state of the
        invoice), so it holds."""
        pool = Pool()
        Line = pool.get('account.statement.line')
        table = Line.__table__()
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        now = CurrentTimestamp()
        columns = ['statement', 'origin', 'number', 'description', 'date',
            'amount', 'party', 'account', 'related_to']
        for sub_lines in grouped_slice(lines, 1000):
            values = [list(l) + [transaction.user, now] for l in sub_lines]
            cursor.execute(*table.insert(
                    [getattr(table, c) for c in columns]
                    + [table.create_uid, table.create_date], values))
        # Records read before the INSERT must not keep stale lists.
        transaction.counter += 1

    @classmethod
    def _utility_candidates_invoice(cls, company, references):
        "The reference carries the invoice number"
        pool = Pool()
        Invoice = pool.get('account.invoice')
        invoice = Invoice.__table__()
        cursor = Transaction().connection.cursor()
        body2references = defaultdict(list)
        for reference in references:
            body2references[reference[4:]].append(reference)
        result = {}
        for bodies in grouped_slice(list(body2references), _in_max()):
            # number_alnum is upper-cased in the reference (account_invoice).
            number = Upper(invoice.number_alnum)
            cursor.execute(*invoice.select(invoice.id, number,
                    where=(invoice.company == company.id)
                    & (invoice.type == 'out')
                    & number.in_(list(bodies))))
            for invoice_id, body in cursor:
                for reference in body2references[body]:
                    result.setdefault((company.id, reference), []).append(
                        invoice_id)
        return result

    @classmethod
    def _utility_candidates_party(cls, company, references):
        "The reference carries the customer code: their bills oldest first"
        pool = Pool()
        Invoice = pool.get('account.invoice')
        Party = pool.get('party.party')
        invoice = Invoice.__table__()
        party = Party.__table__()
        cursor = Transaction().connection.cursor()
        body2references = defaultdict(list)
        for reference in references:
            body2references[reference[4:]].append(reference)
        result = {}
        for bodies in grouped_slice(list(body2references), _in_max()):
            code = Upper(party.code_alnum)
            cursor.execute(*invoice.join(party,
                    condition=invoice.party == party.id
                    ).select(invoice.id, code,
                    where=(invoice.company == company.id)
                    & (invoice.type == 'out')
                    & (invoice.state == 'posted')
                    & code.in_(list(bodies)),
                    order_by=[invoice.invoice_date.asc, invoice.id.asc]))
            for invoice_id, body in cursor:
                for reference in body2references[body]:
                    result.setdefault((company.id, reference), []).append(
                        invoice_id)
        return result

    @classmethod
    def _utility_allocate(cls, origin, statement, invoices, to_pay, lang):
        """Return (match, note, lines) paying the invoices (values) in
        order with the transfer (values); to_pay is updated with what the
        lines pay"""
        currency = statement.journal.currency
        reference = origin['reference']

        def unmatched(message, **kwargs):
            return 'unmatched', gettext(
                'utility_statement.%s' % message, **kwargs), []

        if origin['amount'] <= 0:
            return unmatched('msg_match_not_credit')
        if not reference:
            return unmatched('msg_match_no_reference')
        if not invoices:
            return unmatched('msg_match_unknown_reference',
                reference=iso11649.format(reference))
        open_ = [i for i in invoices
            if i['state'] == 'posted' and to_pay.get(i['id'], 0) > 0]
        if not open_:
            names = ', '.join(i['number'] or '' for i in invoices[:5])
            return unmatched('msg_match_nothing_to_pay',
                reference=iso11649.format(reference), invoices=names)
        if any(i['currency'] != currency.id for i in open_):
            return unmatched('msg_match_currency',
                reference=iso11649.format(reference),
                invoice=open_[0]['number'],
                currency=Pool().get('currency.currency')(
                    open_[0]['currency']).rec_name)

        lines = []
        remaining = origin['amount']
        for invoice in open_:
            amount = min(remaining, to_pay[invoice['id']])
            if amount <= 0:
                break
            lines.append(cls._utility_line(origin, amount, invoice))
            to_pay[invoice['id']] -= amount
            remaining -= amount
            paid = invoice
        if remaining:
            # Over-payment: the rest stays as a credit on the customer's
            # receivable and pays the next bill when it is posted.
            lines.append(cls._utility_line(origin, remaining, open_[-1],
                    credit=True))
            return 'overpaid', gettext('utility_statement.msg_match_overpaid',
                amount=lang.currency(remaining, currency)), lines
        if to_pay[paid['id']] > 0:
            return 'partial', gettext('utility_statement.msg_match_partial',
                invoice=paid['number'],
                amount=lang.currency(to_pay[paid['id']], currency)), lines
        return 'matched', None, lines

    @staticmethod
    def _utility_line(origin, amount, invoice, credit=False):
        "A line paying invoice, or a credit on its receivable"
        return _LineValues(origin['statement'], origin['id'],
            origin['number'], origin['description'], origin['date'], amount,
            invoice['party'], invoice['account'],
            None if credit else 'account.invoice,%s' % invoice['id'])
