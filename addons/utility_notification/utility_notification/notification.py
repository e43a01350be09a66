"""The notification log: one record per customer, event and channel.

The texts come from the provider's e-mail templates (template.py), in the
customer's language: a notification keeps its subject, its content (HTML)
and the whole message as plain text; a mail sent is logged as Tryton's
ir.email too, with its HTML body.

Collecting (cron) turns events into records: the portal channel is
delivered at once (the record is what the portal lists); e-mail and SMS
wait as pending until their time (quiet hours, daily digest), then the
sending cron queues one delivery task per customer, so neither a bill run
nor another customer's mail server waits for them. A failed delivery keeps
its error and is tried again later.
"""
import datetime as dt
import logging
from collections import defaultdict
from email.message import EmailMessage
from email.utils import make_msgid
from html import escape

from genshi.core import Markup

from trytond import config
from trytond.i18n import gettext
from trytond.model import (
    Index, ModelSQL, ModelView, Unique, Workflow, fields)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.sendmail import get_smtp_server, send_message
from trytond.tools import grouped_slice
from trytond.transaction import Transaction
from trytond.url import host

from utility_metering.meter import company_timezone, to_local

from .events import CHANNELS, COLLECTORS, EVENTS, in_max
from .template import Renderer, html_to_text

logger = logging.getLogger(__name__)

# Tries of one message before it stays failed, and the wait before each
# retry: 15 minutes, 1 hour, 4 hours, 16 hours.
MAX_ATTEMPTS = 5
RETRY_DELAY = dt.timedelta(minutes=15)
RETRY_FACTOR = 4
ORIGINS = [
    'utility.bill',
    'account.dunning',
    'utility.consumption.alert',
    'utility.service.point',
    'utility.payment.notification',
    'utility.service.request',
    ]


class SMSProvider:
    """What an SMS module plugs in through Notification.sms_provider.

    send(number, text) delivers or raises; its error is logged on the
    notification, which is tried again later.
    """

    def send(self, number, text):
        raise NotImplementedError


def utc_from_local(local, tzinfo):
    return local.replace(tzinfo=tzinfo).astimezone(
        dt.timezone.utc).replace(tzinfo=None)


class Notification(Workflow, ModelSQL, ModelView):
    "Customer Notification"
    __name__ = 'utility.notification'
    company = fields.Many2One('company.company', "Provider", required=True,
        readonly=True)
    party = fields.Many2One('party.party', "Customer", required=True,
        readonly=True, ondelete='CASCADE',
        context={'company': Eval('company', -1)}, depends={'company'})
    event = fields.Selection(EVENTS, "Event", required=True, readonly=True)
    event_string = event.translated('event')
    channel = fields.Selection(CHANNELS, "Channel", required=True,
        readonly=True)
    origin = fields.Reference("Origin", selection='get_origin',
        readonly=True)
    key = fields.Char("Key", required=True, readonly=True,
        help="Identifies the event within its origin so that it is "
        "notified once.")
    language = fields.Char("Language", readonly=True)
    recipient = fields.Char("Recipient", readonly=True,
        help="The e-mail address or phone number.")
    subject = fields.Char("Subject", readonly=True)
    body = fields.Text("Body", readonly=True,
        help="The message as plain text.")
    content = fields.Text("Content", readonly=True,
        help="The event's text in HTML, from its template.")
    scheduled = fields.DateTime("Scheduled", readonly=True,
        help="Not sent before (quiet hours, daily digest, retry).")
    state = fields.Selection([
            ('pending', "Pending"),
            ('sent', "Sent"),
            ('failed', "Failed"),
            ('cancelled', "Cancelled"),
            ], "State", required=True, readonly=True, sort=False)
    attempts = fields.Integer("Attempts", readonly=True)
    error = fields.Text("Error", readonly=True,
        states={'invisible': ~Eval('error')})
    sent_at = fields.DateTime("Sent At", readonly=True)
    digest = fields.Boolean("In Digest", readonly=True,
        help="Sent together with the customer's other notifications.")
    message_id = fields.Char("Message-ID", readonly=True)
    email = fields.Many2One('ir.email', "E-mail", readonly=True,
        ondelete='SET NULL',
        states={'invisible': ~Eval('email')})
    portal_read = fields.Boolean("Read", readonly=True,
        help="The customer opened it in the portal.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('event_unique',
                Unique(t, t.party, t.event, t.channel, t.key),
                'utility_notification.msg_notification_unique'),
            ]
        # the sending cron looks for what is due
        cls._sql_indexes.add(Index(t,
                (t.state, Index.Equality()),
                (t.scheduled, Index.Range())))
        cls._order = [('create_date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('pending', 'cancelled'),
            ('failed', 'cancelled'),
            ('failed', 'pending'),
            }
        cls._buttons.update({
                'cancel': {
                    'invisible': ~Eval('state').in_(['pending', 'failed']),
                    'depends': ['state'],
                    },
                'retry': {
                    'invisible': Eval('state') != 'failed',
                    'depends': ['state'],
                    },
                })

    @staticmethod
    def default_state():
        return 'pending'

    @staticmethod
    def default_attempts():
        return 0

    @staticmethod
    def default_digest():
        return False

    @staticmethod
    def default_portal_read():
        return False

    @classmethod
    def get_origin(cls):
        IrModel = Pool().get('ir.model')
        names = IrModel.get_names()
        return [(None, '')] + [(m, names[m]) for m in ORIGINS if m in names]

    def get_rec_name(self, name):
        return '%s: %s (%s)' % (
            self.party.rec_name, self.event_string, self.channel)

    @property
    def text(self):
        "The event's text without greeting and signature, as plain text"
        if self.content:
            return html_to_text(self.content).strip()
        # logged before the templates: the body's middle paragraphs
        paragraphs = (self.body or '').split('\n\n')
        return '\n\n'.join(paragraphs[1:-1]) or self.body

    @property
    def content_html(self):
        "The event's text in HTML"
        if self.content:
            return Markup(self.content)
        return Markup('\n'.join('<p>%s</p>' % escape(p).replace('\n', '<br/>')
                for p in self.text.split('\n\n')))

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, notifications):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('pending')
    def retry(cls, notifications):
        "Send again at the next run, with fresh tries"
        cls.write(notifications, {
                'scheduled': dt.datetime.now(),
                'attempts': 0,
                })

    # --- collecting -------------------------------------------------------

    @classmethod
    def collect_all(cls, date=None):
        "Cron: log the notifications of every provider's new events"
        pool = Pool()
        Company = pool.get('company.company')
        Date = pool.get('ir.date')
        company_id = Transaction().context.get('company')
        companies = ([Company(company_id)] if company_id is not None
            and company_id >= 0 else Company.search([]))
        created = []
        for company in companies:
            with Transaction().set_context(company=company.id):
                created += cls.collect(company, date or Date.today())
        return created

    @classmethod
    def collect(cls, company, today, now=None):
        "Log the notifications of company's events as of today"
        now = now or dt.datetime.now()
        events = []
        for collector in cls._collectors():
            events += collector(company, today, now)
        return cls.notify(events, now=now)

    @classmethod
    def _collectors(cls):
        return list(COLLECTORS)

    @classmethod
    def sms_provider(cls):
        "The SMSProvider of the installation; none in this module"
        return None

    @classmethod
    def notify(cls, events, now=None):
        """Create the notifications of events on the channels each
        customer chose; known ones (same key) are skipped"""
        now = now or dt.datetime.now()
        known = set()
        keys = sorted({e.key for e in events})
        for sub in grouped_slice(keys, in_max()):
            for n in cls.search([('key', 'in', list(sub))]):
                known.add((n.party.id, n.event, n.channel, n.key))
        sms = cls.sms_provider()
        to_create, sources = [], defaultdict(list)
        renderers = {}
        for event in events:
            party = event.party
            sources[event.source]  # a source without channel is cancelled
            channels = party.notification_channels(event.event)
            if not sms:
                channels.discard('sms')
            for channel in sorted(channels):
                if (party.id, event.event, channel, event.key) in known:
                    sources[event.source].append(True)
                    continue
                known.add((party.id, event.event, channel, event.key))
                notification = cls(company=event.company, party=party,
                    event=event.event, channel=channel, origin=event.origin,
                    key=event.key, state='pending', attempts=0)
                if channel == 'email':
                    notification.recipient = party.email
                elif channel == 'sms':
                    notification.recipient = party.mobile
                if event.company not in renderers:
                    renderers[event.company] = Renderer(event.company)
                notification.render(event, renderers[event.company])
                notification.schedule(now)
                to_create.append(notification)
                sources[event.source].append(notification)
        cls.save(to_create)
        cls._close_sources(sources)
        return to_create

    @classmethod
    def _close_sources(cls, sources):
        "Mark utility_payment's notifications sent, or cancelled if unwanted"
        PaymentNotification = Pool().get('utility.payment.notification')
        sent, cancelled = [], []
        for source, notified in sources.items():
            if isinstance(source, PaymentNotification):
                (sent if notified else cancelled).append(source)
        if sent:
            PaymentNotification.send(sent)
        if cancelled:
            PaymentNotification.cancel(cancelled)

    def render(self, event, renderer):
        """Subject, content and body in the customer's language from the
        provider's templates (renderer)"""
        pool = Pool()
        Lang = pool.get('ir.lang')
        party = event.party
        code = party.lang.code if party.lang else None
        with Transaction().set_context(language=code):
            lang = Lang.get(code)
            params = {}
            for name, value in event.params.items():
                if callable(value):
                    value = value()
                if isinstance(value, dt.date):
                    value = lang.strftime(value)
                elif (name in {'amount', 'fee', 'remaining'}
                        and event.currency):
                    value = lang.currency(value, event.currency)
                params[name] = value
            params['name'] = party.rec_name
            params['company'] = event.company.rec_name
            self.language = lang.code
            self.subject, self.content = renderer.render(
                event.event, lang.code, params, record=event.origin)
            _subject, html = self.layout(renderer, [self])
            self.body = html_to_text(html)

    @classmethod
    def layout(cls, renderer, notifications):
        """Subject and HTML body of one message for notifications of one
        customer: the message layout around one, the digest's around
        several"""
        first = notifications[0]
        values = {
            'name': first.party.rec_name,
            'company': first.company.rec_name,
            }
        if len(notifications) == 1:
            subject, body = renderer.render('message', first.language,
                dict(values, subject=first.subject,
                    content=first.content_html))
            return first.subject, body
        content = Markup('\n').join(
            Markup('<h2>%s</h2>\n%s') % (n.subject, n.content_html)
            for n in notifications)
        return renderer.render('digest', first.language,
            dict(values, count=len(notifications), content=content))

    def schedule(self, now):
        """Portal notifications are delivered at once; e-mail and SMS wait
        for the digest or the end of quiet hours"""
        if self.channel == 'portal':
            self.state = 'sent'
            self.sent_at = now
            self.scheduled = now
            return
        self.scheduled = self._next_time(now, digest=True)

    def _next_time(self, now, digest):
        "Earliest UTC time after now the customer accepts this message"
        tzinfo = company_timezone(self.company)
        local = to_local(now, tzinfo)
        party = self.party
        if (digest and self.channel == 'email'
                and party.notification_digest == 'daily'):
            local = party.notification_next_digest(local)
        end = party.notification_quiet(local)
        if end:
            local = end
        if local == to_local(now, tzinfo):
            return now
        return utc_from_local(local, tzinfo)

    # --- sending ----------------------------------------------------------

    @classmethod
    def _due_domain(cls, now):
        return [
            ('channel', 'in', ['email', 'sms']),
            ['OR',
                ('state', '=', 'pending'),
                [('state', '=', 'failed'),
                    ('attempts', '<', MAX_ATTEMPTS)],
                ],
            ('scheduled', '<=', now),
            ]

    @classmethod
    def send_pending(cls, now=None):
        """Cron: queue one delivery per customer and channel of what is
        due; with utility_notification_inline in the context, deliver now"""
        now = now or dt.datetime.now()
        domain = cls._due_domain(now)
        # ir.cron runs once per provider, with the provider in context
        company_id = Transaction().context.get('company')
        if company_id is not None and company_id >= 0:
            domain.append(('company', '=', company_id))
        groups = defaultdict(list)
        for n in cls.search(domain,
                order=[('party', 'ASC'), ('scheduled', 'ASC'),
                    ('id', 'ASC')]):
            groups[(n.company.id, n.party.id, n.channel)].append(n)
        inline = Transaction().context.get('utility_notification_inline')
        for key in sorted(groups):
            if inline:
                cls.deliver(groups[key], now=now)
            else:
                with Transaction().set_context(
                        queue_name='utility_notification'):
                    cls.__queue__.deliver(groups[key])

    @classmethod
    def deliver(cls, notifications, now=None):
        """Send the due notifications of one customer and channel as one
        message (a digest when there are several)"""
        now = now or dt.datetime.now()
        if not notifications:
            return
        cls.lock(notifications)
        # Another task may have sent them since they were queued.
        due = cls.search([
                ('id', 'in', [n.id for n in notifications]),
                ] + cls._due_domain(now), order=[('scheduled', 'ASC'),
                ('id', 'ASC')])
        by_channel = defaultdict(list)
        for n in due:
            by_channel[(n.party, n.channel, n.recipient)].append(n)
        for (party, channel, recipient), group in by_channel.items():
            # Quiet hours may have been set since the message was logged.
            later = group[0]._next_time(now, digest=False)
            if later > now:
                cls.write(group, {'scheduled': later})
                continue
            if not recipient:
                cls._failed(group, gettext(
                        'utility_notification.msg_no_recipient',
                        party=party.rec_name, channel=channel), final=True)
                continue
            try:
                message_id = getattr(cls, '_send_%s' % channel)(group)
            except Exception as exception:
                logger.info('notification %s to %s failed',
                    [n.id for n in group], recipient, exc_info=True)
                cls._failed(group, str(exception) or repr(exception),
                    now=now)
            else:
                if channel == 'email':
                    cls._thread(group, message_id)
                cls.write(group, {
                        'state': 'sent',
                        'sent_at': now,
                        'error': None,
                        'digest': len(group) > 1,
                        'message_id': message_id,
                        'attempts': group[0].attempts + 1,
                        })

    @classmethod
    def _failed(cls, notifications, error, now=None, final=False):
        to_write = []
        for n in notifications:
            attempts = MAX_ATTEMPTS if final else n.attempts + 1
            values = {'state': 'failed', 'error': error,
                'attempts': attempts}
            if attempts < MAX_ATTEMPTS:
                values['scheduled'] = now + RETRY_DELAY * (
                    RETRY_FACTOR ** (attempts - 1))
            to_write.extend(([n], values))
        cls.write(*to_write)

    @classmethod
    def compose(cls, notifications):
        "Subject, HTML and plain text of one message for notifications"
        first = notifications[0]
        subject, body = cls.layout(Renderer(first.company), notifications)
        lang = (first.language or 'en').replace('_', '-')
        html = ('<!DOCTYPE html>\n<html lang="%s">\n<head>'
            '<meta charset="utf-8"/><title>%s</title></head>\n'
            '<body>\n%s\n</body>\n</html>\n') % (
            escape(lang), escape(subject), body)
        return subject, html, html_to_text(body)

    @classmethod
    def _send_email(cls, notifications):
        """Send through trytond's [email] configuration, as Tryton's e-mail
        dialog does: the plain text and its HTML alternative; log it as an
        ir.email of the customer; raise on failure"""
        pool = Pool()
        Email = pool.get('ir.email')
        first = notifications[0]
        subject, html, text = cls.compose(notifications)
        msg = EmailMessage()
        # set_content drops every Content-* header set before it
        msg.set_content(text)
        msg.add_alternative(html, subtype='html')
        msg['From'] = config.get('email', 'from')
        msg['To'] = first.recipient
        reply_to = cls._reply_to(first.company)
        if reply_to:
            # answers go to the provider, not to the sending address
            msg['Reply-To'] = reply_to
        msg['Subject'] = subject
        msg['Auto-Submitted'] = 'auto-generated'
        if first.language:
            # BCP 47: fr, pt-BR
            msg['Content-Language'] = first.language.replace('_', '-')
        msg['Message-ID'] = make_msgid(domain=host())
        # strict: raise, so the failure is logged and retried here
        server = get_smtp_server(strict=True)
        try:
            send_message(msg, server=server, strict=True)
        finally:
            server.quit()
        email = Email.from_message(msg, body=html, resource=first.party)
        email.save()
        cls.write(list(notifications), {'email': email.id})
        return msg['Message-ID']

    @classmethod
    def _reply_to(cls, company):
        """The provider's address for answers: its customer care mailbox
        (utility_care threads replies into the requests), else its own"""
        pool = Pool()
        try:
            Mailbox = pool.get('utility.care.mailbox')
        except KeyError:
            pass
        else:
            mailboxes = Mailbox.search([('company', '=', company.id)],
                order=[('id', 'ASC')], limit=1)
            if mailboxes:
                return mailboxes[0].email
        return company.party.email

    @classmethod
    def _thread(cls, notifications, message_id):
        """Give the staff messages told by e-mail the Message-ID, so that
        a reply (In-Reply-To) joins their request (utility_care)"""
        pool = Pool()
        try:
            Message = pool.get('utility.service.request.message')
        except KeyError:
            return
        if 'email_message_id' not in Message._fields:
            return
        ids = [int(n.key.split(':')[1]) for n in notifications
            if n.event == 'request_update'
            and n.key.startswith('message:')]
        messages = Message.search([
                ('id', 'in', ids),
                ('email_message_id', '=', None),
                ])
        if messages:
            Message.write(messages, {'email_message_id': message_id})

    @classmethod
    def _send_sms(cls, notifications):
        provider = cls.sms_provider()
        if not provider:
            raise RuntimeError(gettext('utility_notification.msg_no_sms'))
        first = notifications[0]
        if len(notifications) == 1:
            text = first.subject
        else:
            text = cls.layout(Renderer(first.company), notifications)[0]
        return provider.send(first.recipient, text)

    # --- portal -----------------------------------------------------------

    @classmethod
    def portal_notifications(cls, party, limit=50):
        "The party's portal notifications, newest first"
        return cls.search([
                ('party', '=', party.id),
                ('channel', '=', 'portal'),
                ('state', '=', 'sent'),
                ], limit=limit)

    @classmethod
    def portal_mark_read(cls, party, notifications):
        "Mark the party's own portal notifications read"
        mine = [n for n in notifications
            if n.party == party and n.channel == 'portal']
        cls.write(mine, {'portal_read': True})
        return mine


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.extend([
                ('utility.notification|collect_all',
                    "Collect Customer Notifications"),
                ('utility.notification|send_pending',
                    "Send Customer Notifications"),
                ])
