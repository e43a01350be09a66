"""The bill document: one utility bill as a PDF a customer recognises.

An HTML (Genshi) template rendered to PDF by WeasyPrint. Everything the
template shows is prepared here as plain, already formatted values (in
the customer's language), so the template only lays them out and the
figures can be tested without a PDF.
"""
import base64
import datetime as dt
from collections import defaultdict
from decimal import Decimal
from io import BytesIO
from xml.sax.saxutils import escape

from dateutil.relativedelta import relativedelta
from genshi.input import XML
from genshi.template import MarkupTemplate

from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.report import Report
from trytond.transaction import Transaction

from utility_metering.meter import company_timezone, to_local

CHART_MONTHS = 13


def _digits(value):
    "The decimals value needs once trailing zeros are dropped"
    if not isinstance(value, Decimal):
        value = Decimal(str(value))  # invoice line quantities are floats
    return max(0, -value.normalize().as_tuple().exponent)


def _bracket(timed, start, end):
    """The readings that make the use of [start, end): the last at or
    before start, those inside and the first at or after end.

    timed: (local time, reading) of one meter in time order. Metering also
    returns the readings just outside a period that starts or ends on a
    reading; they do not count here (e.g. for "estimated").
    """
    first = max((i for i, (t, _) in enumerate(timed) if t <= start),
        default=0)
    last = min((i for i, (t, _) in enumerate(timed) if t >= end),
        default=len(timed) - 1)
    return [r for _, r in timed[first:last + 1]]


def _symbol(unit):
    """The unit as bills print it: kWh, not Tryton's kW⋅h (WeasyPrint
    also breaks lines badly around the dot operator)"""
    return unit.symbol.replace('\u22c5', '') if unit else ''


def _by_meter(readings, tzinfo):
    "{meter: [(local time, reading)]} in time order"
    result = defaultdict(list)
    for reading in readings:
        result[reading.meter].append(
            (to_local(reading.date_time, tzinfo), reading))
    for timed in result.values():
        timed.sort(key=lambda r: r[0])
    return result


def _midnight(date):
    return dt.datetime.combine(date, dt.time())


class Document:
    "What the template prints for one bill, formatted"

    def __init__(self, bill, lang):
        self.bill = bill
        self.lang = lang


class BillReport(Report):
    "Utility Bill"
    __name__ = 'utility.bill.report'

    @classmethod
    def get_context(cls, records, header, data):
        context = super().get_context(records, header, data)
        context['documents'] = cls.documents([int(r) for r in records])
        return context

    @classmethod
    def render(cls, report, report_context):
        # Genshi's default XML output writes an empty element as <td/>,
        # which an HTML parser reads as an opening tag: use XHTML output.
        template = report.get_template_cached()
        if template is None:
            template = MarkupTemplate(BytesIO(report.report_content))
            report.set_template_cached(template)
        translate = cls._callback_loader(report, template)
        if translate:
            report_context = report_context.copy()
            report_context['gettext'] = translate.gettext
            report_context['ngettext'] = translate.ngettext
        return template.generate(**report_context).render(
            method='xhtml', doctype='html5')

    @classmethod
    def convert(cls, report, data, timeout=5 * 60, retry=5):
        if report.extension != 'pdf':
            return super().convert(report, data, timeout=timeout, retry=retry)
        try:
            import weasyprint
        except ImportError as exc:
            # Tryton would fall back to LibreOffice and fail obscurely.
            raise UserError(gettext(
                    'utility_billing.msg_bill_report_weasyprint')) from exc
        # The logo is an inline data: URL; nothing is fetched from the
        # network or the disk.
        fetcher = weasyprint.URLFetcher(allowed_protocols={'data'})
        return 'pdf', weasyprint.HTML(
            string=data, url_fetcher=fetcher).write_pdf()

    @classmethod
    def documents(cls, bill_ids):
        "A Document per bill id, in the language of its customer"
        pool = Pool()
        Bill = pool.get('utility.bill')
        Lang = pool.get('ir.lang')
        bills = Bill.browse(bill_ids)
        histories = cls.usage_histories(bills)
        documents = []
        for bill in bills:
            lang = Lang.get(bill.party.lang.code if bill.party.lang else None)
            with Transaction().set_context(language=lang.code):
                bill = Bill(bill.id)
                document = Document(bill, lang)
                cls.fill(document, histories[bill.id])
            documents.append(document)
        return documents

    @classmethod
    def usage_histories(cls, bills):
        """{bill id: [(month start, consumption or None)]} for the 13 months
        ending with the bill's last month.

        Months before the agreement started show no use: the premise's
        earlier use belongs to a former occupant.
        """
        Meter = Pool().get('utility.meter')
        requests, keys = [], []
        for bill in bills:
            last = bill.period_end.replace(day=1)
            begin = bill.agreement.start_date
            for i in range(CHART_MONTHS - 1, -1, -1):
                month = last - relativedelta(months=i)
                start = max(month, begin)
                end = min(month + relativedelta(months=1, days=-1),
                    bill.period_end)
                keys.append((bill.id, month))
                if start > end:
                    requests.append(None)
                else:
                    requests.append((bill.service_point, start, end))
        usages = iter(Meter.consumptions([r for r in requests if r]))
        tzinfos = {b.id: company_timezone(b.company) for b in bills}
        histories = defaultdict(list)
        for (bill_id, month), request in zip(keys, requests):
            usage = next(usages) if request else None
            if usage is None or not usage.readings:
                histories[bill_id].append((month, None, False))
                continue
            _, start, end = request
            estimated = any(r.kind == 'estimated'
                for timed in _by_meter(
                    usage.readings, tzinfos[bill_id]).values()
                for r in _bracket(timed, _midnight(start),
                    _midnight(end + dt.timedelta(days=1))))
            histories[bill_id].append((month, usage.quantity, estimated))
        return histories

    @classmethod
    def fill(cls, doc, history):
        ModelData = Pool().get('ir.model.data')
        bill, lang = doc.bill, doc.lang
        invoice = bill.invoice
        agreement = bill.agreement
        company = bill.company
        currency = invoice.currency if invoice else company.currency
        unit = bill.unit or bill.service_point.service_type.unit
        v = doc.__dict__

        def money(value):
            return lang.currency(value or 0, currency, grouping=True)

        def date(value):
            return lang.strftime(value) if value else ''

        def quantity(value, digits=None):
            if value is None:
                return ''
            if digits is None:
                digits = _digits(value)
            return lang.format_number(value, digits)

        v['unit'] = _symbol(unit)
        # Provider
        provider = company.party
        address = provider.address_get(type='invoice')
        v['provider'] = provider.name
        v['provider_address'] = cls._lines(
            address.full_address if address else '')
        v['provider_contacts'] = [c for c in [
                provider.phone, provider.email, provider.website] if c]
        v['logo'] = cls._logo(company)
        v['footer'] = cls._lines(company.footer_used or '')
        # Customer and account
        v['customer'] = bill.party.full_name or bill.party.name
        v['customer_address'] = cls._lines(
            (invoice.invoice_address if invoice
                else agreement.invoice_address).full_address)
        v['account_number'] = agreement.number
        v['invoice_number'] = invoice.number if invoice else ''
        v['invoice_date'] = date(invoice.invoice_date if invoice else None)
        v['service'] = bill.service_point.service_type.name
        v['service_point'] = bill.service_point.code
        v['service_address'] = cls._lines(
            bill.service_point.address.full_address)
        v['rate_plan'] = agreement.rate_plan.name
        v['period_start'] = date(bill.period_start)
        v['period_end'] = date(bill.period_end)
        days = (bill.period_end - bill.period_start).days + 1
        v['days'] = days
        v['credited'] = bill.state == 'credited'
        v['credit_note'] = (bill.credit_note.number
            if bill.credit_note else '')
        v['replaces'] = (bill.replaces.invoice.number
            if bill.replaces and bill.replaces.invoice else '')
        # Readings and consumption
        v['readings'] = cls._readings(bill, lang, date, quantity)
        digits = unit.digits if unit else 2
        v['consumption'] = quantity(bill.consumption or Decimal(0),
            min(digits, _digits(bill.consumption or Decimal(0))))
        v['estimated'] = bill.estimated
        metered = sum((r['usage_value'] for r in v['readings']),
            Decimal(0))
        v['prorated'] = bool(v['readings']) and metered != (
            bill.consumption or 0)
        v['daily'] = quantity((bill.consumption or Decimal(0)) / days,
            min(digits, 1))
        v['chart'] = cls.chart(history, lang, quantity)
        previous = history[0][1] if history else None
        v['last_year'] = (quantity(previous, 0)
            if previous is not None else '')
        v['last_year_month'] = (lang.strftime(history[0][0], '%B %Y')
            if history else '')
        v['estimated_months'] = any(e for _, _, e in history)
        # Charges
        v['lines'] = []
        v['taxes'] = []
        # "u" says nothing to a customer: the computation gives the count.
        each = ModelData.get_id('product', 'uom_unit')
        if invoice:
            for line in invoice.lines:
                if line.type != 'line':
                    continue
                v['lines'].append({
                        'description': line.description
                        or line.product.rec_name,
                        'quantity': quantity(line.quantity),
                        'unit': (_symbol(line.unit)
                            if line.unit and line.unit.id != each else ''),
                        'unit_price': lang.currency(line.unit_price,
                            currency, digits=max(_digits(line.unit_price),
                                currency.digits)),
                        'amount': money(line.amount),
                        'computation': [t for t in
                            (line.utility_trace or '').splitlines() if t],
                        'version': (line.utility_rate_version.name
                            if line.utility_rate_version else ''),
                        })
            for tax in invoice.taxes:
                v['taxes'].append({
                        'description': tax.description
                        or tax.tax.rec_name,
                        'base': money(tax.base),
                        'amount': money(tax.amount),
                        })
        v['untaxed'] = money(invoice.untaxed_amount if invoice else 0)
        v['tax'] = money(invoice.tax_amount if invoice else 0)
        v['total'] = money(invoice.total_amount if invoice else 0)
        # Account and payment
        summary = cls.account_summary(bill)
        v['summary'] = {k: money(a) for k, a in summary.items()}
        v['summary']['payments'] = money(-summary['payments'])
        v['has_other'] = summary['other_charges'] != 0
        v['amount_due_value'] = summary['amount_due']
        v['nothing_due'] = summary['amount_due'] <= 0
        v['in_credit'] = summary['amount_due'] < 0
        v['due_date'] = date(cls.due_date(invoice))
        v['payment_reference'] = cls.payment_reference(bill)
        v['bank_account'] = cls.bank_account(bill)
        v['payment_method'] = cls._selection_string(
            agreement, 'payment_method')
        v['direct_debit'] = agreement.payment_method == 'direct_debit'
        v['direct_debit_str'] = cls._selection_string(
            agreement, 'payment_method', 'direct_debit')

    @staticmethod
    def _lines(text):
        return [l for l in (text or '').splitlines() if l.strip()]

    @staticmethod
    def _logo(company):
        if not company.logo:
            return None
        try:
            image, mimetype, _, _ = company.get_logo(600, 240)
        except ValueError:
            return None
        return 'data:%s;base64,%s' % (
            mimetype, base64.b64encode(image).decode('ascii'))

    @staticmethod
    def _selection_string(record, name, value=None):
        "The translated label of a selection value"
        if value is None:
            value = getattr(record, name)
        if not value:
            return ''
        selection = record.__class__.fields_get([name])[name]['selection']
        return dict(selection).get(value, value)

    @classmethod
    def _readings(cls, bill, lang, date, quantity):
        """The reading at the start and at the end of the period per meter.

        The bill keeps the readings around its period (also one before a
        reading on the first day, for pro-rating): previous is the last at
        or before the period start, current the first at or after its end.
        Usage sums their consumptions (rollover and multiplier applied).
        """
        pool = Pool()
        Reading = pool.get('utility.meter.reading')
        kinds = dict(Reading.fields_get(['kind'])['kind']['selection'])
        start = _midnight(bill.period_start)
        end = _midnight(bill.period_end + dt.timedelta(days=1))
        rows = []
        for meter, timed in sorted(
                _by_meter(bill.readings, company_timezone(bill.company)
                    ).items(), key=lambda i: i[1][0][0]):
            used = _bracket(timed, start, end)
            times = {r: t for t, r in timed}
            usage = Decimal(0)
            for previous, reading in zip(used, used[1:]):
                if reading.consumption is not None:
                    usage += reading.consumption
                else:
                    usage += (reading.value - previous.value) * (
                        meter.multiplier or 1)
            first, last = used[0], used[-1]
            first_time, last_time = times[first], times[last]
            rows.append({
                    'meter': meter.serial_number,
                    'multiplier': quantity(meter.multiplier or Decimal(1)),
                    'previous_date': date(first_time.date()),
                    'previous_value': quantity(first.value),
                    'previous_kind': kinds.get(first.kind, first.kind),
                    'previous_estimated': first.kind == 'estimated',
                    'current_date': date(last_time.date()),
                    'current_value': quantity(last.value),
                    'current_kind': kinds.get(last.kind, last.kind),
                    'current_estimated': last.kind == 'estimated',
                    'usage': quantity(usage),
                    'usage_value': usage,
                    })
        return rows

    @classmethod
    def chart(cls, history, lang, quantity):
        """An inline SVG bar chart of the monthly use, the bill's last
        month highlighted and each bar labelled with its value"""
        width, height = 680, 190
        left, right, top, bottom = 10, 10, 22, 36
        values = [q for _, q, _ in history if q is not None]
        peak = max(values, default=Decimal(0)) or Decimal(1)
        slot = Decimal(width - left - right) / max(len(history), 1)
        bar = slot * Decimal('0.64')
        plot = height - top - bottom
        parts = [
            '<svg xmlns="http://www.w3.org/2000/svg" class="chart" '
            'width="%s" height="%s" viewBox="0 0 %s %s" role="img">'
            % (width, height, width, height),
            '<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#555" '
            'stroke-width="1"/>' % (left, top + plot, width - right,
                top + plot),
            ]
        for i, (month, value, estimated) in enumerate(history):
            current = i == len(history) - 1
            x = left + slot * i + (slot - bar) / 2
            center = float(left + slot * i + slot / 2)
            if value is not None:
                h = max(Decimal(plot) * value / peak, Decimal(0))
                y = top + plot - h
                fill = '#0b5394' if current else '#9fc5e8'
                parts.append('<rect x="%.1f" y="%.1f" width="%.1f" '
                    'height="%.1f" fill="%s"%s/>' % (x, y, bar, h, fill,
                        ' stroke="#0b5394" stroke-dasharray="3,2"'
                        if estimated else ''))
                label = quantity(value, 0) + ('*' if estimated else '')
                parts.append('<text x="%.1f" y="%.1f" font-size="10" '
                    'text-anchor="middle" fill="#222"%s>%s</text>' % (
                        center, y - 4,
                        ' font-weight="bold"' if current else '',
                        escape(label)))
            else:
                parts.append('<text x="%.1f" y="%.1f" font-size="10" '
                    'text-anchor="middle" fill="#999">–</text>' % (
                        center, top + plot - 4))
            parts.append('<text x="%.1f" y="%s" font-size="10" '
                'text-anchor="middle" fill="#222"%s>%s</text>' % (
                    center, top + plot + 14,
                    ' font-weight="bold"' if current else '',
                    escape(lang.strftime(month, '%b'))))
            if i == 0 or month.month == 1:
                parts.append('<text x="%.1f" y="%s" font-size="9" '
                    'text-anchor="middle" fill="#666">%s</text>' % (
                        center, top + plot + 27,
                        escape(str(month.year))))
        parts.append('<title>%s</title>' % escape(' · '.join(
                    '%s %s' % (lang.strftime(m, '%b %Y'),
                        quantity(q, 0) if q is not None else '–')
                    for m, q, _ in history)))
        parts.append('</svg>')
        # A stream, not Markup: the report translator turns text into str,
        # which the serializer would escape.
        return XML(''.join(parts))

    @classmethod
    def account_summary(cls, bill):
        """Previous balance, payments and amount due from the customer's
        receivable lines (posted moves) of the provider.

        Lines are taken in (date, move) order, so two bills posted the same
        day never count each other twice. "Previous balance" is the
        balance just after the customer's previous bill (of any of their
        agreements), or everything before this bill when there is none;
        lines between it and this bill are payments and credits (credit
        side) or other charges (debit side, e.g. a fee). The receivable is
        the customer's, so the amount due is their whole balance.
        """
        pool = Pool()
        Bill = pool.get('utility.bill')
        MoveLine = pool.get('account.move.line')
        invoice = bill.invoice
        zero = Decimal(0)
        summary = dict.fromkeys(['previous_balance', 'payments',
                'other_charges', 'balance_forward'], zero)
        total = invoice.total_amount if invoice else zero
        summary['new_charges'] = total
        summary['amount_due'] = total
        if not invoice or not invoice.move:
            return summary

        def key(move):
            return (move.date, move.id)
        this = key(invoice.move)
        earlier = [key(b.invoice.move) for b in Bill.search([
                    ('party', '=', bill.party.id),
                    ('company', '=', bill.company.id),
                    ('id', '!=', bill.id),
                    ('invoice.move', '!=', None),
                    ])]
        earlier = [k for k in earlier if k < this]
        previous = max(earlier) if earlier else None
        lines = MoveLine.search([
                ('party', '=', bill.party.id),
                ('account.type.receivable', '=', True),
                ('account.company', '=', bill.company.id),
                ('move.state', '=', 'posted'),
                ('move.date', '<=', invoice.move.date),
                ])
        for line in lines:
            k = key(line.move)
            if k >= this:
                continue
            amount = line.debit - line.credit
            if previous is None or k <= previous:
                summary['previous_balance'] += amount
            elif amount < 0:
                summary['payments'] -= amount
            else:
                summary['other_charges'] += amount
        summary['balance_forward'] = (summary['previous_balance']
            - summary['payments'] + summary['other_charges'])
        summary['amount_due'] = summary['balance_forward'] + total
        return summary

    @staticmethod
    def due_date(invoice):
        if not invoice:
            return None
        dates = [l.maturity_date for l in invoice.lines_to_pay
            if l.maturity_date]
        return min(dates) if dates else invoice.invoice_date

    @classmethod
    def bank_account(cls, bill):
        "The provider's account number a bank transfer pays to, if known"
        return None

    @staticmethod
    def payment_reference(bill):
        "The reference a payment must quote to be matched to this bill"
        invoice = bill.invoice
        if not invoice:
            return bill.agreement.number
        return (invoice.customer_payment_reference
            or '%s %s' % (bill.agreement.number, invoice.number))


class BillRunReport(BillReport):
    "Bills of a Bill Run"
    __name__ = 'utility.bill.run.report'

    @classmethod
    def get_context(cls, records, header, data):
        context = super(BillReport, cls).get_context(records, header, data)
        context['documents'] = cls.documents(
            cls.bill_ids([int(r) for r in records]))
        return context

    @classmethod
    def bill_ids(cls, run_ids):
        """The bills of the runs to send, by account number.

        A credited bill is left out: its rebill is the one to send and is
        printed from the bill itself.
        """
        Bill = Pool().get('utility.bill')
        return [b.id for b in Bill.search([
                    ('bill_run', 'in', run_ids),
                    ('state', '=', 'billed'),
                    ], order=[('agreement.number', 'ASC'), ('id', 'ASC')])]
