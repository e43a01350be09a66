"""Meter-data import over SOAP from a MultiSpeak-style meter reading server.

A source is a provider's head-end (AMI/MDM) answering
GetReadingsByMeterID(meterNo, startDate, endDate) with the meter's
readings (meterNo, readingDate, readingValue, optional readingKind), with
the credentials in MultiSpeak's MultiSpeakMsgHeader (UserID, Pwd). The
client is built by zeep from the source's WSDL; the endpoint may override
the WSDL's address.

A pull asks every installed meter of the provider (of the source's
service, if set) for the readings since the end of the previous pull,
then stores them through the CSV reading import of utility_metering: the
same validation (rollover, spikes, order, unknown meters), duplicates
skipped, conflicts and bad rows reported by meter and time. Nothing is
written until every meter has answered: a fault, a timeout or a malformed
answer aborts the pull, which the next run retries over the same window.
"""
import csv
import datetime as dt
import io
from decimal import InvalidOperation

from trytond.i18n import gettext
from trytond.model import DeactivableMixin, ModelSQL, ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .exceptions import MeterSourceError

MULTISPEAK_NS = 'http://www.multispeak.org/Version_3.0'
HEADER = '{%s}MultiSpeakMsgHeader' % MULTISPEAK_NS


class MeterDataSource(DeactivableMixin, ModelSQL, ModelView):
    "Meter Data Source"
    __name__ = 'utility.meter.data.source'
    company = fields.Many2One('company.company', "Provider", required=True)
    name = fields.Char("Name", required=True)
    wsdl = fields.Char("WSDL", required=True,
        help="URL (or server path) of the service description.")
    endpoint = fields.Char("Endpoint",
        help="Service URL when it differs from the WSDL's address.")
    username = fields.Char("User ID",
        help="Sent as UserID of the MultiSpeak message header.")
    password = fields.Char("Password",
        help="Sent as Pwd of the MultiSpeak message header.")
    timeout = fields.Integer("Timeout", required=True,
        domain=[('timeout', '>', 0)],
        help="Seconds to wait for each answer.")
    service_type = fields.Many2One('utility.service.type', "Service",
        help="Only the meters of this service. Empty for all.")
    initial_days = fields.Integer("Initial Days", required=True,
        domain=[('initial_days', '>', 0)],
        help="Days of readings asked on the first pull.")
    pulled_until = fields.DateTime("Pulled Until", readonly=True,
        help="The next pull asks for readings after this time.")
    last_pull = fields.DateTime("Last Pull", readonly=True)
    last_report = fields.Text("Last Report", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('name', 'ASC'))
        cls._buttons.update({
                'pull': {
                    'invisible': ~Eval('active', True),
                    'depends': ['active'],
                    },
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_timeout():
        return 30

    @staticmethod
    def default_initial_days():
        return 7

    def get_client(self):
        "The zeep service proxy of the source"
        import requests
        from zeep import Client, Settings
        from zeep.transports import Transport
        session = requests.Session()
        transport = Transport(session=session, timeout=self.timeout,
            operation_timeout=self.timeout)
        client = Client(self.wsdl, transport=transport,
            settings=Settings(strict=True))
        if self.endpoint:
            service = next(iter(client.wsdl.services.values()))
            port = next(iter(service.ports.values()))
            proxy = client.create_service(port.binding.name, self.endpoint)
        else:
            proxy = client.service
        return client, proxy

    def fetch(self, serials, start, end):
        """Rows (meter, time, value, kind) of the meters' readings in
        ]start, end] (naive UTC), or MeterSourceError when any call fails"""
        from lxml.etree import XMLSyntaxError
        from requests import RequestException
        from zeep.exceptions import Error as ZeepError
        try:
            client, proxy = self.get_client()
        except (ZeepError, RequestException, XMLSyntaxError, OSError) as exc:
            raise MeterSourceError(gettext(
                    'utility_integration.msg_source_wsdl',
                    source=self.rec_name, error=exc)) from exc
        header = client.get_element(HEADER)(
            UserID=self.username or '', Pwd=self.password or '')
        utc = dt.timezone.utc
        rows = []
        for serial in serials:
            try:
                result = proxy.GetReadingsByMeterID(
                    meterNo=serial,
                    startDate=start.replace(tzinfo=utc),
                    endDate=end.replace(tzinfo=utc),
                    _soapheaders=[header])
            except (ZeepError, RequestException, XMLSyntaxError, ValueError,
                    InvalidOperation) as exc:
                if isinstance(exc, (ValueError, InvalidOperation)):
                    error = gettext('utility_integration.msg_source_malformed')
                else:
                    error = getattr(exc, 'message', None) or str(exc)
                raise MeterSourceError(gettext(
                        'utility_integration.msg_source_call',
                        source=self.rec_name, meter=serial, error=error)
                    ) from exc
            # zeep unwraps the array of a single element into a list.
            for read in (getattr(result, 'meterRead', result) or []):
                rows.append((read.meterNo, read.readingDate,
                        read.readingValue, read.readingKind or 'smart'))
        return rows

    @classmethod
    @ModelView.button
    def pull(cls, sources):
        for source in sources:
            source.pull_readings()

    def pull_readings(self, end=None):
        "Fetch and store the readings since the previous pull"
        pool = Pool()
        Meter = pool.get('utility.meter')
        from utility_metering.reading_import import import_readings
        # A second pull of the same source waits for the first one.
        self.__class__.lock([self])
        if end is None:
            end = dt.datetime.now().replace(microsecond=0)
        start = self.pulled_until or (
            end - dt.timedelta(days=self.initial_days))
        domain = [
            ('company', '=', self.company.id),
            ('status', '=', 'installed'),
            ]
        if self.service_type:
            domain.append(('service_type', '=', self.service_type.id))
        serials = sorted(m.serial_number for m in Meter.search(domain))
        rows = self.fetch(serials, start, end)
        lines = []
        report = []
        for meter, when, value, kind in rows:
            lines.append((meter, when.isoformat() if when else '',
                    str(value) if value is not None else '', kind))
        created = rejected = skipped = 0
        if lines:
            text = io.StringIO()
            writer = csv.writer(text)
            writer.writerow(['meter', 'date_time', 'value', 'kind'])
            writer.writerows(lines)
            result = import_readings(text.getvalue().encode('utf-8'),
                self.company, source='integration')
            created, rejected = result.created, result.rejected
            skipped = result.already_stored
            for line, error in result.errors:
                # The CSV header is line 1.
                meter, when, value, _ = lines[line - 2]
                report.append(gettext(
                        'utility_integration.msg_source_pull_line',
                        meter=meter, time=when, value=value, error=error))
        summary = gettext('utility_integration.msg_source_pull_summary',
            source=self.rec_name, start=start, end=end, meters=len(serials),
            received=len(lines), created=created, rejected=rejected,
            skipped=skipped, errors=len(report))
        self.pulled_until = end
        self.last_pull = dt.datetime.now().replace(microsecond=0)
        self.last_report = '\n'.join([summary] + report)
        self.save()
        return created, rejected, skipped, report

    @classmethod
    def pull_all(cls):
        "Cron: pull every active source; a failing source keeps its window"
        for source in cls.search([('active', '=', True)]):
            try:
                source.pull_readings()
            except MeterSourceError as exc:
                source.last_pull = dt.datetime.now().replace(microsecond=0)
                source.last_report = exc.message
                source.save()


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('utility.meter.data.source|pull_all', "Pull Meter Readings"))
