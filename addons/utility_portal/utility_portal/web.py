"""Request plumbing of the portal: sessions, CSRF, language, rendering and
error pages. The pages themselves are in routes.py."""
import datetime as dt
import hmac
import logging
import os
import re
import secrets
from decimal import Decimal
from functools import wraps
from typing import NamedTuple

from genshi.template import TemplateLoader
from werkzeug.exceptions import HTTPException
from werkzeug.utils import redirect as _redirect
from werkzeug.wrappers import Response

import trytond.config as config
from trytond import backend
from trytond.cache import MemoryCache
from trytond.exceptions import RateLimitException
from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.protocols.wrappers import with_pool, with_transaction
from trytond.transaction import Transaction, TransactionError
from trytond.wsgi import app
from utility_metering.meter import company_timezone, to_local

from .templating import PortalTemplate

logger = logging.getLogger(__name__)

HERE = os.path.dirname(__file__)
PREFIX = '/<database_name>/portal'
SESSION_COOKIE = 'portal_session'
CSRF_COOKIE = 'portal_csrf'
ACCOUNT_COOKIE = 'portal_account'
loader = TemplateLoader(os.path.join(HERE, 'templates'), auto_reload=False,
    default_class=PortalTemplate)


NOTICES = {
    'signed_up': 'msg_notice_signed_up',
    'validated': 'msg_notice_validated',
    'invalid_token': 'msg_notice_invalid_token',
    'reset_sent': 'msg_notice_reset_sent',
    'password_reset': 'msg_notice_password_reset',
    'logged_out': 'msg_notice_logged_out',
    'password_changed': 'msg_notice_password_changed',
    'profile_saved': 'msg_notice_profile_saved',
    'account_linked': 'msg_notice_account_linked',
    'request_opened': 'msg_notice_request_opened',
    'message_sent': 'msg_notice_message_sent',
    'payment_not_possible': 'msg_notice_payment_not_possible',
    'nothing_to_pay': 'msg_notice_nothing_to_pay',
    'autopay_on': 'msg_notice_autopay_on',
    'autopay_off': 'msg_notice_autopay_off',
    'autopay_needs_method': 'msg_notice_autopay_needs_method',
    }


# The main navigation: path and text of the portal's own pages. Other
# modules add theirs through menu_links, before the profile.
MENU = [
    ('/dashboard', 'msg_dashboard'),
    ('/bills', 'msg_bills'),
    ('/reading', 'msg_submit_reading'),
    ('/usage', 'msg_usage'),
    ('/payments', 'msg_payments'),
    ('/requests', 'msg_requests'),
    ]


class MenuLink(NamedTuple):
    "An entry of the main navigation; badge: a short count shown beside it"
    url: str
    label: str
    badge: str | None = None
    # what the badge means, for screen readers (e.g. "3 unread")
    badge_label: str | None = None


# Links other modules add to the portal (e.g. utility_notification's
# notifications): functions of the portal, called once per page, that
# return a list of MenuLink (menu_links, main navigation) or of (url,
# label) (profile_links, profile page). Routes are global, so a function
# returns nothing in a database where its module is not activated.
menu_links = []
profile_links = []


class PortalError(Exception):
    """Stops a request with an error page of the status (and the text of
    message, a key of ours, instead of the status's own)"""
    def __init__(self, status, message=None):
        super().__init__(status)
        self.status = status
        self.message = message


# Characters no form field of the portal may hold: C0 controls but tab,
# line feed and carriage return (which a text area sends), DEL and the C1
# controls. NUL above all: PostgreSQL refuses it in text (a server error),
# SQLite would store it, and nobody types it.
CONTROL_CHARACTERS = re.compile('[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]')


def check_input(request):
    """Refuse (400, saying why) a query string or form value with control
    characters, before a page reads it"""
    sources = [request.args]
    if request.method == 'POST':
        sources.append(request.form)
    for source in sources:
        for key, value in source.items(multi=True):
            if CONTROL_CHARACTERS.search(key) or CONTROL_CHARACTERS.search(
                    value):
                raise PortalError(400, 'msg_error_control_characters')


# (database, language, key) -> text: a page asks for dozens of texts. Kept
# while Tryton keeps its message cache: Tryton replaces that cache's dict
# when a message or translation changes (in any process).
_texts = {}
_texts_source = {}


def _(key, **variables):
    transaction = Transaction()
    database, language = transaction.database.name, transaction.language
    source = _message_cache_dict()
    if source is None:
        return gettext('utility_portal.' + key, **variables)
    if _texts_source.get(database) is not source:
        _texts_source[database] = source
        for cached in [k for k in _texts if k[0] == database]:
            _texts.pop(cached, None)
    text = _texts.get((database, language, key))
    if text is None:
        text = gettext('utility_portal.' + key, language)
        _texts[(database, language, key)] = text
    return text % variables if variables else text


def _message_cache_dict():
    """The dict behind Tryton's message cache for this transaction, or None
    when it is not the in-memory cache or is cleared for this transaction"""
    cache = Pool().get('ir.message')._message_cache
    if not isinstance(cache, MemoryCache):
        return None
    current = cache._get_cache()
    if current is not cache._database_cache.get(
            Transaction().database.name):
        return None
    return current


def secure_cookie():
    # Off only for a local http demo: browsers drop Secure cookies there.
    return config.getboolean('utility_portal', 'secure_cookie', default=True)


def session_timeout():
    return config.getint('session', 'web_timeout', default=30 * 24 * 60 * 60)


class Portal:
    "What a page needs of its request: user, accounts, language, helpers"

    def __init__(self, request, pool, database_name):
        self.request = request
        self.pool = pool
        self.database_name = database_name
        self.base = '%s/%s/portal' % (request.root_path, database_name)
        self.user = None
        self.session_key = None
        self.parties = []
        self.agreements = []
        self.agreement = None
        self.cookies = []  # (name, value, max_age) to set on the response
        self.csrf_token = request.cookies.get(CSRF_COOKIE)
        if not self.csrf_token or len(self.csrf_token) != 64:
            self.csrf_token = secrets.token_hex(32)
            self.cookies.append((CSRF_COOKIE, self.csrf_token, None))
        self.lang = None
        self._menu = None

    # --- identity -----------------------------------------------------
    def load_user(self):
        pool = self.pool
        User = pool.get('web.user')
        Agreement = pool.get('utility.service.agreement')
        key = self.request.cookies.get(SESSION_COOKIE)
        if not key or CONTROL_CHARACTERS.search(key):
            return
        user = User.get_user(key)
        if not user or not user.active or not user.email_valid:
            return
        self.user, self.session_key = user, key
        # The only parties this request may read or act for.
        parties = [user.party] if user.party else []
        parties += [p for p in user.secondary_parties if p not in parties]
        self.parties = parties
        self.agreements = Agreement.search([
                ('party', 'in', [p.id for p in parties]),
                ('state', 'in', ['active', 'closed']),
                ], order=[('state', 'ASC'), ('number', 'ASC')])
        wanted = self.request.cookies.get(ACCOUNT_COOKIE)
        for agreement in self.agreements:
            if str(agreement.id) == wanted:
                self.agreement = agreement
                break
        else:
            self.agreement = self.agreements[0] if self.agreements else None

    @property
    def party_ids(self):
        return [p.id for p in self.parties]

    @property
    def agreement_ids(self):
        return [a.id for a in self.agreements]

    @property
    def party(self):
        if self.agreement:
            return self.agreement.party
        return self.parties[0] if self.parties else None

    def set_language(self):
        Lang = self.pool.get('ir.lang')
        Party = self.pool.get('party.party')
        code = None
        party = self.party
        if party:
            # The language is a value per provider (company multivalue).
            with Transaction().set_context(company=self.agreement.company.id
                    if self.agreement else None):
                party = Party(party.id)
        if party and party.lang:
            code = party.lang.code
        else:
            langs = Lang.search([('translatable', '=', True)])
            code = self.request.accept_languages.best_match(
                [l.code for l in langs] + [l.code.replace('_', '-')
                    for l in langs])
            if code:
                code = code.replace('-', '_')
        self.lang = Lang.get(code)

    # --- navigation ---------------------------------------------------
    def menu(self):
        "The MenuLink of the main navigation, other modules' included"
        if self._menu is None:
            links = [MenuLink(self.url(path), _(key)) for path, key in MENU]
            for links_of in menu_links:
                links += links_of(self)
            links.append(MenuLink(self.url('/profile'), _('msg_profile')))
            self._menu = links
        return self._menu

    def profile_links(self):
        "(url, label) of the pages other modules link from the profile"
        return [link for links_of in profile_links
            for link in links_of(self)]

    # --- formatting ---------------------------------------------------
    def url(self, path, **params):
        from urllib.parse import urlencode
        url = self.base + path
        params = {k: v for k, v in params.items() if v is not None}
        if params:
            url += '?' + urlencode(params)
        return url

    def money(self, amount, currency):
        if amount is None:
            return ''
        return self.lang.currency(amount, currency, symbol=True,
            grouping=True)

    def date(self, value):
        if value is None:
            return ''
        if isinstance(value, dt.datetime):
            # Stored in UTC; shown in the provider's time zone.
            company = self.agreement.company if self.agreement else None
            value = to_local(value, company_timezone(company))
            return self.lang.strftime(value,
                self.lang.date + ' %H:%M')
        return self.lang.strftime(value)

    def number(self, value, digits=None):
        if value is None:
            return ''
        if isinstance(value, float):
            value = Decimal(repr(value))
        if digits is None:
            digits = 0 if value == value.to_integral_value() else 2
        return self.lang.format_number(value, digits=digits)

    # --- forms --------------------------------------------------------
    @property
    def form(self):
        return self.request.form

    def check_csrf(self):
        sent = self.request.form.get('csrf_token', '')
        cookie = self.request.cookies.get(CSRF_COOKIE, '')
        # (compare_digest takes str of ASCII only: compare their bytes)
        if not cookie or not hmac.compare_digest(
                sent.encode('utf-8'), cookie.encode('utf-8')):
            raise PortalError(403)

    def decimal(self, name):
        "A Decimal typed by the customer in their language, or None"
        value = (self.form.get(name) or '').strip()
        if not value:
            return None
        thousands = self.lang.thousands_sep or ''
        if thousands:
            value = value.replace(thousands, '')
        value = value.replace(' ', '').replace('\u00a0', '')
        if self.lang.decimal_point != '.':
            value = value.replace(self.lang.decimal_point, '.')
        try:
            result = Decimal(value)
        except ArithmeticError:
            raise ValueError(value)
        # Nothing a customer types has 16 integer digits; Tryton's digits
        # check overflows on values past 1e308.
        if not result.is_finite() or result.adjusted() >= 15:
            raise ValueError(value)
        return result

    # --- responses ----------------------------------------------------
    def render(self, template, status=200, **values):
        tmpl = loader.load(template)
        values.setdefault('title', '')
        values.setdefault('errors', [])
        if values.get('notice') is None:
            key = NOTICES.get(self.request.args.get('notice'))
            values['notice'] = _(key) if key else None
        html = tmpl.generate(portal=self, _=_, **values).render(
            method='html', doctype='html5')
        response = Response(html, status=status,
            content_type='text/html; charset=utf-8')
        return self.finish(response)

    def redirect(self, path, **params):
        return self.finish(_redirect(self.url(path, **params), code=303))

    def finish(self, response):
        last = {c[0]: c for c in self.cookies}  # the last one set wins
        for name, value, max_age in last.values():
            set_cookie(response, self, name, value, max_age)
        headers = response.headers
        headers.setdefault('Cache-Control', 'no-store')
        headers['X-Content-Type-Options'] = 'nosniff'
        headers['X-Frame-Options'] = 'DENY'
        headers['Referrer-Policy'] = 'same-origin'
        headers['Content-Security-Policy'] = (
            "default-src 'self'; img-src 'self' data:; "
            "style-src 'self'; script-src 'self'; frame-ancestors 'none'; "
            "form-action 'self'; base-uri 'none'")
        return response

    def login(self, user):
        self.session_key = user.new_session()
        self.cookies.append(
            (SESSION_COOKIE, self.session_key, session_timeout()))
        # A new session gets a new CSRF token too (no fixation).
        self.csrf_token = secrets.token_hex(32)
        self.cookies.append((CSRF_COOKIE, self.csrf_token, None))

    def logout(self):
        Session = self.pool.get('web.user.session')
        if self.session_key:
            Session.remove(self.session_key)
        self.cookies.append((SESSION_COOKIE, '', 0))
        self.cookies.append((ACCOUNT_COOKIE, '', 0))


def set_cookie(response, portal, name, value, max_age):
    path = portal.base or '/'
    if max_age == 0:
        response.delete_cookie(name, path=path, secure=secure_cookie(),
            httponly=True, samesite='Lax')
    else:
        response.set_cookie(name, value, max_age=max_age, path=path,
            secure=secure_cookie(), httponly=True, samesite='Lax')


def error_page(portal, status, message=None):
    titles = {
        400: 'msg_error_400', 403: 'msg_error_403', 404: 'msg_error_404',
        405: 'msg_error_405', 429: 'msg_error_429', 500: 'msg_error_500',
        }
    key = titles.get(status, 'msg_error_500')
    return portal.render('error.html', status=status,
        title=_(key), message=_(message or key + '_text'))


FALLBACK = ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
    '<title>Error</title></head><body><main><h1>Something went wrong</h1>'
    '<p>Please try again later.</p></main></body></html>')


def page(path, methods=('GET',), auth=True, readonly=None):
    """Register a portal page.

    The page runs in one transaction (read-only for GET) as root: every
    query it makes must go through portal.parties / portal.agreements.
    Errors become a page with a status, never a traceback.
    """
    def decorator(func):
        @wraps(func)
        def in_transaction(request, pool, portal_db, **kwargs):
            try:
                pool.get('utility.service.request')
            except KeyError:
                # Routes are global: the module is not activated here.
                raise PortalError(404)
            portal = Portal(request, pool, portal_db)
            transaction = Transaction()
            try:
                # Record ids are 32-bit integers: a larger one in a URL is
                # no record (the database would refuse to compare it).
                if any(isinstance(v, int) and not 0 < v < 2 ** 31
                        for v in kwargs.values()):
                    raise PortalError(404)
                portal.load_user()
                portal.set_language()
                check_input(request)
                with transaction.set_context(language=portal.lang.code,
                        company=(portal.agreement.company.id
                            if portal.agreement else None)):
                    if request.method == 'POST':
                        portal.check_csrf()
                        if portal.session_key:
                            # Activity keeps the session alive (sliding
                            # expiry); GETs run read-only.
                            pool.get('web.user.session').reset(
                                portal.session_key)
                            portal.cookies.append((SESSION_COOKIE,
                                    portal.session_key, session_timeout()))
                    if auth and not portal.user:
                        return portal.redirect('/login',
                            next=request.full_path
                            if request.method == 'GET' else None)
                    return func(portal, **kwargs)
            except (TransactionError, backend.DatabaseOperationalError):
                raise  # with_transaction retries these
            except Exception as exception:
                message = None
                if isinstance(exception, PortalError):
                    status, message = exception.status, exception.message
                elif isinstance(exception, RateLimitException):
                    status = 429
                elif isinstance(exception, HTTPException):
                    status = exception.code or 500
                else:
                    status = 500
                    logger.exception("Portal error on %s", request.path)
                # Nothing half-written stays.
                transaction.rollback()
                if portal.lang is None:
                    portal.set_language()
                with transaction.set_context(language=portal.lang.code):
                    return error_page(portal, status, message)

        transactional = with_transaction(readonly=readonly)(in_transaction)

        @wraps(func)
        def guarded(request, pool, **kwargs):
            try:
                return transactional(request, pool, **kwargs)
            except HTTPException:
                raise
            except Exception:
                logger.exception("Portal failure on %s", request.path)
                return Response(FALLBACK, status=500,
                    content_type='text/html; charset=utf-8')

        def endpoint(request, database_name, **kwargs):
            return with_pool(guarded)(request, database_name,
                portal_db=database_name, **kwargs)
        endpoint.__name__ = func.__name__
        app.route(PREFIX + path, methods=list(methods))(endpoint)
        return func
    return decorator


def static_file(name, content_type):
    path = os.path.join(HERE, 'static', name)

    def serve(request, database_name):
        with open(path, 'rb') as fp:
            data = fp.read()
        response = Response(data, content_type=content_type)
        response.headers['Cache-Control'] = 'public, max-age=3600'
        response.headers['X-Content-Type-Options'] = 'nosniff'
        return response
    serve.__name__ = 'portal_static_' + name.replace('.', '_')
    app.route(PREFIX + '/static/' + name, methods=['GET'])(serve)


static_file('portal.css', 'text/css; charset=utf-8')
static_file('portal.js', 'text/javascript; charset=utf-8')
static_file('checkout.js', 'text/javascript; charset=utf-8')
