"The portal's pages; every record is reached through portal.parties"
import csv
import datetime as dt
import io
import re
from decimal import Decimal

from werkzeug.wrappers import Response

import trytond.config as config
from trytond.exceptions import UserError
from trytond.transaction import Transaction

from .web import ACCOUNT_COOKIE, PortalError, _, page

MIN_PASSWORD = 10
REQUEST_KINDS = ['billing_dispute', 'service_issue', 'meter_repair',
    'move_in', 'move_out']


# --- helpers -----------------------------------------------------------

def throttle(portal, key):
    "Refuse when a key or the address failed too often lately (429)"
    Attempt = portal.pool.get('web.user.authenticate.attempt')
    if Attempt.count_ip() > config.getint(
            'session', 'max_attempt_ip_network', default=300):
        raise PortalError(429)
    if Attempt.count(key) > config.getint(
            'session', 'max_attempt', default=5):
        raise PortalError(429)


def failed(portal, key):
    portal.pool.get('web.user.authenticate.attempt').add(key)


def attempt_key(prefix, text):
    "A throttling key; Tryton's text fields refuse control characters"
    return '%s:%s' % (prefix, ''.join(c for c in text if c.isprintable()))


def check_password(portal, password, user=None):
    "Errors of a new password, translated"
    User = portal.pool.get('res.user')
    if len(password or '') < MIN_PASSWORD:
        return [_('msg_password_short', length=MIN_PASSWORD)]
    try:
        User.validate_password(password, [user] if user else [])
    except UserError as e:
        return [e.message]
    return []


def safe_next(portal, value):
    "Only a path of the portal: no open redirect after login"
    if value and value.startswith(portal.base + '/') and '//' not in value \
            and '\\' not in value:
        return value
    return None


def get_bill(portal, bill_id):
    Bill = portal.pool.get('utility.bill')
    bills = Bill.search([
            ('id', '=', bill_id),
            ('agreement', 'in', portal.agreement_ids),
            ], limit=1)
    if not bills:
        raise PortalError(404)
    return bills[0]


def normalize_postcode(value):
    return re.sub(r'[\s-]', '', value or '').upper()


def find_agreement(portal, number, postcode, amount):
    """The agreement of an account number when the second factor (the
    service point postcode or a recent bill total) matches, else None"""
    pool = portal.pool
    Agreement = pool.get('utility.service.agreement')
    Bill = pool.get('utility.bill')
    agreements = Agreement.search([
            ('number', '=', (number or '').strip()),
            ('state', 'in', ['active', 'closed']),
            ])
    for agreement in agreements:
        address = agreement.service_point.address
        if postcode and address and address.postal_code and (
                normalize_postcode(postcode)
                == normalize_postcode(address.postal_code)):
            return agreement
        if amount is not None:
            for bill in Bill.search([
                        ('agreement', '=', agreement.id),
                        ('state', '=', 'billed'),
                        ], limit=3):
                if bill.total_amount == amount:
                    return agreement
    return None


def balance(portal, agreement):
    "Balance and next due date of the agreement's customer at its provider"
    pool = portal.pool
    MoveLine = pool.get('account.move.line')
    party, company = agreement.party, agreement.company
    lines = MoveLine.search([
            ('party', '=', party.id),
            ('account.type.receivable', '=', True),
            ('account.company', '=', company.id),
            ('reconciliation', '=', None),
            ('move.state', '=', 'posted'),
            ])
    total = sum((l.debit - l.credit for l in lines), Decimal(0))
    due = [l.maturity_date for l in lines
        if l.debit > 0 and l.maturity_date]
    return total, (min(due) if due and total > 0 else None)


def bills_of(portal, agreement):
    Bill = portal.pool.get('utility.bill')
    return Bill.search([
            ('agreement', '=', agreement.id),
            ('state', '=', 'billed'),
            ], order=[('period_start', 'ASC')])


def month_add(date, months):
    month = date.month - 1 + months
    return dt.date(date.year + month // 12, month % 12 + 1, 1)


def usage_series(bills, months=13):
    """Consumption per month (of the period end) for the last months and
    the same months a year before"""
    by_month = {}
    for bill in bills:
        key = bill.period_end.replace(day=1)
        by_month[key] = by_month.get(key, Decimal(0)) + (
            bill.consumption or Decimal(0))
    if not by_month:
        return []
    last = max(by_month)
    series = []
    for i in range(months - 1, -1, -1):
        month = month_add(last, -i)
        series.append((month, by_month.get(month),
                by_month.get(month_add(month, -12))))
    return series


def chart(portal, series, unit):
    "Coordinates of an SVG bar chart: this year bars, last year markers"
    width, height, top, bottom, left = 640, 240, 16, 36, 8
    values = [v for _, a, b in series for v in (a, b) if v is not None]
    peak = max(values) if values else Decimal(1)
    peak = peak or Decimal(1)
    step = (width - left) / max(len(series), 1)
    bars = []
    for i, (month, value, previous) in enumerate(series):
        x = left + i * step
        scale = lambda v: float(v / peak) * (height - top - bottom)
        h = scale(value) if value is not None else 0
        ph = scale(previous) if previous is not None else None
        bars.append({
                'x': round(x + step * 0.15, 1),
                'w': round(step * 0.7, 1),
                'y': round(height - bottom - h, 1),
                'h': round(h, 1),
                'py': (round(height - bottom - ph, 1)
                    if ph is not None else None),
                'label': portal.lang.strftime(month, '%b'),
                'lx': round(x + step / 2, 1),
                'month': portal.lang.strftime(month, '%B %Y'),
                'value': portal.number(value) if value is not None else '',
                'previous': (portal.number(previous)
                    if previous is not None else ''),
                })
    return {'width': width, 'height': height, 'bars': bars,
        'baseline': height - bottom, 'unit': unit}


def unit_symbol(bill):
    return bill.unit.symbol if bill and bill.unit else ''


def expected_window(portal, agreement):
    "The next reading window (start, end) of the point's route, if any"
    Route = portal.pool.get('utility.reading.route')
    point = agreement.service_point
    if not getattr(point, 'route', None):
        return None
    today = portal.pool.get('ir.date').today()
    reads = Route.expected_reads([point.route], today - dt.timedelta(
            days=point.route.tolerance_days), today + dt.timedelta(days=100))
    for read in reads:
        if read.service_point.id == point.id and read.status == 'due':
            return read.window_start, read.window_end
    return None


def meters_of(portal, agreement):
    Meter = portal.pool.get('utility.meter')
    return Meter.search([
            ('service_point', '=', agreement.service_point.id),
            ('status', '=', 'installed'),
            ])


# --- authentication ----------------------------------------------------

@page('/', auth=False)
def index(portal):
    return portal.redirect('/dashboard' if portal.user else '/login')


@page('/login', methods=('GET', 'POST'), auth=False)
def login(portal):
    User = portal.pool.get('web.user')
    errors = []
    email = ''
    next_ = safe_next(portal, portal.request.values.get('next'))
    if portal.request.method == 'POST':
        email = (portal.form.get('email') or '').strip().lower()
        password = portal.form.get('password') or ''
        # authenticate throttles per e-mail and per network itself.
        user = User.authenticate(email, password) if email else None
        if user and user.active and user.email_valid:
            portal.login(user)
            if next_:
                return portal.finish(_redirect_to(portal, next_))
            return portal.redirect('/dashboard')
        if user and not user.email_valid:
            errors.append(_('msg_login_email_not_valid'))
        else:
            errors.append(_('msg_login_failed'))
    return portal.render('login.html', title=_('msg_login'),
        errors=errors, email=email, next=next_)


def _redirect_to(portal, url):
    from werkzeug.utils import redirect
    return redirect(url, code=303)


@page('/logout', methods=('POST',), auth=False)
def logout(portal):
    portal.logout()
    return portal.redirect('/login', notice='logged_out')


@page('/signup', methods=('GET', 'POST'), auth=False)
def signup(portal):
    pool = portal.pool
    User = pool.get('web.user')
    errors = []
    values = {}
    if portal.request.method == 'POST':
        form = portal.form
        values = {k: (form.get(k) or '').strip() for k in [
                'email', 'number', 'postcode', 'amount']}
        key = attempt_key('portal-signup', values['number'])
        throttle(portal, key)
        password = form.get('password') or ''
        if not values['email'] or '@' not in values['email']:
            errors.append(_('msg_email_required'))
        if password != form.get('password2'):
            errors.append(_('msg_password_mismatch'))
        errors += check_password(portal, password,
            User(email=values['email']))
        try:
            amount = portal.decimal('amount')
        except ValueError:
            amount = None
            errors.append(_('msg_amount_invalid'))
        if not values['postcode'] and amount is None:
            errors.append(_('msg_second_factor_required'))
        agreement = None
        if not errors:
            agreement = find_agreement(portal, values['number'],
                values['postcode'], amount)
            if not agreement:
                failed(portal, key)
                errors.append(_('msg_account_not_found'))
        if not errors and User.search([
                    ('email', '=', values['email'].lower())]):
            # Same answer as a success: e-mails are not disclosed.
            return portal.redirect('/login', notice='signed_up')
        if not errors:
            user = User(email=values['email'], party=agreement.party,
                email_valid=False)
            try:
                user.save()
            except UserError as e:
                errors.append(e.message)
            else:
                user.password = password
                user.save()
                User.validate_email([user])
                return portal.redirect('/login', notice='signed_up')
    return portal.render('signup.html', title=_('msg_signup'),
        errors=errors, values=values)


@page('/validate-email', auth=False, readonly=False)
def validate_email(portal):
    User = portal.pool.get('web.user')
    token = portal.request.args.get('token')
    users = User.validate_email_token([token]) if token else []
    return portal.redirect('/login',
        notice='validated' if users else 'invalid_token')


@page('/forgot-password', methods=('GET', 'POST'), auth=False)
def forgot_password(portal):
    User = portal.pool.get('web.user')
    if portal.request.method == 'POST':
        email = (portal.form.get('email') or '').strip().lower()
        key = attempt_key('portal-reset', email)
        throttle(portal, key)
        failed(portal, key)  # every request counts against flooding
        users = User.search([
                ('email', '=', email),
                ('email_valid', '=', True),
                ]) if email else []
        if users:
            User.reset_password(users)
        # The same answer whether the e-mail is known or not.
        return portal.redirect('/login', notice='reset_sent')
    return portal.render('forgot_password.html',
        title=_('msg_forgot_password'))


@page('/reset-password', methods=('GET', 'POST'), auth=False)
def reset_password(portal):
    pool = portal.pool
    User = pool.get('web.user')
    Session = pool.get('web.user.session')
    values = portal.request.values
    email = (values.get('email') or '').strip().lower()
    token = values.get('token') or ''
    errors = []
    if portal.request.method == 'POST':
        throttle(portal, email)
        password = portal.form.get('password') or ''
        if password != portal.form.get('password2'):
            errors.append(_('msg_password_mismatch'))
        users = User.search([('email', '=', email)])
        errors += check_password(portal, password,
            users[0] if users else None)
        if not errors:
            if User.set_password_token(email, token, password):
                # A new password ends the sessions opened with the old.
                Session.delete(Session.search([('user', 'in', users)]))
                return portal.redirect('/login', notice='password_reset')
            errors.append(_('msg_reset_token_invalid'))
    return portal.render('reset_password.html',
        title=_('msg_reset_password'), errors=errors, email=email,
        token=token)


@page('/password', methods=('GET', 'POST'))
def change_password(portal):
    pool = portal.pool
    User = pool.get('web.user')
    Session = pool.get('web.user.session')
    errors = []
    if portal.request.method == 'POST':
        user = portal.user
        throttle(portal, user.email)
        valid, _hash = User.check_password(
            portal.form.get('current') or '', user.password_hash)
        if not valid:
            failed(portal, user.email)
            errors.append(_('msg_current_password_wrong'))
        password = portal.form.get('password') or ''
        if password != portal.form.get('password2'):
            errors.append(_('msg_password_mismatch'))
        errors += check_password(portal, password, user)
        if not errors:
            user.password = password
            user.save()
            Session.delete(Session.search([
                        ('user', '=', user.id),
                        ('key', '!=', portal.session_key),
                        ]))
            return portal.redirect('/profile', notice='password_changed')
    return portal.render('password.html', title=_('msg_change_password'),
        errors=errors)


@page('/account', methods=('POST',))
def switch_account(portal):
    wanted = portal.form.get('agreement')
    if wanted not in {str(i) for i in portal.agreement_ids}:
        raise PortalError(404)
    portal.cookies.append((ACCOUNT_COOKIE, wanted, None))
    target = safe_next(portal, portal.form.get('next'))
    if target:
        return portal.finish(_redirect_to(portal, target))
    return portal.redirect('/dashboard')


# --- dashboard and bills ------------------------------------------------

@page('/dashboard')
def dashboard(portal):
    pool = portal.pool
    Alert = pool.get('utility.consumption.alert')
    agreement = portal.agreement
    values = {'agreement': agreement}
    if agreement:
        bills = bills_of(portal, agreement)
        values['balance'], values['due_date'] = balance(portal, agreement)
        values['overdue'] = bool(values['due_date']
            and values['due_date'] < pool.get('ir.date').today())
        values['last_bill'] = bills[-1] if bills else None
        unit = unit_symbol(bills[-1]) if bills else ''
        values['series'] = usage_series(bills)
        values['chart'] = chart(portal, values['series'], unit)
        values['alerts'] = Alert.search([
                ('service_point', '=', agreement.service_point.id),
                ('state', '!=', 'closed'),
                ], limit=5)
        values['currency'] = agreement.company.currency
        from .payments import provider_of
        values['can_pay'] = bool(values['balance'] > 0
            and provider_of(portal, agreement.company)
            and any(b.invoice and b.invoice.state == 'posted'
                for b in bills))
    return portal.render('dashboard.html', title=_('msg_dashboard'),
        **values)


@page('/bills')
def bills(portal):
    agreement = portal.agreement
    bills = list(reversed(bills_of(portal, agreement))) if agreement else []
    return portal.render('bills.html', title=_('msg_bills'), bills=bills)


@page('/bills/<int:bill_id>')
def bill(portal, bill_id):
    BillReport = portal.pool.get('utility.bill.report', type='report')
    from .payments import pay_state, provider_of
    bill = get_bill(portal, bill_id)
    invoice = bill.invoice
    state, to_pay = pay_state(bill, provider_of(portal, bill.company))
    return portal.render('bill.html', title=_('msg_bill_title',
            start=portal.date(bill.period_start),
            end=portal.date(bill.period_end)),
        bill=bill, invoice=invoice, pay_state=state, to_pay=to_pay,
        due_date=BillReport.due_date(invoice),
        reference=BillReport.payment_reference(bill))


@page('/bills/<int:bill_id>/pdf')
def bill_pdf(portal, bill_id):
    BillReport = portal.pool.get('utility.bill.report', type='report')
    bill = get_bill(portal, bill_id)
    ext, content, _print, name = BillReport.execute([bill.id], {})
    response = Response(bytes(content), content_type='application/pdf')
    filename = 'bill-%s-%s.%s' % (bill.agreement.number,
        bill.period_end.strftime('%Y-%m'), ext)
    response.headers['Content-Disposition'] = (
        'attachment; filename="%s"' % filename)
    return portal.finish(response)


# --- meter readings -----------------------------------------------------

@page('/reading', methods=('GET', 'POST'))
def reading(portal):
    pool = portal.pool
    Reading = pool.get('utility.meter.reading')
    agreement = portal.agreement
    meters = meters_of(portal, agreement) if agreement else []
    errors, notice, result = [], None, None
    if portal.request.method == 'POST':
        if not agreement or agreement.state != 'active':
            raise PortalError(404)
        meter_id = portal.form.get('meter')
        meter = next((m for m in meters if str(m.id) == meter_id), None)
        if meter is None:
            raise PortalError(404)
        try:
            value = portal.decimal('value')
        except ValueError:
            value = None
        if value is None or value < 0:
            errors.append(_('msg_reading_value_invalid'))
        else:
            reading = Reading(meter=meter, company=meter.company,
                date_time=dt.datetime.now().replace(microsecond=0),
                value=value, kind='customer', source='portal')
            try:
                reading.save()
                # The back office's own checks decide.
                Reading.validate_reading([reading])
            except UserError as e:
                Transaction().rollback()
                errors.append(e.message)
            else:
                reading = Reading(reading.id)
                if reading.state == 'rejected':
                    errors.append(_('msg_reading_rejected',
                            reason=reading.rejection_reason or ''))
                    result = reading
                else:
                    notice = _('msg_reading_accepted',
                        consumption=portal.number(reading.consumption))
                    result = reading
    last = {}
    for meter in meters:
        previous = Reading.search([
                ('meter', '=', meter.id),
                ('state', 'in', ['valid', 'billed']),
                ], limit=1)
        last[meter.id] = previous[0] if previous else None
    window = expected_window(portal, agreement) if agreement else None
    return portal.render('reading.html', title=_('msg_submit_reading'),
        meters=meters, last=last, errors=errors, notice=notice,
        window=window, result=result)


# --- usage --------------------------------------------------------------

def usage_rows(portal, agreement):
    return [{
            'start': b.period_start,
            'end': b.period_end,
            'consumption': b.consumption,
            'unit': unit_symbol(b),
            'estimated': b.estimated,
            'amount': b.total_amount,
            } for b in bills_of(portal, agreement)]


# Links other modules add to the usage page (e.g. utility_integration's
# Green Button download): functions of the portal that return a list of
# (url, label). Routes are global, so a function returns nothing in a
# database where its module is not activated. (The same for the main
# navigation and the profile page: web.menu_links and web.profile_links.)
usage_links = []


@page('/usage')
def usage(portal):
    agreement = portal.agreement
    rows, chart_, links = [], None, []
    if agreement:
        bills = bills_of(portal, agreement)
        rows = usage_rows(portal, agreement)
        chart_ = chart(portal, usage_series(bills, 13),
            unit_symbol(bills[-1]) if bills else '')
        links = [link for links_of in usage_links
            for link in links_of(portal)]
    return portal.render('usage.html', title=_('msg_usage'), rows=rows,
        chart=chart_, links=links, currency=agreement.company.currency
        if agreement else None)


def _export_name(portal, ext):
    return 'usage-%s.%s' % (portal.agreement.number, ext)


@page('/usage.csv')
def usage_csv(portal):
    if not portal.agreement:
        raise PortalError(404)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_('msg_period_start'), _('msg_period_end'),
            _('msg_consumption'), _('msg_unit'), _('msg_estimated'),
            _('msg_amount')])
    for row in usage_rows(portal, portal.agreement):
        writer.writerow([row['start'].isoformat(), row['end'].isoformat(),
                row['consumption'], row['unit'],
                int(bool(row['estimated'])), row['amount']])
    response = Response(out.getvalue().encode('utf-8'),
        content_type='text/csv; charset=utf-8')
    response.headers['Content-Disposition'] = (
        'attachment; filename="%s"' % _export_name(portal, 'csv'))
    return portal.finish(response)


@page('/usage.xlsx')
def usage_xlsx(portal):
    import xlsxwriter
    if not portal.agreement:
        raise PortalError(404)
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {'in_memory': True})
    sheet = book.add_worksheet(portal.agreement.number[:31])
    bold = book.add_format({'bold': True})
    date_format = book.add_format({'num_format': 'yyyy-mm-dd'})
    qty_format = book.add_format({'num_format': '#,##0.00'})
    digits = portal.agreement.company.currency.digits
    money_format = book.add_format(
        {'num_format': '#,##0.' + '0' * digits if digits else '#,##0'})
    headers = [_('msg_period_start'), _('msg_period_end'),
        _('msg_consumption'), _('msg_unit'), _('msg_estimated'),
        _('msg_amount')]
    for col, header in enumerate(headers):
        sheet.write_string(0, col, header, bold)
    for r, row in enumerate(usage_rows(portal, portal.agreement), 1):
        sheet.write_datetime(r, 0, dt.datetime.combine(row['start'],
                dt.time()), date_format)
        sheet.write_datetime(r, 1, dt.datetime.combine(row['end'],
                dt.time()), date_format)
        # xlsx cells hold binary floats; the CSV keeps exact decimals.
        if row['consumption'] is not None:
            sheet.write_number(r, 2, float(row['consumption']), qty_format)
        sheet.write_string(r, 3, row['unit'])
        sheet.write_boolean(r, 4, bool(row['estimated']))
        if row['amount'] is not None:
            sheet.write_number(r, 5, float(row['amount']), money_format)
    sheet.set_column(0, 1, 12)
    sheet.set_column(2, 5, 14)
    book.close()
    response = Response(out.getvalue(), content_type=(
            'application/vnd.openxmlformats-officedocument'
            '.spreadsheetml.sheet'))
    response.headers['Content-Disposition'] = (
        'attachment; filename="%s"' % _export_name(portal, 'xlsx'))
    return portal.finish(response)


# --- service requests ---------------------------------------------------

def get_request(portal, request_id):
    Request = portal.pool.get('utility.service.request')
    requests = Request.search([
            ('id', '=', request_id),
            ('party', 'in', portal.party_ids),
            ], limit=1)
    if not requests:
        raise PortalError(404)
    return requests[0]


@page('/requests')
def requests(portal):
    Request = portal.pool.get('utility.service.request')
    records = Request.search([('party', 'in', portal.party_ids)])
    return portal.render('requests.html', title=_('msg_requests'),
        requests=records)


@page('/requests/new', methods=('GET', 'POST'))
def request_new(portal):
    pool = portal.pool
    Request = pool.get('utility.service.request')
    agreement = portal.agreement
    if not agreement:
        raise PortalError(404)
    bills = list(reversed(bills_of(portal, agreement)))
    errors = []
    values = {'kind': portal.request.args.get('kind'),
        'bill': portal.request.args.get('bill')}
    if portal.request.method == 'POST':
        form = portal.form
        values = {k: (form.get(k) or '').strip() for k in [
                'kind', 'bill', 'subject', 'body', 'requested_date']}
        if values['kind'] not in REQUEST_KINDS:
            errors.append(_('msg_request_kind_required'))
        bill = None
        if values['bill']:
            # A bill of another customer is not found, as in the URL.
            bill = next((b for b in bills if str(b.id) == values['bill']),
                None)
            if bill is None:
                raise PortalError(404)
        if values['kind'] == 'billing_dispute' and not bill:
            errors.append(_('msg_request_bill_required'))
        if not values['subject']:
            errors.append(_('msg_request_subject_required'))
        if not values['body']:
            errors.append(_('msg_request_body_required'))
        requested_date = None
        if values['requested_date']:
            try:
                requested_date = dt.date.fromisoformat(
                    values['requested_date'])
            except ValueError:
                errors.append(_('msg_date_invalid'))
        if values['kind'] in {'move_in', 'move_out'} and not requested_date:
            errors.append(_('msg_request_date_required'))
        if not errors:
            request, = Request.create([{
                        'company': agreement.company.id,
                        'party': agreement.party.id,
                        'agreement': agreement.id,
                        'bill': bill.id if bill else None,
                        'kind': values['kind'],
                        'subject': values['subject'][:200],
                        'requested_date': requested_date,
                        'web_user': portal.user.id,
                        'messages': [('create', [{
                                        'author': 'customer',
                                        'web_user': portal.user.id,
                                        'body': values['body'],
                                        }])],
                        }])
            return portal.redirect('/requests/%s' % request.id,
                notice='request_opened')
    return portal.render('request_new.html', title=_('msg_request_new'),
        errors=errors, values=values, bills=bills, kinds=REQUEST_KINDS,
        kind_names=dict(Request.fields_get(['kind'])['kind']['selection']))


@page('/requests/<int:request_id>', methods=('GET', 'POST'))
def request_detail(portal, request_id):
    Message = portal.pool.get('utility.service.request.message')
    Request = portal.pool.get('utility.service.request')
    request = get_request(portal, request_id)
    errors = []
    if portal.request.method == 'POST':
        body = (portal.form.get('body') or '').strip()
        if request.state == 'cancelled':
            raise PortalError(403)
        if not body:
            errors.append(_('msg_request_body_required'))
        else:
            Message.create([{'request': request.id, 'author': 'customer',
                        'web_user': portal.user.id, 'body': body}])
            return portal.redirect('/requests/%s' % request.id,
                notice='message_sent')
    fields = Request.fields_get(['kind', 'state'])
    return portal.render('request.html', title=_('msg_request_title',
            number=request.number), req=request, errors=errors,
        kind_names=dict(fields['kind']['selection']),
        state_names=dict(fields['state']['selection']))


# --- profile ------------------------------------------------------------

def contact(party, type_):
    for mechanism in party.contact_mechanisms:
        if mechanism.type == type_:
            return mechanism
    return None


@page('/profile', methods=('GET', 'POST'))
def profile(portal):
    pool = portal.pool
    Party = pool.get('party.party')
    Address = pool.get('party.address')
    Mechanism = pool.get('party.contact_mechanism')
    agreement = portal.agreement
    party = portal.party
    if party is None:
        raise PortalError(404)
    address = agreement.invoice_address if agreement else None
    errors = []
    if portal.request.method == 'POST':
        form = portal.form
        try:
            thresholds = {
                'portal_alert_threshold': portal.decimal('alert_threshold'),
                'portal_bill_threshold': portal.decimal('bill_threshold'),
                }
        except ValueError:
            thresholds = {}
            errors.append(_('msg_threshold_invalid'))
        if any(v is not None and v <= 0 for v in thresholds.values()):
            errors.append(_('msg_threshold_invalid'))
        if not errors:
            try:
                Party.write([party], dict(thresholds,
                        portal_paperless=bool(form.get('paperless')),
                        portal_notify_email=bool(form.get('notify_email')),
                        portal_notify_sms=bool(form.get('notify_sms'))))
                for type_, name in [('phone', 'phone'),
                        ('email', 'contact_email')]:
                    value = (form.get(name) or '').strip()
                    mechanism = contact(party, type_)
                    if mechanism and value:
                        Mechanism.write([mechanism], {'value': value})
                    elif mechanism:
                        Mechanism.delete([mechanism])
                    elif value:
                        Mechanism.create([{'party': party.id,
                                    'type': type_, 'value': value}])
                if address:
                    Address.write([address], {
                            k: (form.get(k) or '').strip() or None
                            for k in ['street', 'postal_code', 'city']})
            except UserError as e:
                Transaction().rollback()
                errors.append(e.message)
            else:
                return portal.redirect('/profile', notice='profile_saved')
    party = Party(party.id)
    return portal.render('profile.html', title=_('msg_profile'),
        party=party, address=address, errors=errors,
        phone=contact(party, 'phone'), email=contact(party, 'email'))


@page('/profile/link', methods=('POST',))
def link_account(portal):
    User = portal.pool.get('web.user')
    form = portal.form
    key = 'portal-link:%s' % portal.user.id
    throttle(portal, key)
    try:
        amount = portal.decimal('amount')
    except ValueError:
        amount = None
    agreement = find_agreement(portal, form.get('number'),
        (form.get('postcode') or '').strip(), amount)
    if not agreement:
        failed(portal, key)
        return portal.render('profile_link.html', status=400,
            title=_('msg_link_account'),
            errors=[_('msg_account_not_found')])
    user = portal.user
    if agreement.party not in portal.parties:
        if user.party:
            User.write([user], {'secondary_parties': [
                        ('add', [agreement.party.id])]})
        else:
            User.write([user], {'party': agreement.party.id})
    portal.cookies.append((ACCOUNT_COOKIE, str(agreement.id), None))
    return portal.redirect('/profile', notice='account_linked')
