"""utility_notification's records in the export, the erasure and the
retention periods.

Registered only when utility_notification is activated (tryton.cfg lists
it in extras_depend and registers these classes under
``[register utility_notification]``): the customer's notification log
(what was sent, to which address, with which text) and their notification
preferences are personal data.
"""
import datetime as dt

from trytond.pool import Pool, PoolMeta

MASK = '****'


class Export(metaclass=PoolMeta):
    __name__ = 'utility.privacy.export'

    @classmethod
    def kinds(cls):
        return super().kinds() + [
            ('notifications', "Notifications"),
            ('notification_preferences', "Notification Preferences"),
            ]

    @classmethod
    def _collect(cls, party, companies):
        pool = Pool()
        Notification = pool.get('utility.notification')
        Preference = pool.get('utility.notification.preference')
        data = super()._collect(party, companies)
        party = party.__class__(party.id)
        data['party'][0].update({
                'email_delivery': party.notification_digest,
                'digest_time': party.notification_digest_time,
                'quiet_hours_from': party.notification_quiet_start,
                'quiet_hours_until': party.notification_quiet_end,
                })
        for notification in Notification.search(
                cls.of_provider([('party', '=', party.id)], companies),
                order=[('create_date', 'ASC'), ('id', 'ASC')]):
            data['notifications'].append({
                    'provider': notification.company.rec_name,
                    'event': notification.event,
                    'channel': notification.channel,
                    'recipient': notification.recipient,
                    'subject': notification.subject,
                    'text': notification.text,
                    'created': notification.create_date,
                    'sent': notification.sent_at,
                    'state': notification.state,
                    'read_in_portal': notification.portal_read,
                    })
        # Preferences are the customer's for every provider.
        for preference in Preference.search([('party', '=', party.id)],
                order=[('event', 'ASC'), ('channel', 'ASC')]):
            data['notification_preferences'].append({
                    'event': preference.event,
                    'channel': preference.channel,
                    'enabled': preference.enabled,
                    })
        return data


class Erase(metaclass=PoolMeta):
    __name__ = 'party.erase'

    def to_erase(self, party_id):
        pool = Pool()
        Party = pool.get('party.party')
        Notification = pool.get('utility.notification')
        to_erase = super().to_erase(party_id)
        to_erase.extend([
                (Party, [('id', '=', party_id)], False,
                    ['notification_quiet_start', 'notification_quiet_end'],
                    [None, None]),
                # The log stays (what was sent when), without the address
                # and the text that named the customer.
                (Notification, [('party', '=', party_id)], True,
                    ['recipient', 'subject', 'body', 'content', 'error'],
                    [None, MASK, None, None, None]),
                ])
        return to_erase

    def _utility_erase_records(self, party_id):
        Preference = Pool().get('utility.notification.preference')
        super()._utility_erase_records(party_id)
        Preference.delete(Preference.search([('party', '=', party_id)]))


class Retention(metaclass=PoolMeta):
    __name__ = 'utility.privacy.retention'

    def _expire_notification(self, cutoff, date):
        pool = Pool()
        Notification = pool.get('utility.notification')
        SentEmail = pool.get('ir.email')
        SentEmailAddress = pool.get('ir.email.address')
        super()._expire_notification(cutoff, date)
        limit = dt.datetime.combine(cutoff, dt.time())
        notifications = Notification.search([
                ('company', '=', self.company.id),
                ('state', 'in', ['sent', 'cancelled']),
                ('subject', '!=', MASK),
                ('create_date', '<', limit),
                ])
        # Kept as a log of what was sent: event, channel, dates, state.
        self._mask(Notification, notifications, {
                'recipient': None, 'subject': MASK, 'body': None,
                'content': None, 'error': None})
        # and Tryton's log of the e-mails that carried them
        emails = [n.email for n in notifications if n.email]
        self._mask(SentEmail, emails, {'recipients': MASK,
                'recipients_secondary': None, 'recipients_hidden': None,
                'subject': MASK, 'body': None})
        self._mask(SentEmailAddress,
            [a for e in emails for a in e.addresses], {'address': MASK})
