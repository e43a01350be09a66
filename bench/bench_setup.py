"Bulk set-up shared by the benchmarks: not what they measure"
import datetime as dt
from decimal import Decimal


def create_meters(pool, company, service_type, parties, total, start,
        party=None, address=None):
    """Service points (on each party's first address, or all on party and
    address when parties is None), meters M0000000… and their
    installations with one INSERT per table and slice.

    Returns (service point ids, meter ids) in order."""
    from trytond.transaction import Transaction
    transaction = Transaction()
    cursor = transaction.connection.cursor()
    now = dt.datetime.now()
    ids = {}
    for name, columns, rows in [
            ('utility.service.point',
                ['code', 'service_type', 'address', 'party', 'company',
                    'status'],
                lambda i: ['SP%07d' % i, service_type.id,
                    parties[i].addresses[0].id if parties else address.id,
                    parties[i].id if parties else party.id,
                    company.id, 'active']),
            ('utility.meter',
                ['serial_number', 'service_type', 'dials', 'multiplier',
                    'status', 'company'],
                lambda i: ['M%07d' % i, service_type.id, 6, Decimal(1),
                    'installed', company.id]),
            ('utility.meter.installation',
                ['meter', 'service_point', 'start'],
                lambda i: [ids['utility.meter'][i],
                    ids['utility.service.point'][i], start]),
            ]:
        table = pool.get(name).__table__()
        ids[name] = []
        for lo in range(0, total, 5000):
            values = [rows(i) + [0, now]
                for i in range(lo, min(total, lo + 5000))]
            cursor.execute(*table.insert(
                    [getattr(table, c) for c in columns]
                    + [table.create_uid, table.create_date],
                    values, returning=[table.id]))
            ids[name].extend(r[0] for r in cursor)
    return ids['utility.service.point'], ids['utility.meter']


def run_in_transaction(database, func, context=None):
    """Run func() in a committed transaction, restarting it when Tryton
    asks for table or record locks, as trytond's own dispatcher does."""
    from trytond.transaction import Transaction, TransactionError
    extras = {}
    while True:
        with Transaction().start(database, 0, context=context or {},
                **extras) as transaction:
            try:
                result = func()
            except TransactionError as e:
                transaction.rollback()
                e.fix(extras)
                continue
            transaction.commit()
            tasks = list(transaction.tasks)
        # Queued tasks run after the commit, each in its own transaction,
        # as trytond's dispatcher and cron do when no worker is running.
        from trytond.worker import run_task
        for task_id in tasks:
            run_task(database, task_id)
        return result
