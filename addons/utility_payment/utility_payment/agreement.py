from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval

from .exceptions import AutopayValidationError


class ServiceAgreement(metaclass=PoolMeta):
    __name__ = 'utility.service.agreement'
    autopay = fields.Boolean("Autopay",
        help="Charge each posted bill to the saved payment method.")
    autopay_customer = fields.Many2One('account.payment.stripe.customer',
        "Stripe Customer", ondelete='RESTRICT',
        domain=[('party', '=', Eval('party', -1))],
        states={
            'required': Bool(Eval('autopay')),
            'invisible': ~Eval('autopay'),
            })
    autopay_payment_method = fields.Char("Saved Payment Method",
        strip=False,
        states={
            'required': Bool(Eval('autopay')),
            'invisible': ~Eval('autopay'),
            },
        help="The Stripe payment method (pm_…) charged off-session.")
    # A selection filled from Stripe only when the form asks for it.
    autopay_payment_method_selection = fields.Function(fields.Selection(
            'get_autopay_payment_methods', "Saved Payment Method",
            states={'invisible': ~Eval('autopay_customer')}),
        'get_autopay_payment_method',
        setter='set_autopay_payment_method')
    autopay_attempts = fields.One2Many('utility.payment.autopay.attempt',
        'agreement', "Autopay Attempts", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'stripe_save_method': {
                    'invisible': Eval('state') == 'closed',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_autopay(cls):
        return False

    @fields.depends('autopay_customer', 'autopay_payment_method')
    def get_autopay_payment_methods(self):
        methods = [('', '')]
        if self.autopay_customer:
            methods.extend(self.autopay_customer.payment_methods())
        if (self.autopay_payment_method
                and self.autopay_payment_method not in dict(methods)):
            methods.append(
                (self.autopay_payment_method, self.autopay_payment_method))
        return methods

    @fields.depends('autopay_payment_method_selection')
    def on_change_autopay_payment_method_selection(self):
        self.autopay_payment_method = (
            self.autopay_payment_method_selection or None)

    def get_autopay_payment_method(self, name):
        return self.autopay_payment_method

    @classmethod
    def set_autopay_payment_method(cls, agreements, name, value):
        pass

    @classmethod
    def validate_fields(cls, agreements, field_names):
        super().validate_fields(agreements, field_names)
        if field_names and not (field_names & {
                    'autopay', 'autopay_customer', 'autopay_payment_method',
                    'party', 'company'}):
            return
        pool = Pool()
        Provider = pool.get('utility.payment.provider')
        providers = Provider.by_company({
                a.company.id for a in agreements if a.autopay})
        for agreement in agreements:
            if not agreement.autopay:
                continue
            provider = providers.get(agreement.company.id)
            customer = agreement.autopay_customer
            if (not provider or not customer
                    or not agreement.autopay_payment_method
                    or customer.party != agreement.party
                    or customer.stripe_account != provider.stripe_account):
                raise AutopayValidationError(gettext(
                        'utility_payment.msg_agreement_autopay_invalid',
                        agreement=agreement.rec_name))

    def get_stripe_customer(self, create=True):
        "The Stripe customer of the party on the provider's account"
        pool = Pool()
        Provider = pool.get('utility.payment.provider')
        Customer = pool.get('account.payment.stripe.customer')
        provider = Provider.get(self.company)
        if (self.autopay_customer
                and self.autopay_customer.stripe_account
                == provider.stripe_account):
            return self.autopay_customer
        customers = Customer.search([
                ('party', '=', self.party.id),
                ('stripe_account', '=', provider.stripe_account.id),
                ], order=[('stripe_customer_id', 'ASC NULLS LAST'),
                ('id', 'ASC')], limit=1)
        if customers:
            return customers[0]
        if create:
            customer = Customer(
                party=self.party, stripe_account=provider.stripe_account)
            customer.save()
            return customer

    @classmethod
    @ModelView.button_action('account_payment_stripe.url_checkout')
    def stripe_save_method(cls, agreements):
        "Open Stripe's checkout to save a payment method of the customer"
        pool = Pool()
        Customer = pool.get('account.payment.stripe.customer')
        for agreement in agreements:
            customer = agreement.get_stripe_customer()
            return Customer.stripe_checkout([customer])

    @classmethod
    def copy(cls, agreements, default=None):
        default = default.copy() if default else {}
        default.setdefault('autopay_attempts', None)
        return super().copy(agreements, default=default)
