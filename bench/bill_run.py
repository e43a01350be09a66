"""Benchmark: a bill run end to end (rate, create and post invoices).

Prints bills/second of a bill run over N active agreements beside the rate
at which plain Tryton creates and posts the same invoices (same lines,
same taxes) in the same run.

    TRYTOND_DATABASE__URI=postgresql://postgres@127.0.0.1:5432/ \\
        .venv/bin/python bench/bill_run.py --agreements 10000
"""
import argparse
import datetime as dt
import os
import time
from decimal import Decimal


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--agreements', type=int, default=10_000)
    parser.add_argument('--plain-sample', type=int, default=500,
        help="invoices created and posted by plain Tryton")
    parser.add_argument('--batch', type=int, default=500,
        help="agreements per bill run batch (transaction)")
    parser.add_argument('--database', default='bench_bill_run')
    parser.add_argument('--profile', action='store_true')
    args = parser.parse_args()
    os.environ.setdefault('TRYTOND_DATABASE__URI', 'sqlite://')
    os.environ['DB_NAME'] = (args.database
        if os.environ['TRYTOND_DATABASE__URI'].startswith('postgresql')
        else ':memory:')

    from trytond.tests.test_tryton import activate_module, drop_db
    from trytond.modules.company.tests import create_company, set_company
    from trytond.pool import Pool
    from utility_billing.tests.tools import (
        create_cycle, create_plan, create_products, setup_accounting)
    from utility_metering.reading_import import import_readings

    drop_db()
    activate_module(['utility_billing'])
    db = os.environ['DB_NAME']
    n = args.agreements
    import sys
    sys.path.insert(0, os.path.dirname(__file__))
    from bench_setup import create_meters, run_in_transaction
    pool = None

    def setup():
        nonlocal pool
        pool = Pool()
        Party = pool.get('party.party')
        Agreement = pool.get('utility.service.agreement')
        Configuration = pool.get('utility.billing.configuration')
        company = create_company()
        with set_company(company):
            revenue, tax = setup_accounting(company)
            products = create_products(revenue, tax)
            plan = create_plan(company, products)
            cycle = create_cycle(company)
            config = Configuration(1)
            config.bill_batch_size = args.batch
            config.save()
            parties = Party.create([{
                        'name': 'Customer %06d' % i,
                        'addresses': [('create', [{
                                        'street': '%d Main St' % i}])],
                        } for i in range(n)])
            point_ids, _ = create_meters(pool, company, plan.service_type,
                parties, n, dt.datetime(2023, 12, 1))
            lines = ['meter,date_time,value']
            for i in range(n):
                lines.append(f'M{i:07d},2024-01-01T00:00:00,{1000 + i % 50}')
                lines.append(f'M{i:07d},2024-02-01T00:00:00,'
                    f'{1400 + i % 50 + (i * 7) % 500}')
            result = import_readings(('\n'.join(lines) + '\n').encode(),
                company)
            assert not result.errors, result.summary()
            agreements = Agreement.create([{
                        'company': company.id,
                        'party': p.id,
                        'service_point': sp,
                        'rate_plan': plan.id,
                        'cycle': cycle.id,
                        'invoice_address': p.addresses[0].id,
                        'start_date': dt.date(2024, 1, 1),
                        } for p, sp in zip(parties, point_ids)])
            Agreement.activate(agreements)
            Run = pool.get('utility.bill.run')
            run = Run(company=company, cycle=cycle,
                period_end=dt.date(2024, 1, 31),
                invoice_date=dt.date(2024, 2, 1))
            run.save()
            return company.id, run.id

    t0 = time.perf_counter()
    company_id, run_id = run_in_transaction(db, setup)
    print(f"setup: {n} agreements with readings in "
        f"{time.perf_counter() - t0:.1f}s")
    context = {'company': company_id}

    def preview():
        Run = Pool().get('utility.bill.run')
        Run.preview([Run(run_id)])

    def process():
        Run = Pool().get('utility.bill.run')
        Run.process([Run(run_id)])

    if args.profile:
        import cProfile
        profiler = cProfile.Profile()
        profiler.enable()
    t0 = time.perf_counter()
    run_in_transaction(db, preview, context)
    preview_time = time.perf_counter() - t0
    t1 = time.perf_counter()
    run_in_transaction(db, process, context)
    process_time = time.perf_counter() - t1
    total = time.perf_counter() - t0
    if args.profile:
        import pstats
        profiler.disable()
        pstats.Stats(profiler).sort_stats('cumulative').print_stats(40)

    def check_and_sample():
        pool = Pool()
        Run = pool.get('utility.bill.run')
        Invoice = pool.get('account.invoice')
        run = Run(run_id)
        assert run.bill_count == n, (run.bill_count, run.exception_count)
        values = []
        # Plain Tryton: the same invoices (lines, taxes), created and
        # posted through the ORM in batches like a bill run.
        for invoice in Invoice.search([], limit=args.plain_sample,
                order=[('id', 'ASC')]):
            values.append({
                    'company': company_id, 'type': 'out',
                    'party': invoice.party.id,
                    'invoice_address': invoice.invoice_address.id,
                    'currency': invoice.currency.id,
                    'account': invoice.account.id,
                    'journal': invoice.journal.id,
                    'invoice_date': invoice.invoice_date,
                    'lines': [('create', [{
                                    'type': 'line',
                                    'product': l.product.id,
                                    'unit': l.unit.id,
                                    'quantity': l.quantity,
                                    'unit_price': l.unit_price,
                                    'description': l.description,
                                    'account': l.account.id,
                                    'taxes': [('add',
                                            [t.id for t in l.taxes])],
                                    } for l in invoice.lines])],
                    })
        return values, sum(i.total_amount for i in Invoice.search([],
                    limit=args.plain_sample, order=[('id', 'ASC')]))

    values, expected = run_in_transaction(db, check_and_sample, context)

    def plain_batch(batch):
        def func():
            Invoice = Pool().get('account.invoice')
            created = Invoice.create(batch)
            Invoice.update_taxes(created)
            Invoice.post(created)
            return sum(i.total_amount for i in created)
        return func

    t0 = time.perf_counter()
    got = Decimal(0)
    for start in range(0, len(values), args.batch):
        got += run_in_transaction(db, plain_batch(
                values[start:start + args.batch]), context)
    plain_time = time.perf_counter() - t0
    assert got == expected, (got, expected)
    plain = values
    preview, process = preview_time, process_time

    rate = n / total
    plain_rate = len(plain) / plain_time
    print(f"backend: {os.environ['TRYTOND_DATABASE__URI'].split(':')[0]}")
    print(f"bill run: {n} bills in {total:.1f}s = {rate:,.1f} bills/s "
        f"(preview {preview:.1f}s, bill and post {process:.1f}s)")
    print(f"plain Tryton create+post: {len(plain)} invoices in "
        f"{plain_time:.1f}s = {plain_rate:,.1f} invoices/s")
    print(f"ratio bill run/plain: {rate / plain_rate:.2f}x "
        f"(target 100 bills/s)")


if __name__ == '__main__':
    main()
