"""Benchmark: the billing and receivables aging reports over a large ledger.

PostgreSQL only. Bulk-inserts by SQL (INSERT ... SELECT generate_series;
set-up speed is not what is measured) customers, agreements, posted
customer invoices with --lines invoice lines (4 per invoice), their bills,
invoice moves (receivable, revenue and tax lines) and, for most invoices,
a payment move reconciled with the receivable line; then times the
reports through the real models: search and read of the SQL-view models
utility.reporting.billing (all months) and utility.reporting.aging (as of
the last invoice month).

    TRYTOND_DATABASE__URI=postgresql://postgres@127.0.0.1:5432/ \\
        .venv/bin/python bench/reports.py --lines 1000000
"""
import argparse
import datetime as dt
import os
import sys
import time

LINES_PER_INVOICE = 4
# Invoices per customer: one a month.
MONTHS = 10
FIRST_MONTH = dt.date(2024, 1, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--lines', type=int, default=1_000_000,
        help="invoice lines (%d per invoice)" % LINES_PER_INVOICE)
    parser.add_argument('--database', default='bench_reports')
    parser.add_argument('--repeat', type=int, default=3,
        help="timed runs of each report (the best is printed)")
    parser.add_argument('--explain', action='store_true',
        help="print the query plans")
    parser.add_argument('--reuse', action='store_true',
        help="keep the data of a previous run")
    args = parser.parse_args()
    uri = os.environ.get('TRYTOND_DATABASE__URI', '')
    if not uri.startswith('postgresql'):
        sys.exit("PostgreSQL only: set TRYTOND_DATABASE__URI=postgresql://…")
    os.environ['DB_NAME'] = args.database

    from trytond.tests.test_tryton import activate_module, drop_db
    sys.path.insert(0, os.path.dirname(__file__))
    from bench_setup import run_in_transaction
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    db = args.database
    invoices = args.lines // LINES_PER_INVOICE
    customers = max(1, invoices // MONTHS)
    if not args.reuse:
        drop_db()
    activate_module(['utility_reporting'])

    def setup():
        from trytond.modules.account.tests import get_fiscalyear
        from trytond.modules.account_invoice.tests import (
            set_invoice_sequences)
        from trytond.modules.company.tests import create_company, set_company
        from utility_billing.tests.tools import (
            create_cycle, create_plan, create_products, setup_accounting)
        pool = Pool()
        Company = pool.get('company.company')
        FiscalYear = pool.get('account.fiscalyear')
        if Company.search([]):
            company, = Company.search([])
            return company.id
        company = create_company()
        with set_company(company):
            revenue, tax = setup_accounting(company, year=2024)
            for year in [2025]:
                fiscalyear = set_invoice_sequences(get_fiscalyear(company,
                        today=dt.date(year, 1, 1)))
                fiscalyear.save()
                FiscalYear.create_period([fiscalyear])
            products = create_products(revenue, tax)
            plan = create_plan(company, products)
            cycle = create_cycle(company)
            bulk_insert(pool, company, revenue, tax, plan, cycle,
                customers, invoices)
        return company.id

    t0 = time.perf_counter()
    company_id = run_in_transaction(db, setup)
    print(f"setup: {invoices * LINES_PER_INVOICE:,} invoice lines, "
        f"{invoices:,} invoices and bills, {customers:,} customers in "
        f"{time.perf_counter() - t0:.1f}s")

    def analyze():
        cursor = Transaction().connection.cursor()
        cursor.execute('ANALYZE')
    run_in_transaction(db, analyze)

    as_of = add_months(FIRST_MONTH, MONTHS - 1).replace(day=15)
    context = {'company': company_id, 'companies': [company_id]}

    def billing():
        Billing = Pool().get('utility.reporting.billing')
        with Transaction().set_context(from_date=FIRST_MONTH,
                to_date=as_of):
            rows = Billing.search([])
            values = Billing.read([r.id for r in rows], [
                    'month', 'service_type', 'bills', 'untaxed_amount',
                    'tax_amount', 'total_amount', 'average_bill',
                    'estimated_share', 'exceptions', 'credited_amount'])
        return len(values), sum(v['bills'] for v in values)

    def aging():
        # As the client opens the list: the count and the first page
        # (Tryton's list views load 1,000 rows at a time).
        Aging = Pool().get('utility.reporting.aging')
        with Transaction().set_context(date=as_of):
            count = Aging.search_count([])
            rows = Aging.search([], limit=1000)
            values = Aging.read([r.id for r in rows], [
                    'party', 'current', 'days_1_30', 'days_31_60',
                    'days_61_90', 'days_91_120', 'days_over_120',
                    'overdue', 'balance'])
        return count, sum(v['balance'] for v in values)

    def aging_export():
        # Every row to Excel, streamed by the module's export.
        pool = Pool()
        Aging = pool.get('utility.reporting.aging')
        Export = pool.get('utility.reporting.export.xlsx', type='report')
        with Transaction().set_context(date=as_of):
            cursor = Transaction().connection.cursor()
            cursor.execute(*Aging.search([], query=True))
            ids = [i for i, in cursor]
            _, content, _, _ = Export.execute(ids, {
                    'model': 'utility.reporting.aging'})
        return len(ids), len(content)

    if args.explain:
        def explain():
            pool = Pool()
            cursor = Transaction().connection.cursor()
            for name, ctx in [
                    ('utility.reporting.billing',
                        {'from_date': FIRST_MONTH, 'to_date': as_of}),
                    ('utility.reporting.aging', {'date': as_of})]:
                with Transaction().set_context(ctx):
                    query = pool.get(name).table_query()
                    sql, params = tuple(query)
                    cursor.execute('EXPLAIN ANALYZE ' + sql, params)
                    print(name)
                    print('\n'.join(r[0] for r in cursor))
        run_in_transaction(db, explain, context)

    print(f"backend: postgresql, database {db}")
    units = {
        'billing report': 'bills',
        'aging report (count, first page)': 'balance of the page',
        'aging export to XLSX (all rows)': 'bytes',
        }
    for name, func in [('billing report', billing),
            ('aging report (count, first page)', aging),
            ('aging export to XLSX (all rows)', aging_export)]:
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            result = run_in_transaction(db, func, context)
            times.append(time.perf_counter() - t0)
        print(f"{name}: {min(times):.2f}s (best of {len(times)}; "
            f"runs {', '.join('%.2f' % t for t in times)}) -> "
            f"{result[0]:,} rows, {result[1]:,} {units[name]}"
            f" (target < 5 s)")


def add_months(date, months):
    month = date.month - 1 + months
    return date.replace(year=date.year + month // 12, month=month % 12 + 1)


def bulk_insert(pool, company, revenue, tax, plan, cycle, customers,
        invoices):
    """Everything the reports read, by SQL: ids are reserved from each
    table's sequence so rows can refer to each other without a lookup."""
    from trytond.transaction import Transaction
    cursor = Transaction().connection.cursor()
    Account = pool.get('account.account')
    Journal = pool.get('account.journal')
    ModelData = pool.get('ir.model.data')
    receivable, = Account.search([
            ('type.receivable', '=', True),
            ('company', '=', company.id)], limit=1)
    cash, = Account.search([
            ('company', '=', company.id), ('code', '=', '1.1.1')], limit=1)
    tax_account = tax.invoice_account
    revenue_journal = Journal(ModelData.get_id('account', 'journal_revenue'))
    cash_journal = Journal(ModelData.get_id('account', 'journal_cash'))
    service_type = plan.service_type.id
    currency = company.currency.id

    def reserve(table, count):
        "First of count new ids of table"
        cursor.execute(f"SELECT setval('{table}_id_seq', "
            f"nextval('{table}_id_seq') + %s)", (count,))
        return cursor.fetchone()[0] - count + 1

    n, p = invoices, customers
    party = reserve('party_party', p)
    address = reserve('party_address', p)
    point = reserve('utility_service_point', p)
    agreement = reserve('utility_service_agreement', p)
    invoice = reserve('account_invoice', n)
    move = reserve('account_move', 2 * n)
    line = reserve('account_move_line', 5 * n)
    reconciliation = reserve('account_move_reconciliation', n)
    common = "0, now()"
    params = dict(p=p, n=n, party=party, address=address, point=point,
        agreement=agreement, invoice=invoice, move=move, line=line,
        rec=reconciliation, company=company.id, st=service_type,
        plan=plan.id, cycle=cycle.id, currency=currency,
        receivable=receivable.id, revenue=revenue.id, tax=tax_account.id,
        cash=cash.id, rjournal=revenue_journal.id, cjournal=cash_journal.id,
        first=FIRST_MONTH, lpi=LINES_PER_INVOICE)
    # Invoice k: customer k % p, month k / p; untaxed 4 x (10 + k % 7) at
    # 20 % tax; 8 in 10 are paid 20 days after their date, but not those
    # of the last two months.
    date = "(%(first)s::date + ((g / %(p)s) || ' month')::interval + interval '9 day')::date"
    paid = "((g * 7) %% 10 < 8 AND g / %(p)s < " + str(MONTHS - 2) + ")"
    untaxed = f"({LINES_PER_INVOICE} * (10 + g %% 7))::numeric"
    statements = [
        f"""INSERT INTO party_party (id, name, code, active, create_uid,
            create_date)
        SELECT %(party)s + g, 'Customer ' || g, 'BC' || g, true, {common}
        FROM generate_series(0, %(p)s - 1) g""",
        f"""INSERT INTO party_address (id, party, street_unstructured, active, sequence,
            create_uid, create_date)
        SELECT %(address)s + g, %(party)s + g, g || ' Main St', true, 1,
            {common}
        FROM generate_series(0, %(p)s - 1) g""",
        f"""INSERT INTO utility_service_point (id, code, service_type,
            address, party, company, status, create_uid, create_date)
        SELECT %(point)s + g, 'BSP' || g, %(st)s, %(address)s + g,
            %(party)s + g, %(company)s, 'active', {common}
        FROM generate_series(0, %(p)s - 1) g""",
        f"""INSERT INTO utility_service_agreement (id, company, number,
            party, service_point, rate_plan, cycle, invoice_address,
            start_date, state, create_uid, create_date)
        SELECT %(agreement)s + g, %(company)s, 'BA' || g, %(party)s + g,
            %(point)s + g, %(plan)s, %(cycle)s, %(address)s + g,
            %(first)s, 'active', {common}
        FROM generate_series(0, %(p)s - 1) g""",
        # Invoice moves, then payment moves (ids move + n + k).
        f"""INSERT INTO account_move (id, company, journal, period, date,
            post_date, number, state, origin, create_uid, create_date)
        SELECT %(move)s + g, %(company)s, %(rjournal)s, period.id, d, d,
            'BM' || g, 'posted', 'account.invoice,' || (%(invoice)s + g),
            {common}
        FROM (SELECT g, {date} AS d FROM generate_series(0, %(n)s - 1) g) s
        -- One provider in this database: its periods.
        JOIN account_period period ON period.type = 'standard'
            AND d BETWEEN period.start_date AND period.end_date""",
        f"""INSERT INTO account_move (id, company, journal, period, date,
            post_date, number, state, origin, create_uid, create_date)
        SELECT %(move)s + %(n)s + g, %(company)s, %(cjournal)s, period.id,
            d, d, 'BP' || g, 'posted', 'account.invoice,' || (%(invoice)s + g),
            {common}
        FROM (SELECT g, {date} + 20 AS d FROM generate_series(0, %(n)s - 1) g
            WHERE {paid}) s
        -- One provider in this database: its periods.
        JOIN account_period period ON period.type = 'standard'
            AND d BETWEEN period.start_date AND period.end_date""",
        f"""INSERT INTO account_move_reconciliation (id, company, number,
            date, create_uid, create_date)
        SELECT %(rec)s + g, %(company)s, 'BR' || g, {date} + 20, {common}
        FROM generate_series(0, %(n)s - 1) g WHERE {paid}""",
        # Lines line + 5k: receivable, revenue, tax, then for payments
        # +3 receivable credit and +4 cash.
        f"""INSERT INTO account_move_line (id, move, account, party, debit,
            credit, maturity_date, reconciliation, state, create_uid,
            create_date)
        SELECT %(line)s + 5 * g, %(move)s + g, %(receivable)s,
            %(party)s + g %% %(p)s, {untaxed} * 1.2, 0, {date} + 14,
            CASE WHEN {paid} THEN %(rec)s + g END, 'valid', {common}
        FROM generate_series(0, %(n)s - 1) g
        UNION ALL
        SELECT %(line)s + 5 * g + 1, %(move)s + g, %(revenue)s, NULL, 0,
            {untaxed}, NULL, NULL, 'valid', {common}
        FROM generate_series(0, %(n)s - 1) g
        UNION ALL
        SELECT %(line)s + 5 * g + 2, %(move)s + g, %(tax)s, NULL, 0,
            {untaxed} * 0.2, NULL, NULL, 'valid', {common}
        FROM generate_series(0, %(n)s - 1) g
        UNION ALL
        SELECT %(line)s + 5 * g + 3, %(move)s + %(n)s + g, %(receivable)s,
            %(party)s + g %% %(p)s, 0, {untaxed} * 1.2, NULL, %(rec)s + g,
            'valid', {common}
        FROM generate_series(0, %(n)s - 1) g WHERE {paid}
        UNION ALL
        SELECT %(line)s + 5 * g + 4, %(move)s + %(n)s + g, %(cash)s, NULL,
            {untaxed} * 1.2, 0, NULL, NULL, 'valid', {common}
        FROM generate_series(0, %(n)s - 1) g WHERE {paid}""",
        f"""INSERT INTO account_invoice (id, company, type, number, party,
            invoice_address, currency, account, journal, invoice_date,
            accounting_date, state, move, untaxed_amount_cache,
            tax_amount_cache, total_amount_cache, create_uid, create_date)
        SELECT %(invoice)s + g, %(company)s, 'out', 'BI' || g,
            %(party)s + g %% %(p)s, %(address)s + g %% %(p)s, %(currency)s,
            %(receivable)s, %(rjournal)s, {date}, {date},
            CASE WHEN {paid} THEN 'paid' ELSE 'posted' END, %(move)s + g,
            {untaxed}, {untaxed} * 0.2, {untaxed} * 1.2, {common}
        FROM generate_series(0, %(n)s - 1) g""",
        f"""INSERT INTO account_invoice_line (invoice, type, sequence,
            quantity, unit_price, account, description, currency, company,
            invoice_type, party, create_uid, create_date)
        SELECT %(invoice)s + g, 'line', i, 1, 10 + g %% 7, %(revenue)s,
            'Charge ' || i, %(currency)s, %(company)s, 'out',
            %(party)s + g %% %(p)s, {common}
        FROM generate_series(0, %(n)s - 1) g,
            generate_series(1, %(lpi)s) i""",
        f"""INSERT INTO utility_bill (company, agreement, party,
            service_point, period_start, period_end, consumption, estimated,
            invoice, state, create_uid, create_date)
        SELECT %(company)s, %(agreement)s + g %% %(p)s, %(party)s + g %% %(p)s,
            %(point)s + g %% %(p)s,
            (%(first)s::date + ((g / %(p)s) || ' month')::interval)::date,
            (%(first)s::date + ((g / %(p)s + 1) || ' month')::interval
                - interval '1 day')::date,
            400 + g %% 300, g %% 10 = 0, %(invoice)s + g, 'billed', {common}
        FROM generate_series(0, %(n)s - 1) g""",
        ]
    for statement in statements:
        t0 = time.perf_counter()
        cursor.execute(statement, params)
        print(f"  {statement.split('(')[0].strip()}: {cursor.rowcount:,} "
            f"rows in {time.perf_counter() - t0:.1f}s", flush=True)


if __name__ == '__main__':
    main()
