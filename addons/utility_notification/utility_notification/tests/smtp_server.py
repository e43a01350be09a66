"""A mailbox on loopback: aiosmtpd receives what trytond sends through
its [email] uri, so tests read the messages a customer would get."""
import email
import email.policy
import socket
from contextlib import contextmanager

from aiosmtpd.controller import Controller

from trytond import config


class Mailbox:
    def __init__(self):
        self.messages = []
        # RCPT is refused with 550 for these addresses, or all when True
        self.refuse = set()

    async def handle_RCPT(self, server, session, envelope, address,
            rcpt_options):
        if self.refuse is True or address in self.refuse:
            return '550 5.1.1 Mailbox unavailable'
        envelope.rcpt_tos.append(address)
        return '250 OK'

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(Delivered(envelope.mail_from,
                list(envelope.rcpt_tos),
                email.message_from_bytes(envelope.content,
                    policy=email.policy.default)))
        return '250 Message accepted for delivery'

    def pop(self):
        messages, self.messages = self.messages, []
        return messages


class Delivered:
    def __init__(self, sender, recipients, message):
        self.sender = sender
        self.recipients = recipients
        self.message = message
        self.subject = str(message['Subject'])
        # as a mail reader shows it: lines end with \n, not SMTP's CRLF;
        # the plain text, and the HTML alternative if any
        self.body = message.get_body(('plain',)).get_content().replace(
            '\r\n', '\n')
        html = message.get_body(('html',))
        self.html = html.get_content().replace('\r\n', '\n') if html \
            else None

    def __repr__(self):
        return '<Delivered %s %r>' % (self.recipients, self.subject)


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@contextmanager
def smtp_server():
    "A Mailbox served on 127.0.0.1 and set as trytond's [email] uri"
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname='127.0.0.1', port=port)
    controller.start()
    saved = {name: config.get('email', name)
        for name in ['uri', 'from', 'retry']}
    config.set('email', 'uri', 'smtp://127.0.0.1:%s' % port)
    config.set('email', 'from', 'Springfield Utility <alerts@utility.test>')
    config.set('email', 'retry', '0')
    try:
        yield mailbox
    finally:
        controller.stop()
        for name, value in saved.items():
            if value is None:
                config._config.remove_option('email', name)
                config._cache_clear()
            else:
                config.set('email', name, value)
