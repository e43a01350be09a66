"Customer preferences: which events reach them on which channel, and when"
import datetime as dt

from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval

from .events import CHANNELS, DEFAULT_CHANNELS, EVENTS


class Preference(ModelSQL, ModelView):
    "Notification Preference"
    __name__ = 'utility.notification.preference'
    party = fields.Many2One('party.party', "Customer", required=True,
        ondelete='CASCADE')
    event = fields.Selection(EVENTS, "Event", required=True)
    channel = fields.Selection(CHANNELS, "Channel", required=True)
    enabled = fields.Boolean("Enabled",
        help="Unticked: the customer opted out of this event on this "
        "channel.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('party_event_channel_unique',
                Unique(t, t.party, t.event, t.channel),
                'utility_notification.msg_preference_unique'),
            ]
        cls._order = [('party', 'ASC'), ('event', 'ASC'),
            ('channel', 'ASC'), ('id', 'ASC')]

    @staticmethod
    def default_enabled():
        return True


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'
    notification_preferences = fields.One2Many(
        'utility.notification.preference', 'party', "Notification Preferences",
        help="Events and channels that differ from the defaults: e-mail and "
        "portal on, SMS off.")
    notification_digest = fields.Selection([
            ('immediate', "As They Happen"),
            ('daily', "Daily Digest"),
            ], "E-mail Delivery", required=True,
        help="A daily digest gathers the day's e-mails into one.")
    notification_digest_time = fields.Time("Digest Time",
        states={
            'required': Eval('notification_digest') == 'daily',
            'invisible': Eval('notification_digest') != 'daily',
            },
        help="When the daily digest goes out, in the provider's timezone.")
    notification_quiet_start = fields.Time("Quiet Hours From",
        help="No e-mail or SMS is sent from this time (provider's "
        "timezone); they wait until the quiet hours end.")
    notification_quiet_end = fields.Time("Quiet Hours Until")

    @staticmethod
    def default_notification_digest():
        return 'immediate'

    @staticmethod
    def default_notification_digest_time():
        return dt.time(8, 0)

    def _notification_defaults(self):
        "The channels of every event without a preference"
        channels = set(DEFAULT_CHANNELS)
        # utility_portal's profile switches, when it is activated, set the
        # defaults; per-event preferences override them.
        # (SQLite reads booleans as 0 and 1: no "is False" here)
        if 'portal_notify_email' in self._fields:
            if self.portal_notify_email is not None \
                    and not self.portal_notify_email:
                channels.discard('email')
            if self.portal_notify_sms:
                channels.add('sms')
        return channels

    def notification_channels(self, event):
        "The channels the customer wants event on"
        channels = self._notification_defaults()
        for preference in self.notification_preferences:
            if preference.event != event:
                continue
            if preference.enabled:
                channels.add(preference.channel)
            else:
                channels.discard(preference.channel)
        return channels

    def notification_quiet(self, local):
        """The end of the quiet hours holding a message at local time
        (naive, provider's timezone) or None when it may go now"""
        start, end = self.notification_quiet_start, self.notification_quiet_end
        if not start or not end or start == end:
            return None
        now = local.time()
        if start < end:
            # e.g. 13:00-14:00, the same day
            if start <= now < end:
                return dt.datetime.combine(local.date(), end)
        elif now >= start:
            # e.g. 22:00-07:00, ending tomorrow
            return dt.datetime.combine(
                local.date() + dt.timedelta(days=1), end)
        elif now < end:
            return dt.datetime.combine(local.date(), end)
        return None

    def notification_next_digest(self, local):
        "The next digest time after local (naive, provider's timezone)"
        when = dt.datetime.combine(local.date(),
            self.notification_digest_time or dt.time(8, 0))
        if when <= local:
            when += dt.timedelta(days=1)
        return when

    def set_notification_channels(self, wanted, shown=None):
        """Keep as preferences the channels of wanted (event: channels)
        that differ from the defaults, among the channels shown"""
        Preference = Pool().get('utility.notification.preference')
        if shown is None:
            shown = {c for c, _ in CHANNELS}
        defaults = self._notification_defaults()
        existing = {(p.event, p.channel): p
            for p in self.notification_preferences}
        to_save, to_delete = [], []
        for event, _ in EVENTS:
            for channel in sorted(shown):
                enabled = channel in wanted.get(event, set())
                preference = existing.get((event, channel))
                if enabled == (channel in defaults):
                    if preference:
                        to_delete.append(preference)
                    continue
                if preference is None:
                    preference = Preference(party=self, event=event,
                        channel=channel)
                elif preference.enabled == enabled:
                    continue
                preference.enabled = enabled
                to_save.append(preference)
        Preference.delete(to_delete)
        Preference.save(to_save)
