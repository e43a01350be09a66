"""Billing report: what a provider billed per month and service.

Amounts come from the posted invoices' stored totals (Tryton keeps them on
posting), so the report never sums invoice lines; a bill counts in the
month of its invoice date, a credit note (rebill) in the month of its own
date, a bill-run exception in the month of its run's invoice date.
"""
from decimal import Decimal

from sql import Literal, Union
from sql.aggregate import Sum
from sql.conditionals import Case
from sql.functions import Round

from trytond.model import fields
from trytond.pool import Pool
from trytond.transaction import Transaction

from .reporting import ReportMixin


class Billing(ReportMixin):
    "Utility Billing Report"
    __name__ = 'utility.reporting.billing'
    month = fields.Date("Month", readonly=True)
    service_type = fields.Many2One('utility.service.type', "Service",
        readonly=True)
    bills = fields.Integer("Bills", readonly=True)
    untaxed_amount = fields.Numeric("Untaxed", digits='currency',
        readonly=True)
    tax_amount = fields.Numeric("Tax", digits='currency', readonly=True)
    total_amount = fields.Numeric("Total", digits='currency', readonly=True)
    average_bill = fields.Function(fields.Numeric("Average Bill",
            digits='currency'), 'get_computed')
    estimated_bills = fields.Integer("Estimated Bills", readonly=True)
    estimated_share = fields.Function(fields.Float("Estimated Share",
            digits=(1, 4), help="Share of the bills with an estimated "
            "consumption."), 'get_computed')
    exceptions = fields.Integer("Bill Run Exceptions", readonly=True)
    credited_amount = fields.Numeric("Credited", digits='currency',
        readonly=True,
        help="Untaxed amount of the credit notes issued for rebills.")
    net_amount = fields.Numeric("Net Untaxed", digits='currency',
        readonly=True, help="Untaxed billed less credited.")

    _export_columns = [
        ('month', 'date'),
        ('service_type', 'many2one'),
        ('bills', 'integer'),
        ('untaxed_amount', 'money'),
        ('tax_amount', 'money'),
        ('total_amount', 'money'),
        ('average_bill', 'money'),
        ('estimated_bills', 'integer'),
        ('estimated_share', 'percent'),
        ('exceptions', 'integer'),
        ('credited_amount', 'money'),
        ('net_amount', 'money'),
        ]

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('month', 'DESC'), ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Bill = pool.get('utility.bill')
        Invoice = pool.get('account.invoice')
        Agreement = pool.get('utility.service.agreement')
        Point = pool.get('utility.service.point')
        Run = pool.get('utility.bill.run')
        RunLine = pool.get('utility.bill.run.line')
        context = Transaction().context
        company_id = cls._company_id()
        zero = Literal(0)

        def filters(agreement, point, date):
            where = Literal(True)
            if context.get('from_date'):
                where &= date >= context['from_date']
            if context.get('to_date'):
                where &= date <= context['to_date']
            if context.get('service_type'):
                where &= point.service_type == context['service_type']
            if context.get('cycle'):
                where &= agreement.cycle == context['cycle']
            if context.get('rate_plan'):
                where &= agreement.rate_plan == context['rate_plan']
            return where

        bill = Bill.__table__()
        invoice = Invoice.__table__()
        agreement = Agreement.__table__()
        point = Point.__table__()
        billed = (bill
            .join(invoice, condition=bill.invoice == invoice.id)
            .join(agreement, condition=bill.agreement == agreement.id)
            .join(point, condition=bill.service_point == point.id)
            .select(
                cls._month(invoice.invoice_date).as_('month'),
                point.service_type.as_('service_type'),
                Literal(1).as_('bills'),
                invoice.untaxed_amount_cache.as_('untaxed_amount'),
                invoice.tax_amount_cache.as_('tax_amount'),
                invoice.total_amount_cache.as_('total_amount'),
                Case((bill.estimated == Literal(True), 1),
                    else_=0).as_('estimated_bills'),
                zero.as_('exceptions'),
                zero.as_('credited_amount'),
                where=(bill.company == company_id)
                & invoice.state.in_(['posted', 'paid'])
                & filters(agreement, point, invoice.invoice_date)))

        bill = Bill.__table__()
        credit = Invoice.__table__()
        agreement = Agreement.__table__()
        point = Point.__table__()
        credited = (bill
            .join(credit, condition=bill.credit_note == credit.id)
            .join(agreement, condition=bill.agreement == agreement.id)
            .join(point, condition=bill.service_point == point.id)
            .select(
                cls._month(credit.invoice_date).as_('month'),
                point.service_type.as_('service_type'),
                zero.as_('bills'),
                zero.as_('untaxed_amount'),
                zero.as_('tax_amount'),
                zero.as_('total_amount'),
                zero.as_('estimated_bills'),
                zero.as_('exceptions'),
                # A credit note's amounts are negative.
                (-credit.untaxed_amount_cache).as_('credited_amount'),
                where=(bill.company == company_id)
                & credit.state.in_(['posted', 'paid'])
                & filters(agreement, point, credit.invoice_date)))

        line = RunLine.__table__()
        run = Run.__table__()
        agreement = Agreement.__table__()
        point = Point.__table__()
        exceptions = (line
            .join(run, condition=line.run == run.id)
            .join(agreement, condition=line.agreement == agreement.id)
            .join(point, condition=agreement.service_point == point.id)
            .select(
                cls._month(run.invoice_date).as_('month'),
                point.service_type.as_('service_type'),
                zero.as_('bills'),
                zero.as_('untaxed_amount'),
                zero.as_('tax_amount'),
                zero.as_('total_amount'),
                zero.as_('estimated_bills'),
                Literal(1).as_('exceptions'),
                zero.as_('credited_amount'),
                where=(run.company == company_id)
                & (line.state == 'exception')
                & filters(agreement, point, run.invoice_date)))

        union = Union(billed, credited, exceptions, all_=True)
        digits = cls._digits()

        def money(column):
            # SQLite sums floats: round back to the currency's digits.
            return Round(Sum(column), digits)

        return union.select(
            cls.id.sql_cast(
                cls._month_key(union.month) * 10000
                + union.service_type).as_('id'),
            Literal(company_id).as_('company'),
            union.month.as_('month'),
            union.service_type.as_('service_type'),
            Sum(union.bills).as_('bills'),
            money(union.untaxed_amount).as_('untaxed_amount'),
            money(union.tax_amount).as_('tax_amount'),
            money(union.total_amount).as_('total_amount'),
            Sum(union.estimated_bills).as_('estimated_bills'),
            Sum(union.exceptions).as_('exceptions'),
            money(union.credited_amount).as_('credited_amount'),
            money(union.untaxed_amount - union.credited_amount).as_(
                'net_amount'),
            group_by=[union.month, union.service_type])

    @classmethod
    def get_computed(cls, records, names):
        result = {n: {} for n in names}
        for record in records:
            values = cls.export_values({
                    'bills': record.bills,
                    'total_amount': record.total_amount,
                    'estimated_bills': record.estimated_bills,
                    })
            for name in names:
                result[name][record.id] = values[name]
        return result

    @classmethod
    def export_values(cls, row):
        bills = row.get('bills') or 0
        if bills:
            total = Decimal(str(row.get('total_amount') or 0))
            exp = Decimal(1).scaleb(-cls._digits())
            row['average_bill'] = (total / bills).quantize(exp)
            row['estimated_share'] = round(
                (row.get('estimated_bills') or 0) / bills, 4)
        else:
            row['average_bill'] = None
            row['estimated_share'] = None
        return row
