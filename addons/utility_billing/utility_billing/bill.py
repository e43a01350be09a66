from sql.operators import Equal

from trytond.i18n import gettext
from trytond.model import Exclude, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.transaction import Transaction
from trytond.pyson import Eval

from .exceptions import BillError
from .invoice_bulk import post_new_customer_invoices


class Bill(ModelSQL, ModelView):
    """Utility Bill

    One agreement billed for one period; the posted customer invoice holds
    the money, this record holds what was billed and from which readings.
    """
    __name__ = 'utility.bill'
    company = fields.Many2One('company.company', "Provider", required=True,
        readonly=True)
    agreement = fields.Many2One('utility.service.agreement', "Agreement",
        required=True, readonly=True, ondelete='RESTRICT')
    party = fields.Many2One('party.party', "Customer", required=True,
        readonly=True,
        context={'company': Eval('company', -1)}, depends={'company'})
    service_point = fields.Many2One('utility.service.point',
        "Service Point", required=True, readonly=True)
    period_start = fields.Date("Period Start", required=True, readonly=True)
    period_end = fields.Date("Period End", required=True, readonly=True)
    consumption = fields.Numeric("Consumption", digits=(16, 4),
        readonly=True)
    unit = fields.Many2One('product.uom', "Unit", readonly=True)
    estimated = fields.Boolean("Estimated", readonly=True,
        help="Part of the consumption comes from an estimated reading.")
    invoice = fields.Many2One('account.invoice', "Invoice", readonly=True,
        ondelete='RESTRICT')
    credit_note = fields.Many2One('account.invoice', "Credit Note",
        readonly=True, ondelete='RESTRICT')
    bill_run = fields.Many2One('utility.bill.run', "Bill Run",
        readonly=True, ondelete='RESTRICT')
    readings = fields.Many2Many('utility.bill-utility.meter.reading', 'bill',
        'reading', "Readings", readonly=True)
    replaces = fields.Many2One('utility.bill', "Replaces", readonly=True,
        help="The bill this rebill replaces.")
    total_amount = fields.Function(fields.Numeric("Total",
            digits='currency'), 'get_invoice_amount')
    currency = fields.Function(fields.Many2One('currency.currency',
            "Currency"), 'get_invoice_amount')
    state = fields.Selection([
            ('billed', "Billed"),
            ('credited', "Credited"),
            ], "State", required=True, readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            # The database refuses a second bill for a period, also for
            # two bill runs racing each other.
            ('agreement_period_exclude',
                Exclude(t, (t.agreement, Equal), (t.period_start, Equal),
                    where=t.state == 'billed'),
                'utility_billing.msg_bill_period_billed'),
            ]
        cls._order = [('period_start', 'DESC'), ('id', 'DESC')]
        cls._buttons.update({
                'rebill': {
                    'invisible': Eval('state') != 'billed',
                    'depends': ['state'],
                    },
                })

    @staticmethod
    def default_state():
        return 'billed'

    def get_rec_name(self, name):
        return '%s %s..%s' % (
            self.agreement.rec_name, self.period_start, self.period_end)

    @classmethod
    def get_invoice_amount(cls, bills, names):
        result = {n: {} for n in names}
        for bill in bills:
            if 'total_amount' in names:
                result['total_amount'][bill.id] = (
                    bill.invoice.total_amount if bill.invoice else None)
            if 'currency' in names:
                result['currency'][bill.id] = (
                    bill.invoice.currency.id if bill.invoice else None)
        return result

    @classmethod
    def get_invoices(cls, items):
        """The unsaved invoices of items (as create_bills takes them), in
        the same order.

        Called once per batch: modules that complete the invoices or their
        lines (e.g. with analytic accounts) extend it and read what they
        need once for all items."""
        Date = Pool().get('ir.date')
        return [agreement.get_invoice(
                run.invoice_date if run else Date.today(),
                start, end, priced)
            for agreement, start, end, usage, priced, run in items]

    @classmethod
    def create_bills(cls, items):
        """Post one invoice and store one bill per item.

        items: (agreement, start, end, consumption, priced bill, run or
        None). The readings used become billed, so they cannot change.
        """
        pool = Pool()
        Reading = pool.get('utility.meter.reading')
        invoices = cls.get_invoices(items)
        # Staff confirmed a back-dated run once (BillRun.process), so the
        # per-invoice warning about due dates in the past is not asked again.
        with Transaction().set_context(
                _skip_warnings=any(i[-1] for i in items)):
            # Invoice.save + Invoice.post, in bulk SQL where it can
            post_new_customer_invoices(invoices)
        bills = []
        for (agreement, start, end, usage, priced, run), invoice in zip(
                items, invoices):
            bills.append(cls(
                    company=agreement.company,
                    agreement=agreement,
                    party=agreement.party,
                    service_point=agreement.service_point,
                    period_start=start,
                    period_end=end,
                    consumption=usage.quantity,
                    unit=usage.unit,
                    estimated=usage.estimated,
                    invoice=invoice,
                    bill_run=run,
                    readings=[r.id for r in usage.readings]))
        cls.save(bills)
        readings = {r for item in items for r in item[3].readings
            if r.state == 'valid'}
        if readings:
            Reading.bill(list(readings))
        return bills

    @classmethod
    @ModelView.button
    def rebill(cls, bills):
        """Credit bills and bill their periods again from current readings.

        Used after a billed reading is corrected: the original invoice is
        cancelled by a posted credit note, never edited.
        """
        pool = Pool()
        Invoice = pool.get('account.invoice')
        Meter = pool.get('utility.meter')
        bills = [b for b in bills if b.state == 'billed']
        if not bills:
            return []
        usages = Meter.consumptions([
                (b.service_point, b.period_start, b.period_end)
                for b in bills])
        items = []
        for bill, usage in zip(bills, usages):
            agreement = bill.agreement
            if not usage.complete:
                raise BillError(gettext(
                        'utility_billing.msg_rebill_incomplete',
                        bill=bill.rec_name))
            priced = agreement.rate_plan.price(bill.period_start,
                bill.period_end, {'total': usage.quantity},
                service_point=agreement.service_point)
            items.append((agreement, bill.period_start, bill.period_end,
                    usage, priced, None))
        # Refund reconciles the credit note with an unpaid original; a
        # paid original keeps its payment and the credit goes to the
        # customer's balance.
        credit_notes = []
        for bill in bills:
            refund = bill.invoice.state == 'posted'
            credit_note, = Invoice.credit([bill.invoice], refund=refund)
            if credit_note.state == 'draft':
                Invoice.post([credit_note])
            credit_notes.append(credit_note)
        for bill, credit_note in zip(bills, credit_notes):
            bill.state = 'credited'
            bill.credit_note = credit_note
        cls.save(bills)
        new_bills = cls.create_bills(items)
        for old, new in zip(bills, new_bills):
            new.replaces = old
        cls.save(new_bills)
        return new_bills


class BillReading(ModelSQL):
    "Utility Bill - Meter Reading"
    __name__ = 'utility.bill-utility.meter.reading'
    bill = fields.Many2One('utility.bill', "Bill", required=True,
        ondelete='CASCADE')
    reading = fields.Many2One('utility.meter.reading', "Reading",
        required=True, ondelete='RESTRICT')
