"""The customer's privacy page in the portal (utility_portal).

- /privacy (linked from the profile page): what the customer agreed to (the purposes of the current
  account's provider that need consent, e.g. marketing and sharing with
  the provider's CRM), their erasure requests with the outcome, and the
  links below;
- /privacy/export: the same ZIP as the back office's *Export Personal
  Data* (JSON, one CSV per kind, a PDF summary) of the current account's
  customer;
- /privacy/consents (POST): give or withdraw consents (source "portal");
- /privacy/erasure (POST): ask for erasure; staff process the request
  (utility.privacy.erasure), which is refused, with the reason shown
  here, while a balance, a dispute or a running agreement remains.

Like every portal page these run as root and reach records only through
portal.party and portal.agreement (the logged-in customer's own).
"""
import os

from werkzeug.wrappers import Response

from trytond.i18n import gettext

from utility_portal import web as portal_web
from utility_portal.web import PortalError, page

# What a customer may invoke; "retention" and "other" are staff's.
PORTAL_LEGAL_BASES = {'gdpr_art17', 'ccpa_1798_105'}
TEMPLATE = os.path.join(os.path.dirname(__file__), 'templates',
    'privacy.html')


def t(key, **variables):
    "A text of this module's messages"
    return gettext('utility_privacy.' + key, **variables)


def models(portal):
    "Consent and Erasure, or 404 where utility_privacy is not activated"
    try:
        return (portal.pool.get('utility.privacy.consent'),
            portal.pool.get('utility.privacy.erasure'))
    except KeyError:
        # Routes are global: a database with the portal alone.
        raise PortalError(404)


def profile_links(portal):
    "The profile page's link to the privacy page"
    try:
        portal.pool.get('utility.privacy.consent')
    except KeyError:
        # Routes are global: a database with the portal alone.
        return []
    if not portal.agreement:
        return []
    return [(portal.url('/privacy'), t('msg_portal_privacy'))]


portal_web.profile_links.append(profile_links)


def account(portal):
    "The current account's customer and provider, 404 without one"
    if not portal.agreement:
        raise PortalError(404)
    return portal.agreement.party, portal.agreement.company


def purposes(portal, company):
    "The provider's purposes that need the customer's consent"
    Purpose = portal.pool.get('utility.privacy.purpose')
    found = {}
    for purpose in Purpose.search([
                ('requires_consent', '=', True),
                ('company', 'in', [company.id, None]),
                ]):
        # A provider's own purpose replaces the shared one of its code.
        if purpose.code not in found or purpose.company:
            found[purpose.code] = purpose
    return sorted(found.values(), key=lambda p: p.code)


def render(portal, status=200, errors=None, notice=None):
    Consent, Erasure = models(portal)
    party, company = account(portal)
    shown = purposes(portal, company)
    given = {p.code for p in shown
        if Consent.has_consent(party, p.code, company)}
    erasures = Erasure.search([
            ('party', '=', party.id),
            ('company', '=', company.id),
            ])
    states = dict(Erasure.fields_get(['state'])['state']['selection'])
    return portal.render(TEMPLATE, status=status,
        title=t('msg_portal_privacy'), errors=errors or [], notice=notice,
        t=t, purposes=shown,
        given=given, erasures=erasures, state_names=states,
        pending=any(e.state == 'requested' for e in erasures))


@page('/privacy')
def privacy(portal):
    return render(portal)


@page('/privacy/export')
def privacy_export(portal):
    Export = portal.pool.get('utility.privacy.export')
    models(portal)
    party, _ = account(portal)
    # Everything held about the customer, from every provider: the
    # person asks, not one provider.
    name, content = Export.archive(party)
    response = Response(content, content_type='application/zip')
    response.headers['Content-Disposition'] = (
        'attachment; filename="%s.zip"' % name)
    return portal.finish(response)


@page('/privacy/consents', methods=('POST',))
def privacy_consents(portal):
    Consent, _ = models(portal)
    party, company = account(portal)
    wanted = set(portal.form.getlist('purpose'))
    shown = purposes(portal, company)
    if wanted - {p.code for p in shown}:
        raise PortalError(400)
    for purpose in shown:
        Consent.set_consent(party, purpose.code, company,
            purpose.code in wanted, source='portal')
    return render(portal, notice=t('msg_portal_consents_saved'))


@page('/privacy/erasure', methods=('POST',))
def privacy_erasure(portal):
    _, Erasure = models(portal)
    party, company = account(portal)
    if not portal.form.get('confirm'):
        return render(portal, status=400,
            errors=[t('msg_portal_erasure_confirm_required')])
    if Erasure.search([
                ('party', '=', party.id),
                ('company', '=', company.id),
                ('state', '=', 'requested'),
                ], limit=1):
        return render(portal, status=400,
            errors=[t('msg_portal_erasure_pending')])
    legal_basis = portal.form.get('legal_basis') or 'gdpr_art17'
    if legal_basis not in PORTAL_LEGAL_BASES:
        raise PortalError(400)
    # (the portal refuses control characters in forms)
    note = (portal.form.get('note') or '').strip()[:2000] or None
    Erasure.request_erasure(party, company, legal_basis=legal_basis,
        channel='portal', note=note)
    return render(portal, notice=t('msg_portal_erasure_requested'))
