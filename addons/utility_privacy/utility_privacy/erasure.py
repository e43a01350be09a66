"""Erasure of a customer's personal data (GDPR Art. 17, CCPA 1798.105).

Tryton's party erase wizard blanks the party, its identifiers, addresses
and contact mechanisms (and web_user the portal login). It is extended
here to our models, and refused, with the reason, while the customer
still has an open balance, an open billing dispute or a running service
agreement with a provider. What the law makes us keep (posted invoices,
bills, payments, meter readings) stays, linked to the blanked party: it
no longer identifies the person. Every request is logged with its legal
basis and outcome (utility.privacy.erasure).
"""
import datetime as dt

from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.modules.party.exceptions import EraseError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import (
    Transaction, inactive_records, without_check_access)
from trytond.wizard import Button, StateView

MASK = '****'
LEGAL_BASES = [
    ('gdpr_art17', "GDPR Art. 17 (Right to Erasure)"),
    ('ccpa_1798_105', "CCPA § 1798.105 (Right to Delete)"),
    ('retention', "Retention Period Expired"),
    ('other', "Other (see note)"),
    ]
# Service requests that still need the customer's identity.
OPEN_DISPUTE_STATES = ['new', 'in_progress', 'waiting']


class Erasure(ModelSQL, ModelView):
    "Erasure Request"
    __name__ = 'utility.privacy.erasure'
    company = fields.Many2One('company.company', "Provider", required=True,
        readonly=True,
        help="The provider that received the request.")
    party = fields.Many2One('party.party', "Customer", required=True,
        ondelete='RESTRICT',
        context={'company': Eval('company', -1)},
        states={'readonly': Eval('state') != 'requested'},
        depends={'company'})
    party_code = fields.Char("Customer Code", readonly=True,
        help="Kept to answer the customer about the request: the code "
        "is not personal data.")
    request_date = fields.Date("Request Date", required=True,
        states={'readonly': Eval('state') != 'requested'})
    channel = fields.Selection([
            ('portal', "Portal"),
            ('back_office', "Back Office"),
            ('retention', "Retention Period"),
            ], "Channel", required=True,
        states={'readonly': Eval('state') != 'requested'})
    legal_basis = fields.Selection(LEGAL_BASES, "Legal Basis", required=True,
        states={'readonly': Eval('state') != 'requested'})
    note = fields.Text("Note",
        states={'readonly': Eval('state') != 'requested'})
    state = fields.Selection([
            ('requested', "Requested"),
            ('erased', "Erased"),
            ('refused', "Refused"),
            ], "Outcome", required=True, readonly=True, sort=False)
    reason = fields.Text("Reason", readonly=True,
        help="Why the erasure was refused.")
    processed_date = fields.DateTime("Processed At", readonly=True)
    processed_by = fields.Many2One('res.user', "Processed By", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('request_date', 'DESC'), ('id', 'DESC')]
        cls._buttons.update({
                'process': {
                    'invisible': Eval('state') != 'requested',
                    'depends': ['state'],
                    },
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_request_date(cls):
        return Pool().get('ir.date').today()

    @classmethod
    def default_state(cls):
        return 'requested'

    @classmethod
    def default_channel(cls):
        return 'back_office'

    @classmethod
    def default_legal_basis(cls):
        return 'gdpr_art17'

    def get_rec_name(self, name):
        return '%s (%s)' % (self.party_code or self.party.rec_name,
            self.request_date)

    @classmethod
    def create(cls, vlist):
        pool = Pool()
        Party = pool.get('party.party')
        vlist = [v.copy() for v in vlist]
        parties = Party.browse([v['party'] for v in vlist if v.get('party')])
        codes = {p.id: p.code for p in parties}
        for values in vlist:
            values.setdefault('party_code', codes.get(values.get('party')))
        return super().create(vlist)

    @classmethod
    def delete(cls, erasures):
        # The log is evidence of how requests were handled.
        for erasure in erasures:
            if erasure.state != 'requested':
                raise UserError(gettext(
                        'utility_privacy.msg_erasure_delete_processed',
                        erasure=erasure.rec_name))
        super().delete(erasures)

    @classmethod
    def request_erasure(cls, party, company, legal_basis='gdpr_art17',
            channel='portal', note=None):
        "Log a customer's request, to be processed by staff"
        erasure, = cls.create([{
                    'party': party.id,
                    'company': company.id,
                    'legal_basis': legal_basis,
                    'channel': channel,
                    'note': note,
                    }])
        return erasure

    @classmethod
    @ModelView.button
    def process(cls, erasures):
        "Erase each requested party, or log why it may not be erased"
        pool = Pool()
        Party = pool.get('party.party')
        EraseWizard = pool.get('party.erase', type='wizard')
        transaction = Transaction()
        now = dt.datetime.now()
        user = transaction.user
        for erasure in erasures:
            if erasure.state != 'requested':
                continue
            party = erasure.party
            with without_check_access(), inactive_records(), \
                    transaction.set_context(_utility_privacy_erasure=True):
                was_active = party.active
                if was_active:
                    # Tryton erases inactive parties only.
                    Party.write([party], {'active': False})
                session_id, _, _ = EraseWizard.create()
                try:
                    wizard = EraseWizard(session_id)
                    wizard.ask.party = party
                    try:
                        wizard.check_erase(Party(party.id))
                    except UserError as exc:
                        if was_active:
                            Party.write([party], {'active': True})
                        erasure.state = 'refused'
                        erasure.reason = exc.message
                    else:
                        wizard.transition_erase()
                        erasure.state = 'erased'
                        erasure.reason = None
                finally:
                    EraseWizard.delete(session_id)
            erasure.processed_date = now
            erasure.processed_by = user
        cls.save(erasures)


class EraseAsk(metaclass=PoolMeta):
    __name__ = 'party.erase.ask'
    utility_company = fields.Many2One('company.company', "Provider",
        required=True,
        help="The provider that received the request.")
    utility_legal_basis = fields.Selection(LEGAL_BASES, "Legal Basis",
        required=True)
    utility_note = fields.Text("Note")
    utility_refusal = fields.Text("Refused Because", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # The party's multi-company values are those of the provider.
        cls.party.context = dict(cls.party.context or {},
            company=Eval('utility_company', -1))
        cls.party.depends = set(cls.party.depends or ()) | {'utility_company'}

    @classmethod
    def default_utility_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_utility_legal_basis(cls):
        return 'gdpr_art17'


class Erase(metaclass=PoolMeta):
    __name__ = 'party.erase'
    utility_refused = StateView('party.erase.ask',
        'utility_privacy.erase_ask_refused_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def transition_erase(self):
        pool = Pool()
        Erasure = pool.get('utility.privacy.erasure')
        transaction = Transaction()
        if transaction.context.get('_utility_privacy_erasure'):
            Address = pool.get('party.address')
            party_id = self.ask.party.id
            premises = self._utility_premises(party_id)
            state = super().transition_erase()
            # Tryton erases with SQL updates, which leave the records read
            # before in this transaction's caches.
            for cache in transaction.cache.values():
                cache.clear()
            # Tryton deactivates every address it erases; a premise stays
            # in use for the next occupant.
            if premises:
                with inactive_records():
                    Address.write(Address.browse(premises), {'active': True})
            self._utility_erase_records(party_id)
            return state
        # From the back office: log the request and its outcome; a refusal
        # is shown, not raised, so that its log entry is kept.
        erasure, = Erasure.create([{
                    'party': self.ask.party.id,
                    'company': self.ask.utility_company.id,
                    'legal_basis': self.ask.utility_legal_basis,
                    'note': self.ask.utility_note,
                    'channel': 'back_office',
                    }])
        Erasure.process([erasure])
        if erasure.state == 'refused':
            self.ask.utility_refusal = erasure.reason
            return 'utility_refused'
        return 'end'

    def default_utility_refused(self, fields):
        return {
            'party': self.ask.party.id,
            'utility_company': self.ask.utility_company.id,
            'utility_legal_basis': self.ask.utility_legal_basis,
            'utility_refusal': self.ask.utility_refusal,
            }

    def check_erase_company(self, party, company):
        pool = Pool()
        Agreement = pool.get('utility.service.agreement')
        Request = pool.get('utility.service.request')
        Lang = pool.get('ir.lang')
        # Our reasons first: they say what the customer has to settle.
        agreements = Agreement.search([
                ('party', '=', party.id),
                ('company', '=', company.id),
                ('state', 'in', ['draft', 'active']),
                ], limit=1)
        if agreements:
            raise EraseError(gettext(
                    'utility_privacy.msg_erase_running_agreement',
                    party=party.rec_name, company=company.rec_name,
                    agreement=agreements[0].rec_name))
        balance = (party.receivable or 0) - (party.payable or 0)
        if balance:
            lang = Lang.get()
            raise EraseError(gettext(
                    'utility_privacy.msg_erase_open_balance',
                    party=party.rec_name, company=company.rec_name,
                    balance=lang.currency(balance, company.currency)))
        disputes = Request.search([
                ('party', '=', party.id),
                ('company', '=', company.id),
                ('kind', '=', 'billing_dispute'),
                ('state', 'in', OPEN_DISPUTE_STATES),
                ], limit=1)
        if disputes:
            raise EraseError(gettext(
                    'utility_privacy.msg_erase_open_dispute',
                    party=party.rec_name, company=company.rec_name,
                    request=disputes[0].rec_name))
        super().check_erase_company(party, company)

    def _utility_erase_records(self, party_id):
        """Erase what to_erase cannot blank with an update (e.g. delete
        records), after Tryton's erase of party_id"""
        pass

    @staticmethod
    def _utility_premises(party_id):
        "Ids of the party's addresses that locate service points"
        ServicePoint = Pool().get('utility.service.point')
        with inactive_records():
            points = ServicePoint.search([('party', '=', party_id)])
        return sorted({p.address.id for p in points})

    def to_erase(self, party_id):
        pool = Pool()
        Party = pool.get('party.party')
        Address = pool.get('party.address')
        Request = pool.get('utility.service.request')
        Message = pool.get('utility.service.request.message')
        Notification = pool.get('utility.payment.notification')
        Email = pool.get('utility.care.email')
        Opportunity = pool.get('sale.opportunity')
        StripeCustomer = pool.get('account.payment.stripe.customer')
        SentEmail = pool.get('ir.email')
        SentEmailAddress = pool.get('ir.email.address')
        to_erase = super().to_erase(party_id)
        # A premise's address locates the meter, not the person: keep it
        # for the next occupant, only the names on it go.
        premises = self._utility_premises(party_id)
        result = []
        for Model, domain, resource, columns, values in to_erase:
            if Model is Address and premises:
                result.append((Address,
                        domain + [('id', 'not in', premises)],
                        resource, columns, values))
                result.append((Address,
                        [('id', 'in', premises)], False,
                        ['party_name', 'attn'], [None, None]))
            else:
                result.append((Model, domain, resource, columns, values))
        result.extend([
                (Party, [('id', '=', party_id)], False,
                    ['portal_alert_threshold', 'portal_bill_threshold'],
                    [None, None]),
                (Request, [('party', '=', party_id)], True,
                    ['subject', 'resolution_note'], [MASK, None]),
                (Message, [('request.party', '=', party_id)], True,
                    ['body'], [MASK]),
                (Notification, [('party', '=', party_id)], True,
                    ['message'], [None]),
                # The customer's e-mails to customer care.
                (Email, [('party', '=', party_id)], True,
                    ['sender', 'subject', 'body', 'message_id'],
                    [MASK, MASK, None, None]),
                # Prospects' notes name and describe the person.
                (Opportunity, [('party', '=', party_id)], True,
                    ['description', 'comment'], [MASK, None]),
                # Tryton's log of the e-mails sent to the customer.
                (SentEmail, [('resource', '=', 'party.party,%s' % party_id)],
                    True,
                    ['recipients', 'recipients_secondary',
                        'recipients_hidden', 'subject', 'body'],
                    [MASK, None, None, MASK, None]),
                (SentEmailAddress, [
                        ('email.resource', '=', 'party.party,%s' % party_id),
                        ], False, ['address'], [MASK]),
                # Deactivated: Tryton's "Delete Stripe Customers" cron
                # deletes them, and their cards, at Stripe.
                (StripeCustomer, [('party', '=', party_id)], False,
                    [], []),
                ])
        return result
