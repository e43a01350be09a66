"""What the customer is told about, and where each event comes from.

Every collector scans one source for one provider and returns Event
values; the notification log's unique key (party, event, channel, key)
makes a second scan of the same source a no-op, so the cron can look back
over several days without sending anything twice.
"""
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.tools import grouped_slice

from utility_metering.reading import in_max

EVENTS = [
    ('bill_ready', "Bill Ready"),
    ('payment_received', "Payment Received"),
    ('payment_partial', "Partial Payment Received"),
    ('payment_failed', "Payment Failed"),
    ('due_soon', "Bill Due Soon"),
    ('overdue', "Bill Overdue"),
    ('late_fee', "Late Fee"),
    ('final_notice', "Final Notice"),
    ('high_consumption', "High Consumption"),
    ('leak', "Suspected Leak"),
    ('reading_window', "Upcoming Reading"),
    ('reading_missed', "Missed Reading"),
    ('request_update', "Service Request Update"),
    ]
CHANNELS = [
    ('email', "E-mail"),
    ('portal', "Portal"),
    ('sms', "SMS"),
    ]
# Without a preference record a customer gets e-mail and the portal.
DEFAULT_CHANNELS = {'email', 'portal'}

# Scans look back this far, so a stopped cron catches up but installing
# the module does not notify years of history.
LOOKBACK_DAYS = 7
# "Due soon" and "upcoming reading" warn this many days ahead.
DUE_SOON_DAYS = 3
READING_NOTICE_DAYS = 3

PAYMENT_EVENTS = {
    'autopay_succeeded': 'payment_received',
    'autopay_failed': 'payment_failed',
    'autopay_stopped': 'payment_failed',
    }
DUNNING_EVENTS = {
    'reminder': 'overdue',
    'late_fee': 'late_fee',
    'final_notice': 'final_notice',
    }
ALERT_EVENTS = {
    'high_consumption': 'high_consumption',
    'continuous_use': 'leak',
    }


@dataclass
class Event:
    company: object
    party: object
    event: str
    origin: object
    key: str
    # message parameters; amounts in currency and dates are formatted in
    # the customer's language, callables are called in it
    params: dict = field(default_factory=dict)
    currency: object = None
    # called with the notifications created (e.g. mark the source sent)
    source: object = None


def _due_date(invoice):
    dates = [l.maturity_date for l in invoice.lines_to_pay
        if l.maturity_date]
    return min(dates) if dates else None


def _bill_params(bill):
    invoice = bill.invoice
    return {
        'number': invoice.number or '',
        'start': bill.period_start,
        'end': bill.period_end,
        'amount': invoice.total_amount,
        'due': _due_date(invoice) or invoice.invoice_date,
        }


def collect_bills(company, today, now):
    "bill_ready: bills posted during the look-back"
    Bill = Pool().get('utility.bill')
    since = now - dt.timedelta(days=LOOKBACK_DAYS)
    bills = Bill.search([
            ('company', '=', company.id),
            ('state', '=', 'billed'),
            ('invoice.state', 'in', ['posted', 'paid']),
            ('create_date', '>=', since),
            ], order=[('id', 'ASC')])
    return [Event(company, b.party, 'bill_ready', b, str(b.id),
            _bill_params(b), b.invoice.currency) for b in bills]


def _bills_of(invoice_ids, domain=None):
    "The billed bills of invoice_ids (and domain), by invoice id"
    Bill = Pool().get('utility.bill')
    bills = {}
    for sub in grouped_slice(sorted(invoice_ids), in_max()):
        for bill in Bill.search([
                    ('invoice', 'in', list(sub)),
                    ('state', '=', 'billed'),
                    ] + (domain or []), order=[('id', 'ASC')]):
            bills[bill.invoice.id] = bill
    return bills


def _receivable_invoices(company, domain):
    "Ids of the invoices of company's posted receivable lines in domain"
    Line = Pool().get('account.move.line')
    lines = Line.search([
            ('move.company', '=', company.id),
            ('account.type.receivable', '=', True),
            ('move_state', '=', 'posted'),
            ('move.origin', 'like', 'account.invoice,%'),
            ] + domain)
    return {l.move.origin.id for l in lines}


def collect_due_soon(company, today, now):
    "due_soon: unpaid bills falling due in the next days"
    invoices = _receivable_invoices(company, [
            ('reconciliation', '=', None),
            ('maturity_date', '>=', today),
            ('maturity_date', '<=', today + dt.timedelta(days=DUE_SOON_DAYS)),
            ])
    events = []
    for bill in _bills_of(invoices,
            [('invoice.state', '=', 'posted')]).values():
        params = _bill_params(bill)
        params['amount'] = bill.invoice.amount_to_pay
        events.append(Event(company, bill.party, 'due_soon', bill,
                '%s:%s' % (bill.id, params['due']), params,
                bill.invoice.currency))
    return events


def collect_paid(company, today, now):
    """payment_received: bills paid in full during the look-back, however
    they were paid (portal, bank transfer, statement, cash)"""
    since = now - dt.timedelta(days=LOOKBACK_DAYS)
    invoices = _receivable_invoices(company, [
            ('reconciliation.create_date', '>=', since),
            ])
    events = []
    for bill in _bills_of(invoices,
            [('invoice.state', '=', 'paid')]).values():
        invoice = bill.invoice
        params = _bill_params(bill)
        params['amount'] = _paid_amount(invoice)
        if not params['amount']:
            # settled by a credit note: nothing was paid
            continue
        events.append(Event(company, bill.party, 'payment_received', bill,
                _paid_key(invoice), params, invoice.currency))
    return events


def _paid_amount(invoice):
    """What the customer paid: the credits reconciled with it, but those
    of an invoice's own move (a credit note)"""
    def of_invoice(line):
        origin = line.move.origin
        # (a payment of pay_invoice has the invoice as origin too)
        return (origin and origin.__name__ == 'account.invoice'
            and origin.move == line.move)
    lines = {l for line in invoice.lines_to_pay if line.reconciliation
        for l in line.reconciliation.lines}
    return sum((l.credit for l in lines if not of_invoice(l)), Decimal(0))


def _paid_key(invoice):
    # The same for autopay's notice of the payment: told once.
    return 'paid:%s' % invoice.id


def collect_partial(company, today, now):
    """payment_partial: payments added to a bill that leave some of it to
    pay (a part paid at the counter, a statement line for less)"""
    pool = Pool()
    PaymentLine = pool.get('account.invoice-account.move.line')
    since = now - dt.timedelta(days=LOOKBACK_DAYS)
    links = PaymentLine.search([
            ('invoice.company', '=', company.id),
            ('invoice.type', '=', 'out'),
            ('invoice.state', '=', 'posted'),
            ('create_date', '>=', since),
            ], order=[('id', 'ASC')])
    bills = _bills_of({l.invoice.id for l in links})
    events = []
    for link in links:
        invoice, line = link.invoice, link.line
        bill = bills.get(invoice.id)
        amount = line.credit - line.debit
        if not bill or amount <= 0 or not invoice.amount_to_pay:
            continue
        params = _bill_params(bill)
        params['amount'] = amount
        params['remaining'] = invoice.amount_to_pay
        events.append(Event(company, bill.party, 'payment_partial', bill,
                'partial:%s' % line.id, params, invoice.currency))
    return events


def _failure(error):
    "Why a payment failed, for the end of a sentence"
    error = (error or '').strip().rstrip('.')
    # evaluated by render in the customer's language
    return error or (lambda: gettext(
            'utility_notification.msg_payment_failed_no_reason'))


def collect_failed_payments(company, today, now):
    """payment_failed: payments of a bill (a portal checkout, a payment
    entered by staff) that failed during the look-back; autopay's are
    utility_payment's notifications (collect_payments)"""
    Payment = Pool().get('account.payment')
    since = now - dt.timedelta(days=LOOKBACK_DAYS)
    payments = Payment.search([
            ('company', '=', company.id),
            ('kind', '=', 'receivable'),
            ('state', '=', 'failed'),
            ('origin', 'like', 'utility.bill,%'),
            ('write_date', '>=', since),
            ], order=[('id', 'ASC')])
    events = []
    for payment in payments:
        bill = payment.origin
        invoice = bill.invoice
        # account_payment_stripe's error, when the payment went through it
        error = (getattr(payment, 'stripe_error_message', None)
            or getattr(payment, 'stripe_error_code', None))
        events.append(Event(company, payment.party, 'payment_failed', bill,
                'payment:%s' % payment.id, {
                    'number': invoice.number if invoice else '',
                    'amount': payment.amount,
                    'error': _failure(error),
                    }, payment.currency))
    return events


def collect_dunnings(company, today, now):
    "overdue, late_fee, final_notice: each dunning level reached, once"
    Dunning = Pool().get('account.dunning')
    dunnings = Dunning.search([
            ('company', '=', company.id),
            ('state', 'in', ['waiting', 'final']),
            ('level.utility_notice', '!=', None),
            ], order=[('id', 'ASC')])
    invoices = {}
    for d in dunnings:
        origin = d.line.move.origin
        if origin and origin.__name__ == 'account.invoice':
            invoices[d.id] = origin
    bills = _bills_of({i.id for i in invoices.values()})
    events = []
    for dunning in dunnings:
        invoice = invoices.get(dunning.id)
        bill = bills.get(invoice.id) if invoice else None
        params = {
            'number': invoice.number if invoice else dunning.line.rec_name,
            'amount': dunning.amount,
            'due': dunning.line.maturity_date,
            'fee': sum((f.amount for f in dunning.fees
                    if f.level == dunning.level and f.amount), 0),
            }
        events.append(Event(company, dunning.party,
                DUNNING_EVENTS[dunning.level.utility_notice],
                bill or dunning, '%s:%s' % (dunning.id, dunning.level.id),
                params, dunning.line.company.currency))
    return events


def collect_alerts(company, today, now):
    "high_consumption, leak: open consumption alerts of the metering"
    Alert = Pool().get('utility.consumption.alert')
    events = []
    for alert in Alert.search([
                ('company', '=', company.id),
                ('state', '=', 'open'),
                ], order=[('id', 'ASC')]):
        point = alert.service_point
        if not point.party:
            continue
        events.append(Event(company, point.party, ALERT_EVENTS[alert.kind],
                alert, str(alert.id), {
                    'point': point.rec_name,
                    'start': alert.period_start,
                    'end': alert.period_end,
                    'details': alert.details or '',
                    }))
    return events


def collect_readings(company, today, now):
    "reading_window (read due in the next days), reading_missed"
    Route = Pool().get('utility.reading.route')
    routes = Route.search([('company', '=', company.id)])
    if not routes:
        return []
    events = []
    start = today - dt.timedelta(days=LOOKBACK_DAYS + max(
            r.tolerance_days for r in routes))
    end = today + dt.timedelta(days=READING_NOTICE_DAYS)
    for read in Route.expected_reads(routes, start, end, today=today):
        point = read.service_point
        if not point.party:
            continue
        # reads are listed up to READING_NOTICE_DAYS ahead
        if read.status == 'due' and read.date >= today:
            event = 'reading_window'
        elif (read.status == 'missed'
                and read.window_end >= today - dt.timedelta(
                    days=LOOKBACK_DAYS)):
            event = 'reading_missed'
        else:
            continue
        events.append(Event(company, point.party, event, point,
                '%s:%s' % (read.meter.id, read.date), {
                    'point': point.rec_name,
                    'meter': read.meter.serial_number,
                    'date': read.date,
                    'start': read.window_start,
                    'end': read.window_end,
                    }))
    return events


def collect_payments(company, today, now):
    """payment_received, payment_failed: utility_payment's pending
    notifications, marked sent (or cancelled) once logged here"""
    PaymentNotification = Pool().get('utility.payment.notification')
    events = []
    for notice in PaymentNotification.search([
                ('company', '=', company.id),
                ('state', '=', 'pending'),
                ], order=[('id', 'ASC')]):
        attempt = notice.attempt
        invoice = notice.invoice or (notice.bill.invoice
            if notice.bill else None)
        event = PAYMENT_EVENTS[notice.kind]
        if event == 'payment_received' and invoice:
            key = _paid_key(invoice)
        else:
            key = str(notice.id)
        events.append(Event(company, notice.party, event,
                notice, key, {
                    'number': invoice.number if invoice else '',
                    'amount': (attempt.amount if attempt
                        else invoice.total_amount if invoice else 0),
                    'error': _failure((attempt.error_message
                            or attempt.error_code) if attempt else None),
                    'retry': (attempt.next_retry_date or '')
                    if attempt else '',
                    'message': notice.message or '',
                    }, company.currency, source=notice))
    return events


def collect_requests(company, today, now):
    """request_update: staff answers the customer can see and requests
    that reach their end; only with the portal's service requests"""
    pool = Pool()
    try:
        Message = pool.get('utility.service.request.message')
        Request = pool.get('utility.service.request')
    except KeyError:
        return []
    since = now - dt.timedelta(days=LOOKBACK_DAYS)

    def event(request, key, update):
        return Event(company, request.party, 'request_update', request, key,
            {'number': request.number or '', 'subject': request.subject,
                'update': update})

    domain = [
        ('request.company', '=', company.id),
        ('author', '=', 'staff'),
        ('create_date', '>=', since),
        ]
    if 'internal' in Message._fields:
        domain.append(('internal', '=', False))
    events = [event(m.request, 'message:%s' % m.id, m.body)
        for m in Message.search(domain, order=[('id', 'ASC')])]

    states = dict(Request.fields_get(['state'])['state']['selection'])
    finished = [s for s in ['done', 'resolved', 'closed'] if s in states]

    def state_label(state):
        # evaluated by render in the customer's language
        return lambda: dict(Request.fields_get(['state'])
            ['state']['selection'])[state]
    for request in Request.search([
                ('company', '=', company.id),
                ('state', 'in', finished),
                ['OR',
                    ('write_date', '>=', since),
                    ('create_date', '>=', since),
                    ],
                ], order=[('id', 'ASC')]):
        events.append(event(request,
                'state:%s:%s' % (request.id, request.state),
                state_label(request.state)))
    return events


COLLECTORS = [
    collect_bills,
    collect_payments,
    collect_failed_payments,
    collect_paid,
    collect_partial,
    collect_due_soon,
    collect_dunnings,
    collect_alerts,
    collect_readings,
    collect_requests,
    ]
