"""Outbound webhooks for providers that keep an external CRM.

Customer, agreement and service request events are stored as deliveries,
one per subscribed endpoint, in the transaction that caused them (so a
rolled-back change sends nothing), then posted by the queue and, for
retries, by a cron.

Each POST carries a JSON body and the headers
- X-Utility-Event: the event name (e.g. service_request.created),
- X-Utility-Delivery: the delivery id, the same on every retry (receivers
  use it to ignore duplicates),
- X-Utility-Timestamp: Unix time of this attempt,
- X-Utility-Signature: "sha256=" + hex HMAC-SHA256, keyed by the
  endpoint's secret, of "<timestamp>.<body>" (the timestamp binds the
  signature to the attempt so a captured request cannot be replayed later;
  see verify_signature).

A 2xx answer delivers; anything else (an error status, a redirect, a
timeout, a refused connection) is retried after 1, 2, 4, 8... minutes
(at most 6 hours) until the endpoint's number of attempts is reached, then
the delivery is failed. Every attempt updates the delivery log: status
code, error, attempts and next try.
"""
import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.request
import uuid

from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, Workflow, fields)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access

EVENTS = [
    ('customer.created', "Customer Created"),
    ('customer.updated', "Customer Updated"),
    ('agreement.created', "Agreement Created"),
    ('agreement.updated', "Agreement Updated"),
    ('service_request.created', "Service Request Created"),
    ('service_request.updated', "Service Request Updated"),
    ]
BACKOFF = dt.timedelta(minutes=1)
MAX_BACKOFF = dt.timedelta(hours=6)
# How long a claimed delivery is left to its attempt before it is due again
LEASE = dt.timedelta(minutes=5)
# Deliveries sent per cron run: the rest wait for the next run.
BATCH = 200
USER_AGENT = 'Tryton-Utility-Webhook/8.0'


def sign(secret, timestamp, body):
    "The X-Utility-Signature value of body (bytes) at timestamp (str)"
    digest = hmac.new(secret.encode('utf-8'),
        timestamp.encode('ascii') + b'.' + body, hashlib.sha256)
    return 'sha256=' + digest.hexdigest()


def verify_signature(secret, body, timestamp, signature, tolerance=300,
        now=None):
    """True when signature is body's at timestamp and timestamp is within
    tolerance seconds of now (for receivers and tests)"""
    try:
        when = int(timestamp)
    except (TypeError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - when) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body),
        signature or '')


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect is a failed attempt: the body must reach the registered
    # URL, not wherever it points.
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


class Endpoint(DeactivableMixin, ModelSQL, ModelView):
    "Webhook Endpoint"
    __name__ = 'utility.webhook.endpoint'
    company = fields.Many2One('company.company', "Provider", required=True)
    name = fields.Char("Name", required=True)
    url = fields.Char("URL", required=True,
        help="Where the events are posted (http or https).")
    secret = fields.Char("Signing Secret", required=True, strip=False,
        help="Keys the HMAC-SHA256 signature of every delivery.")
    events = fields.MultiSelection(EVENTS, "Events",
        help="Leave empty to receive every event.")
    max_attempts = fields.Integer("Attempts", required=True,
        domain=[('max_attempts', '>', 0)],
        help="Tries before a delivery is failed.")
    timeout = fields.Integer("Timeout", required=True,
        domain=[('timeout', '>', 0)], help="In seconds.")
    deliveries = fields.One2Many('utility.webhook.delivery', 'endpoint',
        "Deliveries", readonly=True)

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_secret():
        return secrets.token_hex(32)

    @staticmethod
    def default_max_attempts():
        return 6

    @staticmethod
    def default_timeout():
        return 10

    @classmethod
    def validate_fields(cls, endpoints, field_names):
        super().validate_fields(endpoints, field_names)
        if 'url' in field_names:
            for endpoint in endpoints:
                if not endpoint.url.lower().startswith(
                        ('http://', 'https://')):
                    raise UserError(gettext(
                            'utility_care.msg_webhook_url',
                            endpoint=endpoint.rec_name, url=endpoint.url))

    def subscribes(self, event):
        return not self.events or event in self.events


class Delivery(Workflow, ModelSQL, ModelView):
    "Webhook Delivery"
    __name__ = 'utility.webhook.delivery'
    company = fields.Many2One('company.company', "Provider", required=True,
        readonly=True)
    endpoint = fields.Many2One('utility.webhook.endpoint', "Endpoint",
        required=True, readonly=True, ondelete='CASCADE',
        domain=[('company', '=', Eval('company', -1))])
    event = fields.Selection(EVENTS, "Event", required=True, readonly=True)
    uuid = fields.Char("Delivery Id", required=True, readonly=True)
    payload = fields.Text("Payload", required=True, readonly=True)
    state = fields.Selection([
            ('pending', "Pending"),
            ('delivered', "Delivered"),
            ('failed', "Failed"),
            ], "State", required=True, readonly=True, sort=False)
    attempts = fields.Integer("Attempts", required=True, readonly=True)
    next_try = fields.DateTime("Next Try", readonly=True)
    last_try = fields.DateTime("Last Try", readonly=True)
    status_code = fields.Integer("Status Code", readonly=True)
    error = fields.Text("Error", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('create_date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('pending', 'delivered'),
            ('pending', 'failed'),
            ('failed', 'pending'),
            }
        cls._buttons.update({
                'retry': {
                    'invisible': Eval('state') != 'failed',
                    'icon': 'tryton-refresh',
                    'depends': ['state'],
                    },
                })

    @staticmethod
    def default_state():
        return 'pending'

    @staticmethod
    def default_attempts():
        return 0

    @classmethod
    def listening(cls, companies):
        "The companies among companies (ids) with an active endpoint"
        Endpoint = Pool().get('utility.webhook.endpoint')
        companies = {c for c in companies if c is not None}
        if not companies:
            return set()
        with without_check_access():
            return {e.company.id for e in Endpoint.search([
                        ('company', 'in', list(companies)),
                        ])}

    @classmethod
    def emit(cls, events):
        """Store deliveries of events [(company id, event, data)] for the
        endpoints that subscribe to them and queue their sending"""
        pool = Pool()
        Endpoint = pool.get('utility.webhook.endpoint')
        events = [e for e in events if e[0] is not None]
        if not events:
            return []
        with without_check_access():
            endpoints = Endpoint.search([
                    ('company', 'in', list({e[0] for e in events})),
                    ])
            if not endpoints:
                return []
            now = dt.datetime.now()
            created = dt.datetime.now(dt.timezone.utc).isoformat()
            vlist = []
            for company, event, data in events:
                for endpoint in endpoints:
                    if (endpoint.company.id != company
                            or not endpoint.subscribes(event)):
                        continue
                    delivery_id = str(uuid.uuid4())
                    vlist.append({
                            'company': company,
                            'endpoint': endpoint.id,
                            'event': event,
                            'uuid': delivery_id,
                            'payload': json.dumps({
                                    'id': delivery_id,
                                    'event': event,
                                    'created': created,
                                    'provider': company,
                                    'data': data,
                                    }, sort_keys=True, default=str),
                            'next_try': now,
                            })
            deliveries = cls.create(vlist)
            if deliveries:
                cls.__queue__.deliver(deliveries)
        return deliveries

    @classmethod
    def deliver(cls, deliveries):
        "Post pending deliveries once each and log the outcome"
        claimed = cls._claim(deliveries)
        deliveries = cls.browse(claimed)
        for delivery in deliveries:
            delivery._post()
        cls.save(deliveries)
        cls._finish(deliveries)

    @classmethod
    def _claim(cls, deliveries):
        """Ids of the deliveries due that this transaction takes: their next
        try moves past the attempt, so the queue and the cron (or two cron
        workers) never post the same one at once; a crash mid-post leaves
        it for a later run"""
        cursor = Transaction().connection.cursor()
        table = cls.__table__()
        now = dt.datetime.now()
        claimed = []
        for delivery in deliveries:
            cursor.execute(*table.update([table.next_try], [now + LEASE],
                    where=(table.id == int(delivery))
                    & (table.state == 'pending')
                    & (table.next_try <= now)))
            if cursor.rowcount:
                claimed.append(int(delivery))
        return claimed

    @classmethod
    def _finish(cls, deliveries):
        delivered = [d for d in deliveries if d.status_code
            and 200 <= d.status_code < 300 and d.state == 'pending']
        failed = [d for d in deliveries if d not in delivered
            and d.state == 'pending'
            and d.attempts >= d.endpoint.max_attempts]
        if delivered:
            cls.delivered(delivered)
        if failed:
            cls.fail(failed)

    def _post(self):
        "One attempt: set status_code, error, attempts and next_try"
        endpoint = self.endpoint
        body = self.payload.encode('utf-8')
        timestamp = str(int(time.time()))
        request = urllib.request.Request(endpoint.url, data=body,
            method='POST', headers={
                'Content-Type': 'application/json',
                'User-Agent': USER_AGENT,
                'X-Utility-Event': self.event,
                'X-Utility-Delivery': self.uuid,
                'X-Utility-Timestamp': timestamp,
                'X-Utility-Signature': sign(
                    endpoint.secret, timestamp, body),
                })
        now = dt.datetime.now()
        self.attempts = (self.attempts or 0) + 1
        self.last_try = now
        self.status_code, self.error = None, None
        try:
            with _opener.open(request, timeout=endpoint.timeout) as response:
                self.status_code = response.status
        except urllib.error.HTTPError as exception:
            self.status_code = exception.code
            self.error = '%s %s' % (exception.code, exception.reason)
        except (urllib.error.URLError, OSError) as exception:
            self.error = str(getattr(exception, 'reason', exception))
        if self.status_code and 200 <= self.status_code < 300:
            self.next_try = None
        else:
            self.next_try = now + min(
                BACKOFF * 2 ** (self.attempts - 1), MAX_BACKOFF)

    @classmethod
    @Workflow.transition('delivered')
    def delivered(cls, deliveries):
        cls.write(deliveries, {'next_try': None})

    @classmethod
    @Workflow.transition('failed')
    def fail(cls, deliveries):
        cls.write(deliveries, {'next_try': None})

    @classmethod
    @ModelView.button
    @Workflow.transition('pending')
    def retry(cls, deliveries):
        cls.write(deliveries, {
                'attempts': 0,
                'next_try': dt.datetime.now(),
                })

    @classmethod
    def deliver_due(cls):
        """Cron: post the deliveries whose next try has come, committing
        each so that one endpoint's failure or slowness keeps no lock and
        loses no other outcome"""
        transaction = Transaction()
        due = cls.search([
                ('state', '=', 'pending'),
                ('next_try', '<=', dt.datetime.now()),
                ], order=[('next_try', 'ASC'), ('id', 'ASC')], limit=BATCH)
        for delivery in due:
            cls.deliver([delivery])
            transaction.commit()


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('utility.webhook.delivery|deliver_due',
                "Deliver Webhooks"))


def _date(value):
    return value.isoformat() if value else None


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    @classmethod
    def create(cls, vlist):
        parties = super().create(vlist)
        cls._webhook(parties, 'customer.created')
        return parties

    @classmethod
    def write(cls, *args):
        super().write(*args)
        changed = set()
        for records, values in zip(args[::2], args[1::2]):
            if set(values) & cls._webhook_fields():
                changed.update(records)
        if changed:
            cls._webhook(cls.browse([r.id for r in changed]),
                'customer.updated')

    @classmethod
    def _webhook_fields(cls):
        return {'name', 'code', 'addresses', 'contact_mechanisms', 'lang',
            'active'}

    @classmethod
    def _webhook(cls, parties, event):
        """Tell the providers that supply the parties (and the provider at
        work, for a new customer)"""
        pool = Pool()
        Agreement = pool.get('utility.service.agreement')
        Endpoint = pool.get('utility.webhook.endpoint')
        Delivery = pool.get('utility.webhook.delivery')
        with without_check_access():
            if not parties or not Endpoint.search([], limit=1):
                return
            companies = {p.id: set() for p in parties}
            for agreement in Agreement.search([
                        ('party', 'in', list(companies)),
                        ]):
                companies[agreement.party.id].add(agreement.company.id)
            current = Transaction().context.get('company')
            events = []
            for party in parties:
                data = party._webhook_data()
                for company in companies[party.id] | (
                        {current} if current else set()):
                    events.append((company, event, data))
            Delivery.emit(events)

    def _webhook_data(self):
        emails = [c.value for c in self.contact_mechanisms
            if c.type == 'email']
        phones = [c.value for c in self.contact_mechanisms
            if c.type in {'phone', 'mobile'}]
        return {
            'id': self.id,
            'code': self.code,
            'name': self.name,
            'email': emails[0] if emails else None,
            'phone': phones[0] if phones else None,
            'addresses': [a.full_address for a in self.addresses],
            }


class Agreement(metaclass=PoolMeta):
    __name__ = 'utility.service.agreement'

    @classmethod
    def create(cls, vlist):
        agreements = super().create(vlist)
        cls._webhook(agreements, 'agreement.created')
        return agreements

    @classmethod
    def write(cls, *args):
        super().write(*args)
        changed = set()
        for records, values in zip(args[::2], args[1::2]):
            if set(values) & {'state', 'party', 'rate_plan', 'cycle',
                    'start_date', 'end_date', 'invoice_address',
                    'payment_method'}:
                changed.update(records)
        if changed:
            cls._webhook(cls.browse([r.id for r in changed]),
                'agreement.updated')

    @classmethod
    def _webhook(cls, agreements, event):
        Delivery = Pool().get('utility.webhook.delivery')
        listening = Delivery.listening({a.company.id for a in agreements})
        Delivery.emit([(a.company.id, event, a._webhook_data())
                for a in agreements if a.company.id in listening])

    def _webhook_data(self):
        return {
            'id': self.id,
            'number': self.number,
            'customer': {'id': self.party.id, 'code': self.party.code,
                'name': self.party.name},
            'service_point': self.service_point.code,
            'service': (self.service_point.service_type.code
                if self.service_point.service_type else None),
            'rate_plan': self.rate_plan.code,
            'state': self.state,
            'start_date': _date(self.start_date),
            'end_date': _date(self.end_date),
            }


class ServiceRequest(metaclass=PoolMeta):
    __name__ = 'utility.service.request'

    @classmethod
    def create(cls, vlist):
        requests = super().create(vlist)
        cls._webhook(requests, 'service_request.created')
        return requests

    @classmethod
    def write(cls, *args):
        super().write(*args)
        changed = set()
        for records, values in zip(args[::2], args[1::2]):
            # The number is written once, right after creation.
            if set(values) - {'number'}:
                changed.update(records)
        if changed:
            cls._webhook(cls.browse([r.id for r in changed]),
                'service_request.updated')

    @classmethod
    def _webhook(cls, requests, event):
        Delivery = Pool().get('utility.webhook.delivery')
        listening = Delivery.listening({r.company.id for r in requests})
        Delivery.emit([(r.company.id, event, r._webhook_data())
                for r in requests if r.company.id in listening])

    def _webhook_data(self):
        return {
            'id': self.id,
            'number': self.number,
            'customer': {'id': self.party.id, 'code': self.party.code,
                'name': self.party.name},
            'agreement': self.agreement.number if self.agreement else None,
            'kind': self.kind,
            'state': self.state,
            'priority': self.priority,
            'channel': self.channel,
            'subject': self.subject,
            'team': self.team.name if self.team else None,
            'deadline': _date(self.deadline),
            'resolution': self.resolution,
            }
