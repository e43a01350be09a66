"""Move out / move in: close the agreement at a final reading with a final
bill, open the next occupant's agreement on the same service point."""
import datetime as dt
from decimal import Decimal

from trytond.i18n import gettext
from trytond.exceptions import UserError
from trytond.model import ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from utility_billing.bill_run import meter_end_time


def final_bills(agreement):
    """Bill what is left of a closing agreement, up to its end date.

    The periods go through the bill-run line pricing (_quote: missing or
    rejected readings, rating errors) without a run, then
    Bill.create_bills, as a bill run's line would."""
    pool = Pool()
    Line = pool.get('utility.bill.run.line')
    Bill = pool.get('utility.bill')
    Agreement = pool.get('utility.service.agreement')
    bills = []
    while True:
        period = agreement.next_period()
        if not period:
            return bills
        start, end = period
        line = Line(agreement=agreement, period_start=start, period_end=end)
        quotes, exceptions = Line._quote([line])
        if exceptions:
            raise UserError(gettext('utility_care.msg_final_bill_exception',
                    agreement=agreement.rec_name, reason=exceptions[line]))
        bill, = Bill.create_bills([(agreement, start, end, *quotes[line],
                    None)])
        bills.append(bill)
        Agreement.write([agreement], {'billed_until': end})
        agreement = Agreement(agreement.id)


def move(request, agreement, date, value, new_party=None,
        invoice_address=None):
    """Move the occupant of agreement's service point out on date (the last
    day it pays for) at the meter reading value; the new_party's agreement
    starts the day after at the same reading.

    Return (final bills, new agreement or None)."""
    pool = Pool()
    Agreement = pool.get('utility.service.agreement')
    Meter = pool.get('utility.meter')
    Reading = pool.get('utility.meter.reading')
    Request = pool.get('utility.service.request')
    if agreement.state != 'active':
        raise UserError(gettext('utility_care.msg_move_agreement_active',
                agreement=agreement.rec_name))
    point = agreement.service_point
    meters = Meter.search([('service_point', '=', point.id)], limit=1)
    if not meters:
        raise UserError(gettext('utility_care.msg_move_no_meter',
                point=point.rec_name))
    meter, = meters
    reading = Reading(meter=meter, company=meter.company,
        date_time=meter_end_time(meter, date), value=Decimal(value),
        kind='actual', source='manual')
    reading.save()
    Reading.validate_reading([reading])
    if reading.state != 'valid':
        raise UserError(gettext('utility_care.msg_move_reading_invalid',
                reason=reading.rejection_reason or ''))
    Agreement.write([agreement], {'end_date': date})
    bills = final_bills(Agreement(agreement.id))
    Agreement.close([agreement])
    new_agreement = None
    if new_party:
        new_agreement, = Agreement.copy([agreement], default={
                'party': new_party.id,
                'invoice_address': (invoice_address
                    or new_party.address_get(type='invoice')).id,
                'start_date': date + dt.timedelta(days=1),
                'end_date': None,
                'state': 'draft',
                'payment_term': None,
                'deposit': None,
                })
        Agreement.activate([new_agreement])
    Request.write([request], {
            'resolution': 'moved',
            'new_bill': bills[-1].id if bills else None,
            'new_agreement': new_agreement.id if new_agreement else None,
            })
    Request.finish([request])
    return bills, new_agreement


class MoveStart(ModelView):
    "Move In or Out"
    __name__ = 'utility.service.request.move.start'
    request = fields.Many2One('utility.service.request', "Request",
        readonly=True)
    company = fields.Many2One('company.company', "Provider", readonly=True)
    agreement = fields.Many2One('utility.service.agreement',
        "Closing Agreement", required=True,
        domain=[
            ('company', '=', Eval('company', -1)),
            ('state', '=', 'active'),
            ])
    date = fields.Date("Move-Out Date", required=True,
        help="The last day billed to the leaving occupant; the new "
        "occupant's agreement starts the day after.")
    reading = fields.Numeric("Final Reading", digits=(16, 4), required=True)
    new_party = fields.Many2One('party.party', "New Occupant",
        context={'company': Eval('company', -1)}, depends={'company'})
    invoice_address = fields.Many2One('party.address', "Invoice Address",
        domain=[('party', '=', Eval('new_party', -1))],
        states={'invisible': ~Eval('new_party')})


class Move(Wizard):
    "Move In or Out"
    __name__ = 'utility.service.request.move'
    start = StateView('utility.service.request.move.start',
        'utility_care.service_request_move_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Move", 'move', 'tryton-ok', default=True),
            ])
    move = StateTransition()

    def default_start(self, fields):
        request = self.record
        values = {
            'request': request.id,
            'company': request.company.id,
            'date': request.requested_date,
            }
        if request.kind == 'move_out' and request.agreement:
            values['agreement'] = request.agreement.id
        elif request.kind == 'move_in':
            values['new_party'] = request.party.id
        return values

    def transition_move(self):
        with Transaction().set_context(company=self.record.company.id):
            move(self.record, self.start.agreement, self.start.date,
                self.start.reading, new_party=self.start.new_party,
                invoice_address=self.start.invoice_address)
        return 'end'
