"""Purposes of processing and the customers' consents to them.

A purpose is one line of the record of processing activities (GDPR
Art. 30): why personal data are processed, on which legal basis, about
whom, what data, for whom and for how long. Purposes whose legal basis is
consent (marketing, sharing with an external CRM) need a consent record
of the customer: given on a date, withdrawn on a later one.
"""
import datetime as dt
from xml.sax.saxutils import escape

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.model.exceptions import ValidationError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If
from trytond.report import Report
from trytond.transaction import Transaction, without_check_access

from .pdf import check_report_access, html_to_pdf

# The purpose that lets utility_care's webhooks send a customer's data to
# the provider's CRM.
CRM_SHARING = 'crm_sharing'
LEGAL_BASES = [
    ('consent', "Consent (GDPR Art. 6(1)(a))"),
    ('contract', "Contract (GDPR Art. 6(1)(b))"),
    ('legal_obligation', "Legal Obligation (GDPR Art. 6(1)(c))"),
    ('vital_interest', "Vital Interest (GDPR Art. 6(1)(d))"),
    ('public_task', "Public Task (GDPR Art. 6(1)(e))"),
    ('legitimate_interest', "Legitimate Interest (GDPR Art. 6(1)(f))"),
    ]


class Purpose(ModelSQL, ModelView):
    "Processing Purpose"
    __name__ = 'utility.privacy.purpose'
    company = fields.Many2One('company.company', "Provider",
        help="Leave empty for a purpose of every provider.")
    code = fields.Char("Code", required=True,
        help="Used by programs, e.g. marketing or crm_sharing.")
    name = fields.Char("Name", required=True, translate=True)
    description = fields.Text("Description", translate=True)
    legal_basis = fields.Selection(LEGAL_BASES, "Legal Basis", required=True)
    data_subjects = fields.Char("Data Subjects",
        help="Whose data, e.g. customers, portal users.")
    data_categories = fields.Char("Data Categories",
        help="Which data, e.g. identity, contact, consumption, payments.")
    recipients = fields.Char("Recipients",
        help="Who receives the data, inside or outside the provider.")
    transfers = fields.Char("Transfers Outside the EEA")
    retention = fields.Char("Retention",
        help="How long the data are kept (see Retention Periods).")
    security = fields.Char("Security Measures")
    requires_consent = fields.Function(fields.Boolean("Requires Consent"),
        'on_change_with_requires_consent',
        searcher='search_requires_consent')
    active = fields.Boolean("Active")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('company_code_unique', Unique(t, t.company, t.code),
                'utility_privacy.msg_purpose_code_unique'),
            ]
        cls._order = [('code', 'ASC'), ('id', 'ASC')]

    @classmethod
    def default_active(cls):
        return True

    @classmethod
    def default_legal_basis(cls):
        return 'consent'

    @fields.depends('legal_basis')
    def on_change_with_requires_consent(self, name=None):
        return self.legal_basis == 'consent'

    @classmethod
    def search_requires_consent(cls, name, clause):
        _, operator, value = clause
        if operator == '!=':
            value = not value
        return [('legal_basis', '=' if value else '!=', 'consent')]

    @classmethod
    def get_purpose(cls, code, company):
        "The provider's own purpose of that code, else the shared one"
        purposes = cls.search([
                ('code', '=', code),
                ('company', 'in', [company.id if company else None, None]),
                ])
        purposes.sort(key=lambda p: p.company is None)
        if not purposes:
            raise ValidationError(gettext(
                    'utility_privacy.msg_purpose_unknown', code=code))
        return purposes[0]


class Consent(ModelSQL, ModelView):
    "Customer Consent"
    __name__ = 'utility.privacy.consent'
    company = fields.Many2One('company.company', "Provider", required=True)
    party = fields.Many2One('party.party', "Customer", required=True,
        ondelete='CASCADE',
        context={'company': Eval('company', -1)}, depends={'company'})
    purpose = fields.Many2One('utility.privacy.purpose', "Purpose",
        required=True, ondelete='RESTRICT',
        domain=[
            ('requires_consent', '=', True),
            ('company', 'in', [Eval('company', -1), None]),
            ])
    given_date = fields.Date("Given", required=True)
    withdrawn_date = fields.Date("Withdrawn",
        domain=[If(Eval('withdrawn_date'),
                ('withdrawn_date', '>=', Eval('given_date')), ())])
    source = fields.Selection([
            ('portal', "Portal"),
            ('back_office', "Back Office"),
            ('phone', "Phone"),
            ('paper', "Paper"),
            ], "Source", required=True)
    state = fields.Function(fields.Selection([
                ('given', "Given"),
                ('withdrawn', "Withdrawn"),
                ], "State"), 'get_state', searcher='search_state')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('given_date', 'DESC'), ('id', 'DESC')]
        cls._buttons.update({
                'withdraw': {
                    'invisible': Eval('state') != 'given',
                    'depends': ['state'],
                    },
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_given_date(cls):
        return Pool().get('ir.date').today()

    @classmethod
    def default_source(cls):
        return 'back_office'

    def get_state(self, name):
        return 'withdrawn' if self.withdrawn_date else 'given'

    @classmethod
    def search_state(cls, name, clause):
        _, operator, value = clause
        withdrawn = (value == 'withdrawn') == (operator == '=')
        return [('withdrawn_date', '!=' if withdrawn else '=', None)]

    def get_rec_name(self, name):
        return '%s: %s' % (self.party.rec_name, self.purpose.rec_name)

    @classmethod
    def validate(cls, consents):
        super().validate(consents)
        for consent in consents:
            if consent.state != 'given':
                continue
            # One running consent per customer and purpose: withdrawing
            # must not leave another one that still says yes.
            others = cls.search([
                    ('id', '!=', consent.id),
                    ('company', '=', consent.company.id),
                    ('party', '=', consent.party.id),
                    ('purpose', '=', consent.purpose.id),
                    ('withdrawn_date', '=', None),
                    ], limit=1)
            if others:
                raise ValidationError(gettext(
                        'utility_privacy.msg_consent_duplicate',
                        party=consent.party.rec_name,
                        purpose=consent.purpose.rec_name))

    @classmethod
    def create(cls, vlist):
        consents = super().create(vlist)
        cls._share_with_crm([c for c in consents
                if c.purpose.code == CRM_SHARING and c.state == 'given'])
        return consents

    @classmethod
    def _share_with_crm(cls, consents):
        "Send the customer's data to the CRM of a provider just allowed to"
        Party = Pool().get('party.party')
        for consent in consents:
            with Transaction().set_context(company=consent.company.id):
                Party._webhook([consent.party], 'customer.updated')

    @classmethod
    @ModelView.button
    def withdraw(cls, consents, date=None):
        if date is None:
            date = Pool().get('ir.date').today()
        cls.write([c for c in consents if not c.withdrawn_date],
            {'withdrawn_date': date})

    @classmethod
    def has_consent(cls, party, code, company, date=None):
        """Whether party consents to the purpose code of company on date;
        e.g. checked before sending marketing or data to the CRM"""
        Purpose = Pool().get('utility.privacy.purpose')
        if date is None:
            date = Pool().get('ir.date').today()
        purpose = Purpose.get_purpose(code, company)
        if not purpose.requires_consent:
            return True
        return bool(cls.search([
                    ('company', '=', company.id),
                    ('party', '=', party.id),
                    ('purpose', '=', purpose.id),
                    ('given_date', '<=', date),
                    ['OR',
                        ('withdrawn_date', '=', None),
                        ('withdrawn_date', '>', date),
                        ],
                    ], limit=1))

    @classmethod
    def set_consent(cls, party, code, company, given, source='portal',
            date=None):
        """Give or withdraw party's consent to purpose code (for the
        portal's preferences page); returns the consent record"""
        Purpose = Pool().get('utility.privacy.purpose')
        if date is None:
            date = Pool().get('ir.date').today()
        purpose = Purpose.get_purpose(code, company)
        running = cls.search([
                ('company', '=', company.id),
                ('party', '=', party.id),
                ('purpose', '=', purpose.id),
                ('withdrawn_date', '=', None),
                ], limit=1)
        if given:
            if running:
                return running[0]
            consent = cls(company=company, party=party, purpose=purpose,
                given_date=date, source=source)
            consent.save()
            return consent
        if running:
            cls.withdraw(running, date=date)
            return running[0]


class WebhookDelivery(metaclass=PoolMeta):
    __name__ = 'utility.webhook.delivery'

    @classmethod
    def emit(cls, events):
        # utility_care's webhooks send customer data to the provider's
        # CRM: only of customers who consent to the crm_sharing purpose
        # (or where the provider's purpose does not need consent).
        return super().emit(cls._utility_privacy_consented(events))

    @staticmethod
    def _utility_privacy_party(event, data):
        "The id of the customer an event is about, None if none"
        if event.startswith('customer.'):
            return data.get('id')
        customer = data.get('customer') or {}
        return customer.get('id')

    @classmethod
    def _utility_privacy_consented(cls, events):
        pool = Pool()
        Consent = pool.get('utility.privacy.consent')
        Party = pool.get('party.party')
        Company = pool.get('company.company')
        allowed, kept = {}, []
        with without_check_access():
            for company, event, data in events:
                party = cls._utility_privacy_party(event, data)
                if company is not None and party is not None:
                    key = (company, party)
                    if key not in allowed:
                        try:
                            allowed[key] = Consent.has_consent(
                                Party(party), CRM_SHARING, Company(company))
                        except ValidationError:
                            # No purpose: nothing may be shared.
                            allowed[key] = False
                    if not allowed[key]:
                        continue
                kept.append((company, event, data))
        return kept


class ProcessingReport(Report):
    "Record of Processing Activities"
    __name__ = 'utility.privacy.processing.report'

    COLUMNS = [
        ('name', "Purpose"),
        ('legal_basis', "Legal Basis"),
        ('data_subjects', "Data Subjects"),
        ('data_categories', "Data Categories"),
        ('recipients', "Recipients"),
        ('transfers', "Transfers"),
        ('retention', "Retention"),
        ('security', "Security"),
        ]

    @classmethod
    def execute(cls, ids, data):
        pool = Pool()
        Purpose = pool.get('utility.privacy.purpose')
        Company = pool.get('company.company')
        context = Transaction().context
        check_report_access(cls, ids, data)
        if not ids:
            ids = list(map(int, Purpose.search([])))
        purposes = Purpose.browse(ids)
        company = (Company(context['company'])
            if context.get('company') else None)
        html = cls.render_html(purposes, company)
        return 'pdf', html_to_pdf(html), False, 'processing-activities'

    @classmethod
    def render_html(cls, purposes, company):
        Purpose = Pool().get('utility.privacy.purpose')
        bases = dict(Purpose.fields_get(['legal_basis'])
            ['legal_basis']['selection'])
        rows = []
        for purpose in purposes:
            cells = []
            for name, _ in cls.COLUMNS:
                value = getattr(purpose, name) or ''
                if name == 'legal_basis':
                    value = bases.get(value, value)
                cells.append('<td>%s</td>' % escape(str(value)))
            rows.append('<tr>%s</tr>' % ''.join(cells))
        header = ''.join('<th>%s</th>' % escape(t) for _, t in cls.COLUMNS)
        controller = escape(company.rec_name) if company else ''
        return ('<!DOCTYPE html><html><head><meta charset="utf-8"/>'
            '<title>Record of Processing Activities</title>'
            '<style>@page {size: A4 landscape; margin: 1.2cm}'
            'body {font-family: sans-serif; font-size: 8pt}'
            'table {border-collapse: collapse; width: 100%%}'
            'th, td {border: 1px solid #999; padding: 3px;'
            ' vertical-align: top; text-align: left}</style></head><body>'
            '<h1>Record of Processing Activities</h1>'
            '<p>Controller: %s &#8212; printed %s</p>'
            '<table><thead><tr>%s</tr></thead><tbody>%s</tbody></table>'
            '</body></html>') % (controller, dt.date.today().isoformat(),
            header, ''.join(rows))
