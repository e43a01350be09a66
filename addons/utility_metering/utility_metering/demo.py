"""Deterministic demo data for utility metering.

Python API, inside a transaction with the pool loaded::

    from trytond.modules.utility_metering import demo
    demo.generate(customers=50, seed=1)

Command line::

    python -m utility_metering.demo --database DB [--config FILE] \\
        [--customers N] [--seed S] [--months M]

Monthly readings are computed here (rollover, multiplier and consumption)
and stored already valid, which is much faster than validating them one by
one; they follow the same rules as ``MeterReading.validate_reading``.  One
spike reading is left in draft and validated for real so it is rejected.
"""
import argparse
import datetime as dt
import math
import random
import sys
import time
from decimal import Decimal

COMPANY_NAME = "Springfield Utilities"
TIMEZONE = 'America/New_York'

FIRST_NAMES = [
    "Homer", "Marge", "Ned", "Maude", "Apu", "Edna", "Seymour", "Moe",
    "Barney", "Lenny", "Carl", "Otto", "Helen", "Timothy", "Julius", "Luann",
    "Kirk", "Agnes", "Cletus", "Brandine", "Patty", "Selma", "Waylon",
    "Clancy", "Sarah", "Manjula", "Hans", "Gil", "Lionel", "Ruth",
    ]
LAST_NAMES = [
    "Simpson", "Flanders", "Nahasapeemapetilon", "Krabappel", "Skinner",
    "Szyslak", "Gumble", "Leonard", "Carlson", "Mann", "Lovejoy",
    "Hibbert", "Van Houten", "Spuckler", "Bouvier", "Smithers", "Wiggum",
    "Moleman", "Gunderson", "Hutz", "Powell", "Frink", "Brockman", "Powers",
    ]
STREETS = [
    "Evergreen Terrace", "Main Street", "Elm Street", "Oak Avenue",
    "Maple Drive", "Pine Road", "Spalding Way", "Walnut Street",
    "Fifth Street", "Sycamore Lane", "Cedar Court", "Birch Boulevard",
    ]
POSTAL_CODES = ['62701', '62702', '62703', '62704', '62707']

# Share of customers with each service (electricity for all).
SERVICE_SHARE = {'electricity': 1.0, 'water': 0.7, 'gas': 0.4}
SERVICE_PREFIX = {'electricity': 'E', 'water': 'W', 'gas': 'G'}
# Typical residential daily use in the service unit (kWh, m3, CCF).
DAILY_USE = {'electricity': (20, 40), 'water': (0.35, 0.8), 'gas': (1.5, 4)}
COMMERCIAL_DAILY_KWH = (250, 500)
# Share of electricity meters that are CT meters with a multiplier of 40.
CT_SHARE = 0.06
BATCH = 25
READ_HOUR_UTC = 14  # 9 or 10 a.m. in Springfield


def season(service, month):
    "Seasonal factor of the daily use for a month (1-12)"
    angle = 2 * math.pi * (month - 1) / 12
    if service == 'electricity':
        # Air conditioning in July and heating in January, low in spring
        # and autumn.
        return 1 + 0.3 * math.cos(2 * angle)
    if service == 'gas':
        # Heating: high in January, low in July.
        return 1 + 0.75 * math.cos(angle)
    if service == 'water':
        # Gardens and pools: high in July.
        return 1 - 0.4 * math.cos(angle)
    return 1


def add_months(date, months):
    month = date.month - 1 + months
    return date.replace(year=date.year + month // 12, month=month % 12 + 1)


def _month_of(start, end):
    middle = start + (end - start) / 2
    return middle.month


class _MeterPlan:
    "Register state of one generated meter"

    def __init__(self, record, service, daily, start_value):
        self.record = record
        self.service = service
        self.daily = daily
        self.dials = record.dials
        self.multiplier = record.multiplier
        self.capacity = Decimal(10) ** record.dials
        self.value = Decimal(start_value)
        self.last_time = None

    def advance(self, rng, when, factor=1):
        "Register value, consumption and rollover of a read at when"
        if self.last_time is None:
            self.last_time = when
            return self.value, Decimal(0), False
        days = (when - self.last_time).total_seconds() / 86400
        use = (self.daily * season(self.service, _month_of(
                    self.last_time, when)) * days * rng.gauss(1, 0.08)
            * factor)
        delta = max(1, round(use / float(self.multiplier)))
        delta = Decimal(delta)
        value = self.value + delta
        rollover = value >= self.capacity
        if rollover:
            value -= self.capacity
        self.value = value
        self.last_time = when
        return value, delta * self.multiplier, rollover


def generate(customers=50, seed=1, months=24, today=None, verbose=False):
    """Create the demo provider, customers, meters and readings.

    Must run inside a transaction with the pool loaded.  Returns a dict of
    counts or None when the provider already exists.
    """
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    def say(*args):
        if verbose:
            print(*args)

    pool = Pool()
    Party = pool.get('party.party')
    Company = pool.get('company.company')
    Currency = pool.get('currency.currency')
    User = pool.get('res.user')
    ServiceType = pool.get('utility.service.type')
    ServicePoint = pool.get('utility.service.point')
    Meter = pool.get('utility.meter')
    Installation = pool.get('utility.meter.installation')
    Reading = pool.get('utility.meter.reading')

    if Company.search([('party.name', '=', COMPANY_NAME)], limit=1):
        say("Company %r already exists: nothing to do." % COMPANY_NAME)
        return None

    rng = random.Random(seed)
    if today is None:
        today = dt.date.today()
    now = dt.datetime.now()

    # Provider
    currency = Currency.search([('code', '=', 'USD')], limit=1)
    if currency:
        currency, = currency
    else:
        currency, = Currency.create([{
                    'name': "U.S. Dollar",
                    'code': 'USD',
                    'symbol': '$',
                    'rounding': Decimal('0.01'),
                    'digits': 2,
                    }])
    company_party, = Party.create([{
                'name': COMPANY_NAME,
                'addresses': [('create', [{
                                'street': "100 Industrial Way",
                                'city': "Springfield",
                                'postal_code': '62701',
                                }])],
                'contact_mechanisms': [('create', [
                            {'type': 'email',
                                'value': 'service@springfield-utilities.example'},
                            {'type': 'phone', 'value': '+1 217-555-0100'},
                            ])],
                }])
    company, = Company.create([{
                'party': company_party.id,
                'currency': currency.id,
                'timezone': TIMEZONE,
                }])
    User.write([User(1)], {
            'companies': [('add', [company.id])],
            'company': company.id,
            })

    types = {t.code: t for t in ServiceType.search([
                ('code', 'in', list(SERVICE_SHARE)),
                ])}
    missing = set(SERVICE_SHARE) - set(types)
    if missing:
        raise ValueError("Missing service types: %s" % ', '.join(
                sorted(missing)))

    with Transaction().set_context(company=company.id):
        # Customers
        party_values = []
        for i in range(customers):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            party_values.append({
                    'name': '%s %s' % (first, last),
                    'addresses': [('create', [{
                                    'street': '%d %s' % (
                                        rng.randint(1, 1999),
                                        rng.choice(STREETS)),
                                    'city': "Springfield",
                                    'postal_code': rng.choice(POSTAL_CODES),
                                    }])],
                    'contact_mechanisms': [('create', [
                                {'type': 'email',
                                    'value': '%s.%s.%d@example.com' % (
                                        first.lower(),
                                        last.lower().replace(' ', ''),
                                        i + 1)},
                                {'type': 'phone',
                                    'value': '+1 217-555-%04d' % (
                                        rng.randint(0, 9999))},
                                ])],
                    })
        parties = Party.create(party_values)

        # Service points and meters
        services = []  # (customer index, service code, party)
        for i, party in enumerate(parties):
            for code, share in SERVICE_SHARE.items():
                if share >= 1 or rng.random() < share:
                    services.append((i, code, party))
        points = ServicePoint.create([{
                    'company': company.id,
                    'code': 'SP-%s-%05d' % (SERVICE_PREFIX[code], i + 1),
                    'service_type': types[code].id,
                    'party': party.id,
                    'address': party.addresses[0].id,
                    } for i, code, party in services])

        first_month = add_months(today.replace(day=1), -months)
        install_start = dt.datetime.combine(first_month, dt.time(12, 0))
        # Anomalies: customer indexes, wrapped for tiny demos
        rollover_cust = 0
        exchange_cust = 1 % customers
        missed_cust = 2 % customers
        spike_cust = 3 % customers
        exchange_index = max(1, months // 2)
        missed_index = max(1, months // 3)

        serials = {code: iter(rng.sample(range(1000000, 10000000),
                    len(services) + 1)) for code in SERVICE_PREFIX}

        def serial(code):
            return '%s%07d' % (SERVICE_PREFIX[code], next(serials[code]))

        meter_values, specs = [], []
        for (i, code, party), point in zip(services, points):
            dials = rng.choice([5, 6])
            multiplier = 1
            low, high = DAILY_USE[code]
            daily = rng.uniform(low, high)
            if code == 'electricity' and i != rollover_cust \
                    and rng.random() < CT_SHARE:
                multiplier = 40
                daily = rng.uniform(*COMMERCIAL_DAILY_KWH)
            if code == 'electricity' and i == rollover_cust:
                dials = 5
            capacity = 10 ** dials
            start_value = rng.randint(0, capacity // 5)
            if code == 'electricity' and i == rollover_cust:
                # A few months before the register turns over
                start_value = capacity - round(daily * 30 * 3)
            meter_values.append({
                    'company': company.id,
                    'serial_number': serial(code),
                    'service_type': types[code].id,
                    'dials': dials,
                    'multiplier': Decimal(multiplier),
                    'status': 'installed',
                    'installations': [('create', [{
                                    'service_point': point.id,
                                    'start': install_start,
                                    }])],
                    })
            specs.append((i, code, point, daily, start_value))
        meters = Meter.create(meter_values)

        reading_values = []
        spike = None
        exchanged = None

        def reading(plan, when, value, consumption, rollover, point):
            reading_values.append({
                    'company': company.id,
                    'meter': plan.record.id,
                    'service_point': point.id,
                    'date_time': when,
                    'value': value,
                    'kind': 'actual',
                    'source': 'manual',
                    'state': 'valid',
                    'consumption': consumption,
                    'rollover': rollover,
                    })

        for meter, (i, code, point, daily, start_value) in zip(
                meters, specs):
            plan = _MeterPlan(meter, code, daily, start_value)
            route_day = rng.randint(1, 10)
            minute = rng.randint(0, 179)
            times = [install_start]
            for n in range(1, months + 1):
                when = dt.datetime.combine(
                    add_months(first_month, n).replace(day=route_day),
                    dt.time(READ_HOUR_UTC)) + dt.timedelta(minutes=minute)
                if when >= now or when.date() >= today:
                    break
                times.append(when)
            for n, when in enumerate(times):
                if (i == missed_cust and code == 'electricity'
                        and n == missed_index and n < len(times) - 1):
                    continue  # the reader could not get in this month
                if (i == spike_cust and code == 'electricity'
                        and n == len(times) - 1 and n >= 3):
                    value, _, _ = plan.advance(rng, when, factor=15)
                    spike = (meter, when, value)
                    continue
                value, consumption, rollover = plan.advance(rng, when)
                reading(plan, when, value, consumption, rollover, point)
                if (i == exchange_cust and code == 'electricity'
                        and n == exchange_index and exchanged is None
                        and n < len(times) - 1):
                    # Final read of the old meter, then a new meter from 0
                    new_meter, = Meter.create([{
                                'company': company.id,
                                'serial_number': serial(code),
                                'service_type': types[code].id,
                                'dials': 6,
                                'multiplier': meter.multiplier,
                                'status': 'installed',
                                'installations': [('create', [{
                                                'service_point': point.id,
                                                'start': when,
                                                }])],
                                }])
                    installation, = Installation.search([
                            ('meter', '=', meter.id),
                            ])
                    Installation.write([installation], {'end': when})
                    Meter.write([meter], {'status': 'removed'})
                    exchanged = (meter, new_meter)
                    new_plan = _MeterPlan(new_meter, code, daily, 0)
                    new_plan.advance(rng, when)
                    plan.last_time = None
                    reading(new_plan, when, Decimal(0), Decimal(0), False,
                        point)
                    plan = new_plan
                    meter = new_meter

        # Small batches: on SQLite the exclusion constraint is checked with
        # one nested OR clause per created row.
        readings = []
        for n in range(0, len(reading_values), BATCH):
            readings.extend(Reading.create(reading_values[n:n + BATCH]))
        rejected = []
        if spike:
            meter, when, value = spike
            draft, = Reading.create([{
                        'company': company.id,
                        'meter': meter.id,
                        'date_time': when,
                        'value': value,
                        'kind': 'actual',
                        'source': 'manual',
                        }])
            Reading.validate_reading([draft])
            rejected = [draft] if draft.state == 'rejected' else []

    summary = {
        'customers': len(parties),
        'service_points': len(points),
        'meters': len(meters) + (1 if exchanged else 0),
        'readings': len(readings) + (1 if spike else 0),
        'rollovers': sum(1 for v in reading_values if v['rollover']),
        'exchanges': 1 if exchanged else 0,
        'rejected': len(rejected),
        }
    say("Created demo data for %s:" % COMPANY_NAME)
    for key, value in summary.items():
        say("  %-15s %d" % (key, value))
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Generate utility metering demo data")
    parser.add_argument('--database', '-d', required=True)
    parser.add_argument('--config', '-c')
    parser.add_argument('--customers', type=int, default=50)
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--months', type=int, default=24)
    args = parser.parse_args(argv)

    from trytond import config
    if args.config:
        config.update_etc(args.config)
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    started = time.monotonic()
    Pool(args.database).init()
    with Transaction().start(args.database, 0, context={}) as transaction:
        summary = generate(customers=args.customers, seed=args.seed,
            months=args.months, verbose=True)
        transaction.commit()
    if summary is not None:
        print("Done in %.1f s" % (time.monotonic() - started))
    return 0


if __name__ == '__main__':
    sys.exit(main())
