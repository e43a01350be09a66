"""Payment settings of a utility provider (a company).

Each provider charges through its own Stripe account and payment journal;
Tryton's account_payment_stripe does the talking to Stripe.
"""
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .exceptions import PaymentProviderError, ProviderValidationError


class Provider(ModelSQL, ModelView):
    "Utility Payment Provider"
    __name__ = 'utility.payment.provider'
    company = fields.Many2One('company.company', "Provider", required=True,
        ondelete='CASCADE')
    stripe_account = fields.Many2One('account.payment.stripe.account',
        "Stripe Account", required=True, ondelete='RESTRICT')
    journal = fields.Many2One('account.payment.journal', "Payment Journal",
        required=True, ondelete='RESTRICT',
        domain=[
            ('company', '=', Eval('company', -1)),
            ('process_method', '=', 'stripe'),
            ('stripe_account', '=', Eval('stripe_account', -1)),
            ],
        help="A Stripe journal with a clearing account: a succeeded "
        "payment posts the clearing move that settles the bill.")
    method_card = fields.Boolean("Cards")
    method_wallets = fields.Boolean("Wallets",
        help="Apple Pay, Google Pay and Link in the Payment Element; "
        "Stripe charges them as cards.")
    method_sepa_debit = fields.Boolean("SEPA Direct Debit")
    method_ach_debit = fields.Boolean("ACH Direct Debit")
    autopay_timing = fields.Selection([
            ('due_date', "On Due Date"),
            ('posting', "At Posting"),
            ], "Autopay Charges", required=True,
        help="When autopay charges a posted bill.")
    retry_days = fields.Char("Retry After Days", required=True,
        help="Comma separated days after the first declined autopay charge "
        "on which it is tried again, e.g. \"1, 3, 7\". "
        "After the last one the bill follows normal dunning.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('company_unique', Unique(t, t.company),
                'utility_payment.msg_provider_company_unique'),
            ]

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_method_card(cls):
        return True

    @classmethod
    def default_method_wallets(cls):
        return True

    @classmethod
    def default_method_sepa_debit(cls):
        return False

    @classmethod
    def default_method_ach_debit(cls):
        return False

    @classmethod
    def default_autopay_timing(cls):
        return 'due_date'

    @classmethod
    def default_retry_days(cls):
        return '1, 3, 7'

    def get_rec_name(self, name):
        return self.company.rec_name

    @classmethod
    def validate_fields(cls, providers, field_names):
        super().validate_fields(providers, field_names)
        for provider in providers:
            try:
                delays = provider.retry_delays
            except ValueError:
                delays = None
            if delays is None or any(d <= 0 for d in delays) or (
                    delays != sorted(set(delays))):
                raise ProviderValidationError(gettext(
                        'utility_payment.msg_provider_retry_days',
                        provider=provider.rec_name,
                        value=provider.retry_days))
            if not provider.payment_method_types:
                raise ProviderValidationError(gettext(
                        'utility_payment.msg_provider_no_method',
                        provider=provider.rec_name))

    @property
    def retry_delays(self):
        "Increasing days after the first decline, one per retry"
        return [int(d) for d in (self.retry_days or '').replace(
                ';', ',').split(',') if d.strip()]

    @property
    def payment_method_types(self):
        "Stripe payment method types enabled for this provider"
        types = []
        # Wallets are card payment methods for Stripe.
        if self.method_card or self.method_wallets:
            types.append('card')
        if self.method_sepa_debit:
            types.append('sepa_debit')
        if self.method_ach_debit:
            types.append('us_bank_account')
        return types

    @classmethod
    def get(cls, company):
        "The settings of company or a user error naming it"
        providers = cls.search([('company', '=', company.id)], limit=1)
        if not providers:
            raise PaymentProviderError(gettext(
                    'utility_payment.msg_provider_missing',
                    company=company.rec_name))
        return providers[0]

    @classmethod
    def by_company(cls, company_ids):
        "Map of company id to its settings, in one search"
        return {p.company.id: p for p in cls.search([
                    ('company', 'in', list(company_ids)),
                    ])}
