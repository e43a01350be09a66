"""A local MultiSpeak-style meter reading server for the tests.

A WSGI application on loopback that answers the SOAP 1.1 envelopes of
multispeak_readings.wsdl: it checks the SOAPAction and the
MultiSpeakMsgHeader credentials, reads meterNo, startDate and endDate and
returns the stored readings of that meter in ]startDate, endDate]. Faults
(bad credentials, a meter set to fail) are SOAP faults with HTTP 500.
"""
import datetime as dt
import os
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

from lxml import etree

WSDL = os.path.join(os.path.dirname(__file__), 'multispeak_readings.wsdl')
SOAP_ENV = 'http://schemas.xmlsoap.org/soap/envelope/'
MS = 'http://www.multispeak.org/Version_3.0'
ACTION = MS + '/GetReadingsByMeterID'


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def _parse_time(text):
    value = dt.datetime.fromisoformat(text.replace('Z', '+00:00'))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


class MeterReadingServer:
    """readings: {meterNo: [(aware datetime or text, value text, kind)]};
    failing: meterNo answered with a fault; broken: meterNo answered with
    a malformed value"""

    def __init__(self, user='utility', password='s3cret'):
        self.user = user
        self.password = password
        self.readings = {}
        self.failing = set()
        self.broken = set()
        self.calls = []
        self._server = None

    # WSGI
    def __call__(self, environ, start_response):
        try:
            length = int(environ.get('CONTENT_LENGTH') or 0)
            body = environ['wsgi.input'].read(length)
            action = environ.get('HTTP_SOAPACTION', '').strip('"')
            if environ['REQUEST_METHOD'] != 'POST' or action != ACTION:
                return self._fault(start_response, 'Client',
                    'Unknown action %r' % action)
            envelope = etree.fromstring(body)
            header = envelope.find(
                '{%s}Header/{%s}MultiSpeakMsgHeader' % (SOAP_ENV, MS))
            if (header is None or header.get('UserID') != self.user
                    or header.get('Pwd') != self.password):
                return self._fault(start_response, 'Client',
                    'Invalid UserID or Pwd')
            request = envelope.find(
                '{%s}Body/{%s}GetReadingsByMeterID' % (SOAP_ENV, MS))
            meter = request.findtext('{%s}meterNo' % MS)
            start = _parse_time(request.findtext('{%s}startDate' % MS))
            end = _parse_time(request.findtext('{%s}endDate' % MS))
            self.calls.append((meter, start, end))
            if meter in self.failing:
                return self._fault(start_response, 'Server',
                    'Head-end timeout reading %s' % meter)
            return self._answer(start_response, meter, start, end)
        except Exception as exc:  # a test server answers every request
            return self._fault(start_response, 'Server', str(exc))

    def _answer(self, start_response, meter, start, end):
        envelope = etree.Element('{%s}Envelope' % SOAP_ENV,
            nsmap={'soap': SOAP_ENV, None: MS})
        body = etree.SubElement(envelope, '{%s}Body' % SOAP_ENV)
        response = etree.SubElement(body,
            '{%s}GetReadingsByMeterIDResponse' % MS)
        result = etree.SubElement(response,
            '{%s}GetReadingsByMeterIDResult' % MS)
        for when, value, kind in self.readings.get(meter, []):
            if isinstance(when, dt.datetime):
                if not (start < when <= end):
                    continue
                when = when.isoformat()
            read = etree.SubElement(result, '{%s}meterRead' % MS)
            etree.SubElement(read, '{%s}meterNo' % MS).text = meter
            etree.SubElement(read, '{%s}readingDate' % MS).text = when
            etree.SubElement(read, '{%s}readingValue' % MS).text = (
                'n/a' if meter in self.broken else str(value))
            if kind:
                etree.SubElement(read, '{%s}readingKind' % MS).text = kind
        content = etree.tostring(envelope, xml_declaration=True,
            encoding='utf-8')
        start_response('200 OK', [
                ('Content-Type', 'text/xml; charset=utf-8'),
                ('Content-Length', str(len(content)))])
        return [content]

    @staticmethod
    def _fault(start_response, code, message):
        envelope = etree.Element('{%s}Envelope' % SOAP_ENV,
            nsmap={'soap': SOAP_ENV})
        body = etree.SubElement(envelope, '{%s}Body' % SOAP_ENV)
        fault = etree.SubElement(body, '{%s}Fault' % SOAP_ENV)
        etree.SubElement(fault, 'faultcode').text = 'soap:' + code
        etree.SubElement(fault, 'faultstring').text = message
        content = etree.tostring(envelope, xml_declaration=True,
            encoding='utf-8')
        start_response('500 Internal Server Error', [
                ('Content-Type', 'text/xml; charset=utf-8'),
                ('Content-Length', str(len(content)))])
        return [content]

    # Server life
    def start(self):
        self._server = make_server('127.0.0.1', 0, self,
            handler_class=_QuietHandler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return 'http://127.0.0.1:%s/MR_Server.asmx' % (
            self._server.server_port)

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None
