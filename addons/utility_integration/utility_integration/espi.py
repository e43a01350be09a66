"""Green Button "Download My Data": a customer's usage and bills as a NAESB
ESPI (REQ.21) Atom feed.

One feed per customer (party) or service agreement and date range:

- LocalTimeParameters: the provider's time zone (offset and DST rules);
- per agreement, a UsagePoint (the service point, with its service kind),
  a MeterReading with its ReadingType (commodity, unit, power of ten) and
  IntervalBlocks (one per local month) whose IntervalReadings are the
  consumption between two successive valid or billed readings of a meter;
- per bill of the agreement in the range, a UsageSummary (billing period,
  amount in hundred-thousandths of the currency, consumption, quality).

Only the agreement's own dates are exported, so a customer never receives
a previous or later occupant's usage of the same service point. Times are
seconds since the epoch (UTC); dates are the provider's local days.
schemas/atom.xsd and schemas/espi.xsd describe every element we emit.
"""
import datetime as dt
import functools
import os
import uuid
from collections import Counter, defaultdict
from decimal import ROUND_HALF_EVEN, Decimal

from lxml import etree
from sql import Null
from sql.aggregate import Max

from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from utility_metering.reading import in_max

from .exceptions import GreenButtonError

NS_ATOM = 'http://www.w3.org/2005/Atom'
NS_ESPI = 'http://naesb.org/espi'
NSMAP = {None: NS_ATOM, 'espi': NS_ESPI}
SCHEMA = os.path.join(os.path.dirname(__file__), 'schemas', 'atom.xsd')
RESOURCE = '/espi/1_1/resource'
# ESPI amounts are in hundred-thousandths of the currency.
MONEY_FACTOR = Decimal(100000)

# Service type code: (ServiceKind, CommodityKind)
SERVICE_KINDS = {
    'electricity': (0, 1),
    'gas': (1, 7),
    'water': (2, 9),
    'wastewater': (6, 11),
    }
# Unit (module, xml id): (UnitSymbolKind, factor to the ESPI unit,
# powerOfTenMultiplier, MeasurementKind). Values are integers, so each
# unit is scaled to keep three decimals of the register where it matters.
UNITS = {
    ('product', 'uom_energy_kwh'): (72, Decimal(1000), 0, 12),  # Wh
    ('product', 'uom_cubic_meter'): (42, Decimal(1000), -3, 58),  # litre
    ('utility_metering', 'uom_ccf'): (119, Decimal(100), 0, 58),  # ft3
    ('utility_metering', 'uom_therm'): (169, Decimal(1000), -3, 12),
    }
QUALITY_VALID = 0
QUALITY_ESTIMATED = 8  # estimated using reference day
QUALITY_MIXED = 13


@functools.cache
def schema():
    "The XML schema of the feeds we emit (Atom subset importing ESPI)"
    return etree.XMLSchema(etree.parse(SCHEMA))


def validate(content):
    "Raise etree.DocumentInvalid when content is not a feed we may emit"
    schema().assertValid(etree.fromstring(content))


def epoch(value):
    "Seconds since the epoch of a naive UTC or an aware datetime"
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return int(value.timestamp())


def local_midnight(date, tzinfo):
    "The aware datetime starting the local day date"
    return dt.datetime.combine(date, dt.time()).replace(tzinfo=tzinfo)


def to_int(quantity, factor):
    return int((Decimal(quantity) * factor).quantize(
            Decimal(1), rounding=ROUND_HALF_EVEN))


def _dst_rule(before, tzinfo):
    """ESPI DstRuleType (8 hex digits) of the offset change right after the
    aware UTC hour before: the local wall time it happens at, on the n-th
    (or last) weekday of its month"""
    # Wall-clock arithmetic: the time the clocks show when they change.
    wall = before.astimezone(tzinfo) + dt.timedelta(hours=1)
    next_month = (wall.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    last_day = (next_month - dt.timedelta(days=1)).day
    if wall.day + 7 > last_day:
        operator = 7  # last occurrence in the month
    else:
        operator = 1 + (wall.day + 6) // 7  # 2: first ... 6: fifth
    value = ((wall.minute * 60 + wall.second) | (wall.hour << 12)
        | (wall.isoweekday() << 17) | (operator << 25) | (wall.month << 28))
    return '%08X' % value


def time_parameters(tzinfo, year):
    """(dstEndRule, dstOffset, dstStartRule, tzOffset) of tzinfo in year,
    found from the hours at which its UTC offset changes"""
    start = dt.datetime(year, 1, 1, tzinfo=dt.timezone.utc)
    previous = start.astimezone(tzinfo).utcoffset()
    transitions = []
    hour = start
    for _ in range(366 * 24):
        hour = hour + dt.timedelta(hours=1)
        offset = hour.astimezone(tzinfo).utcoffset()
        if offset != previous:
            transitions.append((hour - dt.timedelta(hours=1), previous,
                    offset))
            previous = offset
        if hour.year > year:
            break
    if len(transitions) != 2:
        offset = start.astimezone(tzinfo).utcoffset()
        return 'FFFFFFFF', 0, 'FFFFFFFF', int(offset.total_seconds())
    standard = min(t[1] for t in transitions)
    daylight = max(t[1] for t in transitions)
    rules = {}
    for before, old, new in transitions:
        rules['start' if new > old else 'end'] = _dst_rule(before, tzinfo)
    return (rules['end'], int((daylight - standard).total_seconds()),
        rules['start'], int(standard.total_seconds()))


def _uuid(*parts):
    name = '/'.join(str(p) for p in (
            'utility_integration', Transaction().database.name) + parts)
    return 'urn:uuid:%s' % uuid.uuid5(uuid.NAMESPACE_URL, name)


def _iso(value):
    return value.astimezone(dt.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def _sub(parent, tag, text=None, ns=NS_ESPI):
    element = etree.SubElement(parent, '{%s}%s' % (ns, tag))
    if text is not None:
        element.text = str(text)
    return element


class _Feed:
    "Build the Atom document entry by entry"

    def __init__(self, feed_id, title, self_href):
        self.now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        self.root = etree.Element('{%s}feed' % NS_ATOM, nsmap=NSMAP)
        _sub(self.root, 'id', feed_id, NS_ATOM)
        _sub(self.root, 'title', title, NS_ATOM).set('type', 'text')
        _sub(self.root, 'updated', _iso(self.now), NS_ATOM)
        self._link(self.root, 'self', self_href)

    @staticmethod
    def _link(parent, rel, href):
        link = _sub(parent, 'link', ns=NS_ATOM)
        link.set('href', href)
        link.set('rel', rel)

    def entry(self, entry_id, title, self_href, up_href, related, tag):
        "Add an entry; return its ESPI resource element to fill"
        entry = _sub(self.root, 'entry', ns=NS_ATOM)
        _sub(entry, 'id', entry_id, NS_ATOM)
        self._link(entry, 'self', self_href)
        self._link(entry, 'up', up_href)
        for href in related:
            self._link(entry, 'related', href)
        _sub(entry, 'title', title[:256], NS_ATOM).set('type', 'text')
        content = _sub(entry, 'content', ns=NS_ATOM)
        resource = _sub(content, tag)
        _sub(entry, 'published', _iso(self.now), NS_ATOM)
        _sub(entry, 'updated', _iso(self.now), NS_ATOM)
        return resource

    def tostring(self):
        return etree.tostring(self.root, xml_declaration=True,
            encoding='UTF-8', pretty_print=True)


def _interval(parent, tag, start, end):
    "A DateTimeInterval from two aware or naive UTC datetimes"
    interval = _sub(parent, tag)
    _sub(interval, 'duration', epoch(end) - epoch(start))
    _sub(interval, 'start', epoch(start))
    return interval


def green_button_xml(agreement_or_party, start, end):
    """The Green Button (ESPI Atom) XML, as bytes, of a service agreement or
    of all agreements of a customer (party) over the local dates
    [start, end]. Runs with the caller's rights; the portal calls it for
    the logged-in customer's own party."""
    pool = Pool()
    Agreement = pool.get('utility.service.agreement')
    _check_dates(start, end)
    name = agreement_or_party.__name__
    if name == 'utility.service.agreement':
        agreements = [agreement_or_party]
        party = agreement_or_party.party
    elif name == 'party.party':
        party = agreement_or_party
        agreements = Agreement.search([
                ('party', '=', party.id),
                ('state', 'in', ['active', 'closed']),
                ('start_date', '<=', end),
                ['OR',
                    ('end_date', '=', None),
                    ('end_date', '>=', start),
                    ],
                ], order=[('company', 'ASC'), ('start_date', 'ASC'),
                ('id', 'ASC')])
    else:
        raise TypeError("an agreement or a party: %s" % name)
    builder = _Builder(party, start, end)
    return builder.build(agreements)


def agreements_xml(agreements, start, end):
    """The Green Button XML of some agreements of one customer over the
    local dates [start, end] (the portal exports those of a service
    point)."""
    _check_dates(start, end)
    parties = {a.party for a in agreements}
    if len(parties) != 1:
        raise ValueError("agreements of one party: %s" % parties)
    party, = parties
    agreements = sorted(agreements,
        key=lambda a: (a.company.id, a.start_date, a.id))
    return _Builder(party, start, end).build(agreements)


def _check_dates(start, end):
    if not start or not end or start > end:
        raise GreenButtonError(gettext(
                'utility_integration.msg_green_button_dates',
                start=start, end=end))


class _Builder:

    def __init__(self, party, start, end):
        self.party = party
        self.start = start
        self.end = end
        self.base = '%s/RetailCustomer/%s' % (RESOURCE, party.id)

    def build(self, agreements):
        from utility_metering.meter import company_timezone
        feed = _Feed(_uuid('party', self.party.id, self.start, self.end),
            gettext('utility_integration.msg_green_button_title',
                party=self.party.rec_name),
            '%s/UsagePoint' % self.base)
        self.feed = feed
        time_links = {}
        for agreement in agreements:
            company = agreement.company
            if company.id not in time_links:
                time_links[company.id] = self._time_parameters(
                    company, company_timezone(company))
        windows = {}
        for agreement in agreements:
            tzinfo = company_timezone(agreement.company)
            first = max(self.start, agreement.start_date)
            last = min(self.end, agreement.end_date or self.end)
            if first > last:
                continue
            windows[agreement] = (tzinfo, first, last,
                local_midnight(first, tzinfo),
                local_midnight(last + dt.timedelta(days=1), tzinfo))
        intervals = self._intervals(windows)
        bills = self._bills(windows)
        for agreement, window in windows.items():
            self._usage_point(agreement, window,
                time_links[agreement.company.id],
                intervals.get(agreement, []), bills.get(agreement, []))
        return feed.tostring()

    def _time_parameters(self, company, tzinfo):
        href = '%s/LocalTimeParameters/%s' % (RESOURCE, company.id)
        end_rule, dst_offset, start_rule, tz_offset = time_parameters(
            tzinfo, self.end.year)
        resource = self.feed.entry(_uuid('ltp', company.id, self.end.year),
            str(tzinfo), href, '%s/LocalTimeParameters' % RESOURCE, [],
            'LocalTimeParameters')
        _sub(resource, 'dstEndRule', end_rule)
        _sub(resource, 'dstOffset', dst_offset)
        _sub(resource, 'dstStartRule', start_rule)
        _sub(resource, 'tzOffset', tz_offset)
        return href

    def _intervals(self, windows):
        """Per agreement, (meter, start, end, consumption, estimated) of the
        read intervals ending in its window, from valid or billed readings
        not replaced by a correction"""
        pool = Pool()
        Reading = pool.get('utility.meter.reading')
        points = defaultdict(list)
        for agreement, window in windows.items():
            points[agreement.service_point.id].append((agreement, window))
        if not points:
            return {}
        first = min(w[3] for w in windows.values()).astimezone(
            dt.timezone.utc).replace(tzinfo=None)
        last = max(w[4] for w in windows.values()).astimezone(
            dt.timezone.utc).replace(tzinfo=None)
        readings = []
        for sub in grouped_slice(list(points), in_max()):
            readings.extend(Reading.search([
                        ('service_point', 'in', list(sub)),
                        ('state', 'in', ['valid', 'billed']),
                        ('date_time', '>', first),
                        ('date_time', '<=', last),
                        ], order=[('meter', 'ASC'), ('date_time', 'ASC'),
                        ('id', 'ASC')]))
        ids = [r.id for r in readings]
        corrected = set()
        for sub in grouped_slice(ids, in_max()):
            corrected.update(r.corrects.id for r in Reading.search([
                        ('corrects', 'in', list(sub)),
                        ('state', 'in', ['valid', 'billed']),
                        ]))
        readings = [r for r in readings if r.id not in corrected]
        previous = self._previous_times(
            {r.meter.id for r in readings}, first)
        result = defaultdict(list)
        for reading in readings:
            meter = reading.meter.id
            before = previous.get(meter)
            previous[meter] = reading.date_time
            if before is None or reading.consumption is None:
                # The first read of a meter opens its register.
                continue
            end = reading.date_time.replace(tzinfo=dt.timezone.utc)
            for agreement, window in points[reading.service_point.id]:
                if window[3] < end <= window[4]:
                    result[agreement].append((meter,
                            before.replace(tzinfo=dt.timezone.utc), end,
                            reading.consumption,
                            reading.kind == 'estimated'))
        return result

    @staticmethod
    def _previous_times(meters, before):
        "Time of each meter's last valid or billed reading at or before"
        pool = Pool()
        Reading = pool.get('utility.meter.reading')
        reading = Reading.__table__()
        cursor = Transaction().connection.cursor()
        result = {}
        for sub in grouped_slice(sorted(meters), in_max()):
            cursor.execute(*reading.select(
                    reading.meter, Max(reading.date_time),
                    where=reading.meter.in_(list(sub))
                    & reading.state.in_(['valid', 'billed'])
                    & (reading.corrects == Null)
                    & (reading.date_time <= before),
                    group_by=[reading.meter]))
            for meter, value in cursor:
                if isinstance(value, str):
                    # SQLite returns aggregates as text
                    value = dt.datetime.fromisoformat(value)
                result[meter] = value
        return result

    def _bills(self, windows):
        "Per agreement, its billed bills whose period meets its window"
        Bill = Pool().get('utility.bill')
        result = defaultdict(list)
        if not windows:
            return result
        by_id = {a.id: a for a in windows}
        for sub in grouped_slice(list(by_id), in_max()):
            for bill in Bill.search([
                        ('agreement', 'in', list(sub)),
                        ('state', '=', 'billed'),
                        ('period_start', '<=', self.end),
                        ('period_end', '>=', self.start),
                        ], order=[('period_start', 'ASC'), ('id', 'ASC')]):
                agreement = by_id[bill.agreement.id]
                first, last = windows[agreement][1:3]
                if bill.period_start <= last and bill.period_end >= first:
                    result[agreement].append(bill)
        return result

    @staticmethod
    def _unit(agreement):
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        service_type = agreement.service_point.service_type
        kinds = SERVICE_KINDS.get(service_type.code)
        if kinds is None:
            raise GreenButtonError(gettext(
                    'utility_integration.msg_green_button_service',
                    agreement=agreement.rec_name,
                    service=service_type.rec_name))
        unit = service_type.unit
        for (module, fs_id), values in UNITS.items():
            if ModelData.get_id(module, fs_id) == unit.id:
                return kinds, values
        raise GreenButtonError(gettext(
                'utility_integration.msg_green_button_unit',
                agreement=agreement.rec_name, unit=unit.rec_name))

    def _usage_point(self, agreement, window, time_href, intervals, bills):
        tzinfo, first, last, start, end = window
        (service_kind, commodity), (uom, factor, power, measurement) = (
            self._unit(agreement))
        point = agreement.service_point
        feed = self.feed
        up_href = '%s/UsagePoint/%s' % (self.base, agreement.id)
        reading_href = '%s/MeterReading/%s' % (up_href, agreement.id)
        block_href = '%s/IntervalBlock' % reading_href
        summary_href = '%s/UsageSummary' % up_href
        type_href = '%s/ReadingType/%s' % (RESOURCE, agreement.id)

        resource = feed.entry(_uuid('usage_point', agreement.id),
            '%s %s' % (agreement.number or '', point.rec_name),
            up_href, '%s/UsagePoint' % self.base,
            ['%s/MeterReading' % up_href, summary_href, time_href],
            'UsagePoint')
        category = _sub(resource, 'ServiceCategory')
        _sub(category, 'kind', service_kind)
        _sub(resource, 'status', 1 if point.status == 'active' else 0)

        feed.entry(_uuid('meter_reading', agreement.id),
            gettext('utility_integration.msg_green_button_meter_reading',
                service=point.service_type.rec_name),
            reading_href, '%s/MeterReading' % up_href,
            [block_href, type_href], 'MeterReading')

        durations = Counter(epoch(e) - epoch(s)
            for _, s, e, _, _ in intervals)
        resource = feed.entry(_uuid('reading_type', agreement.id),
            point.service_type.unit.rec_name, type_href,
            '%s/ReadingType' % RESOURCE, [], 'ReadingType')
        _sub(resource, 'accumulationBehaviour', 4)
        _sub(resource, 'commodity', commodity)
        currency = agreement.company.currency
        _sub(resource, 'currency', self._currency(currency))
        _sub(resource, 'dataQualifier', 12)
        _sub(resource, 'defaultQuality', QUALITY_VALID)
        _sub(resource, 'flowDirection', 1)
        if durations:
            _sub(resource, 'intervalLength', durations.most_common(1)[0][0])
        _sub(resource, 'kind', measurement)
        _sub(resource, 'phase', 0)
        _sub(resource, 'powerOfTenMultiplier', power)
        _sub(resource, 'timeAttribute', 0)
        _sub(resource, 'uom', uom)

        months = defaultdict(list)
        for interval in sorted(intervals, key=lambda i: (i[1], i[0])):
            local = interval[1].astimezone(tzinfo)
            months[(local.year, local.month)].append(interval)
        for (year, month), items in sorted(months.items()):
            resource = feed.entry(
                _uuid('interval_block', agreement.id, year, month),
                '%04d-%02d' % (year, month),
                '%s/%04d%02d' % (block_href, year, month), block_href, [],
                'IntervalBlock')
            _interval(resource, 'interval', min(i[1] for i in items),
                max(i[2] for i in items))
            for _, istart, iend, quantity, estimated in items:
                reading = _sub(resource, 'IntervalReading')
                if estimated:
                    quality = _sub(reading, 'ReadingQuality')
                    _sub(quality, 'quality', QUALITY_ESTIMATED)
                _interval(reading, 'timePeriod', istart, iend)
                _sub(reading, 'value', to_int(quantity, factor))

        for bill in bills:
            period_start = local_midnight(bill.period_start, tzinfo)
            period_end = local_midnight(
                bill.period_end + dt.timedelta(days=1), tzinfo)
            resource = feed.entry(_uuid('usage_summary', bill.id),
                '%s..%s' % (bill.period_start, bill.period_end),
                '%s/%s' % (summary_href, bill.id), summary_href, [],
                'UsageSummary')
            _interval(resource, 'billingPeriod', period_start, period_end)
            invoice = bill.invoice
            _sub(resource, 'billLastPeriod',
                to_int(invoice.total_amount, MONEY_FACTOR))
            _sub(resource, 'currency', self._currency(invoice.currency))
            measure = _sub(resource, 'overallConsumptionLastPeriod')
            _sub(measure, 'powerOfTenMultiplier', power)
            _sub(measure, 'timeStamp', epoch(period_end))
            _sub(measure, 'uom', uom)
            _sub(measure, 'value', to_int(bill.consumption or 0, factor))
            _sub(resource, 'qualityOfReading',
                QUALITY_ESTIMATED if bill.estimated else QUALITY_VALID)
            _sub(resource, 'statusTimeStamp', epoch(local_midnight(
                        invoice.invoice_date or bill.period_end, tzinfo)))
            _sub(resource, 'commodity', commodity)
            _sub(resource, 'tariffProfile',
                agreement.rate_plan.rec_name[:256])
            _sub(resource, 'readCycle', agreement.cycle.rec_name[:256])

    @staticmethod
    def _currency(currency):
        try:
            return int(currency.numeric_code or 0)
        except ValueError:
            return 0
