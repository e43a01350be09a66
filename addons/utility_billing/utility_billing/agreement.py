from sql.operators import Equal

from trytond.i18n import gettext
from trytond.model import Exclude, ModelSQL, ModelView, Unique, Workflow, fields
from trytond.pool import Pool
from trytond.pyson import Eval, If
from trytond.transaction import Transaction

from .exceptions import AgreementError


class ServiceAgreement(Workflow, ModelSQL, ModelView):
    "Service Agreement"
    __name__ = 'utility.service.agreement'
    _rec_name = 'number'
    _states = {'readonly': Eval('state') != 'draft'}
    company = fields.Many2One('company.company', "Provider", required=True,
        states=_states)
    number = fields.Char("Account Number", readonly=True,
        help="The number printed on bills and asked by the portal.")
    party = fields.Many2One('party.party', "Customer", required=True,
        states=_states,
        context={'company': Eval('company', -1)}, depends={'company'})
    service_point = fields.Many2One('utility.service.point',
        "Service Point", required=True, states=_states,
        domain=[('company', '=', Eval('company', -1))])
    service_type = fields.Function(fields.Many2One(
            'utility.service.type', "Service"),
        'on_change_with_service_type', searcher='search_service_type')
    rate_plan = fields.Many2One('utility.rate.plan', "Rate Plan",
        required=True,
        states={'readonly': Eval('state') == 'closed'},
        domain=[
            ('company', '=', Eval('company', -1)),
            ('service_type', '=', Eval('service_type', -1)),
            ])
    cycle = fields.Many2One('utility.billing.cycle', "Billing Cycle",
        required=True,
        states={'readonly': Eval('state') == 'closed'},
        domain=[('company', '=', Eval('company', -1))])
    invoice_address = fields.Many2One('party.address', "Invoice Address",
        required=True,
        states={'readonly': Eval('state') == 'closed'},
        domain=[('party', '=', Eval('party', -1))])
    payment_term = fields.Many2One('account.invoice.payment_term',
        "Payment Term", ondelete='RESTRICT',
        states={'readonly': Eval('state') == 'closed'})
    payment_method = fields.Selection([
            (None, ""),
            ('bank_transfer', "Bank Transfer"),
            ('card', "Card"),
            ('paypal', "PayPal"),
            ('direct_debit', "Direct Debit"),
            ], "Payment Preference")
    currency = fields.Function(fields.Many2One('currency.currency',
            "Currency"), 'on_change_with_currency')
    deposit = fields.Numeric("Deposit", digits='currency',
        domain=['OR', ('deposit', '=', None), ('deposit', '>=', 0)])
    start_date = fields.Date("Start Date", required=True, states=_states,
        help="Move-in date: the first bill runs from here.")
    end_date = fields.Date("End Date",
        states={'readonly': Eval('state') == 'closed'},
        domain=[If(Eval('end_date'),
                ('end_date', '>=', Eval('start_date')), ())],
        help="Move-out date: the last bill ends here.")
    billed_until = fields.Date("Billed Until", readonly=True,
        help="End of the last billed period.")
    state = fields.Selection([
            ('draft', "Draft"),
            ('active', "Active"),
            ('closed', "Closed"),
            ], "State", required=True, readonly=True, sort=False)
    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('number_unique', Unique(t, t.company, t.number),
                'utility_billing.msg_agreement_number_unique'),
            # One active agreement per service point (so per service).
            ('point_active_exclude',
                Exclude(t, (t.service_point, Equal),
                    where=t.state == 'active'),
                'utility_billing.msg_agreement_point_active'),
            ]
        cls._order.insert(0, ('start_date', 'DESC'))
        cls._transitions |= {
            ('draft', 'active'),
            ('active', 'closed'),
            }
        cls._buttons.update({
                'activate': {
                    'invisible': Eval('state') != 'draft',
                    'depends': ['state'],
                    },
                'close': {
                    'invisible': Eval('state') != 'active',
                    'depends': ['state'],
                    },
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_state():
        return 'draft'

    @fields.depends('service_point', '_parent_service_point.service_type')
    def on_change_with_service_type(self, name=None):
        return self.service_point.service_type if self.service_point else None

    @classmethod
    def search_service_type(cls, name, clause):
        return [('service_point.service_type',) + tuple(clause[1:])]

    @fields.depends('company', '_parent_company.currency')
    def on_change_with_currency(self, name=None):
        return self.company.currency if self.company else None

    @fields.depends('party', 'invoice_address', 'payment_term', 'company',
        '_parent_company.utility_payment_term')
    def on_change_party(self):
        if self.party:
            if not self.invoice_address:
                self.invoice_address = self.party.address_get(type='invoice')
            if not self.payment_term:
                if self.company:
                    self.payment_term = (
                        self.company.utility_agreement_payment_term(
                            self.party))
                else:
                    self.payment_term = self.party.customer_payment_term

    @classmethod
    def create(cls, vlist):
        pool = Pool()
        Configuration = pool.get('utility.billing.configuration')
        config = Configuration(1)
        vlist = [v.copy() for v in vlist]
        for values in vlist:
            if not values.get('number'):
                values['number'] = config.agreement_sequence.get()
        return super().create(vlist)

    @classmethod
    def copy(cls, agreements, default=None):
        default = default.copy() if default else {}
        default.setdefault('number', None)
        default.setdefault('billed_until', None)
        return super().copy(agreements, default=default)

    @classmethod
    @ModelView.button
    @Workflow.transition('active')
    def activate(cls, agreements):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('closed')
    def close(cls, agreements):
        for agreement in agreements:
            if not agreement.end_date:
                raise AgreementError(gettext(
                        'utility_billing.msg_agreement_close_without_end',
                        agreement=agreement.rec_name))

    def next_period(self):
        "The next (start, end) to bill or None when all is billed"
        return self.cycle.next_period(
            self.billed_until, self.start_date, self.end_date)

    def get_invoice(self, invoice_date, start, end, priced):
        "An unsaved customer invoice with one line per priced component"
        pool = Pool()
        Invoice = pool.get('account.invoice')
        Line = pool.get('account.invoice.line')
        invoice = Invoice(
            company=self.company,
            type='out',
            party=self.party,
            invoice_address=self.invoice_address,
            currency=self.company.currency,
            invoice_date=invoice_date,
            description=gettext('utility_billing.msg_invoice_description',
                service=self.service_point.service_type.name,
                point=self.service_point.rec_name, start=start, end=end),
            reference=self.number,
            )
        invoice.on_change_type()
        # on_change_type resets the address and the payment term
        invoice.invoice_address = self.invoice_address
        invoice.payment_term = (self.payment_term
            or self.company.utility_agreement_payment_term(self.party))
        invoice.account = self.party.account_receivable_used
        lines = []
        for sequence, priced_line in enumerate(priced.lines, 1):
            product = priced_line.product
            line = Line(
                type='line',
                sequence=sequence,
                company=self.company,
                currency=self.company.currency,
                invoice_type='out',
                party=self.party,
                product=product,
                unit=product.default_uom,
                quantity=priced_line.quantity,
                unit_price=priced_line.unit_price,
                description=priced_line.description,
                account=product.account_revenue_used,
                taxes=(product.customer_taxes_used
                    if priced_line.taxable else []),
                utility_trace=priced_line.trace,
                utility_rate_version=priced_line.version,
                )
            lines.append(line)
        invoice.lines = lines
        return invoice
