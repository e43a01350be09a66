"""Service requests by e-mail.

A provider's mailbox (an address such as care@provider.example) receives
raw RFC 822 messages, piped from the mail server:

    .venv/bin/python -m utility_care.email_intake -d DB < message.eml

or posted over RPC (model.utility.care.email.receive). Each message:
- is attributed to the mailbox among its recipients (else refused, so the
  mail server bounces it);
- is taken once per Message-ID (a redelivered message changes nothing);
- comes from the customer whose e-mail (contact mechanism or portal
  login) is its sender; an unknown sender is logged as rejected for staff;
- is threaded into a request by a "[SR000123]" (or "[SR-123]") token in
  its subject or by In-Reply-To/References naming an earlier message of
  the request, when the request is the sender's; otherwise it opens a new
  request of the mailbox's kind and team, channel e-mail.
The text (quoted reply cut off) becomes a customer message; attachments
are attached to the request.
"""
import argparse
import datetime as dt
import email
import email.policy
import email.utils
import html.parser
import re
import sys

from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, Unique, fields)
from trytond.model.exceptions import AccessError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.rpc import RPC
from trytond.tools import escape_wildcard
from trytond.transaction import Transaction, without_check_access

from .care import KINDS

TOKEN = re.compile(r'\[\s*SR-?0*(\d+)\s*\]', re.IGNORECASE)
SUBJECT_PREFIX = re.compile(r'^\s*((re|fwd?|aw|tr)\s*:\s*)+', re.IGNORECASE)
# Where a reply starts quoting the previous message
QUOTE_START = re.compile(
    r'^\s*(On\s.+wrote:|-+\s*Original Message\s*-+|Le\s.+a écrit\s?:)\s*$',
    re.IGNORECASE)
MESSAGE_ID = re.compile(r'<[^<>\s]+>')


class _Text(html.parser.HTMLParser):
    "The text of an HTML body"

    def __init__(self):
        super().__init__()
        self.parts = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in {'script', 'style'}:
            self.skip += 1
        elif tag in {'br', 'p', 'div', 'tr', 'li'}:
            self.parts.append('\n')

    def handle_endtag(self, tag):
        if tag in {'script', 'style'} and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_text(value):
    parser = _Text()
    parser.feed(value)
    parser.close()
    return re.sub(r'\n\s*\n+', '\n\n', ''.join(parser.parts)).strip()


def body_text(message):
    "The new text of message: plain (or HTML as text) without the quote"
    part = message.get_body(preferencelist=('plain', 'html'))
    if part is None:
        return ''
    text = part.get_content()
    if part.get_content_subtype() == 'html':
        text = html_text(text)
    lines = []
    for line in text.replace('\r\n', '\n').split('\n'):
        if QUOTE_START.match(line):
            break
        if line.startswith('>'):
            continue
        lines.append(line.rstrip())
    return '\n'.join(lines).strip()


def message_ids(value):
    return MESSAGE_ID.findall(value or '')


class Mailbox(DeactivableMixin, ModelSQL, ModelView):
    "Customer Care Mailbox"
    __name__ = 'utility.care.mailbox'
    company = fields.Many2One('company.company', "Provider", required=True)
    email = fields.Char("E-mail", required=True,
        help="The provider's address that customers write to.")
    kind = fields.Selection(KINDS, "Request Kind", required=True,
        help="The kind of the requests opened by e-mail.")
    team = fields.Many2One('utility.care.team', "Team",
        domain=[('company', '=', Eval('company', -1))])

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('email_unique', Unique(t, t.email),
                'utility_care.msg_mailbox_email_unique'),
            ]

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_kind():
        return 'service_issue'

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if values.get('email'):
            values['email'] = values['email'].strip().lower()
        return values


class InboundEmail(ModelSQL, ModelView):
    "Inbound E-mail"
    __name__ = 'utility.care.email'
    company = fields.Many2One('company.company', "Provider", required=True,
        readonly=True)
    mailbox = fields.Many2One('utility.care.mailbox', "Mailbox",
        required=True, readonly=True, ondelete='RESTRICT')
    message_id = fields.Char("Message-ID", readonly=True)
    sender = fields.Char("From", readonly=True)
    subject = fields.Char("Subject", readonly=True)
    date = fields.DateTime("Date", readonly=True)
    party = fields.Many2One('party.party', "Customer", readonly=True,
        context={'company': Eval('company', -1)}, depends={'company'})
    request = fields.Many2One('utility.service.request', "Service Request",
        readonly=True, ondelete='SET NULL')
    message = fields.Many2One('utility.service.request.message', "Message",
        readonly=True, ondelete='SET NULL')
    state = fields.Selection([
            ('opened', "Opened a Request"),
            ('threaded', "Added to a Request"),
            ('rejected', "Rejected"),
            ], "State", required=True, readonly=True)
    reason = fields.Text("Reason", readonly=True)
    body = fields.Text("Text", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('create_date', 'DESC'), ('id', 'DESC')]
        cls.__rpc__.update({
                'receive': RPC(readonly=False, instantiate=None,
                    result=int),
                })

    @classmethod
    def receive(cls, raw):
        """Take in one raw RFC 822 message (bytes or str) and return the
        inbound e-mail that logs what was done with it"""
        pool = Pool()
        ModelAccess = pool.get('ir.model.access')
        transaction = Transaction()
        if transaction.user and transaction.check_access:
            # The gateway's user must be allowed to log e-mails.
            if not ModelAccess.check(cls.__name__, 'create',
                    raise_exception=False):
                raise AccessError(gettext('utility_care.msg_email_access'))
        if isinstance(raw, str):
            raw = raw.encode('utf-8', 'surrogateescape')
        message = email.message_from_bytes(raw, policy=email.policy.default)
        with without_check_access():
            return cls._receive(message)

    @classmethod
    def _receive(cls, message):
        mailbox = cls._mailbox(message)
        if not mailbox:
            raise UserError(gettext('utility_care.msg_email_no_mailbox',
                    recipients=', '.join(cls._recipients(message))))
        company = mailbox.company
        message_id = (message_ids(message.get('Message-ID', ''))
            or [None])[0]
        if message_id:
            done = cls.search([
                    ('company', '=', company.id),
                    ('message_id', '=', message_id),
                    ], limit=1)
            if done:
                return done[0]
        sender = email.utils.parseaddr(message.get('From', ''))[1].lower()
        subject = ' '.join(str(message.get('Subject', '')).split())
        date = None
        if message.get('Date'):
            try:
                date = email.utils.parsedate_to_datetime(message['Date'])
                if date.tzinfo:
                    # Tryton keeps naive UTC date-times.
                    date = date.astimezone(dt.timezone.utc).replace(
                        tzinfo=None)
            except (TypeError, ValueError):
                date = None
        text = body_text(message)
        log = cls(company=company, mailbox=mailbox, message_id=message_id,
            sender=sender, subject=subject[:250], date=date, body=text)
        with Transaction().set_context(company=company.id):
            parties = cls._parties(company, sender)
            request, reason = cls._thread(company, message, subject,
                parties)
            if reason:
                log.state, log.reason = 'rejected', reason
            elif not parties:
                log.state = 'rejected'
                log.reason = gettext('utility_care.msg_email_unknown_sender',
                    sender=sender or '?')
            elif request:
                log.party = request.party
                log.request = request
                log.message = cls._add(request, text, message)
                log.state = 'threaded'
            else:
                log.party = parties[0]
                log.request = cls._open(mailbox, parties[0], subject, text,
                    message)
                log.message = log.request.messages[0]
                log.state = 'opened'
            log.save()
        return log

    @staticmethod
    def _recipients(message):
        addresses = []
        for header in ['Delivered-To', 'X-Original-To', 'To', 'Cc']:
            for value in message.get_all(header, []):
                addresses.extend(a.lower() for _, a in
                    email.utils.getaddresses([str(value)]) if a)
        return addresses

    @classmethod
    def _mailbox(cls, message):
        Mailbox = Pool().get('utility.care.mailbox')
        recipients = cls._recipients(message)
        if not recipients:
            return None
        mailboxes = {m.email: m for m in Mailbox.search([
                    ('email', 'in', recipients)])}
        for address in recipients:
            if address in mailboxes:
                return mailboxes[address]

    @classmethod
    def _parties(cls, company, sender):
        """The parties whose e-mail is sender, those with an agreement of
        company first"""
        pool = Pool()
        Contact = pool.get('party.contact_mechanism')
        WebUser = pool.get('web.user')
        Agreement = pool.get('utility.service.agreement')
        if not sender:
            return []
        pattern = escape_wildcard(sender)
        parties = {c.party for c in Contact.search([
                    ('type', '=', 'email'),
                    ('value', 'ilike', pattern),
                    ])}
        parties.update(u.party for u in WebUser.search([
                    ('email', 'ilike', pattern),
                    ('party', '!=', None),
                    ]))
        if not parties:
            return []
        customers = {a.party for a in Agreement.search([
                    ('company', '=', company.id),
                    ('party', 'in', [p.id for p in parties]),
                    ])}
        return sorted(parties, key=lambda p: (p not in customers, p.id))

    @classmethod
    def _thread(cls, company, message, subject, parties):
        """The open request the message answers, or a rejection reason when
        it names a request that is not the sender's"""
        pool = Pool()
        Request = pool.get('utility.service.request')
        Message = pool.get('utility.service.request.message')
        request = None
        match = TOKEN.search(subject)
        if match:
            requests = Request.search([
                    ('company', '=', company.id),
                    ('number', '=', 'SR%06d' % int(match.group(1))),
                    ], limit=1)
            request = requests[0] if requests else None
        if request is None:
            refs = (message_ids(message.get('In-Reply-To', ''))
                + message_ids(message.get('References', '')))
            if refs:
                earlier = cls.search([
                        ('company', '=', company.id),
                        ('message_id', 'in', refs),
                        ('request', '!=', None),
                        ], limit=1)
                if earlier:
                    request = earlier[0].request
                else:
                    sent = Message.search([
                            ('request.company', '=', company.id),
                            ('email_message_id', 'in', refs),
                            ], limit=1)
                    if sent:
                        request = sent[0].request
        if request is None:
            return None, None
        if request.party not in parties:
            return None, gettext('utility_care.msg_email_not_customer',
                request=request.rec_name)
        if request.state in {'closed', 'cancelled'}:
            # A finished request is not reopened: a new one starts.
            return None, None
        return request, None

    @classmethod
    def _add(cls, request, text, message):
        Message = Pool().get('utility.service.request.message')
        reply, = Message.create([{
                    'request': request.id,
                    'author': 'customer',
                    'body': text or '-',
                    'email_message_id': (message_ids(
                            message.get('Message-ID', '')) or [None])[0],
                    }])
        cls._attach(request, message)
        return reply

    @classmethod
    def _open(cls, mailbox, party, subject, text, message):
        pool = Pool()
        Request = pool.get('utility.service.request')
        Agreement = pool.get('utility.service.agreement')
        agreements = Agreement.search([
                ('company', '=', mailbox.company.id),
                ('party', '=', party.id),
                ('state', '=', 'active'),
                ], limit=1)
        values = {
            'company': mailbox.company.id,
            'party': party.id,
            'agreement': agreements[0].id if agreements else None,
            'kind': mailbox.kind,
            'channel': 'email',
            'subject': SUBJECT_PREFIX.sub('', subject)[:100] or '-',
            'messages': [('create', [{
                            'author': 'customer',
                            'body': text or '-',
                            'email_message_id': (message_ids(
                                    message.get('Message-ID', ''))
                                or [None])[0],
                            }])],
            }
        if mailbox.team:
            values['team'] = mailbox.team.id
        request, = Request.create([values])
        cls._attach(request, message)
        return request

    @classmethod
    def _attach(cls, request, message):
        Attachment = Pool().get('ir.attachment')
        attachments = []
        for part in message.iter_attachments():
            data = part.get_payload(decode=True)
            if not data:
                continue
            attachments.append({
                    'resource': str(request),
                    'name': part.get_filename() or 'attachment',
                    'type': 'data',
                    'data': data,
                    })
        if attachments:
            Attachment.create(attachments)


class ServiceRequest(metaclass=PoolMeta):
    __name__ = 'utility.service.request'
    emails = fields.One2Many('utility.care.email', 'request', "E-mails",
        readonly=True)

    @classmethod
    def copy(cls, requests, default=None):
        default = default.copy() if default else {}
        default.setdefault('emails', None)
        return super().copy(requests, default=default)

    @property
    def email_subject(self):
        "The subject of an outbound e-mail: replies thread back by it"
        return '%s [%s]' % (self.subject, self.number)


class ServiceRequestMessage(metaclass=PoolMeta):
    __name__ = 'utility.service.request.message'
    email_message_id = fields.Char("E-mail Message-ID", readonly=True,
        help="The Message-ID of the e-mail that carried the message, so "
        "that replies to it are threaded back.")


def main(argv=None):
    "Read one RFC 822 message on standard input into a database"
    parser = argparse.ArgumentParser(
        description="Open or answer a service request from an e-mail "
        "read on standard input")
    parser.add_argument('--database', '-d', required=True)
    parser.add_argument('--config', '-c')
    args = parser.parse_args(argv)
    from trytond import config
    if args.config:
        config.update_etc(args.config)
    raw = sys.stdin.buffer.read()
    Pool(args.database).init()
    with Transaction().start(args.database, 0) as transaction:
        Email = Pool().get('utility.care.email')
        try:
            log = Email.receive(raw)
        except UserError as exception:
            # A non-zero exit makes the mail server bounce the message.
            print(exception.message, file=sys.stderr)
            return 67  # EX_NOUSER
        result = '%s %s' % (log.state,
            log.request.number if log.request else log.reason)
        transaction.commit()
    print(result)
    return 0


if __name__ == '__main__':
    sys.exit(main())
