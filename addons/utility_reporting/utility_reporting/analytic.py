"""Margin per service through Tryton's analytic accounting.

Each provider chooses, per service type, the analytic account that the
lines of its bills are booked on (Service Analytic Accounts); bill runs
and rebills set it on every invoice line they create (analytic_invoice
then writes the analytic lines when the invoice is posted, and a credit
note copies them). Expenses are supplier invoice lines (or any journal
item) booked on the same analytic account, as Tryton's analytic_invoice
does. The margin report reads the analytic lines: revenue is what they
hold on revenue accounts, expenses what they hold on any other account,
margin the difference (the analytic account's balance).

The analytic lines are kept beside the journal items: the general ledger,
income statement and balance sheet are computed from the journal items
alone and stay the same.
"""
from decimal import Decimal

from sql import Literal
from sql.aggregate import Sum
from sql.conditionals import Case
from sql.functions import Round

from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .reporting import PeriodContextMixin, ReportMixin


class ServiceAnalyticAccount(ModelSQL, ModelView):
    "Service Analytic Account"
    __name__ = 'utility.service.analytic_account'
    company = fields.Many2One('company.company', "Provider", required=True,
        ondelete='CASCADE')
    service_type = fields.Many2One('utility.service.type', "Service",
        required=True, ondelete='CASCADE')
    account = fields.Many2One('analytic_account.account', "Analytic Account",
        required=True, ondelete='RESTRICT',
        domain=[
            ('company', '=', Eval('company', -1)),
            ('type', '=', 'normal'),
            ],
        help="The bill lines of the service are booked on this account; "
        "book the service's expenses on it too.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('company_service_type_unique',
                Unique(t, t.company, t.service_type),
                'utility_reporting.msg_service_analytic_service_unique'),
            ('company_account_unique',
                Unique(t, t.company, t.account),
                'utility_reporting.msg_service_analytic_account_unique'),
            ]
        cls._order = [('service_type', 'ASC'), ('id', 'ASC')]

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    def get_rec_name(self, name):
        return '%s: %s' % (self.service_type.rec_name, self.account.rec_name)

    @classmethod
    def accounts(cls, companies):
        """{(company id, service type id): analytic account} of companies,
        read at once"""
        records = cls.search([
                ('company', 'in', [int(c) for c in companies]),
                ])
        return {(r.company.id, r.service_type.id): r.account
            for r in records}


class Bill(metaclass=PoolMeta):
    __name__ = 'utility.bill'

    @classmethod
    def get_invoices(cls, items):
        """Book each line on its service's analytic account

        The configuration and the providers' analytic roots are read once
        for the batch. Other roots get an entry without account, as a new
        invoice line gets by default."""
        pool = Pool()
        ServiceAnalytic = pool.get('utility.service.analytic_account')
        AnalyticAccount = pool.get('analytic_account.account')
        Entry = pool.get('analytic.account.entry')
        invoices = super().get_invoices(items)
        companies = {item[0].company for item in items}
        accounts = ServiceAnalytic.accounts(companies)
        if not accounts:
            return invoices
        roots = {}
        for root in AnalyticAccount.search([
                    ('company', 'in', [c.id for c in companies]),
                    ('parent', '=', None),
                    ('type', '=', 'root'),
                    ], order=[('id', 'ASC')]):
            roots.setdefault(root.company.id, []).append(root)
        for item, invoice in zip(items, invoices):
            agreement = item[0]
            account = accounts.get((agreement.company.id,
                    agreement.service_point.service_type.id))
            if not account:
                continue
            for line in invoice.lines:
                line.analytic_accounts = [
                    Entry(root=root,
                        account=account if root == account.root else None)
                    for root in roots.get(agreement.company.id, [])]
        return invoices


class MarginContext(PeriodContextMixin, ModelView):
    "Utility Margin Reporting Context"
    __name__ = 'utility.reporting.margin.context'


class Margin(ReportMixin):
    """Utility Margin per Service

    Per month and service: the posted analytic lines of the service's
    analytic account (Service Analytic Accounts)."""
    __name__ = 'utility.reporting.margin'
    month = fields.Date("Month", readonly=True)
    service_type = fields.Many2One('utility.service.type', "Service",
        readonly=True)
    analytic_account = fields.Many2One('analytic_account.account',
        "Analytic Account", readonly=True)
    revenue = fields.Numeric("Revenue", digits='currency', readonly=True,
        help="Credit less debit on revenue accounts (bills less credit "
        "notes, untaxed).")
    expenses = fields.Numeric("Expenses", digits='currency', readonly=True,
        help="Debit less credit on the other accounts (supplier invoices "
        "and entries booked on the service's analytic account).")
    margin = fields.Numeric("Margin", digits='currency', readonly=True,
        help="Revenue less expenses.")
    margin_rate = fields.Function(fields.Float("Margin Rate",
            digits=(1, 4), help="Margin as a share of the revenue."),
        'get_computed')

    _export_columns = [
        ('month', 'date'),
        ('service_type', 'many2one'),
        ('analytic_account', 'many2one'),
        ('revenue', 'money'),
        ('expenses', 'money'),
        ('margin', 'money'),
        ('margin_rate', 'percent'),
        ]

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('month', 'DESC'), ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        pool = Pool()
        AnalyticLine = pool.get('analytic_account.line')
        ServiceAnalytic = pool.get('utility.service.analytic_account')
        MoveLine = pool.get('account.move.line')
        Move = pool.get('account.move')
        Account = pool.get('account.account')
        AccountType = pool.get('account.account.type')
        context = Transaction().context
        company_id = cls._company_id()

        line = AnalyticLine.__table__()
        service = ServiceAnalytic.__table__()
        move_line = MoveLine.__table__()
        move = Move.__table__()
        account = Account.__table__()
        type_ = AccountType.__table__()

        where = ((service.company == company_id)
            & (move.state == 'posted'))
        if context.get('from_date'):
            where &= line.date >= context['from_date']
        if context.get('to_date'):
            where &= line.date <= context['to_date']
        if context.get('service_type'):
            where &= service.service_type == context['service_type']
        amount = line.credit - line.debit
        is_revenue = type_.revenue == Literal(True)
        lines = (line
            .join(service, condition=service.account == line.account)
            .join(move_line, condition=move_line.id == line.move_line)
            .join(move, condition=move.id == move_line.move)
            .join(account, condition=account.id == move_line.account)
            .join(type_, 'LEFT', condition=type_.id == account.type)
            .select(
                cls._month(line.date).as_('month'),
                service.service_type.as_('service_type'),
                service.account.as_('analytic_account'),
                Case((is_revenue, amount), else_=Literal(0)).as_('revenue'),
                Case((is_revenue, Literal(0)), else_=-amount).as_('expenses'),
                amount.as_('margin'),
                where=where))
        digits = cls._digits()

        def money(column):
            # SQLite sums floats: round back to the currency's digits.
            return Round(Sum(column), digits)

        return lines.select(
            cls.id.sql_cast(
                cls._month_key(lines.month) * 10000
                + lines.service_type).as_('id'),
            Literal(company_id).as_('company'),
            lines.month.as_('month'),
            lines.service_type.as_('service_type'),
            lines.analytic_account.as_('analytic_account'),
            money(lines.revenue).as_('revenue'),
            money(lines.expenses).as_('expenses'),
            money(lines.margin).as_('margin'),
            group_by=[lines.month, lines.service_type,
                lines.analytic_account])

    @classmethod
    def get_computed(cls, records, names):
        result = {n: {} for n in names}
        for record in records:
            values = cls.export_values({
                    'revenue': record.revenue,
                    'margin': record.margin,
                    })
            for name in names:
                result[name][record.id] = values[name]
        return result

    @classmethod
    def export_values(cls, row):
        revenue = Decimal(str(row.get('revenue') or 0))
        if revenue:
            margin = Decimal(str(row.get('margin') or 0))
            row['margin_rate'] = round(float(margin / revenue), 4)
        else:
            row['margin_rate'] = None
        return row
