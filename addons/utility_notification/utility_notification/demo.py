"""Customer notifications in the demo, which runs no cron: collect the
events of every provider and send what is due now, once or every N
seconds; and read the local mailbox the demo's mails arrive in.

Command lines (scripts/demo.sh runs the first two beside a mailbox served
by aiosmtpd on loopback, writing to the Maildir var/mail)::

    python -m utility_notification.demo --database DB [--config FILE]
    python -m utility_notification.demo --database DB --every 60
    python -m utility_notification.demo --read var/mail [--last 3]
"""
import argparse
import logging
import mailbox
import sys
import time
from email import policy
from email.parser import BytesParser

logger = logging.getLogger(__name__)


def _in_transaction(database, func, context=None):
    """func() in a committed transaction of database as root, started
    again as Tryton asks (e.g. to lock records on SQLite)"""
    from trytond.transaction import Transaction, TransactionError
    extras = {}
    while True:
        with Transaction().start(database, 0, context=context,
                **extras) as transaction:
            try:
                result = func()
            except TransactionError as error:
                transaction.rollback()
                error.fix(extras)
                continue
            transaction.commit()
            return result


def run(database):
    "Collect and send once; return the number of notifications e-mailed"
    from trytond.pool import Pool

    def sent():
        return Pool().get('utility.notification').search_count([
                ('state', '=', 'sent'), ('channel', '=', 'email')])

    def collect():
        Pool().get('utility.notification').collect_all()

    def send():
        before = sent()
        Pool().get('utility.notification').send_pending()
        return sent() - before
    _in_transaction(database, collect)
    # Inline: the demo has no queue worker; a customer's mails still go as
    # one message (a digest when there are several).
    return _in_transaction(database, send,
        context={'utility_notification_inline': True})


def read(path, last):
    "Print the last messages of the Maildir at path, oldest first"
    box = mailbox.Maildir(path, create=True)
    parser = BytesParser(policy=policy.default)
    messages = []
    for key in box.iterkeys():
        with box.get_file(key) as fp:
            message = parser.parse(fp)
        messages.append((box.get_message(key).get_date(), message))
    messages.sort(key=lambda m: m[0])
    print("%s messages in %s" % (len(messages), path))
    for _date, message in messages[-last:] if last else []:
        print('\n' + '=' * 72)
        for header in ['Date', 'From', 'To', 'Subject']:
            print('%s: %s' % (header, message[header]))
        print()
        body = message.get_body(('plain',))
        print(body.get_content().strip() if body else '(no text part)')
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Customer notifications of the demo")
    parser.add_argument('--database', '-d')
    parser.add_argument('--config', '-c')
    parser.add_argument('--every', type=int, metavar='SECONDS',
        help="run again every SECONDS until stopped")
    parser.add_argument('--read', metavar='MAILDIR',
        help="print the messages of a Maildir instead")
    parser.add_argument('--last', type=int, default=3,
        help="how many messages --read prints in full (default 3)")
    args = parser.parse_args(argv)
    if args.read:
        return read(args.read, args.last)
    if not args.database:
        parser.error("--database is required")
    from trytond import config
    if args.config:
        config.update_etc(args.config)
    from trytond.pool import Pool
    Pool(args.database).init()
    logging.basicConfig(level=logging.WARNING)
    while True:
        try:
            sent = run(args.database)
        except Exception:
            if not args.every:
                raise
            # e.g. the SQLite file busy with the server: next round
            logger.exception("notification round failed")
        else:
            if sent or not args.every:
                print("utility_notification: %s notification(s) e-mailed"
                    % sent, flush=True)
        if not args.every:
            return 0
        time.sleep(args.every)


if __name__ == '__main__':
    sys.exit(main())
