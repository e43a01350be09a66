"""Retention periods per kind of personal data, and the cron that
de-identifies what has outlived its period.

- former_customer: a customer whose agreements with the provider all
  ended more than the period ago is erased (an erasure request with the
  legal basis "retention", refused and logged while a balance or dispute
  remains); the bills and payments the law keeps stay, de-identified.
- service_request: the subject, resolution note and messages of closed or
  cancelled requests last changed before the period.
- notification: the text of sent or cancelled customer notifications
  (and, with utility_notification, their recipient, subject and text).
- inbound_email: the sender, subject and text of e-mails received by
  customer care.
- webhook_delivery: the payload (customer data sent to the provider's
  CRM) of delivered or failed webhook deliveries.
"""
import datetime as dt

from dateutil.relativedelta import relativedelta

from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.transaction import Transaction, without_check_access

MASK = '****'
KINDS = [
    ('former_customer', "Former Customers"),
    ('service_request', "Closed Service Requests"),
    ('notification', "Customer Notifications"),
    ('inbound_email', "E-mails Received"),
    ('webhook_delivery', "Webhook Deliveries"),
    ]
# A refused retention erasure is tried again after this many days.
RETRY_DAYS = 30


class Retention(ModelSQL, ModelView):
    "Retention Period"
    __name__ = 'utility.privacy.retention'
    company = fields.Many2One('company.company', "Provider", required=True)
    kind = fields.Selection(KINDS, "Data Kind", required=True)
    months = fields.Integer("Months", required=True,
        domain=[('months', '>', 0)],
        help="How long the data are kept after their last use.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('company_kind_unique', Unique(t, t.company, t.kind),
                'utility_privacy.msg_retention_kind_unique'),
            ]

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    def cutoff(self, date):
        return date - relativedelta(months=self.months)

    @classmethod
    def deidentify_expired(cls, date=None):
        "Cron: de-identify every kind past its period, provider by provider"
        if date is None:
            date = Pool().get('ir.date').today()
        with without_check_access():
            for retention in cls.search([]):
                getattr(retention, '_expire_%s' % retention.kind)(
                    retention.cutoff(date), date)

    def _expire_service_request(self, cutoff, date):
        pool = Pool()
        Request = pool.get('utility.service.request')
        Message = pool.get('utility.service.request.message')
        limit = dt.datetime.combine(cutoff, dt.time())
        requests = Request.search([
                ('company', '=', self.company.id),
                ('state', 'in', ['closed', 'cancelled']),
                ('subject', '!=', MASK),
                ['OR',
                    ('write_date', '<', limit),
                    [('write_date', '=', None), ('create_date', '<', limit)],
                    ],
                ])
        if not requests:
            return
        self._mask(Request, requests, {'subject': MASK,
                'resolution_note': None})
        messages = Message.search(
            [('request', 'in', list(map(int, requests)))])
        self._mask(Message, messages, {'body': MASK})

    def _expire_notification(self, cutoff, date):
        Notification = Pool().get('utility.payment.notification')
        limit = dt.datetime.combine(cutoff, dt.time())
        notifications = Notification.search([
                ('company', '=', self.company.id),
                ('state', 'in', ['sent', 'cancelled']),
                ('message', '!=', None),
                ('create_date', '<', limit),
                ])
        self._mask(Notification, notifications, {'message': None})

    def _expire_inbound_email(self, cutoff, date):
        Email = Pool().get('utility.care.email')
        limit = dt.datetime.combine(cutoff, dt.time())
        emails = Email.search([
                ('company', '=', self.company.id),
                ('sender', '!=', MASK),
                ('create_date', '<', limit),
                ])
        self._mask(Email, emails, {'sender': MASK, 'subject': MASK,
                'body': None, 'message_id': None})

    def _expire_webhook_delivery(self, cutoff, date):
        Delivery = Pool().get('utility.webhook.delivery')
        limit = dt.datetime.combine(cutoff, dt.time())
        deliveries = Delivery.search([
                ('company', '=', self.company.id),
                ('state', 'in', ['delivered', 'failed']),
                ('payload', '!=', MASK),
                ('create_date', '<', limit),
                ])
        self._mask(Delivery, deliveries, {'payload': MASK})

    def _expire_former_customer(self, cutoff, date):
        pool = Pool()
        Agreement = pool.get('utility.service.agreement')
        Erasure = pool.get('utility.privacy.erasure')
        ended = Agreement.search([
                ('company', '=', self.company.id),
                ('state', '=', 'closed'),
                ('end_date', '<', cutoff),
                ], order=[])
        parties = {a.party for a in ended}
        if not parties:
            return
        # A customer with a later or running agreement is still one.
        current = Agreement.search([
                ('company', '=', self.company.id),
                ('party', 'in', list(map(int, parties))),
                ['OR',
                    ('state', '!=', 'closed'),
                    ('end_date', '=', None),
                    ('end_date', '>=', cutoff),
                    ],
                ], order=[])
        parties -= {a.party for a in current}
        if not parties:
            return
        # Erased or recently refused customers are not asked again.
        recent = date - dt.timedelta(days=RETRY_DAYS)
        done = {e.party for e in Erasure.search([
                    ('party', 'in', list(map(int, parties))),
                    ['OR',
                        ('state', '=', 'erased'),
                        ('request_date', '>=', recent),
                        ],
                    ])}
        erasures = Erasure.create([{
                    'company': self.company.id,
                    'party': p.id,
                    'legal_basis': 'retention',
                    'channel': 'retention',
                    'request_date': date,
                    } for p in sorted(parties - done, key=lambda p: p.id)])
        Erasure.process(erasures)

    @staticmethod
    def _mask(Model, records, values):
        # The ORM, so that cached values and the audit trail follow.
        if records:
            Model.write(list(records), values)
