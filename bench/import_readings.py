"""Benchmark: CSV import of meter readings with full validation.

Prints validated readings/second of the bulk import beside the rate of
creating and validating readings one by one through the ORM, in one run.

    TRYTOND_DATABASE__URI=postgresql://postgres@127.0.0.1:5432/ \
        .venv/bin/python bench/import_readings.py --meters 100000 --readings 1000000
"""
import argparse
import datetime as dt
import os
import time
from decimal import Decimal


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--meters', type=int, default=100_000)
    parser.add_argument('--readings', type=int, default=1_000_000)
    parser.add_argument('--orm-sample', type=int, default=1000,
        help="readings created one by one through the ORM")
    parser.add_argument('--database', default='bench_import')
    parser.add_argument('--profile', action='store_true',
        help="print the 25 costliest functions of the bulk import")
    args = parser.parse_args()
    os.environ.setdefault('TRYTOND_DATABASE__URI', 'sqlite://')
    os.environ['DB_NAME'] = (args.database
        if os.environ['TRYTOND_DATABASE__URI'].startswith('postgresql')
        else ':memory:')

    from trytond.tests.test_tryton import activate_module, drop_db
    from trytond.modules.company.tests import create_company, set_company
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    from utility_metering.reading_import import import_readings
    import sys
    sys.path.insert(0, os.path.dirname(__file__))
    from bench_setup import create_meters

    drop_db()
    activate_module(['utility_metering'])
    db = os.environ['DB_NAME']
    per_meter = max(1, args.readings // args.meters)
    start = dt.datetime(2024, 1, 1)
    with Transaction().start(db, 0, context={}) as transaction:
        pool = Pool()
        Party = pool.get('party.party')
        ServiceType = pool.get('utility.service.type')
        Meter = pool.get('utility.meter')
        Reading = pool.get('utility.meter.reading')
        company = create_company()
        with set_company(company):
            stype, = ServiceType.search([('code', '=', 'electricity')])
            party, = Party.create([{'name': 'Bench', 'addresses': [
                            ('create', [{'street': 'x'}])]}])
            address = party.addresses[0]
            t0 = time.perf_counter()
            total = args.meters + args.orm_sample
            # Setup is not measured: plain SQL keeps 100,000 meters quick.
            _, meter_ids = create_meters(pool, company, stype, None,
                total, start, party=party, address=address)
            meters = Meter.browse(meter_ids)
            transaction.commit()
            print(f"setup: {total} meters in {time.perf_counter() - t0:.1f}s")

            lines = ['meter,date_time,value']
            for i in range(args.meters):
                value = 1000 + i % 500
                for k in range(per_meter):
                    when = start + dt.timedelta(days=30 * (k + 1))
                    value += 250 + (i + k) % 90
                    lines.append(f'M{i:07d},{when.isoformat()},{value}')
            data = ('\n'.join(lines) + '\n').encode()
            count = len(lines) - 1

            if args.profile:
                import cProfile
                profiler = cProfile.Profile()
                profiler.enable()
            t0 = time.perf_counter()
            result = import_readings(data, company)
            transaction.commit()
            bulk = time.perf_counter() - t0
            if args.profile:
                import pstats
                profiler.disable()
                pstats.Stats(profiler).sort_stats('cumulative').print_stats(25)
            assert result.created + result.rejected == count, result.summary()
            assert not result.errors

            sample = meters[args.meters:]
            t0 = time.perf_counter()
            for i, meter in enumerate(sample):
                reading, = Reading.create([{'meter': meter.id,
                            'company': company.id,
                            'date_time': start + dt.timedelta(days=30),
                            'value': Decimal(1000 + i)}])
                Reading.validate_reading([reading])
            transaction.commit()
            orm = time.perf_counter() - t0

    bulk_rate = count / bulk
    orm_rate = len(sample) / orm if sample else float('nan')
    print(f"backend: {os.environ['TRYTOND_DATABASE__URI'].split(':')[0]}")
    print(f"bulk import: {count} readings for {args.meters} meters in "
        f"{bulk:.1f}s = {bulk_rate:,.0f} validated readings/s "
        f"({result.created} valid, {result.rejected} rejected)")
    print(f"ORM one by one: {len(sample)} readings in {orm:.1f}s = "
        f"{orm_rate:,.0f} readings/s")
    print(f"ratio bulk/ORM: {bulk_rate / orm_rate:.1f}x (target 25,000/s)")


if __name__ == '__main__':
    main()
