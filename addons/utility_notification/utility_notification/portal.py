"""The customer's side, in utility_portal: the notifications the portal
channel delivered, and the preferences (events and channels, digest,
quiet hours).

Imported only when utility_portal is installed; like every portal page,
these run as root and reach records only through portal.parties (the
web user's own parties) and portal.party (the current account's)."""
import datetime as dt
import os

from genshi.template import TemplateLoader
from werkzeug.wrappers import Response

from trytond.i18n import gettext

from utility_portal import web as portal_web
from utility_portal.templating import PortalTemplate
from utility_portal.web import PortalError, page

from .events import CHANNELS, EVENTS

HERE = os.path.dirname(__file__)
# Ours first; the portal's layout and macros next.
loader = TemplateLoader([os.path.join(HERE, 'templates'),
        os.path.join(portal_web.HERE, 'templates')],
    auto_reload=False, default_class=PortalTemplate)
PREFIX = 'msg_notifications'
LIMIT = 50


def _(key, **variables):
    "Our texts are utility_notification's; the layout's the portal's"
    if key.startswith(PREFIX):
        return gettext('utility_notification.' + key, **variables)
    return portal_web._(key, **variables)


def render(portal, template, notice=None, **values):
    values.setdefault('errors', [])
    html = loader.load(template).generate(portal=portal, _=_,
        notice=notice, **values).render(method='html', doctype='html5')
    return portal.finish(Response(html,
            content_type='text/html; charset=utf-8'))


def models(portal):
    "Notification and Party, or 404 where this module is not activated"
    try:
        return (portal.pool.get('utility.notification'),
            portal.pool.get('party.party'))
    except KeyError:
        # Routes are global: a database with the portal alone.
        raise PortalError(404)


def parse_time(value):
    "A time typed as HH:MM (input type=time), None when empty"
    value = (value or '').strip()
    if not value:
        return None
    try:
        hour, minute = value.split(':')[:2]
        return dt.time(int(hour), int(minute))
    except ValueError:
        raise ValueError(value)


def channels_shown(Notification):
    "SMS only where an SMS provider is plugged in"
    sms = Notification.sms_provider() is not None
    return [(c, n) for c, n in CHANNELS if c != 'sms' or sms]


def menu_links(portal):
    """The notifications in the portal's menu, with the number unread (one
    count query per page)"""
    try:
        Notification = portal.pool.get('utility.notification')
    except KeyError:
        # Routes are global: a database with the portal alone.
        return []
    unread = Notification.search_count([
            ('party', 'in', portal.party_ids),
            ('channel', '=', 'portal'),
            ('state', '=', 'sent'),
            ('portal_read', '=', False),
            ]) if portal.party_ids else 0
    return [portal_web.MenuLink(portal.url('/notifications'),
            _('msg_notifications'),
            str(unread) if unread else None,
            _('msg_notifications_unread_count', count=unread))]


def profile_links(portal):
    try:
        portal.pool.get('utility.notification')
    except KeyError:
        return []
    return [(portal.url('/notifications/preferences'),
            _('msg_notifications_preferences'))]


portal_web.menu_links.append(menu_links)
portal_web.profile_links.append(profile_links)


@page('/notifications', methods=('GET', 'POST'))
def notifications(portal):
    Notification, _Party = models(portal)
    notice = None
    if portal.request.method == 'POST':
        wanted = portal.form.getlist('notification')
        records = Notification.search([
                ('id', 'in', [int(i) for i in wanted if i.isdecimal()
                        and 0 < int(i) < 2 ** 31]),
                ('party', 'in', portal.party_ids),
                ('channel', '=', 'portal'),
                ]) if wanted else Notification.search([
                ('party', 'in', portal.party_ids),
                ('channel', '=', 'portal'),
                ('portal_read', '=', False),
                ])
        if wanted and len(records) != len(set(wanted)):
            # Another customer's notification is not found, as in a URL.
            raise PortalError(404)
        for party in portal.parties:
            Notification.portal_mark_read(party, records)
        notice = _('msg_notifications_marked_read')
    records = Notification.search([
            ('party', 'in', portal.party_ids),
            ('channel', '=', 'portal'),
            ('state', '=', 'sent'),
            ], limit=LIMIT)
    return render(portal, 'notifications.html',
        title=_('msg_notifications'), notice=notice,
        notifications=records,
        unread=sum(1 for n in records if not n.portal_read))


@page('/notifications/preferences', methods=('GET', 'POST'))
def preferences(portal):
    Notification, Party = models(portal)
    party = portal.party
    if party is None:
        raise PortalError(404)
    channels = channels_shown(Notification)
    errors, notice = [], None
    if portal.request.method == 'POST':
        form = portal.form
        wanted = {event: {c for c, _n in channels
                if form.get('%s-%s' % (event, c))}
            for event, _n in EVENTS}
        digest = form.get('digest')
        if digest not in {'immediate', 'daily'}:
            raise PortalError(400)
        values = {'notification_digest': digest}
        for name, field in [('digest_time', 'notification_digest_time'),
                ('quiet_start', 'notification_quiet_start'),
                ('quiet_end', 'notification_quiet_end')]:
            try:
                values[field] = parse_time(form.get(name))
            except ValueError:
                errors.append(_('msg_notifications_time_invalid'))
                break
        if not errors:
            if digest == 'daily' and not values['notification_digest_time']:
                errors.append(_('msg_notifications_digest_time_required'))
            if (values['notification_quiet_start'] is None) != (
                    values['notification_quiet_end'] is None):
                errors.append(_('msg_notifications_quiet_both'))
        if not errors:
            if digest != 'daily':
                # (kept: the time is only hidden when not daily)
                del values['notification_digest_time']
            Party.write([party], values)
            party.set_notification_channels(wanted,
                shown={c for c, _n in channels})
            notice = _('msg_notifications_preferences_saved')
        else:
            # shown again as typed, nothing saved
            return render_preferences(portal, Notification, Party, party,
                channels, errors, wanted=wanted, digest=digest,
                times={n: form.get(n) or '' for n in [
                        'digest_time', 'quiet_start', 'quiet_end']})
    party = Party(party.id)
    return render_preferences(portal, Notification, Party, party, channels,
        notice=notice)


def render_preferences(portal, Notification, Party, party, channels,
        errors=None, notice=None, wanted=None, digest=None, times=None):
    def hhmm(value):
        return value.strftime('%H:%M') if value else ''
    if wanted is None:
        wanted = {e: party.notification_channels(e) for e, _n in EVENTS}
    if times is None:
        times = {
            'digest_time': hhmm(party.notification_digest_time),
            'quiet_start': hhmm(party.notification_quiet_start),
            'quiet_end': hhmm(party.notification_quiet_end),
            }
    fields = Notification.fields_get(['event', 'channel'])
    digests = Party.fields_get(['notification_digest'])[
        'notification_digest']['selection']
    return render(portal, 'notification_preferences.html',
        title=_('msg_notifications_preferences'), notice=notice,
        errors=errors or [], channels=channels,
        events=fields['event']['selection'],
        channel_names=dict(fields['channel']['selection']),
        wanted=wanted, digest=digest or party.notification_digest,
        digests=digests, times=times)
