import datetime as dt
import os
import unittest
from decimal import Decimal

from trytond.exceptions import UserError
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from utility_metering.tests.activation import activate_fixture

from ..exceptions import DuplicateStatementError
from .tools import (
    PAYER_IBAN, bill_run, csv_file, import_statement, in_company,
    meter_reads, statement_fixture, validate)

JAN = dt.date(2024, 1, 31)


def sample(name):
    with open(os.path.join(os.path.dirname(__file__), name), 'rb') as file:
        return file.read()


class StatementImportTestCase(unittest.TestCase):
    "Statement files (CSV, OFX, CAMT.053) imported and matched to bills"

    @classmethod
    def setUpClass(cls):
        activate_fixture(cls, 'utility_statement', statement_fixture)

    def january_bill(self):
        "Bill 1 (RF74 1) of 117.08 to customer 1 who owns PAYER_IBAN"
        BankAccount = Pool().get('bank.account')
        agreement = meter_reads(self, 1, 1000, 1742)
        BankAccount.create([{
                    'owners': [('add', [agreement.party.id])],
                    'numbers': [('create', [{
                                    'type': 'iban', 'number': PAYER_IBAN}])],
                    }])
        invoice = bill_run(self, JAN)[1]
        self.assertEqual(invoice.customer_payment_reference, 'RF74 1')
        self.assertEqual(invoice.total_amount, Decimal('117.08'))
        return invoice

    def assert_paid(self, statement, invoice):
        invoice, = validate([statement])
        self.assertEqual(invoice.state, 'paid')
        self.assertEqual(invoice.amount_to_pay, Decimal(0))
        self.assertTrue(invoice.reconciled)

    @with_transaction()
    @in_company
    def test_csv(self):
        "Our CSV format: one statement, payer found by IBAN"
        invoice = self.january_bill()
        statement, = import_statement(self.company, sample('statement.csv'),
            'csv', journal=self.journal)
        self.assertEqual(statement.journal, self.journal)
        self.assertEqual(statement.date, dt.date(2024, 2, 12))
        self.assertEqual(statement.total_amount, Decimal('167.08'))
        self.assertEqual(statement.number_of_lines, 2)
        paid, unknown = sorted(statement.origins, key=lambda o: o.number)
        self.assertEqual(paid.party, invoice.party)
        self.assertEqual(paid.number, 'TX-20240212-0001')
        self.assertEqual(paid.utility_match, 'matched')
        self.assertEqual(unknown.utility_match, 'unmatched')
        self.assertEqual(statement.utility_to_reconcile, 1)

    @with_transaction()
    @in_company
    def test_csv_errors(self):
        "A bad CSV row is refused with its line number"
        for data, text in [
                (csv_file('2024-02-12,12;50,RF74 1,,,,'), 'Line 2'),
                (csv_file('12/02/2024,12.50,RF74 1,,,,'), 'Line 2'),
                (csv_file('2024-02-12,1', header='when,amount'), '"date"'),
                (csv_file(), 'no transactions'),
                ]:
            with self.subTest(text=text):
                with self.assertRaises(UserError) as cm:
                    import_statement(self.company, data, 'csv',
                        journal=self.journal)
                self.assertIn(text, cm.exception.message)

    @with_transaction()
    @in_company
    def test_ofx(self):
        "OFX (Tryton's importer): reference in the memo"
        invoice = self.january_bill()
        statement, = import_statement(self.company, sample('statement.ofx'),
            'ofx')
        self.assertEqual(statement.journal, self.journal)
        paid, fee = sorted(statement.origins, key=lambda o: o.number)
        self.assertEqual(paid.amount, Decimal('117.08'))
        self.assertEqual(paid.utility_match, 'matched')
        self.assertEqual(paid.lines[0].invoice, invoice)
        self.assertEqual(fee.amount, Decimal('-2.50'))
        self.assertEqual(fee.utility_match, 'unmatched')

    @with_transaction()
    @in_company
    def test_camt_053(self):
        "CAMT.053 (Tryton's importer): structured creditor reference"
        pool = Pool()
        Line = pool.get('account.statement.line')
        invoice = self.january_bill()
        statement, = import_statement(self.company,
            sample('camt.053.001.02.xml'), 'camt_053_001')
        self.assertEqual(statement.name, 'BE71096123456769-2024-02-13')
        self.assertEqual(statement.total_amount, Decimal('314.58'))
        paid, deposit, fee = sorted(statement.origins,
            key=lambda o: o.number)
        self.assertEqual(paid.party, invoice.party)
        self.assertEqual(paid.information['camt_creditor_reference'],
            'RF741')
        self.assertEqual(paid.utility_match, 'matched')
        self.assertEqual(deposit.utility_match, 'unmatched')
        self.assertEqual(fee.utility_match, 'unmatched')
        # The accountant books the deposit and the fee, then validates.
        for origin in [deposit, fee]:
            Line.create([{
                        'statement': statement.id,
                        'origin': origin.id,
                        'date': origin.date,
                        'amount': origin.amount,
                        'account': self.journal.account.id,
                        }])
        self.assert_paid(statement, invoice)

    @with_transaction()
    @in_company
    def test_duplicate_import_refused(self):
        "The same file, statement or bank transaction is imported once"
        pool = Pool()
        Statement = pool.get('account.statement')
        invoice = self.january_bill()
        for data, file_format, journal in [
                (sample('statement.csv'), 'csv', self.journal),
                (sample('statement.ofx'), 'ofx', None),
                (sample('camt.053.001.02.xml'), 'camt_053_001', None),
                ]:
            with self.subTest(file_format=file_format):
                first, = import_statement(self.company, data, file_format,
                    journal=journal)
                with self.assertRaises(DuplicateStatementError) as cm:
                    import_statement(self.company, data, file_format,
                        journal=journal)
                self.assertIn(first.rec_name, cm.exception.message)
                Statement.cancel([first])
        self.assertEqual(
            len(Statement.search([('state', '!=', 'cancelled')])), 0)

        # Another export holding an already imported transaction.
        statement, = import_statement(self.company,
            sample('statement.csv'), 'csv', journal=self.journal)
        data = csv_file(
            '2024-02-12,117.08,RF74 1,Again,,,TX-20240212-0001',
            '2024-02-13,10.00,,Other,,,TX-20240213-0001')
        with self.assertRaises(DuplicateStatementError) as cm:
            import_statement(self.company, data, 'csv', journal=self.journal)
        self.assertIn('TX-20240212-0001', cm.exception.message)
        self.assertEqual(Statement.search([('state', '!=', 'cancelled')]),
            [statement])
        # The refused import paid nothing twice.
        self.assertEqual(len(statement.origins[0].lines), 1)
        self.assertEqual(invoice.__class__(invoice.id).amount_to_pay,
            Decimal('117.08'))
