"""Bulk CSV import of meter readings.

Every row is checked; well-formed rows are stored (valid, or rejected with
the validation reason), malformed rows are reported with their line number
and are not stored. Re-importing a file skips the rows already stored.
"""
import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from sql import Null

from trytond import backend
from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool
from trytond.tools import grouped_slice
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from . import meter_math
from .exceptions import ReadingImportError
from .meter import company_timezone
from .reading import in_max

REQUIRED_COLUMNS = ('meter', 'date_time', 'value')
KINDS = {'actual', 'estimated', 'customer', 'smart'}


@dataclass
class ImportResult:
    created: int = 0
    rejected: int = 0
    already_stored: int = 0
    errors: list = field(default_factory=list)  # (line, message)

    def summary(self):
        lines = [gettext('utility_metering.msg_import_summary',
                created=self.created, rejected=self.rejected,
                skipped=self.already_stored, errors=len(self.errors))]
        lines.extend(str(gettext('utility_metering.msg_import_line',
                line=line, error=error)) for line, error in self.errors)
        return '\n'.join(str(line) for line in lines)


def _parse_time(text, tzinfo, cache=None):
    "ISO 8601 time to naive UTC; naive times are in the provider's zone"
    if cache is not None:
        # Reads of a route share a handful of timestamps.
        try:
            return cache[text]
        except KeyError:
            value = cache[text] = _parse_time(text, tzinfo)
            return value
    value = dt.datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=tzinfo)
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None)


def import_readings(data, company, source='import', batch_size=None):
    pool = Pool()
    Reading = pool.get('utility.meter.reading')
    ModelAccess = pool.get('ir.model.access')
    # Rows are written with SQL below, so check the right the ORM would.
    ModelAccess.check('utility.meter.reading', 'create')
    if not data or not data.strip():
        raise ReadingImportError(gettext('utility_metering.msg_import_empty'))
    try:
        text = data.decode('utf-8-sig')
    except UnicodeDecodeError as exc:
        raise ReadingImportError(gettext(
                'utility_metering.msg_import_encoding',
                position=exc.start)) from exc
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ReadingImportError(gettext(
                'utility_metering.msg_import_columns',
                missing=', '.join(missing)))
    reader.fieldnames = columns
    tzinfo = company_timezone(company)
    result = ImportResult()
    rows = []
    times = {}
    for row in reader:
        line = reader.line_num
        serial = (row.get('meter') or '').strip()
        try:
            when = _parse_time(row.get('date_time') or '', tzinfo, times)
        except (ValueError, OverflowError):  # e.g. year 9999 at UTC-5
            result.errors.append((line, gettext(
                        'utility_metering.msg_import_bad_date',
                        value=row.get('date_time'))))
            continue
        try:
            value = Decimal((row.get('value') or '').strip())
            if not value.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            result.errors.append((line, gettext(
                        'utility_metering.msg_import_bad_number',
                        value=row.get('value'))))
            continue
        kind = (row.get('kind') or 'actual').strip() or 'actual'
        if kind not in KINDS:
            result.errors.append((line, gettext(
                        'utility_metering.msg_import_bad_kind', value=kind)))
            continue
        rows.append((line, serial, when, value, kind))
    if not rows and not result.errors:
        raise ReadingImportError(gettext('utility_metering.msg_import_empty'))

    meters = _load_meters(company, {r[1] for r in rows})
    known = []
    for row in rows:
        if row[1] not in meters:
            result.errors.append((row[0], gettext(
                        'utility_metering.msg_import_unknown_meter',
                        meter=row[1])))
        else:
            known.append(row)
    known.sort(key=lambda r: (r[1], r[2]))

    stored = _load_stored(meters, known)
    now = dt.datetime.now()
    histories = Reading.histories_by_id({
            m.id: (m.dials, m.multiplier) for m in meters.values()},
        now + dt.timedelta(days=3650))
    seen = {}
    to_create = []
    for line, serial, when, value, kind in known:
        meter = meters[serial]
        key = (meter.id, when)
        if key in seen:
            result.errors.append((line, gettext(
                        'utility_metering.msg_import_duplicate_line',
                        other=seen[key])))
            continue
        seen[key] = line
        if key in stored:
            if stored[key] == value:
                result.already_stored += 1
            else:
                result.errors.append((line, gettext(
                            'utility_metering.msg_import_conflict',
                            value=stored[key])))
            continue
        history = histories[meter.id]
        if history.previous_time and when <= history.previous_time:
            result.errors.append((line, gettext(
                        'utility_metering.msg_import_out_of_order',
                        previous=history.previous_time)))
            continue
        check = meter_math.check_reading(history, when, value, now,
            spike_factor=meter.spike_factor,
            max_zero_days=meter.max_zero_days)
        values = {
            'company': company.id,
            'meter': meter.id,
            'service_point': meter.service_point,
            'date_time': when,
            'value': value,
            'kind': kind,
            'source': source,
            'consumption': check.consumption,
            'rollover': check.rollover,
            }
        if check.ok:
            values['state'] = 'valid'
            history.advance(when, value, check.consumption)
        else:
            values['state'] = 'rejected'
            values['rejection_reason'] = '\n'.join(
                gettext('utility_metering.' + msg, **params)
                for msg, params in check.errors)
            result.rejected += 1
        to_create.append(values)
    if batch_size is None:
        # SQLite checks the reading Exclude constraint in Python with one
        # nested clause per record: large batches exceed the recursion limit.
        batch_size = 25 if backend.name == 'sqlite' else 5000
    if backend.name == 'postgresql':
        _copy(Reading, to_create)
    else:
        for batch in grouped_slice(to_create, batch_size):
            Reading.create(list(batch))
    result.created = len(to_create) - result.rejected
    result.errors.sort()
    return result


@dataclass
class _Meter:
    "What the import needs of a meter, read with one query per slice"
    id: int
    dials: int | None
    multiplier: Decimal
    spike_factor: Decimal | None
    max_zero_days: int | None
    service_point: int | None = None


def _load_meters(company, serials):
    "Meters of the provider by serial number"
    pool = Pool()
    Meter = pool.get('utility.meter')
    ServiceType = pool.get('utility.service.type')
    Installation = pool.get('utility.meter.installation')
    transaction = Transaction()
    cursor = transaction.connection.cursor()
    meter = Meter.__table__()
    stype = ServiceType.__table__()
    inst = Installation.__table__()
    meters = {}
    for sub in grouped_slice(sorted(serials), in_max()):
        cursor.execute(*meter.join(stype,
                condition=meter.service_type == stype.id
                ).join(inst, 'LEFT',
                condition=(inst.meter == meter.id) & (inst.end == Null)
                ).select(meter.serial_number, meter.id, meter.dials,
                meter.multiplier, stype.spike_factor, stype.max_zero_days,
                inst.service_point,
                where=(meter.company == company.id)
                & meter.serial_number.in_(list(sub))))
        for serial, *values in cursor:
            meters[serial] = _Meter(*values)
    return meters


def _load_stored(meters, rows):
    "Stored non-rejected values at the times of the rows, by (meter, time)"
    Reading = Pool().get('utility.meter.reading')
    transaction = Transaction()
    cursor = transaction.connection.cursor()
    reading = Reading.__table__()
    stored = {}
    if not rows:
        return stored
    first = min(r[2] for r in rows)
    last = max(r[2] for r in rows)
    ids = sorted({m.id for m in meters.values()})
    for sub in grouped_slice(ids, in_max()):
        cursor.execute(*reading.select(
                reading.meter, reading.date_time, reading.value,
                where=reading.meter.in_(list(sub))
                & (reading.date_time >= first)
                & (reading.date_time <= last)
                & (reading.state != 'rejected')))
        for meter_id, date_time, value in cursor:
            stored[(meter_id, date_time)] = value
    return stored


def _copy(Reading, rows):
    """Store already checked readings with PostgreSQL COPY.

    Measured: ORM create spent 70% of the import in per-record domain
    validation that this import has already done (meter of the provider,
    parsed values), and a multi-row INSERT spent most of its time building
    the statement; PostgreSQL itself enforces the one-reading-per-time
    constraint.
    """
    from psycopg import sql
    transaction = Transaction()
    names = ['company', 'meter', 'service_point', 'date_time', 'value',
        'kind', 'source', 'consumption', 'rollover', 'state',
        'rejection_reason', 'create_uid', 'create_date']
    statement = sql.SQL('COPY {} ({}) FROM STDIN').format(
        sql.Identifier(Reading._table),
        sql.SQL(', ').join(map(sql.Identifier, names)))
    user, now = transaction.user, dt.datetime.now()
    cursor = transaction.connection.cursor()
    with cursor.copy(statement) as copy:
        for v in rows:
            copy.write_row((v['company'], v['meter'], v['service_point'],
                    v['date_time'], v['value'], v['kind'], v['source'],
                    v['consumption'], v['rollover'], v['state'],
                    v.get('rejection_reason'), user, now))


class ImportReadingsStart(ModelView):
    "Import Meter Readings"
    __name__ = 'utility.meter.reading.import.start'
    file = fields.Binary("File", required=True,
        help="CSV with columns meter, date_time, value and optional kind.")


class ImportReadingsResult(ModelView):
    "Import Meter Readings Result"
    __name__ = 'utility.meter.reading.import.result'
    report = fields.Text("Report", readonly=True)


class ImportReadings(Wizard):
    "Import Meter Readings"
    __name__ = 'utility.meter.reading.import'
    start = StateView('utility.meter.reading.import.start',
        'utility_metering.reading_import_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Import", 'import_', 'tryton-ok', default=True),
            ])
    import_ = StateTransition()
    result = StateView('utility.meter.reading.import.result',
        'utility_metering.reading_import_result_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def transition_import_(self):
        Company = Pool().get('company.company')
        company = Company(Transaction().context['company'])
        self.result.report = import_readings(
            self.start.file, company).summary()
        return 'result'

    def default_result(self, fields):
        return {'report': self.result.report}


def main(argv=None):
    "Command line: import a CSV file of readings for one provider"
    import argparse
    import sys
    parser = argparse.ArgumentParser(description="Import meter readings")
    parser.add_argument('--database', '-d', required=True)
    parser.add_argument('--config', '-c')
    parser.add_argument('--company', type=int, required=True,
        help="id of the provider (company) the meters belong to")
    parser.add_argument('file', type=argparse.FileType('rb'))
    args = parser.parse_args(argv)
    from trytond import config
    if args.config:
        config.update_etc(args.config)
    data = args.file.read()
    Pool(args.database).init()
    with Transaction().start(args.database, 0, context={
                'company': args.company}) as transaction:
        Company = Pool().get('company.company')
        try:
            result = import_readings(data, Company(args.company))
        except ReadingImportError as exc:
            print(exc.message, file=sys.stderr)
            return 2
        report = result.summary()
        transaction.commit()
    print(report)
    return 1 if result.errors else 0


if __name__ == '__main__':
    import sys
    sys.exit(main())
