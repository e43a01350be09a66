"""Bill runs: select due agreements, price them, post their invoices.

A run is previewed (priced without writing any invoice), then processed
in batches; each batch is one transaction (a queued task when workers
run), so a crash loses at most the batch in flight and the run resumes
where it stopped. The agreement lock and the bill's period constraint
make a second run or a re-run skip what is already billed.
"""
import datetime as dt
from collections import defaultdict
from decimal import Decimal

from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Unique, Workflow, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from utility_metering.meter import company_timezone

from .exceptions import BillRunPastDateWarning, RatingError


def meter_end_time(meter, date):
    "The UTC time at which the provider's day after date begins"
    tzinfo = company_timezone(meter.company)
    local = dt.datetime.combine(date + dt.timedelta(days=1), dt.time(),
        tzinfo=tzinfo)
    return local.astimezone(dt.timezone.utc).replace(tzinfo=None)


class BillRun(Workflow, ModelSQL, ModelView):
    "Bill Run"
    __name__ = 'utility.bill.run'
    _states = {'readonly': Eval('state') != 'draft'}
    company = fields.Many2One('company.company', "Provider", required=True,
        states=_states)
    cycle = fields.Many2One('utility.billing.cycle', "Billing Cycle",
        required=True, states=_states,
        domain=[('company', '=', Eval('company', -1))])
    period_end = fields.Date("Periods Ending By", required=True,
        states=_states,
        help="Bill every agreement of the cycle whose next period ends "
        "on or before this date.")
    invoice_date = fields.Date("Invoice Date", required=True,
        states=_states)
    lines = fields.One2Many('utility.bill.run.line', 'run', "Lines",
        readonly=True)
    bill_count = fields.Function(fields.Integer("Bills"), 'get_counts')
    exception_count = fields.Function(fields.Integer("Exceptions"),
        'get_counts')
    pending_count = fields.Function(fields.Integer("Pending"), 'get_counts')
    total_amount = fields.Function(fields.Numeric("Total Untaxed",
            digits=(16, 2)), 'get_counts')
    state = fields.Selection([
            ('draft', "Draft"),
            ('previewed', "Previewed"),
            ('processing', "Processing"),
            ('done', "Done"),
            ], "State", required=True, readonly=True, sort=False)
    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('period_end', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('draft', 'previewed'),
            ('previewed', 'previewed'),
            ('previewed', 'draft'),
            ('previewed', 'processing'),
            ('processing', 'processing'),
            ('processing', 'done'),
            }
        cls._buttons.update({
                'preview': {
                    'invisible': ~Eval('state').in_(['draft', 'previewed']),
                    'depends': ['state'],
                    },
                'draft': {
                    'invisible': Eval('state') != 'previewed',
                    'depends': ['state'],
                    },
                'process': {
                    'invisible': ~Eval('state').in_(
                        ['previewed', 'processing']),
                    'depends': ['state'],
                    },
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_state():
        return 'draft'

    @classmethod
    def default_invoice_date(cls):
        return Pool().get('ir.date').today()

    def get_rec_name(self, name):
        return '%s %s' % (self.cycle.rec_name, self.period_end)

    @classmethod
    def get_counts(cls, runs, names):
        pool = Pool()
        Line = pool.get('utility.bill.run.line')
        line = Line.__table__()
        cursor = Transaction().connection.cursor()
        result = {n: {r.id: 0 for r in runs} for n in names}
        if 'total_amount' in result:
            result['total_amount'] = {r.id: Decimal(0) for r in runs}
        for sub in grouped_slice([r.id for r in runs], 900):
            cursor.execute(*line.select(line.run, line.state, line.amount,
                    where=line.run.in_(list(sub))))
            for run_id, state, amount in cursor:
                key = {'billed': 'bill_count', 'exception': 'exception_count',
                    }.get(state, 'pending_count')
                if key in result:
                    result[key][run_id] += 1
                if 'total_amount' in result and state != 'exception':
                    result['total_amount'][run_id] += Decimal(
                        str(amount or 0))
        return result

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    def draft(cls, runs):
        Line = Pool().get('utility.bill.run.line')
        Line.delete([l for r in runs for l in r.lines])

    @classmethod
    @ModelView.button
    @Workflow.transition('previewed')
    def preview(cls, runs):
        "Select the due agreements and price them without billing"
        pool = Pool()
        Line = pool.get('utility.bill.run.line')
        Line.delete([l for r in runs for l in r.lines])
        for run in runs:
            lines = Line.create([{
                        'run': run.id,
                        'agreement': a.id,
                        'period_start': start,
                        'period_end': end,
                        'state': 'pending',
                        } for a, (start, end) in run.due_agreements()])
            Line.price(lines)

    def due_agreements(self):
        "(agreement, period) of the cycle's agreements due in this run"
        Agreement = Pool().get('utility.service.agreement')
        agreements = Agreement.search([
                ('company', '=', self.company.id),
                ('cycle', '=', self.cycle.id),
                ('state', '=', 'active'),
                ('start_date', '<=', self.period_end),
                ], order=[('number', 'ASC')])
        due = []
        for agreement in agreements:
            period = agreement.next_period()
            if period and period[1] <= self.period_end:
                due.append((agreement, period))
        return due

    @classmethod
    @Workflow.transition('processing')
    def start_processing(cls, runs):
        pass

    @classmethod
    @ModelView.button
    def process(cls, runs):
        "Bill the priced lines in batches, each in its own transaction"
        pool = Pool()
        Date = pool.get('ir.date')
        Warning = pool.get('res.user.warning')
        for run in runs:
            with Transaction().set_context(company=run.company.id):
                today = Date.today()
            if run.invoice_date < today:
                key = Warning.format('utility_bill_run_past', [run])
                if Warning.check(key):
                    raise BillRunPastDateWarning(key, gettext(
                            'utility_billing.msg_bill_run_past_date',
                            run=run.rec_name, date=run.invoice_date))
        cls.start_processing(runs)
        runs = cls.browse(runs)
        Line = pool.get('utility.bill.run.line')
        Configuration = pool.get('utility.billing.configuration')
        size = Configuration(1).bill_batch_size
        for run in runs:
            # Exceptions are tried again: staff may have fixed them.
            todo = [l for l in run.lines if l.state != 'billed']
            if not todo:
                cls.finish([run])
                continue
            inline = Transaction().context.get('bill_run_inline')
            for batch in grouped_slice(todo, size):
                batch = list(batch)
                if inline:
                    Line.bill_lines(batch)
                else:
                    # A task per batch: each runs in its own transaction
                    # after this one commits (in a worker when configured).
                    Line.__queue__.bill_lines(batch)
        cls.finish_completed(runs)

    @classmethod
    @Workflow.transition('done')
    def finish(cls, runs):
        pass

    @classmethod
    def finish_completed(cls, runs):
        "Close the runs whose every line is billed or an exception"
        runs = cls.browse(runs)
        done = [r for r in runs if r.state == 'processing'
            and not any(l.state in {'pending', 'priced'} for l in r.lines)]
        if done:
            cls.finish(done)


    @classmethod
    def create_due_runs(cls, date=None):
        """Cron: bill every cycle whose agreements have periods ended.

        One run per provider and cycle covers the periods ending before
        date (default: the provider's today); a cycle with an open run is
        left to it.
        """
        pool = Pool()
        Cycle = pool.get('utility.billing.cycle')
        Date = pool.get('ir.date')
        runs = []
        for cycle in Cycle.search([]):
            with Transaction().set_context(company=cycle.company.id):
                today = date or Date.today()
                if cls.search([
                            ('cycle', '=', cycle.id),
                            ('state', '!=', 'done'),
                            ], limit=1):
                    continue
                run = cls(company=cycle.company, cycle=cycle,
                    period_end=today - dt.timedelta(days=1),
                    invoice_date=today)
                if not run.due_agreements():
                    continue
                run.save()
                cls.preview([run])
                cls.process([run])
                runs.append(run)
        return runs


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('utility.bill.run|create_due_runs', "Run Due Bill Runs"))


class BillRunLine(ModelSQL, ModelView):
    "Bill Run Line"
    __name__ = 'utility.bill.run.line'
    run = fields.Many2One('utility.bill.run', "Bill Run", required=True,
        ondelete='CASCADE', readonly=True)
    agreement = fields.Many2One('utility.service.agreement', "Agreement",
        required=True, readonly=True, ondelete='RESTRICT')
    period_start = fields.Date("Period Start", required=True, readonly=True)
    period_end = fields.Date("Period End", required=True, readonly=True)
    consumption = fields.Numeric("Consumption", digits=(16, 4),
        readonly=True)
    estimated = fields.Boolean("Estimated", readonly=True)
    amount = fields.Numeric("Untaxed Amount", digits=(16, 2), readonly=True)
    trace = fields.Text("Computation", readonly=True)
    reason = fields.Text("Exception", readonly=True)
    bill = fields.Many2One('utility.bill', "Bill", readonly=True)
    state = fields.Selection([
            ('pending', "Pending"),
            ('priced', "Priced"),
            ('exception', "Exception"),
            ('billed', "Billed"),
            ], "State", required=True, readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('run_agreement_unique', Unique(t, t.run, t.agreement),
                'utility_billing.msg_bill_run_agreement_unique'),
            ]

    @classmethod
    def _quote(cls, lines, consumptions=None):
        """Price lines; return {line: (consumption, priced bill)} and
        {line: exception reason}

        consumptions: those of the lines when already read."""
        pool = Pool()
        Meter = pool.get('utility.meter')
        quotes, exceptions = {}, {}
        if consumptions is None:
            consumptions = Meter.consumptions([
                    (l.agreement.service_point, l.period_start,
                        l.period_end) for l in lines])
        for line, usage in zip(lines, consumptions):
            agreement = line.agreement
            reason = None
            if not usage.complete:
                reason = gettext('utility_billing.msg_bill_missing_reading',
                    agreement=agreement.rec_name,
                    start=line.period_start, end=line.period_end)
            elif usage.quantity < 0:
                reason = gettext(
                    'utility_billing.msg_bill_negative_consumption',
                    agreement=agreement.rec_name, quantity=usage.quantity)
            elif any(r.state == 'rejected' for r in usage.readings):
                reason = gettext('utility_billing.msg_bill_rejected_reading',
                    agreement=agreement.rec_name)
            elif not agreement.invoice_address:
                reason = gettext('utility_billing.msg_bill_no_address',
                    agreement=agreement.rec_name)
            if reason is None:
                try:
                    priced = agreement.rate_plan.price(
                        line.period_start, line.period_end,
                        agreement.rate_plan.registers(usage, agreement),
                        service_point=agreement.service_point)
                except RatingError as exc:
                    reason = exc.message
                else:
                    if usage.quantity == 0 and not priced.lines:
                        reason = gettext(
                            'utility_billing.msg_bill_zero_consumption',
                            agreement=agreement.rec_name)
            if reason is not None:
                exceptions[line] = reason
            else:
                quotes[line] = (usage, priced)
        return quotes, exceptions

    @classmethod
    def estimate_missing(cls, lines):
        """Estimate the reading at the end of periods nobody read.

        Utilities bill on time: a meter without a reading after the period
        gets one estimated from its own use, trued up by the next read.
        Return the consumptions of lines when nothing was estimated (they
        are still right), else None.
        """
        pool = Pool()
        Meter = pool.get('utility.meter')
        Reading = pool.get('utility.meter.reading')
        consumptions = Meter.consumptions([
                (l.agreement.service_point, l.period_start, l.period_end)
                for l in lines])
        estimated = False
        for line, usage in zip(lines, consumptions):
            if usage.complete:
                continue
            point = line.agreement.service_point
            meter = Meter.search([('service_point', '=', point.id)],
                limit=1)
            if not meter:
                continue
            meter, = meter
            when = meter_end_time(meter, line.period_end)
            last = Reading.search([
                    ('meter', '=', meter.id),
                    ('state', 'in', ['valid', 'billed']),
                    ], order=[('date_time', 'DESC')], limit=1)
            if not last or last[0].date_time >= when:
                continue
            try:
                Reading.estimate(meter, when)
            except UserError:
                # No history to estimate from: the line stays an exception.
                continue
            estimated = True
        return None if estimated else consumptions

    @classmethod
    def price(cls, lines):
        "Dry run: price the lines and record exceptions, write no invoice"
        quotes, exceptions = cls._quote(lines)
        to_write = []
        for line, (usage, priced) in quotes.items():
            to_write.extend([[line], {
                        'state': 'priced',
                        'consumption': usage.quantity,
                        'estimated': usage.estimated,
                        'amount': priced.total,
                        'trace': priced.explain(),
                        'reason': None,
                        }])
        for line, reason in exceptions.items():
            to_write.extend([[line], {
                        'state': 'exception',
                        'reason': reason,
                        'amount': None,
                        }])
        if to_write:
            cls.write(*to_write)

    @classmethod
    def bill_lines(cls, lines):
        "Bill lines in one transaction; already billed periods are skipped"
        pool = Pool()
        Agreement = pool.get('utility.service.agreement')
        Bill = pool.get('utility.bill')
        Run = pool.get('utility.bill.run')
        lines = cls.browse(lines)
        # Tryton takes a lock by restarting the transaction with it. Posting
        # numbers invoices from strict sequences and may open a journal
        # period: ask for those locks first, so restarts cost no pricing.
        pool.get('ir.sequence.strict').lock()
        pool.get('account.journal.period').lock()
        # A concurrent run waits here, then sees what this one billed.
        Agreement.lock([l.agreement for l in lines])
        lines = cls.browse([l.id for l in lines])
        todo, skipped = [], []
        for line in lines:
            if line.state == 'billed':
                continue
            if line.agreement.next_period() != (
                    line.period_start, line.period_end):
                skipped.append(line)
            else:
                todo.append(line)
        if skipped:
            cls.write(skipped, {
                    'state': 'exception',
                    'reason': gettext('utility_billing.msg_bill_already_billed'),
                    })
        # Read once for both when no reading was estimated
        consumptions = cls.estimate_missing(todo)
        quotes, exceptions = cls._quote(todo, consumptions)
        for line, reason in exceptions.items():
            cls.write([line], {'state': 'exception', 'reason': reason})
        billable = [l for l in todo if l in quotes]
        bills = Bill.create_bills([(
                    line.agreement, line.period_start, line.period_end,
                    *quotes[line], line.run) for line in billable])
        to_write = []
        by_end = defaultdict(list)
        for line, bill in zip(billable, bills):
            usage, priced = quotes[line]
            to_write.extend([[line], {
                        'state': 'billed',
                        'bill': bill.id,
                        'consumption': usage.quantity,
                        'estimated': usage.estimated,
                        'amount': priced.total,
                        'trace': priced.explain(),
                        'reason': None,
                        }])
            by_end[line.period_end].append(line.agreement)
        if to_write:
            cls.write(*to_write)
        for end, agreements in by_end.items():
            Agreement.write(agreements, {'billed_until': end})
        Run.finish_completed(list({l.run.id for l in lines}))
