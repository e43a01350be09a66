"""Benchmark: bank statement lines matched to open bills (PostgreSQL).

Imports one CAMT.053 statement of N transfers through Tryton's statement
import wizard against N posted customer invoices, and prints lines/second
of:
- matching alone (``account.statement`` "Match Bills": references resolved,
  amounts to pay read, statement lines created), the figure with a target
  of 1,000 lines/s;
- the whole import (parse, duplicate checks, save, match);
- with --validate, validation (Tryton creates the moves and reconciles
  the paid bills; slow on large statements, see the report).

Transfers: 85% pay their bill exactly, 5% partly, 5% too much and 5% carry
a reference no bill has.

    TRYTOND_DATABASE__URI=postgresql://postgres@127.0.0.1:5432/ \\
        .venv/bin/python bench/statement_match.py --lines 10000

The invoices are copied from one posted through the ORM with bulk SQL
(set-up, not measured); everything timed runs the module's code.
"""
import argparse
import datetime as dt
import os
import sys
import time
from decimal import Decimal

IBAN = 'BE71096123456769'


def main():
    parser = argparse.ArgumentParser(description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--lines', type=int, default=10_000,
        help="statement lines, and as many open invoices")
    parser.add_argument('--database', default='bench_statement_match')
    parser.add_argument('--validate', action='store_true',
        help="also time Tryton's validation (moves, reconciliation): "
        "slow, its payment-line domain checks grow with the statement")
    parser.add_argument('--profile', action='store_true')
    args = parser.parse_args()
    uri = os.environ.get('TRYTOND_DATABASE__URI', '')
    if not uri.startswith('postgresql'):
        sys.exit("PostgreSQL only: set TRYTOND_DATABASE__URI=postgresql://…")
    os.environ['DB_NAME'] = args.database

    from trytond.tests.test_tryton import activate_module, drop_db
    from trytond.pool import Pool
    sys.path.insert(0, os.path.dirname(__file__))
    from bench_setup import run_in_transaction

    drop_db()
    activate_module(['utility_statement'])
    db = args.database
    n = args.lines

    t0 = time.perf_counter()
    company_id, amounts = run_in_transaction(db, lambda: setup(n))
    print(f"setup: {n} posted invoices in {time.perf_counter() - t0:.1f}s")
    context = {'company': company_id}
    camt = camt_file(amounts)

    def import_():
        pool = Pool()
        Wizard = pool.get('account.statement.import', type='wizard')
        session_id, _, _ = Wizard.create()
        result = Wizard.execute(session_id, {'start': {
                    'company': company_id,
                    'file_': camt,
                    'file_format': 'camt_053_001',
                    }}, 'import_')
        Wizard.delete(session_id)
        action, = result['actions']
        statement_id, = action[1]['res_id']
        return statement_id

    def unmatch():
        pool = Pool()
        Line = pool.get('account.statement.line')
        Origin = pool.get('account.statement.origin')
        Line.delete(Line.search([('statement', '=', statement_id)]))
        Origin.write(Origin.search([('statement', '=', statement_id)]), {
                'utility_match': None,
                'utility_match_note': None,
                'utility_reference': None,
                })

    def match():
        Statement = Pool().get('account.statement')
        Statement.utility_match([Statement(statement_id)])

    def counts():
        pool = Pool()
        Origin = pool.get('account.statement.origin')
        Line = pool.get('account.statement.line')
        result = {}
        for state in ['matched', 'partial', 'overpaid', 'unmatched']:
            result[state] = Origin.search_count([
                    ('statement', '=', statement_id),
                    ('utility_match', '=', state)])
        result['lines'] = Line.search_count([
                ('statement', '=', statement_id)])
        return result

    def book_unmatched_and_validate():
        pool = Pool()
        Statement = pool.get('account.statement')
        Origin = pool.get('account.statement.origin')
        Line = pool.get('account.statement.line')
        statement = Statement(statement_id)
        # The accountant's part: unknown transfers to a suspense account.
        Line.create([{
                    'statement': statement_id,
                    'origin': o.id,
                    'date': o.date,
                    'amount': o.amount,
                    'account': statement.journal.account.id,
                    } for o in Origin.search([
                        ('statement', '=', statement_id),
                        ('utility_match', '=', 'unmatched')])])
        t = time.perf_counter()
        Statement.validate_statement([statement])
        return time.perf_counter() - t

    print(f"backend: postgresql, {n} statement lines against {n} "
        f"open invoices", flush=True)
    t0 = time.perf_counter()
    statement_id = run_in_transaction(db, import_, context)
    import_time = time.perf_counter() - t0
    print(f"import (parse, checks, save, match): {import_time:.1f}s = "
        f"{n / import_time:,.0f} lines/s", flush=True)
    first = run_in_transaction(db, counts, context)
    run_in_transaction(db, unmatch, context)

    if args.profile:
        import cProfile
        profiler = cProfile.Profile()
        profiler.enable()
    t0 = time.perf_counter()
    run_in_transaction(db, match, context)
    match_time = time.perf_counter() - t0
    if args.profile:
        import pstats
        profiler.disable()
        pstats.Stats(profiler).sort_stats('cumulative').print_stats(30)
    second = run_in_transaction(db, counts, context)
    assert first == second, (first, second)
    expected_unmatched = len([i for i in range(n) if i % 20 == 0])
    assert second['unmatched'] == expected_unmatched, second
    print(f"origins: {second}")
    print(f"matching alone: {match_time:.2f}s = "
        f"{n / match_time:,.0f} lines/s (target 1,000 lines/s)", flush=True)
    if args.validate:
        validate_time = run_in_transaction(db, book_unmatched_and_validate,
            context)
        print(f"validation (moves and reconciliation, Tryton): "
            f"{validate_time:.1f}s = {n / validate_time:,.0f} lines/s")

def setup(n):
    """A provider with a bank journal and n posted invoices; returns the
    company id and the amounts of the invoices by number"""
    from trytond.modules.company.tests import create_company, set_company
    from trytond.modules.currency.tests import (
        add_currency_rate, create_currency)
    from trytond.pool import Pool
    from utility_billing.tests.tools import setup_accounting
    from utility_statement.tests.tools import create_bank_journal
    pool = Pool()
    Party = pool.get('party.party')
    Invoice = pool.get('account.invoice')
    currency = create_currency('USD')
    add_currency_rate(currency, 1)
    company = create_company(currency=currency)
    with set_company(company):
        revenue, _ = setup_accounting(company, year=2024)
        create_bank_journal(company, iban=IBAN)
        parties = Party.create([{
                    'name': 'Customer %06d' % i,
                    'addresses': [('create', [{
                                    'street': '%d Main St' % i}])],
                    } for i in range(n)])
        Journal = pool.get('account.journal')
        journal, = Journal.search([('type', '=', 'revenue')], limit=1)
        template = Invoice(company=company, type='out', party=parties[0],
            invoice_address=parties[0].addresses[0],
            account=parties[0].account_receivable_used,
            currency=company.currency, journal=journal,
            invoice_date=dt.date(2024, 2, 1),
            lines=[{'type': 'line', 'account': revenue, 'quantity': 1,
                    'unit_price': Decimal('100'), 'description': "Bill"}])
        template.save()
        Invoice.post([template])
        amounts = copy_invoices(template, parties[1:])
        amounts[template.number] = template.total_amount
        return company.id, amounts


def copy_invoices(template, parties):
    """Copy the posted template invoice, its move and its two move lines
    for each party with bulk INSERTs (set-up speed only)"""
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    pool = Pool()
    cursor = Transaction().connection.cursor()
    tables = {name: pool.get(name).__table__() for name in [
            'account.invoice', 'account.move', 'account.move.line']}

    def template_row(name, where):
        table = tables[name]
        cursor.execute(*table.select(where=where))
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row)) for row in cursor]

    def insert(name, rows):
        table = tables[name]
        columns = [c for c in rows[0] if c != 'id']
        ids = []
        for lo in range(0, len(rows), 500):
            cursor.execute(*table.insert(
                    [getattr(table, c) for c in columns],
                    [[r[c] for c in columns] for r in rows[lo:lo + 500]],
                    returning=[table.id]))
            ids.extend(r[0] for r in cursor)
        return ids

    invoice_t, = template_row('account.invoice',
        tables['account.invoice'].id == template.id)
    move_t, = template_row('account.move',
        tables['account.move'].id == template.move.id)
    lines_t = template_row('account.move.line',
        tables['account.move.line'].move == template.move.id)
    receivable_t, = [l for l in lines_t if l['party']]
    revenue_t = [l for l in lines_t if not l['party']]
    start = int(template.number) + 1
    amounts = {}
    moves, invoices = [], []
    for i, party in enumerate(parties):
        number = str(start + i)
        amount = Decimal(40 + (i * 37) % 160) + Decimal(i % 100) / 100
        amounts[number] = amount
        moves.append(dict(move_t, number=number,
                origin=None))
        invoices.append(dict(invoice_t, number=number, number_alnum=number,
                number_digit=int(number), party=party.id,
                invoice_address=party.addresses[0].id,
                untaxed_amount_cache=amount, tax_amount_cache=Decimal(0),
                total_amount_cache=amount, invoice_report_cache=None,
                invoice_report_cache_id=None))
    move_ids = insert('account.move', moves)
    for invoice, move_id in zip(invoices, move_ids):
        invoice['move'] = move_id
    invoice_ids = insert('account.invoice', invoices)
    move = tables['account.move']
    # One UPDATE sets every move's origin to its invoice.
    from sql import Literal
    from sql.operators import Concat
    invoice = tables['account.invoice']
    cursor.execute(*move.update([move.origin],
            [Concat(Literal('account.invoice,'), invoice.select(
                        invoice.id.cast('VARCHAR'),
                        where=invoice.move == move.id))],
            where=move.id.in_(move_ids)))
    lines = []
    for (number, amount), move_id, party in zip(
            list(amounts.items()), move_ids, parties):
        lines.append(dict(receivable_t, move=move_id, party=party.id,
                debit=amount, credit=Decimal(0), reconciliation=None))
        for line in revenue_t:
            lines.append(dict(line, move=move_id, debit=Decimal(0),
                    credit=amount))
    insert('account.move.line', lines)
    return amounts


def camt_file(amounts):
    "One CAMT.053 statement paying the bills (see the module docstring)"
    from stdnum import iso7064, iso11649
    entries = []
    total = Decimal(0)
    for i, (number, amount) in enumerate(sorted(amounts.items(),
                key=lambda x: int(x[0]))):
        if i % 20 == 0:
            number = 'NOBILL%d' % i
        elif i % 20 == 1:
            amount -= Decimal('10.00')
        elif i % 20 == 2:
            amount += Decimal('25.00')
        check = iso7064.mod_97_10.calc_check_digits(f'{number}RF')
        reference = iso11649.format(f'RF{check}{number}')
        total += amount
        entries.append(f"""
      <Ntry>
        <NtryRef>{i:08d}</NtryRef>
        <Amt Ccy="USD">{amount}</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>2024-02-12</Dt></BookgDt>
        <NtryDtls><TxDtls>
          <AmtDtls><TxAmt><Amt Ccy="USD">{amount}</Amt></TxAmt></AmtDtls>
          <RltdPties><Dbtr><Nm>Customer {i}</Nm></Dbtr></RltdPties>
          <RmtInf><Strd><CdtrRefInf><Ref>{reference}</Ref>
          </CdtrRefInf></Strd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>""")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>BENCH</MsgId><CreDtTm>2024-02-13T06:00:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>BENCH-2024-02-12</Id>
      <CreDtTm>2024-02-13T06:00:00</CreDtTm>
      <Acct><Id><IBAN>{IBAN}</IBAN></Id><Ccy>USD</Ccy></Acct>
      <TxsSummry><TtlNtries><NbOfNtries>{len(entries)}</NbOfNtries>
        <TtlNetNtry><Amt>{total}</Amt><CdtDbtInd>CRDT</CdtDbtInd></TtlNetNtry>
      </TtlNtries></TxsSummry>{''.join(entries)}
    </Stmt>
  </BkToCstmrStmt>
</Document>
""".encode('utf-8')


if __name__ == '__main__':
    main()
