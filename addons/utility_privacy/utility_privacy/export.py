"""A customer's data export (GDPR Art. 15 and 20, CCPA 1798.100/110).

``utility.privacy.export.archive(party)`` returns the file name and the
bytes of a ZIP: ``data.json`` with every kind, one ``<kind>.csv`` per
kind and ``summary.pdf``, a readable summary. The back office gets it from
the party's *Export Personal Data* button; the portal calls the same
function for the logged-in customer's party.
"""
import csv
import datetime as dt
import io
import json
import zipfile
from decimal import Decimal
from xml.sax.saxutils import escape

from trytond.model import Model, ModelView
from trytond.pool import Pool, PoolMeta
from trytond.report import Report
from trytond.transaction import (
    Transaction, inactive_records, without_check_access)

from .pdf import check_report_access, html_to_pdf

KINDS = [
    ('party', "Customer"),
    ('addresses', "Addresses"),
    ('contacts', "Contacts"),
    ('agreements', "Service Agreements"),
    ('readings', "Meter Readings"),
    ('bills', "Bills"),
    ('payments', "Payments"),
    ('service_requests', "Service Requests"),
    ('service_request_messages', "Service Request Messages"),
    ('consents', "Consents"),
    ('payment_notifications', "Payment Notifications"),
    ('portal_accounts', "Portal Accounts"),
    ('emails_received', "E-mails Received"),
    ('emails_sent', "E-mails Sent"),
    ]


def _value(value):
    "JSON and CSV friendly"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, (Model,)):
        return value.rec_name
    return value


def _name(record):
    return record.rec_name if record else None


class Export(Model):
    "Personal Data Export"
    __name__ = 'utility.privacy.export'

    @classmethod
    def kinds(cls):
        """[(kind, title)]: the files of the archive and the sections of
        the summary; modules add theirs (see notification.py)"""
        return list(KINDS)

    @classmethod
    def archive(cls, party, companies=None):
        """(file name, ZIP bytes) of everything held about party;
        companies limits the provider records to those providers"""
        data = cls.collect(party, companies=companies)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_DEFLATED) as archive:
            archive.writestr('data.json', json.dumps({
                        'generated': dt.datetime.now().isoformat(
                            timespec='seconds'),
                        'data': data,
                        }, indent=2, ensure_ascii=False, default=_value))
            for kind, _ in cls.kinds():
                archive.writestr('%s.csv' % kind, cls.to_csv(data[kind]))
            archive.writestr('summary.pdf',
                html_to_pdf(cls.summary_html(party, data)))
        name = 'personal-data-%s' % (party.code or party.id)
        return name, buffer.getvalue()

    @staticmethod
    def to_csv(rows):
        output = io.StringIO()
        columns = []
        for row in rows:
            columns.extend(c for c in row if c not in columns)
        writer = csv.DictWriter(output, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _value(v) for k, v in row.items()})
        return output.getvalue()

    @staticmethod
    def of_provider(domain, companies):
        "domain limited to the records of companies (None: all)"
        if companies is not None:
            domain = domain + [('company', 'in', list(companies))]
        return domain

    @classmethod
    def collect(cls, party, companies=None):
        "{kind: [row]} with rows of plain values"
        with without_check_access():
            return cls._collect(party, companies)

    @classmethod
    def _collect(cls, party, companies):
        pool = Pool()
        Agreement = pool.get('utility.service.agreement')
        Reading = pool.get('utility.meter.reading')
        Bill = pool.get('utility.bill')
        Payment = pool.get('account.payment')
        Request = pool.get('utility.service.request')
        Message = pool.get('utility.service.request.message')
        Consent = pool.get('utility.privacy.consent')
        Notification = pool.get('utility.payment.notification')
        WebUser = pool.get('web.user')
        Email = pool.get('utility.care.email')
        SentEmail = pool.get('ir.email')

        def of_provider(domain):
            return cls.of_provider(domain, companies)

        party = party.__class__(party.id)
        data = {kind: [] for kind, _ in cls.kinds()}
        data['party'].append({
                'code': party.code,
                'name': party.name,
                'language': party.lang.code if party.lang else None,
                'paperless_billing': party.portal_paperless,
                'notify_by_email': party.portal_notify_email,
                'notify_by_sms': party.portal_notify_sms,
                'usage_alert_threshold': party.portal_alert_threshold,
                'bill_alert_threshold': party.portal_bill_threshold,
                'created': party.create_date,
                })
        for address in party.addresses:
            data['addresses'].append({
                    'name': address.party_name,
                    'street': address.street,
                    'postal_code': address.postal_code,
                    'city': address.city,
                    'subdivision': _name(address.subdivision),
                    'country': address.country.code
                    if address.country else None,
                    'invoice': getattr(address, 'invoice', None),
                    })
        for mechanism in party.contact_mechanisms:
            data['contacts'].append({
                    'type': mechanism.type,
                    'value': mechanism.value,
                    'name': mechanism.name,
                    'comment': mechanism.comment,
                    })
        agreements = Agreement.search(of_provider([('party', '=', party.id)]),
            order=[('start_date', 'ASC'), ('id', 'ASC')])
        for agreement in agreements:
            data['agreements'].append({
                    'account_number': agreement.number,
                    'provider': agreement.company.rec_name,
                    'service_point': agreement.service_point.code,
                    'service_address': _name(agreement.service_point.address),
                    'service': _name(agreement.service_type),
                    'rate_plan': agreement.rate_plan.rec_name,
                    'billing_cycle': agreement.cycle.rec_name,
                    'invoice_address': _name(agreement.invoice_address),
                    'payment_preference': agreement.payment_method,
                    'deposit': agreement.deposit,
                    'start_date': agreement.start_date,
                    'end_date': agreement.end_date,
                    'state': agreement.state,
                    })
        # Readings of the customer's premises while the customer lived
        # there; a previous or next occupant's readings are not theirs.
        spans = {}
        for agreement in agreements:
            spans.setdefault(agreement.service_point.id, []).append(
                (agreement.start_date, agreement.end_date))
        readings = Reading.search(
            of_provider([('service_point', 'in', list(spans))]),
            order=[('date_time', 'ASC'), ('id', 'ASC')]) if spans else []
        for reading in readings:
            day = reading.date_time.date()
            if not any(start <= day and (end is None or day <= end)
                    for start, end in spans[reading.service_point.id]):
                continue
            data['readings'].append({
                    'meter': reading.meter.serial_number,
                    'service_point': reading.service_point.code,
                    'read_at': reading.date_time,
                    'value': reading.value,
                    'consumption': reading.consumption,
                    'kind': reading.kind,
                    'source': reading.source,
                    'state': reading.state,
                    })
        bills = Bill.search(of_provider([('party', '=', party.id)]),
            order=[('period_start', 'ASC'), ('id', 'ASC')])
        for bill in bills:
            data['bills'].append({
                    'account_number': bill.agreement.number,
                    'invoice': bill.invoice.number if bill.invoice else None,
                    'period_start': bill.period_start,
                    'period_end': bill.period_end,
                    'consumption': bill.consumption,
                    'unit': _name(bill.unit),
                    'estimated': bill.estimated,
                    'total': bill.total_amount,
                    'currency': bill.currency.code if bill.currency else None,
                    'due_date': min((l.maturity_date
                            for l in bill.invoice.lines_to_pay
                            if l.maturity_date), default=None)
                    if bill.invoice else None,
                    'state': bill.state,
                    })
        payments = Payment.search(of_provider([('party', '=', party.id)]),
            order=[('date', 'ASC'), ('id', 'ASC')])
        for payment in payments:
            data['payments'].append({
                    'date': payment.date,
                    'amount': payment.amount,
                    'currency': payment.currency.code,
                    'kind': payment.kind,
                    'method': payment.journal.process_method,
                    'reference': payment.reference,
                    'state': payment.state,
                    })
        requests = Request.search(of_provider([('party', '=', party.id)]),
            order=[('create_date', 'ASC'), ('id', 'ASC')])
        for request in requests:
            data['service_requests'].append({
                    'number': request.number,
                    'kind': request.kind,
                    'subject': request.subject,
                    'opened': request.create_date,
                    'state': request.state,
                    'resolution': request.resolution,
                    'resolution_note': request.resolution_note,
                    })
        # What the customer wrote and was told; staff's internal notes
        # about the case are not part of the conversation.
        messages = Message.search([
                ('request', 'in', list(map(int, requests))),
                ('internal', '=', False),
                ], order=[('create_date', 'ASC'), ('id', 'ASC')])
        for message in messages:
            data['service_request_messages'].append({
                    'request': message.request.number,
                    'author': message.author,
                    'written': message.create_date,
                    'body': message.body,
                    })
        for consent in Consent.search(
                of_provider([('party', '=', party.id)]),
                order=[('given_date', 'ASC'), ('id', 'ASC')]):
            data['consents'].append({
                    'provider': consent.company.rec_name,
                    'purpose': consent.purpose.code,
                    'purpose_name': consent.purpose.name,
                    'given': consent.given_date,
                    'withdrawn': consent.withdrawn_date,
                    'source': consent.source,
                    })
        for notification in Notification.search(
                of_provider([('party', '=', party.id)]),
                order=[('create_date', 'ASC'), ('id', 'ASC')]):
            data['payment_notifications'].append({
                    'provider': notification.company.rec_name,
                    'kind': notification.kind,
                    'created': notification.create_date,
                    'message': notification.message,
                    'state': notification.state,
                    })
        # The logins are the person's own, whichever provider asks.
        with inactive_records():
            users = WebUser.search([
                    ['OR',
                        ('party', '=', party.id),
                        ('secondary_parties', '=', party.id),
                        ],
                    ], order=[('id', 'ASC')])
        for user in users:
            data['portal_accounts'].append({
                    'email': user.email,
                    'email_verified': user.email_valid,
                    'active': user.active,
                    'created': user.create_date,
                    })
        for email in Email.search(of_provider([('party', '=', party.id)]),
                order=[('date', 'ASC'), ('id', 'ASC')]):
            data['emails_received'].append({
                    'provider': email.company.rec_name,
                    'received': email.date or email.create_date,
                    'from': email.sender,
                    'subject': email.subject,
                    'request': email.request.number
                    if email.request else None,
                    'text': email.body,
                    })
        # Tryton's log of the e-mails sent to the customer (e.g. by
        # utility_notification), whichever provider sent them.
        for email in SentEmail.search([
                    ('resource', '=', str(party)),
                    ], order=[('create_date', 'ASC'), ('id', 'ASC')]):
            data['emails_sent'].append({
                    'sent': email.create_date,
                    'to': email.recipients,
                    'subject': email.subject,
                    'body': email.body,
                    })
        return data

    @classmethod
    def summary_html(cls, party, data):
        "The readable summary: each kind as a table"
        sections = []
        for kind, title in cls.kinds():
            rows = data[kind]
            if not rows:
                sections.append('<h2>%s</h2><p>None.</p>' % escape(title))
                continue
            columns = []
            for row in rows:
                columns.extend(c for c in row if c not in columns)
            head = ''.join('<th>%s</th>' % escape(
                    c.replace('_', ' ').capitalize()) for c in columns)
            body = ''.join('<tr>%s</tr>' % ''.join(
                    '<td>%s</td>' % escape(
                        '' if r.get(c) is None else str(_value(r.get(c))))
                    for c in columns) for r in rows)
            sections.append('<h2>%s (%s)</h2><table><thead><tr>%s</tr>'
                '</thead><tbody>%s</tbody></table>' % (
                    escape(title), len(rows), head, body))
        return ('<!DOCTYPE html><html><head><meta charset="utf-8"/>'
            '<title>Your personal data</title><style>'
            '@page {size: A4 landscape; margin: 1.2cm}'
            'body {font-family: sans-serif; font-size: 8pt}'
            'table {border-collapse: collapse; width: 100%%;'
            ' margin-bottom: 8pt}'
            'th, td {border: 1px solid #999; padding: 2px 3px;'
            ' text-align: left; vertical-align: top}'
            '</style></head><body><h1>Your personal data</h1>'
            '<p>Everything we hold about %s (customer %s), as of %s. '
            'The machine-readable files beside this summary hold the same '
            'data.</p>%s</body></html>') % (
            escape(party.name or ''), escape(party.code or ''),
            dt.date.today().isoformat(), ''.join(sections))


class ExportReport(Report):
    "Personal Data Export"
    __name__ = 'utility.privacy.export.report'

    @classmethod
    def execute(cls, ids, data):
        pool = Pool()
        Party = pool.get('party.party')
        Export = pool.get('utility.privacy.export')
        check_report_access(cls, ids, data)
        party, = Party.browse(ids)
        companies = Transaction().context.get('companies')
        name, content = Export.archive(party, companies=companies)
        return 'zip', content, False, name


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'utility_privacy_export': {},
                })

    @classmethod
    @ModelView.button_action('utility_privacy.report_party_export')
    def utility_privacy_export(cls, parties):
        pass
