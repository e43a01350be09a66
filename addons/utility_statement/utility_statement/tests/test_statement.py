import datetime as dt
import unittest
from decimal import Decimal

from trytond.exceptions import UserError
from trytond.modules.account.tests import create_chart
from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

from utility_metering.tests.activation import activate_fixture

from .tools import (
    bill_run, create_bank_journal, csv_file, import_statement, in_company,
    meter_reads, receivable_balance, statement_fixture, validate)

JAN, FEB = dt.date(2024, 1, 31), dt.date(2024, 2, 29)


class StatementMatchTestCase(unittest.TestCase):
    "Bank transfers matched to bills by payment reference and amount"

    @classmethod
    def setUpClass(cls):
        activate_fixture(cls, 'utility_statement', statement_fixture)

    def pay(self, *rows):
        "Import a CSV statement of (reference, amount[, transaction id])"
        lines = []
        for i, (reference, amount, *number) in enumerate(rows):
            number = number[0] if number else 'TX%s-%s' % (id(rows), i)
            lines.append('2024-02-12,%s,%s,Payment,Customer,,%s' % (
                    amount, reference, number))
        statement, = import_statement(self.company, csv_file(*lines), 'csv',
            journal=self.journal)
        return statement

    def january_bill(self, index=1, end=1742):
        meter_reads(self, index, 1000, end)
        return bill_run(self, JAN)[index]

    @with_transaction()
    @in_company
    def test_bill_payment_reference(self):
        "Each bill carries the ISO 11649 reference of its invoice"
        Bill = Pool().get('utility.bill')
        invoice = self.january_bill()
        bill, = Bill.search([('invoice', '=', invoice.id)])
        self.assertEqual(invoice.number, '1')
        self.assertEqual(bill.payment_reference, 'RF74 1')
        self.assertEqual(bill.payment_reference,
            invoice.customer_payment_reference)
        self.assertEqual(bill.amount_to_pay, Decimal('117.08'))

    @with_transaction()
    @in_company
    def test_bill_pdf_prints_reference_and_iban(self):
        "The printed bill tells where to transfer and what to quote"
        import io

        import pypdf
        pool = Pool()
        Bill = pool.get('utility.bill')
        BillReport = pool.get('utility.bill.report', type='report')
        invoice = self.january_bill()
        bill, = Bill.search([('invoice', '=', invoice.id)])
        _, content, _, _ = BillReport.execute([bill.id], {})
        text = ' '.join(page.extract_text() for page in
            pypdf.PdfReader(io.BytesIO(content)).pages)
        self.assertIn('BE71096123456769', text.replace(' ', ''))
        self.assertIn('RF74 1', text)

    @with_transaction()
    @in_company
    def test_exact_match_reconciles(self):
        "A transfer of the amount due with the reference pays the bill"
        Statement = Pool().get('account.statement')
        invoice = self.january_bill()
        self.assertEqual(invoice.total_amount, Decimal('117.08'))
        statement = self.pay(('RF74 1', '117.08'))
        origin, = statement.origins
        self.assertEqual(origin.utility_match, 'matched')
        self.assertEqual(origin.utility_reference, 'RF741')
        line, = origin.lines
        self.assertEqual(line.invoice, invoice)
        self.assertEqual(line.party, invoice.party)
        self.assertEqual(line.account, invoice.account)
        self.assertEqual(statement.utility_to_reconcile, 0)

        invoice, = validate([statement])
        self.assertEqual(invoice.state, 'paid')
        self.assertEqual(invoice.amount_to_pay, Decimal(0))
        self.assertTrue(invoice.reconciled)
        Statement.post([statement])
        self.assertEqual(Statement(statement.id).state, 'posted')
        self.assertEqual(receivable_balance(invoice.party), Decimal(0))

    @with_transaction()
    @in_company
    def test_partial_payment_leaves_rest_open(self):
        "A smaller transfer pays part; a second one completes it"
        invoice = self.january_bill()
        statement = self.pay(('RF74 1', '100.00'))
        origin, = statement.origins
        self.assertEqual(origin.utility_match, 'partial')
        self.assertIn('17.08', origin.utility_match_note)
        invoice, = validate([statement])
        self.assertEqual(invoice.state, 'posted')
        self.assertEqual(invoice.amount_to_pay, Decimal('17.08'))
        self.assertFalse(invoice.reconciled)
        self.assertEqual(len(invoice.payment_lines), 1)
        self.assertEqual(receivable_balance(invoice.party), Decimal('17.08'))

        statement = self.pay(('RF74 1', '17.08'))
        self.assertEqual(statement.origins[0].utility_match, 'matched')
        invoice, = validate([statement])
        self.assertEqual(invoice.state, 'paid')
        self.assertEqual(invoice.amount_to_pay, Decimal(0))
        self.assertTrue(invoice.reconciled)

    @with_transaction()
    @in_company
    def test_overpayment_credit_pays_next_bill(self):
        "An over-payment pays the bill and the rest pays the next bills"
        Invoice = Pool().get('account.invoice')
        january = self.january_bill()
        statement = self.pay(('RF74 1', '300.00'))
        origin, = statement.origins
        self.assertEqual(origin.utility_match, 'overpaid')
        self.assertIn('182.92', origin.utility_match_note)
        self.assertEqual(sorted((l.amount, l.invoice) for l in origin.lines),
            [(Decimal('117.08'), january), (Decimal('182.92'), None)])
        january, = validate([statement])
        self.assertEqual(january.state, 'paid')
        self.assertTrue(january.reconciled)
        self.assertEqual(receivable_balance(january.party),
            Decimal('-182.92'))

        # February: 29 × 0.40 + 400 × 0.11 = 55.60 + 20% tax = 66.72
        meter_reads(self, 1, 2142, start=dt.date(2024, 3, 1))
        february = bill_run(self, FEB)[1]
        self.assertEqual(february.total_amount, Decimal('66.72'))
        Invoice.process([february])
        february = Invoice(february.id)
        self.assertEqual(february.state, 'paid')
        self.assertEqual(february.amount_to_pay, Decimal(0))
        self.assertTrue(february.reconciled)
        self.assertEqual(receivable_balance(february.party),
            Decimal('-116.20'))

    @with_transaction()
    @in_company
    def test_small_credit_reduces_next_bill(self):
        "A credit smaller than the next bill leaves the rest to pay"
        self.january_bill()
        validate([self.pay(('RF74 1', '127.08'))])
        meter_reads(self, 1, 2142, start=dt.date(2024, 3, 1))
        february = bill_run(self, FEB)[1]
        self.assertEqual(february.state, 'posted')
        self.assertEqual(february.amount_to_pay, Decimal('56.72'))
        self.assertFalse(february.reconciled)
        credit, = february.payment_lines
        self.assertEqual(credit.credit, Decimal('10.00'))

        reference = february.customer_payment_reference
        february, = validate([self.pay((reference, '56.72'))])
        self.assertEqual(february.state, 'paid')
        self.assertTrue(february.reconciled)
        self.assertEqual(receivable_balance(february.party), Decimal(0))

    @with_transaction()
    @in_company
    def test_unknown_reference_left_to_accountant(self):
        "Transfers no bill matches are flagged and block validation"
        pool = Pool()
        Statement = pool.get('account.statement')
        Line = pool.get('account.statement.line')
        Origin = pool.get('account.statement.origin')
        invoice = self.january_bill()
        statement = self.pay(
            ('RF18 5390 0754 7034', '50.00'),  # valid, no such bill
            ('RF00 1', '20.00'),  # wrong check digits
            ('', '-3.50'),  # bank fee
            ('RF74 1', '117.08'))
        by_amount = {o.amount: o for o in statement.origins}
        self.assertEqual(by_amount[Decimal('117.08')].utility_match,
            'matched')
        for amount in ['50.00', '20.00', '-3.50']:
            origin = by_amount[Decimal(amount)]
            self.assertEqual(origin.utility_match, 'unmatched')
            self.assertFalse(origin.lines)
        self.assertIn('RF18 5390 0754 7034',
            by_amount[Decimal('50.00')].utility_match_note)
        self.assertEqual(statement.utility_to_reconcile, 3)
        self.assertEqual(Statement.search(
                [('utility_to_reconcile', '>', 0)]), [statement])
        self.assertEqual(len(Origin.search([
                        ('utility_match', '=', 'unmatched'),
                        ('pending_amount', '!=', 0),
                        ])), 3)
        with self.assertRaises(UserError):
            Statement.validate_statement([statement])

        # The accountant books them by hand; the bill is untouched.
        for amount in ['50.00', '20.00', '-3.50']:
            origin = by_amount[Decimal(amount)]
            Line.create([{
                        'statement': statement.id,
                        'origin': origin.id,
                        'date': origin.date,
                        'amount': origin.amount,
                        'account': self.journal.account.id,
                        }])
        self.assertEqual(Statement(statement.id).utility_to_reconcile, 0)
        invoice, = validate([statement])
        self.assertEqual(invoice.state, 'paid')

    @with_transaction()
    @in_company
    def test_already_paid_bill_flagged(self):
        "A second payment of a paid bill is not booked on it"
        self.january_bill()
        validate([self.pay(('RF74 1', '117.08'))])
        statement = self.pay(('RF74 1', '117.08'))
        origin, = statement.origins
        self.assertEqual(origin.utility_match, 'unmatched')
        self.assertIn('nothing left to pay', origin.utility_match_note)

    @with_transaction()
    @in_company
    def test_match_button_after_bill_posts(self):
        "A transfer that came before its bill matches on Match Bills"
        Statement = Pool().get('account.statement')
        statement = self.pay(('RF74 1', '117.08'))
        self.assertEqual(statement.origins[0].utility_match, 'unmatched')
        invoice = self.january_bill()
        Statement.utility_match([statement])
        origin, = Statement(statement.id).origins
        self.assertEqual(origin.utility_match, 'matched')
        self.assertEqual(origin.lines[0].invoice, invoice)

    @with_transaction()
    @in_company
    def test_provider_isolation(self):
        "Another provider's statement never pays this provider's bill"
        pool = Pool()
        User = pool.get('res.user')
        Statement = pool.get('account.statement')
        ModelData = pool.get('ir.model.data')
        Group = pool.get('res.group')
        invoice = self.january_bill()
        ours = self.pay(('RF74 1', '1.00'))
        other = create_company(name="Other Utility",
            currency=self.company.currency)
        with set_company(other):
            create_chart(other)
            journal = create_bank_journal(other, iban='BE55442968847144')
            statement, = import_statement(other, csv_file(
                    '2024-02-12,117.08,RF74 1,Payment,,,T1'), 'csv',
                journal=journal)
        origin, = statement.origins
        self.assertEqual(origin.utility_match, 'unmatched')
        self.assertEqual(invoice.__class__(invoice.id).amount_to_pay,
            Decimal('117.08'))

        accountant = User(login='accountant', companies=[other],
            company=other, groups=[Group(ModelData.get_id(
                        'account', 'group_account'))])
        accountant.save()
        with Transaction().set_user(accountant.id), \
                Transaction().set_context(_check_access=True,
                    company=other.id, companies=[other.id]):
            self.assertEqual(Statement.search([]), [statement])
            self.assertNotIn(ours, Statement.search([]))

