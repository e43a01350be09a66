"""Journal entries of a period exported to CSV and Excel, proven equal to
the ledger on billed data."""
import csv
import datetime as dt
import io
import unittest
from collections import defaultdict
from decimal import Decimal

from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from utility_metering.tests.activation import activate_fixture
from trytond.transaction import Transaction

from utility_billing.tests.tools import pay_invoice
from utility_integration import ledger_export
from utility_integration.exceptions import LedgerExportError

from .tools import (
    ACCOUNTANT, BILLING, METERING, as_user, billed_data, in_company,
    integration_fixture, user)


def read_csv(content):
    return list(csv.DictReader(io.StringIO(content.decode('utf-8'))))


def read_xlsx(content):
    import openpyxl
    return openpyxl.load_workbook(io.BytesIO(content)).active


class LedgerExportTestCase(unittest.TestCase):
    "Ledger export and its reconciliation"

    @classmethod
    def setUpClass(cls):
        activate_fixture(cls, 'utility_integration', integration_fixture)

    def setup(self):
        "Billed January and February, one bill paid in February"
        pool = Pool()
        Period = pool.get('account.period')
        Move = pool.get('account.move')
        agreement, other, bills = billed_data(self.company)
        pay_invoice(bills[0].invoice, dt.date(2024, 2, 20))
        period, = Period.search([
                ('company', '=', self.company.id),
                ('start_date', '=', dt.date(2024, 2, 1)),
                ('type', '=', 'standard'),
                ])
        # A draft move stays out of a posted-only export.
        posted = Move.search([('period', '=', period.id)], limit=1)[0]
        draft, = Move.copy([posted], {'date': dt.date(2024, 2, 25)})
        self.assertEqual(draft.state, 'draft')
        return period, bills

    def ledger(self, period, posted=True):
        "Per account code: (debit, credit, items) from Tryton's accounts"
        Account = Pool().get('account.account')
        with Transaction().set_context(periods=[period.id], posted=posted,
                fiscalyear=period.fiscalyear.id):
            accounts = Account.search([('company', '=', self.company.id)])
            figures = Account.get_credit_debit(accounts,
                ['debit', 'credit', 'line_count'])
        return {a.code: (figures['debit'][a.id], figures['credit'][a.id],
                figures['line_count'][a.id])
            for a in accounts if figures['line_count'][a.id]}

    @with_transaction()
    @in_company
    def test_csv_equals_ledger(self):
        "CSV rows summed per account equal the period's account figures"
        pool = Pool()
        Line = pool.get('account.move.line')
        period, bills = self.setup()
        content, totals = ledger_export.export_ledger(self.company, period,
            'csv')
        rows = read_csv(content)
        self.assertEqual(list(rows[0]), ledger_export.HEADER)
        lines = Line.search([
                ('move.period', '=', period.id),
                ('move.state', '=', 'posted'),
                ])
        self.assertEqual(len(rows), len(lines))
        self.assertEqual({int(r['Line ID']) for r in rows},
            {l.id for l in lines})
        exported = defaultdict(lambda: [Decimal(0), Decimal(0), 0])
        for row in rows:
            values = exported[row['Account']]
            values[0] += Decimal(row['Debit'])
            values[1] += Decimal(row['Credit'])
            values[2] += 1
            self.assertEqual(Decimal(row['Balance']),
                Decimal(row['Debit']) - Decimal(row['Credit']))
            self.assertEqual(row['State'], 'posted')
        self.assertEqual({k: tuple(v) for k, v in exported.items()},
            self.ledger(period))
        # The February bills and the payment are in the period.
        invoice = bills[0].invoice
        receivable = [r for r in rows
            if r['Account'] == invoice.account.code]
        self.assertIn(str(invoice.total_amount),
            {r['Credit'] for r in receivable})
        self.assertTrue(any(r['Reconciliation'] for r in receivable))
        self.assertEqual(ledger_export.reconcile(self.company, period,
                totals), [])
        debit = sum(Decimal(r['Debit']) for r in rows)
        self.assertEqual(debit, sum(Decimal(r['Credit']) for r in rows))

    @with_transaction()
    @in_company
    def test_xlsx_cells(self):
        "Excel: real numbers and dates, frozen header, widths, same rows"
        period, _ = self.setup()
        csv_rows = read_csv(ledger_export.export_ledger(
                self.company, period, 'csv')[0])
        # Small batches: the rows are fetched and written in slices.
        batch = ledger_export.BATCH
        ledger_export.BATCH = 2
        self.addCleanup(setattr, ledger_export, 'BATCH', batch)
        content, totals = ledger_export.export_ledger(self.company, period,
            'xlsx')
        sheet = read_xlsx(content)
        self.assertEqual(sheet.freeze_panes, 'A2')
        header = [c.value for c in sheet[1]]
        self.assertEqual(header, ledger_export.HEADER)
        self.assertGreaterEqual(sheet.column_dimensions['J'].width, 40)
        rows = list(sheet.iter_rows(min_row=2, values_only=True))
        self.assertEqual(len(rows), len(csv_rows))
        col = {h: i for i, h in enumerate(header)}
        for row, expected in zip(rows, csv_rows):
            self.assertIsInstance(row[col['Date']], dt.datetime)
            self.assertEqual(row[col['Date']].date().isoformat(),
                expected['Date'])
            self.assertIsInstance(row[col['Debit']], (int, float))
            self.assertAlmostEqual(row[col['Debit']],
                float(expected['Debit']), places=6)
            self.assertEqual(row[col['Account']], expected['Account'])
            self.assertEqual(row[col['Line ID']], int(expected['Line ID']))
        self.assertEqual(ledger_export.reconcile(self.company, period,
                totals), [])

    @with_transaction()
    @in_company
    def test_reconciliation_detects(self):
        "A missing cent or item is reported; drafts only when asked"
        period, _ = self.setup()
        _, totals = ledger_export.export_ledger(self.company, period, 'csv')
        account = next(iter(totals.debit))
        totals.debit[account] += Decimal('0.01')
        differences = ledger_export.reconcile(self.company, period, totals)
        self.assertEqual([d[1] for d in differences], ['debit'])
        report = ledger_export.reconciliation_report(totals, differences)
        self.assertIn('NOT reconciled', report)

        content, totals = ledger_export.export_ledger(self.company, period,
            'csv', posted_only=False)
        rows = read_csv(content)
        self.assertIn('draft', {r['State'] for r in rows})
        self.assertEqual(ledger_export.reconcile(self.company, period,
                totals, posted_only=False), [])
        # Drafts against the posted ledger do not reconcile.
        self.assertTrue(ledger_export.reconcile(self.company, period,
                totals, posted_only=True))

    @with_transaction()
    @in_company
    def test_wizard_and_access(self):
        "Accountants export their company's ledger; others may not"
        pool = Pool()
        Wizard = pool.get('utility.integration.ledger_export',
            type='wizard')
        ModelData = pool.get('ir.model.data')
        period, _ = self.setup()
        action_id = ModelData.get_id('utility_integration',
            'wizard_ledger_export')
        accountant = user(self.company, ACCOUNTANT)
        with as_user(accountant), Transaction().set_context(
                action_id=action_id):
            session_id, _, _ = Wizard.create()
            result = Wizard.execute(session_id, {
                    'start': {
                        'company': self.company.id,
                        'period': period.id,
                        'format': 'csv',
                        'posted_only': True,
                        },
                    }, 'export')
            defaults = result['view']['defaults']
            self.assertIn('Reconciled', defaults['reconciliation'])
            self.assertEqual(len(read_csv(defaults['file'])),
                sum(v[2] for v in self.ledger(period).values()))
        for group in [BILLING, METERING]:
            with as_user(user(self.company, group)), \
                    Transaction().set_context(action_id=action_id):
                with self.assertRaises(AccessError):
                    Wizard.create()
                    Wizard.check_access()
        # Another provider's ledger is refused even to an accountant.
        from trytond.modules.company.tests import create_company
        other = create_company(name="Other Utility")
        with as_user(accountant):
            with self.assertRaises(LedgerExportError):
                ledger_export.export_ledger(other, period, 'csv')
