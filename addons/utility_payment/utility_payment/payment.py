import logging

from trytond.model import ModelSQL, Unique, fields
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction

from .secret import EncryptedSecretsMixin

logger = logging.getLogger(__name__)


class Payment(metaclass=PoolMeta):
    __name__ = 'account.payment'

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + [
            'utility.bill', 'utility.payment.autopay.attempt']

    def _payment_intent_parameters(self, off_session=False):
        pool = Pool()
        Provider = pool.get('utility.payment.provider')
        params = super()._payment_intent_parameters(off_session=off_session)
        providers = Provider.search([
                ('company', '=', self.company.id),
                ('journal', '=', self.journal.id),
                ], limit=1)
        if providers:
            # Stripe refuses automatic methods together with a list.
            params.pop('automatic_payment_methods', None)
            params['payment_method_types'] = (
                providers[0].payment_method_types)
            params['metadata'] = {
                'tryton_payment': self.number or '',
                'tryton_reference': self.reference or '',
                }
        return params

    @classmethod
    def succeed(cls, payments):
        pool = Pool()
        Attempt = pool.get('utility.payment.autopay.attempt')
        super().succeed(payments)
        Attempt.payments_succeeded(payments)

    @property
    def stripe_outcome_unknown(self):
        """Whether Stripe's answer to the autopay charge is unknown.

        account_payment_stripe fails a payment on any Stripe error other
        than a connection or rate limit one, also on a 5xx: then Stripe may
        have charged. Without a PaymentIntent, a charge or an error code
        (declines carry them), the payment stays processing and the next
        autopay run charges it again with the same idempotency key.
        """
        pool = Pool()
        Attempt = pool.get('utility.payment.autopay.attempt')
        return (self.state == 'processing'
            and self.journal.process_method == 'stripe'
            and isinstance(self.origin, Attempt)
            and self.stripe_idempotency_key
            and not self.stripe_payment_intent_id
            and not self.stripe_charge_id
            and not self.stripe_error_code)

    @classmethod
    def fail(cls, payments):
        pool = Pool()
        Attempt = pool.get('utility.payment.autopay.attempt')
        unknown = [p for p in payments if p.stripe_outcome_unknown]
        if unknown:
            logger.warning("Stripe outcome unknown, kept processing: %s",
                ', '.join(str(p.id) for p in unknown))
            Attempt.payments_unknown(unknown)
            payments = [p for p in payments if p not in unknown]
        super().fail(payments)
        Attempt.payments_failed(payments)


class StripeAccount(EncryptedSecretsMixin, metaclass=PoolMeta):
    __name__ = 'account.payment.stripe.account'
    # Encrypted at rest, masked to clients (issue 8)
    _secret_fields = ('secret_key', 'webhook_signing_secret')

    def webhook(self, event):
        """Handle each Stripe event once.

        Stripe delivers an event at least once and an attacker may replay a
        signed one: a handled event id is stored (unique in the database)
        and a second delivery is acknowledged without effect.
        """
        pool = Pool()
        Event = pool.get('account.payment.stripe.event')
        event_id = getattr(event, 'id', None)
        if event_id and Event.search([
                    ('account', '=', self.id),
                    ('event_id', '=', event_id),
                    ], limit=1):
            return True
        result = super().webhook(event)
        if event_id and result is not False:
            Event.create([{
                        'account': self.id,
                        'event_id': event_id,
                        'type': event.type,
                        'handled': result is not None,
                        }])
        return result


class StripeEvent(ModelSQL):
    "Stripe Event Received"
    __name__ = 'account.payment.stripe.event'
    account = fields.Many2One('account.payment.stripe.account', "Account",
        required=True, ondelete='CASCADE')
    event_id = fields.Char("Event ID", required=True, strip=False)
    type = fields.Char("Type")
    handled = fields.Boolean("Handled")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('account_event_unique', Unique(t, t.account, t.event_id),
                'utility_payment.msg_stripe_event_unique'),
            ]
        cls.__access__.add('account')
