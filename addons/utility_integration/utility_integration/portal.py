"""Green Button "Download My Data" on the customer portal.

Registered when utility_portal is installed (tryton.cfg lists it in
extras_depend): a page under the portal's usage page to choose one of the
customer's service points and a period (by default the last 13 months),
and the download of its ESPI Atom XML. Like every portal page it runs as
root and reads only through the logged-in customer's agreements: a
service point of another customer is answered 404; the feed holds only
the customer's own agreements at the point, each within its own dates
(a previous or later occupant's use is never exported).
"""
import datetime as dt
import os
import re

from dateutil.relativedelta import relativedelta
from werkzeug.wrappers import Response

from trytond.i18n import gettext

from .espi import agreements_xml
from .exceptions import GreenButtonError

try:
    from utility_portal import routes as portal_routes
    from utility_portal.web import PortalError, page
except ImportError:
    portal_routes = None

TEMPLATE = os.path.join(os.path.dirname(__file__), 'templates',
    'green_button.html')
# ESPI times are seconds since 1970; nothing is metered a year ahead.
FIRST_DATE = dt.date(1970, 1, 1)


def t(key, **variables):
    "A text of this module's messages"
    return gettext('utility_integration.' + key, **variables)


def activated(portal):
    "True when utility_integration is activated in the portal's database"
    try:
        portal.pool.get('utility.integration.green_button.start')
    except KeyError:
        return False
    return True


def default_period(today):
    "The last 13 months: the first day of the month a year ago to today"
    return today.replace(day=1) - relativedelta(months=12), today


def service_points(portal):
    "The service points of the customer's agreements, in their order"
    points = []
    for agreement in portal.agreements:
        if agreement.service_point not in points:
            points.append(agreement.service_point)
    return points


def usage_links(portal):
    if not activated(portal) or not portal.agreements:
        return []
    return [(portal.url('/green-button'),
            t('msg_portal_green_button'))]


def render(portal, status=200, errors=None, **values):
    today = portal.pool.get('ir.date').today()
    start, end = default_period(today)
    values.setdefault('start', start.isoformat())
    values.setdefault('end', end.isoformat())
    values.setdefault('selected',
        portal.agreement.service_point if portal.agreement else None)
    return portal.render(TEMPLATE, status=status,
        title=t('msg_portal_green_button'), errors=errors or [], t=t,
        points=service_points(portal), **values)


def parse_date(value, today):
    "The ISO date of value, or None when it is not one we may export"
    try:
        date = dt.date.fromisoformat((value or '').strip())
    except ValueError:
        return None
    if not FIRST_DATE <= date <= today + dt.timedelta(days=366):
        return None
    return date


def file_name(point, start, end):
    code = re.sub(r'[^A-Za-z0-9._-]+', '_', point.code or str(point.id))
    return 'green-button-%s-%s-%s.xml' % (code, start, end)


if portal_routes is not None:
    portal_routes.usage_links.append(usage_links)

    @page('/green-button')
    def green_button(portal):
        if not activated(portal):
            raise PortalError(404)
        return render(portal)

    @page('/green-button.xml')
    def green_button_xml(portal):
        if not activated(portal):
            raise PortalError(404)
        args = portal.request.args
        point_id = args.get('service_point', '')
        # Only the customer's own agreements at the point, of one account
        agreements = [a for a in portal.agreements
            if str(a.service_point.id) == point_id]
        if not agreements:
            raise PortalError(404)
        party = (portal.agreement.party
            if portal.agreement in agreements else agreements[0].party)
        agreements = [a for a in agreements if a.party == party]
        point = agreements[0].service_point

        today = portal.pool.get('ir.date').today()
        default_start, default_end = default_period(today)
        start = parse_date(args.get('start'), today) \
            if args.get('start') else default_start
        end = parse_date(args.get('end'), today) \
            if args.get('end') else default_end
        errors = []
        if start is None or end is None:
            errors.append(t('msg_portal_green_button_bad_date',
                    first=FIRST_DATE.isoformat()))
        else:
            try:
                content = agreements_xml(agreements, start, end)
            except GreenButtonError as exception:
                errors.append(exception.message)
        if errors:
            return render(portal, status=400, errors=errors,
                selected=point, start=args.get('start', ''),
                end=args.get('end', ''))
        response = Response(content,
            content_type='application/atom+xml; charset=utf-8')
        response.headers['Content-Disposition'] = (
            'attachment; filename="%s"' % file_name(point, start, end))
        return portal.finish(response)
