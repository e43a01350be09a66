"""Audit trail of money-relevant records.

What trytond 8.0 already gives, and why it is not enough on its own:

- ``ir.model.log`` (trytond/ir/model.py, ``ModelStorage.log``) records
  *writes* and *deletes* only when they come from a client call
  (``check_access``) or run with ``context['_log']``; it keeps the names of
  the fields written, not their values, and records no creation. Its read
  access follows the logged record's (``ResourceAccessMixin``), so every
  clerk who can read an invoice reads its log. We leave it as it is.
- ``_history = True`` keeps a full copy of every version of a record in a
  ``<table>__history`` table. It would duplicate every invoice line and
  reading ever written and does not record deletions' authors or per-field
  changes; too heavy for readings and invoices.
- ``create_uid``/``create_date``/``write_uid``/``write_date`` only keep the
  first and the last author.

So this module adds ``utility.audit.log``: one row per created, written or
deleted record of the audited models, whoever made the change (client,
cron, bill run, import, root), with the user, the time, the fields
written and the old and new values of the money-relevant fields. Rows are
inserted in bulk inside the same transaction as the change (a rolled back
change leaves no row). Only Utility Administrators may read them; nobody
writes or deletes them through the ORM.

Writes made with raw SQL (e.g. the PostgreSQL COPY of the reading import)
are not seen by the ORM and so are not logged row by row.
"""
import datetime as dt
import json
from decimal import Decimal

from sql.functions import CurrentTimestamp

from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access

INSERT_SLICE = 100


def _jsonable(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


class AuditLog(ModelSQL, ModelView):
    "Audit Log"
    __name__ = 'utility.audit.log'
    date = fields.Timestamp("Date", readonly=True)
    user = fields.Many2One('res.user', "User", readonly=True,
        ondelete='RESTRICT')
    event = fields.Selection([
            ('create', "Created"),
            ('write', "Modified"),
            ('delete', "Deleted"),
            ], "Event", readonly=True, required=True)
    model = fields.Char("Model", readonly=True, required=True)
    record_id = fields.Integer("Record ID", readonly=True, required=True)
    resource = fields.Function(fields.Reference("Record",
            selection='get_models'), 'get_resource')
    field_names = fields.Char("Fields", readonly=True,
        help="The fields written.")
    changes = fields.Text("Changes", readonly=True,
        help="JSON: field name → [old value, new value] of the "
        "money-relevant fields.")
    changes_text = fields.Function(fields.Text("Old → New"),
        'get_changes_text')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('date', 'DESC'), ('id', 'DESC')]
        table = cls.__table__()
        from trytond.model import Index
        cls._sql_indexes.update({
                Index(table, (table.model, Index.Equality()),
                    (table.record_id, Index.Equality())),
                Index(table, (table.date, Index.Range())),
                })

    @classmethod
    def get_models(cls):
        pool = Pool()
        Model = pool.get('ir.model')
        return [(None, '')] + Model.get_name_items()

    @classmethod
    def get_resource(cls, logs, name):
        pool = Pool()
        result = {l.id: None for l in logs}
        by_model = {}
        for log in logs:
            by_model.setdefault(log.model, []).append(log)
        with without_check_access(), \
                Transaction().set_context(active_test=False):
            for model, sub_logs in by_model.items():
                try:
                    Model = pool.get(model)
                except KeyError:
                    continue
                existing = set()
                for ids in grouped_slice(
                        {l.record_id for l in sub_logs}, 1000):
                    existing.update(map(int, Model.search(
                                [('id', 'in', list(ids))])))
                for log in sub_logs:
                    if log.record_id in existing:
                        result[log.id] = '%s,%s' % (model, log.record_id)
        return result

    def get_changes_text(self, name):
        if not self.changes:
            return None
        changes = json.loads(self.changes)
        return '\n'.join('%s: %s → %s' % (f, old, new)
            for f, (old, new) in sorted(changes.items()))

    @classmethod
    def record(cls, rows):
        """Insert rows of (event, model, record id, field names, changes)
        for the transaction's user, with SQL: no access check, no cache"""
        if not rows:
            return
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        table = cls.__table__()
        user = transaction.user
        columns = [table.create_uid, table.create_date, table.date,
            table.user, table.event, table.model, table.record_id,
            table.field_names, table.changes]
        for sub_rows in grouped_slice(rows, INSERT_SLICE):
            values = []
            for event, model, record_id, names, changes in sub_rows:
                values.append([user, CurrentTimestamp(), CurrentTimestamp(),
                        user, event, model, record_id,
                        ','.join(names) if names else None,
                        json.dumps(changes, sort_keys=True,
                            default=str) if changes else None])
            cursor.execute(*table.insert(columns, values))


class AuditMixin:
    "Record creations, writes and deletions in utility.audit.log"
    __slots__ = ()
    # Fields whose old and new values are kept.
    _audit_fields = ()

    @classmethod
    def _audit_read(cls, ids, names):
        "{id: {field: value}} of the audited fields names"
        names = [n for n in names if n in cls._fields]
        if not ids or not names:
            return {i: {} for i in ids}
        result = {}
        with without_check_access(), \
                Transaction().set_context(_check_access=False):
            for sub_ids in grouped_slice(ids, 1000):
                for row in cls.read(list(sub_ids), names):
                    result[row['id']] = {n: row[n] for n in names}
        return result

    @classmethod
    def _audit(cls, rows):
        Pool().get('utility.audit.log').record(rows)

    @classmethod
    def create(cls, vlist):
        records = super().create(vlist)
        if records:
            ids = [r.id for r in records]
            new = cls._audit_read(ids, cls._audit_fields)
            cls._audit([('create', cls.__name__, i, None,
                        {f: [None, _jsonable(v)]
                            for f, v in new[i].items() if v is not None})
                    for i in ids])
        return records

    @classmethod
    def write(cls, *args):
        actions = iter(args)
        pairs = [(list(map(int, r)), v) for r, v in zip(actions, actions)]
        names = set()
        ids = set()
        for record_ids, values in pairs:
            names.update(f for f in cls._audit_fields if f in values)
            ids.update(record_ids)
        names = sorted(names)
        old = cls._audit_read(list(ids), names)
        super().write(*args)
        new = cls._audit_read(list(ids), names)
        rows = []
        for record_ids, values in pairs:
            written = sorted(values)
            tracked = [f for f in names if f in values]
            for i in record_ids:
                changes = {}
                for f in tracked:
                    before, after = old[i].get(f), new[i].get(f)
                    if before != after:
                        changes[f] = [_jsonable(before), _jsonable(after)]
                rows.append(('write', cls.__name__, i, written, changes))
        cls._audit(rows)

    @classmethod
    def delete(cls, records):
        ids = [r.id for r in records]
        old = cls._audit_read(ids, cls._audit_fields)
        super().delete(records)
        cls._audit([('delete', cls.__name__, i, None,
                    {f: [_jsonable(v), None]
                        for f, v in old[i].items() if v is not None})
                for i in ids])


class RatePlan(AuditMixin, metaclass=PoolMeta):
    __name__ = 'utility.rate.plan'
    _audit_fields = ('company', 'code', 'service_type', 'rounding',
        'proration', 'block_basis', 'quantity_digits',
        'convert_heat_factor', 'tou_default_register', 'active')


class RateVersion(AuditMixin, metaclass=PoolMeta):
    __name__ = 'utility.rate.version'
    _audit_fields = ('plan', 'name', 'start_date')


class RateComponent(AuditMixin, metaclass=PoolMeta):
    __name__ = 'utility.rate.component'
    _audit_fields = ('version', 'code', 'kind', 'product', 'price', 'per',
        'register', 'percentage', 'base', 'units', 'season_start',
        'season_end', 'attribute', 'taxable')


class RateBlock(AuditMixin, metaclass=PoolMeta):
    __name__ = 'utility.rate.block'
    _audit_fields = ('component', 'threshold', 'price')


class ServiceAgreement(AuditMixin, metaclass=PoolMeta):
    __name__ = 'utility.service.agreement'
    _audit_fields = ('company', 'party', 'service_point', 'rate_plan',
        'cycle', 'payment_term', 'payment_method', 'deposit', 'start_date',
        'end_date', 'billed_until', 'state')


class MeterReading(AuditMixin, metaclass=PoolMeta):
    __name__ = 'utility.meter.reading'
    _audit_fields = ('meter', 'date_time', 'value', 'kind', 'source',
        'state', 'consumption', 'corrects')


class Invoice(AuditMixin, metaclass=PoolMeta):
    __name__ = 'account.invoice'
    _audit_fields = ('company', 'type', 'party', 'number', 'invoice_date',
        'accounting_date', 'currency', 'payment_term', 'state', 'move',
        'untaxed_amount_cache', 'tax_amount_cache', 'total_amount_cache')


class InvoiceLine(AuditMixin, metaclass=PoolMeta):
    __name__ = 'account.invoice.line'
    _audit_fields = ('invoice', 'type', 'product', 'account', 'quantity',
        'unit', 'unit_price')


class Payment(AuditMixin, metaclass=PoolMeta):
    __name__ = 'account.payment'
    _audit_fields = ('company', 'journal', 'kind', 'party', 'date', 'amount',
        'line', 'state')
