"""CSV, Excel and PDF exports of the main back-office lists.

The lists reuse the reports' export actions (export.py): each model lists
its exported columns in _export_columns as the reports do and the rows are
streamed from its table. Selections are written as their labels, the
reading's time as its date in the provider's time zone and the bills'
totals (a function field) are read once per batch of rows.
"""
import datetime as dt

from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.tools import timezone as tz
from trytond.transaction import Transaction


class ListExportMixin:
    __slots__ = ()
    _export_columns = []

    @classmethod
    def export_rows(cls, rows):
        "A batch of rows of stored values with selections as their labels"
        selections = [n for n, _ in cls._export_columns
            if isinstance(cls._fields[n], fields.Selection)]
        labels = {}
        if selections:
            definitions = cls.fields_get(selections)
            labels = {n: dict(definitions[n]['selection'])
                for n in selections}
        for row in rows:
            for name, names in labels.items():
                if row.get(name) is not None:
                    row[name] = names.get(row[name], row[name])
        return [cls.export_values(r) for r in rows]

    @classmethod
    def export_values(cls, row):
        return row


class ServiceAgreement(ListExportMixin, metaclass=PoolMeta):
    __name__ = 'utility.service.agreement'
    _export_columns = [
        ('number', 'char'),
        ('party', 'many2one'),
        ('service_point', 'many2one'),
        ('rate_plan', 'many2one'),
        ('cycle', 'many2one'),
        ('start_date', 'date'),
        ('end_date', 'date'),
        ('billed_until', 'date'),
        ('deposit', 'money'),
        ('state', 'char'),
        ]


class Bill(ListExportMixin, metaclass=PoolMeta):
    __name__ = 'utility.bill'
    _export_columns = [
        ('party', 'many2one'),
        ('agreement', 'many2one'),
        ('service_point', 'many2one'),
        ('period_start', 'date'),
        ('period_end', 'date'),
        ('consumption', 'quantity'),
        ('unit', 'many2one'),
        ('estimated', 'boolean'),
        ('total_amount', 'money'),
        ('state', 'char'),
        ]

    @classmethod
    def export_rows(cls, rows):
        rows = super().export_rows(rows)
        totals = {r['id']: r['total_amount']
            for r in cls.read([r['id'] for r in rows], ['total_amount'])}
        for row in rows:
            row['total_amount'] = totals[row['id']]
        return rows


class MeterReading(ListExportMixin, metaclass=PoolMeta):
    __name__ = 'utility.meter.reading'
    _export_columns = [
        ('meter', 'many2one'),
        ('service_point', 'many2one'),
        ('date_time', 'date'),
        ('value', 'quantity'),
        ('consumption', 'quantity'),
        ('kind', 'char'),
        ('source', 'char'),
        ('state', 'char'),
        ('rollover', 'boolean'),
        ]

    @classmethod
    def export_values(cls, row):
        pool = Pool()
        Company = pool.get('company.company')
        value = row.get('date_time')
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if value is not None:
            # Stored in UTC; the list shows the provider's local date.
            company_id = Transaction().context.get('company')
            zone = None
            if company_id is not None and company_id >= 0:
                zone = Company(company_id).timezone
            if zone:
                value = value.replace(tzinfo=dt.timezone.utc).astimezone(
                    tz.get_tzinfo(zone))
            value = value.date()
        row['date_time'] = value
        return row


class ServicePoint(ListExportMixin, metaclass=PoolMeta):
    __name__ = 'utility.service.point'
    _export_columns = [
        ('code', 'char'),
        ('service_type', 'many2one'),
        ('party', 'many2one'),
        ('address', 'many2one'),
        ('route', 'many2one'),
        ('status', 'char'),
        ('meter_size', 'char'),
        ('connection_amps', 'integer'),
        ]


class Meter(ListExportMixin, metaclass=PoolMeta):
    __name__ = 'utility.meter'
    _export_columns = [
        ('serial_number', 'char'),
        ('service_type', 'many2one'),
        ('dials', 'integer'),
        ('multiplier', 'quantity'),
        ('status', 'char'),
        ]
