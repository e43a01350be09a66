import datetime as dt
import unittest
from decimal import Decimal
from unittest import mock

from trytond import backend
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction
from utility_metering.tests.activation import activate_fixture

from .. import invoice_bulk
from .test_bill_run import in_company
from .tools import (
    accounting_fixture, create_customer, create_cycle, create_plan,
    create_products, setup_accounting)

# Rows compared column by column; ids are replaced by the row's place
# (invoice index, line sequence...) and audit dates by their presence.
TABLES = [
    'account_invoice', 'account_invoice_line',
    'account_invoice_line-account_tax', 'account_invoice_tax',
    'account_move', 'account_move_line', 'account_tax_line',
    ]
# Different by construction: fresh ids, times and the next numbers
VOLATILE = {'id', 'create_date', 'write_date', 'number', 'number_alnum',
    'number_digit'}


def _rows(table, where_column, ids):
    cursor = Transaction().connection.cursor()
    if not ids:
        return []
    cursor.execute('SELECT * FROM "%s" WHERE "%s" IN (%s) ORDER BY id'
        % (table, where_column, ','.join(map(str, ids))))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r)) for r in cursor]


def snapshot(invoices):
    "Every row posting wrote for invoices, ids made relative"
    ids = [i.id for i in invoices]
    result = {}
    rows = _rows('account_invoice', 'id', ids)
    by_id = {r['id']: r for r in rows}
    rows = [by_id[i] for i in ids]
    move_ids = [r['move'] for r in rows]
    relative = {}
    for table, key, parent_ids in [
            ('account_invoice', 'id', ids),
            ('account_invoice_line', 'invoice', ids),
            ('account_invoice_tax', 'invoice', ids),
            ('account_move', 'id', move_ids),
            ]:
        table_rows = _rows(table, key, parent_ids)
        for n, row in enumerate(table_rows):
            relative[(table, row['id'])] = n
        result[table] = table_rows
    line_ids = [r['id'] for r in result['account_invoice_line']]
    result['account_invoice_line-account_tax'] = _rows(
        'account_invoice_line-account_tax', 'line', line_ids)
    result['account_move_line'] = _rows('account_move_line', 'move',
        move_ids)
    for n, row in enumerate(result['account_move_line']):
        relative[('account_move_line', row['id'])] = n
    result['account_tax_line'] = _rows('account_tax_line', 'move_line',
        [r['id'] for r in result['account_move_line']])
    refs = {
        'invoice': 'account_invoice', 'move': 'account_move',
        'line': 'account_invoice_line', 'move_line': 'account_move_line',
        }
    models = {
        'account.invoice': 'account_invoice',
        'account.invoice.line': 'account_invoice_line',
        'account.invoice.tax': 'account_invoice_tax',
        }
    for table, table_rows in result.items():
        for row in table_rows:
            for name in list(row):
                value = row[name]
                if name in {'create_date', 'write_date'}:
                    row[name] = value is not None
                elif name in VOLATILE:
                    del row[name]
                elif name in refs and table != 'account_invoice_line' \
                        or (name == 'line' and table.startswith(
                            'account_invoice_line-')):
                    if value is not None:
                        row[name] = relative[(refs[name], value)]
                elif name == 'origin' and value:
                    model, id_ = value.split(',')
                    row[name] = (model, relative[(models[model], int(id_))])
                elif table == 'account_invoice_line' and name == 'invoice':
                    row[name] = relative[('account_invoice', value)]
    # The ORM creates tax lines in its One2Many set order, not the move
    # lines' one: only their ids tell it.
    result['account_tax_line'].sort(key=lambda r: (
            r['move_line'], r['type'], r['tax'], r['amount']))
    return result


class InvoiceBulkTestCase(unittest.TestCase):
    "The bulk post writes the rows Invoice.save + Invoice.post write"

    @classmethod
    def setUpClass(cls):
        activate_fixture(cls, 'utility_billing', accounting_fixture)

    def setup(self):
        pool = Pool()
        Term = pool.get('account.invoice.payment_term')
        company = self.company
        revenue, tax = setup_accounting(company)
        products = create_products(revenue, tax)
        plan = create_plan(company, products)
        cycle = create_cycle(company)
        # Two maturity dates: half in 10 days, the rest in 30
        self.term, = Term.create([{'name': 'Split',
                    'lines': [('create', [{
                                    'type': 'percent', 'ratio': Decimal('.5'),
                                    'divisor': Decimal(2),
                                    'relativedeltas': [('create', [{
                                                    'days': 10}])],
                                    }, {
                                    'type': 'remainder',
                                    'relativedeltas': [('create', [{
                                                    'days': 30}])],
                                    }])],
                    }])
        self.agreements = []
        for i in range(3):
            agreement, _ = create_customer(company, i, plan, cycle)
            if i == 1:
                agreement.payment_term = self.term
                agreement.save()
            self.agreements.append(agreement)

    def invoices(self):
        "Unsaved invoices like a bill run builds (odd kWh, prorated days)"
        result = []
        start, end = dt.date(2024, 1, 1), dt.date(2024, 1, 31)
        for agreement, quantity in zip(self.agreements, [
                    Decimal('742'), Decimal('501.0417'), Decimal('0.5')]):
            priced = agreement.rate_plan.price(start, end,
                {'total': quantity}, service_point=agreement.service_point)
            result.append(agreement.get_invoice(
                    dt.date(2024, 2, 1), start, end, priced))
        return result

    @with_transaction()
    @in_company
    def test_same_rows_as_orm(self):
        "Fast path rows equal the ORM's, numbers follow gaplessly"
        pool = Pool()
        Invoice = pool.get('account.invoice')
        self.setup()
        orm = self.invoices()
        Invoice.save(orm)
        Invoice.post(orm)
        fast = self.invoices()
        with mock.patch.object(invoice_bulk._BulkPost, 'run',
                autospec=True,
                side_effect=invoice_bulk._BulkPost.run) as run:
            invoice_bulk.post_new_customer_invoices(fast)
        if backend.name == 'postgresql':
            self.assertTrue(run.called)
        else:
            self.assertFalse(run.called)
        orm = Invoice.browse([i.id for i in orm])
        fast = Invoice.browse([i.id for i in fast])

        expected, got = snapshot(orm), snapshot(fast)
        for table in TABLES:
            self.assertEqual(len(got[table]), len(expected[table]), table)
            for n, (g, e) in enumerate(zip(got[table], expected[table])):
                self.assertEqual(g, e, '%s row %s' % (table, n))

        for invoice in fast:
            self.assertEqual(invoice.state, 'posted')
            self.assertEqual(invoice.move.state, 'posted')
        self.assertEqual(
            [i.total_amount for i in fast], [i.total_amount for i in orm])
        self.assertEqual(
            [i.amount_to_pay for i in fast], [i.amount_to_pay for i in orm])
        term_invoice = fast[1]
        self.assertEqual(sorted(l.maturity_date
                for l in term_invoice.lines_to_pay), [
                dt.date(2024, 2, 11), dt.date(2024, 3, 2)])

        # Same sequences, numbers continue without gap and in order
        numbers = [int(i.number_digit) for i in orm + fast]
        self.assertEqual(numbers, list(range(numbers[0],
                    numbers[0] + len(numbers))))
        self.assertEqual({i.sequence for i in fast}, {orm[0].sequence})
        move_numbers = [int(''.join(c for c in i.move.number
                    if c.isdigit())) for i in orm + fast]
        self.assertEqual(move_numbers, list(range(move_numbers[0],
                    move_numbers[0] + len(move_numbers))))

    @with_transaction()
    @in_company
    def test_fallback(self):
        "Foreign currency, warnings and other backends use the ORM"
        pool = Pool()
        Currency = pool.get('currency.currency')
        self.setup()
        invoices = self.invoices()
        foreign = Currency(name='Other', symbol='O', code='OTH',
            rounding=Decimal('0.01'))
        foreign.save()
        invoices[0].currency = foreign
        self.assertFalse(invoice_bulk._eligible(invoices[0]))
        self.assertTrue(invoice_bulk._eligible(invoices[1]))
        with Transaction().set_context(_skip_warnings=False):
            self.assertFalse(invoice_bulk.fast_path_available())
        self.assertEqual(invoice_bulk.fast_path_available(),
            backend.name == 'postgresql')

