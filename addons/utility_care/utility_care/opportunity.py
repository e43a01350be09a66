"""Prospects (new connections, commercial customers) are Tryton sale
opportunities; a won one becomes a customer with a draft service agreement
(and, for a new connection, a new service point)."""
from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval
from trytond.transaction import Transaction
from trytond.wizard import Button, StateAction, StateView, Wizard


class Opportunity(metaclass=PoolMeta):
    __name__ = 'sale.opportunity'
    utility_prospect = fields.Selection([
            (None, ""),
            ('new_connection', "New Connection"),
            ('commercial', "Commercial Customer"),
            ('residential', "Residential Customer"),
            ], "Utility Prospect",
        states={'readonly': Eval('state').in_(['lost', 'cancelled'])})
    utility_service_point = fields.Many2One('utility.service.point',
        "Service Point",
        domain=[('company', '=', Eval('company', -1))],
        states={
            'readonly': Eval('state').in_(['won', 'lost', 'cancelled']),
            'invisible': ~Bool(Eval('utility_prospect')),
            },
        help="The premise to supply, when it already exists.")
    utility_rate_plan = fields.Many2One('utility.rate.plan', "Rate Plan",
        domain=[('company', '=', Eval('company', -1))],
        states={
            'readonly': Eval('state').in_(['won', 'lost', 'cancelled']),
            'invisible': ~Bool(Eval('utility_prospect')),
            })
    utility_agreements = fields.One2Many('utility.service.agreement',
        'opportunity', "Service Agreements", readonly=True,
        states={'invisible': ~Bool(Eval('utility_prospect'))})

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'utility_create_agreement': {
                    'invisible': Eval('state') != 'won',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_utility_prospect(cls):
        # Opened from Prospects (action context)
        if Transaction().context.get('utility_prospect'):
            return 'new_connection'

    @classmethod
    def copy(cls, opportunities, default=None):
        default = default.copy() if default else {}
        default.setdefault('utility_agreements', None)
        return super().copy(opportunities, default=default)

    @classmethod
    @ModelView.button_action('utility_care.wizard_opportunity_agreement')
    def utility_create_agreement(cls, opportunities):
        pass


class Agreement(metaclass=PoolMeta):
    __name__ = 'utility.service.agreement'
    opportunity = fields.Many2One('sale.opportunity', "Opportunity",
        readonly=True, ondelete='RESTRICT',
        domain=[('company', '=', Eval('company', -1))])

    @classmethod
    def copy(cls, agreements, default=None):
        default = default.copy() if default else {}
        # A move-in copies the agreement: it is no sale of the prospect.
        default.setdefault('opportunity', None)
        return super().copy(agreements, default=default)


class CreateAgreementStart(ModelView):
    "Create Service Agreement"
    __name__ = 'utility.opportunity.agreement.start'
    opportunity = fields.Many2One('sale.opportunity', "Opportunity",
        readonly=True)
    company = fields.Many2One('company.company', "Provider", readonly=True)
    party = fields.Many2One('party.party', "Customer", readonly=True,
        context={'company': Eval('company', -1)}, depends={'company'})
    service_point = fields.Many2One('utility.service.point',
        "Service Point",
        domain=[
            ('company', '=', Eval('company', -1)),
            ('service_type', '=', Eval('service_type', -1)),
            ],
        help="Leave empty to connect a new service point.")
    point_code = fields.Char("New Service Point Code",
        states={
            'invisible': Bool(Eval('service_point')),
            'required': ~Eval('service_point'),
            })
    point_address = fields.Many2One('party.address', "Service Address",
        domain=[('party', '=', Eval('party', -1))],
        states={
            'invisible': Bool(Eval('service_point')),
            'required': ~Eval('service_point'),
            })
    rate_plan = fields.Many2One('utility.rate.plan', "Rate Plan",
        required=True,
        domain=[('company', '=', Eval('company', -1))])
    service_type = fields.Function(fields.Many2One('utility.service.type',
            "Service"), 'on_change_with_service_type')
    cycle = fields.Many2One('utility.billing.cycle', "Billing Cycle",
        required=True,
        domain=[('company', '=', Eval('company', -1))])
    invoice_address = fields.Many2One('party.address', "Invoice Address",
        required=True,
        domain=[('party', '=', Eval('party', -1))])
    payment_term = fields.Many2One('account.invoice.payment_term',
        "Payment Term")
    start_date = fields.Date("Start Date", required=True)

    @fields.depends('rate_plan')
    def on_change_with_service_type(self, name=None):
        return self.rate_plan.service_type if self.rate_plan else None


class CreateAgreement(Wizard):
    "Create Service Agreement"
    __name__ = 'utility.opportunity.agreement'
    start = StateView('utility.opportunity.agreement.start',
        'utility_care.opportunity_agreement_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Create", 'create_', 'tryton-ok', default=True),
            ])
    create_ = StateAction('utility_billing.act_agreement_form')

    def default_start(self, fields):
        pool = Pool()
        Date = pool.get('ir.date')
        opportunity = self.record
        self.check(opportunity)
        party = opportunity.party
        with Transaction().set_context(company=opportunity.company.id):
            today = Date.today()
        address = opportunity.address or party.address_get(type='invoice')
        return {
            'opportunity': opportunity.id,
            'company': opportunity.company.id,
            'party': party.id,
            'service_point': (opportunity.utility_service_point.id
                if opportunity.utility_service_point else None),
            'point_address': address.id if address else None,
            'rate_plan': (opportunity.utility_rate_plan.id
                if opportunity.utility_rate_plan else None),
            'invoice_address': address.id if address else None,
            'payment_term': (opportunity.payment_term.id
                if opportunity.payment_term else None),
            'start_date': today,
            }

    @staticmethod
    def check(opportunity):
        if opportunity.state != 'won':
            raise UserError(gettext('utility_care.msg_opportunity_not_won',
                    opportunity=opportunity.rec_name))

    def do_create_(self, action):
        agreement = create_agreement(self.record, self.start)
        action['views'].reverse()
        return action, {'res_id': [agreement.id]}


def create_agreement(opportunity, values):
    """Draft the service agreement of a won opportunity from values (an
    object with the start view's fields), connecting a new service point
    when none is given"""
    pool = Pool()
    Agreement = pool.get('utility.service.agreement')
    ServicePoint = pool.get('utility.service.point')
    CreateAgreement.check(opportunity)
    company = opportunity.company
    party = opportunity.party
    plan = values.rate_plan
    if plan.company != company:
        raise UserError(gettext('utility_care.msg_opportunity_other_company',
                opportunity=opportunity.rec_name, record=plan.rec_name))
    point = values.service_point
    if point is None:
        point = ServicePoint(company=company, code=values.point_code,
            service_type=plan.service_type, party=party,
            address=values.point_address)
        point.save()
    elif point.company != company:
        raise UserError(gettext('utility_care.msg_opportunity_other_company',
                opportunity=opportunity.rec_name, record=point.rec_name))
    with Transaction().set_context(company=company.id):
        agreement = Agreement(company=company, party=party,
            service_point=point, rate_plan=plan, cycle=values.cycle,
            invoice_address=values.invoice_address,
            payment_term=values.payment_term,
            start_date=values.start_date, opportunity=opportunity)
        agreement.save()
    return agreement
