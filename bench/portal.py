"""Benchmark: the portal's dashboard and bill list under load (PostgreSQL).

Creates N customers (parties, service points, meters, agreements, readings;
bills from real bill runs, so each bill has its posted invoice), a web
user and an open session per customer (bulk SQL), starts trytond's WSGI
app in a pre-forked threaded werkzeug server on loopback and drives
random customers' dashboard and bill list with ``wrk`` (Debian package)
at C concurrent connections for D seconds, then prints requests/second
and p50/p95/p99 latency. Target: p95 < 150 ms, no errors.

    TRYTOND_DATABASE__URI=postgresql://postgres@127.0.0.1:5432/ \\
        .venv/bin/python bench/portal.py --customers 10000

``--reuse`` skips the set-up when the database is there; ``--profile``
profiles the pages in-process (werkzeug test client) and prints the top
functions. Set-up time is printed but is not what is measured.
"""
import argparse
import datetime as dt
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))

LUA = r'''
local sessions = {}
for line in io.lines(os.getenv("PORTAL_SESSIONS")) do
    sessions[#sessions + 1] = line
end
local base = os.getenv("PORTAL_BASE")
local paths = {base .. "/dashboard", base .. "/bills"}
local threads = {}
local counter = 0

function setup(thread)
    counter = counter + 1
    thread:set("id", counter)
    table.insert(threads, thread)
end

function init(args)
    math.randomseed(os.time() * 1000 + id)
    bad = 0
end

request = function()
    local key = sessions[math.random(#sessions)]
    local path = paths[math.random(#paths)]
    return wrk.format("GET", path, {["Cookie"] = "portal_session=" .. key})
end

response = function(status, headers, body)
    -- A redirect to the login page would be a failure here.
    if status ~= 200 then bad = bad + 1 end
end

done = function(summary, latency, requests)
    local not_ok = 0
    for _, thread in ipairs(threads) do not_ok = not_ok + thread:get("bad") end
    local e = summary.errors
    io.write(string.format(
        "RESULT requests=%d duration_us=%d connect=%d read=%d write=%d " ..
        "status=%d timeout=%d not_200=%d p50=%d p95=%d p99=%d max=%d\n",
        summary.requests, summary.duration, e.connect, e.read, e.write,
        e.status, e.timeout, not_ok, latency:percentile(50),
        latency:percentile(95), latency:percentile(99), latency.max))
end
'''


def setup_database(args, db):
    from trytond.modules.company.tests import create_company, set_company
    from trytond.pool import Pool
    from trytond.tests.test_tryton import activate_module, drop_db
    from utility_billing.tests.tools import (
        create_cycle, create_payment_term, create_plan, create_products,
        setup_accounting)
    from utility_metering.reading_import import import_readings
    sys.path.insert(0, HERE)
    from bench_setup import create_meters, run_in_transaction

    n = args.customers
    t0 = time.perf_counter()
    drop_db()
    activate_module(['utility_portal'])
    print(f"setup: modules activated in {time.perf_counter() - t0:.0f}s",
        flush=True)
    periods = [dt.date(2024, m + 1, 1) - dt.timedelta(days=1)
        for m in range(1, args.bills + 1)]

    def setup():
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
            term = create_payment_term(14)
            config = Configuration(1)
            config.bill_batch_size = 1000
            config.save()
            parties = Party.create([{
                        'name': 'Customer %06d' % i,
                        'addresses': [('create', [{
                                        'street': '%d Main St' % i,
                                        'postal_code': '%05d' % i}])],
                        } for i in range(n)])
            point_ids, _ = create_meters(pool, company, plan.service_type,
                parties, n, dt.datetime(2023, 12, 1))
            lines = ['meter,date_time,value']
            for i in range(n):
                value = 1000 + i % 50
                for month in range(1, args.bills + 2):
                    lines.append(f'M{i:07d},2024-{month:02d}-01T00:00:00,'
                        f'{value}')
                    value += 300 + (i * 7 + month * 13) % 400
            result = import_readings(('\n'.join(lines) + '\n').encode(),
                company)
            assert not result.errors, result.summary()
            agreements = Agreement.create([{
                        'company': company.id,
                        'party': p.id,
                        'service_point': sp,
                        'rate_plan': plan.id,
                        'cycle': cycle.id,
                        'payment_term': term.id,
                        'invoice_address': p.addresses[0].id,
                        'start_date': dt.date(2024, 1, 1),
                        } for p, sp in zip(parties, point_ids)])
            Agreement.activate(agreements)
            Run = pool.get('utility.bill.run')
            runs = Run.create([{'company': company.id, 'cycle': cycle.id,
                        'period_end': end,
                        'invoice_date': end + dt.timedelta(days=1)}
                    for end in periods])
            # Web users and their sessions: bulk SQL (set-up only).
            from trytond.transaction import Transaction
            cursor = Transaction().connection.cursor()
            User = pool.get('web.user')
            Session = pool.get('web.user.session')
            user, session = User.__table__(), Session.__table__()
            now = dt.datetime.now()
            party_ids = [p.id for p in parties]
            keys = []
            for lo in range(0, n, 5000):
                chunk = party_ids[lo:lo + 5000]
                cursor.execute(*user.insert(
                        [user.email, user.party, user.email_valid,
                            user.active, user.create_uid, user.create_date],
                        [['customer%06d@example.com' % (lo + i), p, True,
                                True, 0, now]
                            for i, p in enumerate(chunk)],
                        returning=[user.id]))
                user_ids = [r[0] for r in cursor]
                chunk_keys = [secrets.token_urlsafe(32) for _ in user_ids]
                cursor.execute(*session.insert(
                        [session.key, session.user, session.create_uid,
                            session.create_date],
                        [[k, u, 0, now]
                            for k, u in zip(chunk_keys, user_ids)]))
                keys.extend(chunk_keys)
            return company.id, [r.id for r in runs], keys

    t0 = time.perf_counter()
    company_id, run_ids, keys = run_in_transaction(db, setup)
    print(f"setup: {n} customers, agreements, readings, web users and "
        f"sessions in {time.perf_counter() - t0:.0f}s", flush=True)
    context = {'company': company_id}
    for run_id in run_ids:
        t0 = time.perf_counter()

        def preview():
            Run = Pool().get('utility.bill.run')
            Run.preview([Run(run_id)])

        def process():
            Run = Pool().get('utility.bill.run')
            Run.process([Run(run_id)])
        run_in_transaction(db, preview, context)
        run_in_transaction(db, process, context)
        print(f"setup: bill run {run_id} in {time.perf_counter() - t0:.0f}s",
            flush=True)
    return keys


def session_keys(db):
    """Keys of the sessions created by the set-up (for --reuse), of the
    customers who have a bill (a set-up stopped during its bill runs)"""
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    Pool(db).init()
    with Transaction().start(db, 0, readonly=True):
        pool = Pool()
        cursor = Transaction().connection.cursor()
        session = pool.get('web.user.session').__table__()
        user = pool.get('web.user').__table__()
        bill = pool.get('utility.bill').__table__()
        cursor.execute(*session.join(user,
                condition=session.user == user.id).select(session.key,
                where=user.party.in_(bill.select(bill.party))))
        keys = [r[0] for r in cursor]
        cursor.execute(*bill.select(bill.id))
        bills = len(cursor.fetchall())
        print(f"reuse: {len(keys)} customers with {bills} bills",
            flush=True)
        return keys


def serve(args):
    """A pre-forked trytond: each worker runs the WSGI app in a threaded
    werkzeug server accepting on the same loopback socket"""
    import trytond.config as config
    config.update_etc(args.config)
    from werkzeug.serving import make_server
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(('127.0.0.1', args.port))
    sock.listen(1024)
    sock.set_inheritable(True)
    children = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:
            import logging
            logging.getLogger('werkzeug').setLevel(logging.WARNING)
            from trytond.pool import Pool
            from trytond.wsgi import app
            Pool.start()
            Pool(args.database).init()
            server = make_server('127.0.0.1', args.port, app, threaded=True,
                fd=sock.fileno())
            server.serve_forever()
            os._exit(0)
        children.append(pid)

    def stop(*a):
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for pid in children:
        os.waitpid(pid, 0)


def default_workers():
    return 2 * (os.cpu_count() or 1)


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def get(url, key):
    request = urllib.request.Request(url,
        headers={'Cookie': 'portal_session=%s' % key})
    t0 = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read().decode()
        return response.status, body, time.perf_counter() - t0


def profile(db, keys, samples):
    "Profile the two pages in-process; print the top functions"
    import cProfile
    import io
    import pstats
    import random

    from werkzeug.test import Client
    from werkzeug.wrappers import Response

    from trytond.pool import Pool
    from trytond.wsgi import app
    Pool(db).init()
    client = Client(app, Response)
    for page in ['dashboard', 'bills']:
        profiler = cProfile.Profile()
        t0, c0 = time.perf_counter(), time.process_time()
        for key in random.sample(keys, samples):
            client.set_cookie('portal_session', key,
                path='/%s/portal' % db)
            profiler.enable()
            response = client.get('/%s/portal/%s' % (db, page))
            profiler.disable()
            assert response.status_code == 200, response.status_code
        elapsed = (time.perf_counter() - t0) / samples
        cpu = (time.process_time() - c0) / samples
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats('cumulative').print_stats(25)
        stats.sort_stats('tottime').print_stats(15)
        print(f"profile {page}: {elapsed * 1000:.1f} ms per request, "
            f"{cpu * 1000:.1f} ms CPU (in-process, one at a time, "
            "under the profiler)")
        print(out.getvalue())


def main():
    parser = argparse.ArgumentParser(description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command')
    server = sub.add_parser('serve')
    server.add_argument('--config', required=True)
    server.add_argument('--port', type=int, required=True)
    server.add_argument('--workers', type=int, default=default_workers())
    server.add_argument('--database', required=True)
    parser.add_argument('--customers', type=int, default=10_000)
    parser.add_argument('--bills', type=int, default=3,
        help="bills per customer (monthly bill runs from January 2024)")
    parser.add_argument('--database', default='bench_portal')
    parser.add_argument('--connections', type=int, default=50)
    parser.add_argument('--duration', type=int, default=60)
    parser.add_argument('--workers', type=int, default=default_workers(),
        help="server processes, each threaded (default: two per CPU: a "
        "process waits on PostgreSQL part of each request)")
    parser.add_argument('--profile-only', action='store_true',
        help="with --profile: profile in-process, no load test")
    parser.add_argument('--reuse', action='store_true',
        help="keep the database of a previous run")
    parser.add_argument('--profile', type=int, default=0, metavar='N',
        help="profile N requests of each page in-process afterwards")
    args = parser.parse_args()
    if args.command == 'serve':
        return serve(args)

    uri = os.environ.get('TRYTOND_DATABASE__URI', '')
    if not uri.startswith('postgresql'):
        parser.error("PostgreSQL only: set TRYTOND_DATABASE__URI="
            "postgresql://…")
    os.environ['DB_NAME'] = db = args.database
    os.environ.pop('DB_CACHE', None)

    keys = None
    if args.reuse:
        try:
            keys = session_keys(db)
        except Exception as e:
            print(f"no database to reuse ({e}); creating it")
    if not keys:
        keys = setup_database(args, db)
    if args.profile and args.profile_only:
        profile(db, keys, args.profile)
        return 0

    port = free_port()
    workdir = tempfile.mkdtemp(prefix='bench_portal_')
    config_file = os.path.join(workdir, 'trytond.conf')
    with open(config_file, 'w') as fp:
        fp.write(f"[database]\nuri = {uri}\n"
            f"[web]\nlisten = 127.0.0.1:{port}\n"
            "[utility_portal]\nsecure_cookie = False\n")
    sessions = os.path.join(workdir, 'sessions.txt')
    with open(sessions, 'w') as fp:
        fp.write('\n'.join(keys) + '\n')
    script = os.path.join(workdir, 'portal.lua')
    with open(script, 'w') as fp:
        fp.write(LUA)
    env = {k: v for k, v in os.environ.items() if k != 'DB_NAME'}
    server = subprocess.Popen([sys.executable, os.path.abspath(__file__),
            'serve', '--config', config_file, '--port', str(port),
            '--workers', str(args.workers), '--database', db],
        env=env, stdout=subprocess.DEVNULL)
    base = f'http://127.0.0.1:{port}/{db}/portal'
    try:
        import random
        end = time.monotonic() + 120
        while True:
            try:
                status, body, _ = get(base + '/login', '')
                break
            except OSError:
                if time.monotonic() > end or server.poll() is not None:
                    raise RuntimeError("the server did not start")
                time.sleep(0.5)
        # Every worker loads its pool and caches first: warm up, and check
        # that a session shows its customer's pages (no redirect to login).
        for key in random.sample(keys, 40):
            for page in ['dashboard', 'bills']:
                status, body, _ = get(base + '/' + page, key)
                # urllib follows a redirect to the login page: look.
                assert status == 200 and 'name="password"' not in body, (
                    page, body[:300])
        for page in ['dashboard', 'bills']:
            times = sorted(get(base + '/' + page, key)[2]
                for key in random.sample(keys, 30))
            print(f"{page}: {times[len(times) // 2] * 1000:.1f} ms median "
                "alone (30 customers, one at a time)")
        load_before = os.getloadavg()
        result = subprocess.run(['wrk', '-t', '2',
                '-c', str(args.connections), '-d', f'{args.duration}s',
                '--timeout', '10s', '-s', script, base + '/dashboard'],
            env=dict(os.environ, PORTAL_SESSIONS=sessions,
                PORTAL_BASE=f'/{db}/portal'),
            capture_output=True, text=True, check=True)
        load_after = os.getloadavg()
    finally:
        server.terminate()
        server.wait(30)
    match = re.search(r'^RESULT (.*)$', result.stdout, re.M)
    if not match:
        print(result.stdout, result.stderr)
        return 1
    r = {k: int(v) for k, v in (i.split('=') for i in match.group(1).split())}
    errors = sum(r[k] for k in ['connect', 'read', 'write', 'status',
            'timeout', 'not_200'])
    rps = r['requests'] / (r['duration_us'] / 1e6)
    print(f"portal: {len(keys)} logged-in customers, {args.connections} "
        f"connections, {args.duration}s, {args.workers} server processes: "
        f"{r['requests']} requests, {rps:.1f} requests/s, "
        f"p50 {r['p50'] / 1000:.1f} ms, p95 {r['p95'] / 1000:.1f} ms, "
        f"p99 {r['p99'] / 1000:.1f} ms, max {r['max'] / 1000:.1f} ms, "
        f"errors {errors}")
    # Other work on the machine takes CPU from the server and from wrk.
    print("load average (1, 5, 15 min) before %s, after %s, on %d CPUs" % (
            ', '.join('%.2f' % l for l in load_before),
            ', '.join('%.2f' % l for l in load_after), os.cpu_count()))
    print("target p95 < 150 ms with no errors: %s" % (
            'met' if r['p95'] < 150_000 and not errors else 'NOT met'))
    if args.profile:
        profile(db, keys, args.profile)
    return 0 if not errors else 1


if __name__ == '__main__':
    sys.exit(main())
