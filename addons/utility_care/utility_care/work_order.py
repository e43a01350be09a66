"""Work orders for field staff, opened from meter repair and service issue
requests; their results (a reading, a meter exchange) go into metering
through utility_metering's own rules.

Completing a work order is one unit of work: any rejected reading or
refused exchange raises, so the transaction rolls back and neither the
readings, the exchange nor the order's state are kept.
"""
import datetime as dt

from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval, If
from trytond.transaction import Transaction

# Request kinds that send somebody to the premises.
WORK_ORDER_KINDS = ['meter_repair', 'service_issue']
STATES = [
    ('draft', "Draft"),
    ('scheduled', "Scheduled"),
    ('done', "Done"),
    ('cancelled', "Cancelled"),
    ]


class WorkOrderError(UserError):
    pass


class WorkOrder(Workflow, ModelSQL, ModelView):
    "Work Order"
    __name__ = 'utility.work.order'
    _rec_name = 'number'
    _open = {'readonly': ~Eval('state').in_(['draft', 'scheduled'])}
    _result = {'readonly': Eval('state') != 'scheduled'}
    company = fields.Many2One('company.company', "Provider", required=True,
        states={'readonly': Eval('state') != 'draft'})
    number = fields.Char("Number", readonly=True)
    request = fields.Many2One('utility.service.request', "Service Request",
        ondelete='RESTRICT',
        domain=[('company', '=', Eval('company', -1))],
        states={'readonly': Eval('state') != 'draft'})
    service_point = fields.Many2One('utility.service.point',
        "Service Point", required=True, ondelete='RESTRICT',
        domain=[('company', '=', Eval('company', -1))],
        states={'readonly': Eval('state') != 'draft'})
    meter = fields.Many2One('utility.meter', "Meter", ondelete='RESTRICT',
        domain=[If(Eval('state').in_(['draft', 'scheduled']), [
                    ('company', '=', Eval('company', -1)),
                    ('service_point', '=', Eval('service_point', -1)),
                    ], [])],
        states=_open,
        help="The meter installed at the service point to read, repair or "
        "exchange.")
    description = fields.Text("Work to Do", states=_open)
    employee = fields.Many2One('company.employee', "Assigned To",
        domain=[('company', '=', Eval('company', -1))],
        states={
            'readonly': _open['readonly'],
            'required': Eval('state') == 'scheduled',
            })
    scheduled_date = fields.Date("Scheduled Date",
        states={
            'readonly': _open['readonly'],
            'required': Eval('state') == 'scheduled',
            })
    state = fields.Selection(STATES, "State", required=True, readonly=True,
        sort=False)

    # What the field staff found and did
    result = fields.Text("Result", states=_result)
    reading_time = fields.DateTime("Read At", states=_result)
    reading_value = fields.Numeric("Reading", digits=(16, 4), states=_result,
        help="A new reading of the meter (the new meter after an "
        "exchange).")
    new_meter = fields.Many2One('utility.meter', "New Meter",
        ondelete='RESTRICT',
        domain=[If(Eval('state') == 'scheduled', [
                    ('company', '=', Eval('company', -1)),
                    ('status', '=', 'stock'),
                    ], [])],
        states=_result,
        help="A meter from stock that replaces the meter.")
    exchange_time = fields.DateTime("Exchanged At",
        states={
            'readonly': _result['readonly'],
            'invisible': ~Bool(Eval('new_meter')),
            'required': Bool(Eval('new_meter')),
            })
    final_value = fields.Numeric("Final Reading", digits=(16, 4),
        states={
            'readonly': _result['readonly'],
            'invisible': ~Bool(Eval('new_meter')),
            'required': Bool(Eval('new_meter')),
            },
        help="The register of the removed meter.")
    initial_value = fields.Numeric("Initial Reading", digits=(16, 4),
        states={
            'readonly': _result['readonly'],
            'invisible': ~Bool(Eval('new_meter')),
            'required': Bool(Eval('new_meter')),
            },
        help="The register of the new meter when it is installed.")
    reading = fields.Many2One('utility.meter.reading', "Recorded Reading",
        readonly=True, ondelete='RESTRICT')
    final_reading = fields.Many2One('utility.meter.reading',
        "Final Reading Recorded", readonly=True, ondelete='RESTRICT')
    initial_reading = fields.Many2One('utility.meter.reading',
        "Initial Reading Recorded", readonly=True, ondelete='RESTRICT')
    done_date = fields.DateTime("Done At", readonly=True)
    del _open, _result

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('scheduled_date', 'ASC NULLS LAST'),
            ('employee', 'ASC'), ('id', 'ASC')]
        cls._transitions |= {
            ('draft', 'scheduled'),
            ('scheduled', 'draft'),
            ('scheduled', 'done'),
            ('draft', 'cancelled'),
            ('scheduled', 'cancelled'),
            ('cancelled', 'draft'),
            }
        cls._buttons.update({
                'draft': {
                    'invisible': ~Eval('state').in_(
                        ['scheduled', 'cancelled']),
                    'icon': 'tryton-back',
                    'depends': ['state'],
                    },
                'schedule': {
                    'invisible': Eval('state') != 'draft',
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                'do': {
                    'invisible': Eval('state') != 'scheduled',
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': ~Eval('state').in_(['draft', 'scheduled']),
                    'icon': 'tryton-cancel',
                    'depends': ['state'],
                    },
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_state():
        return 'draft'

    @fields.depends('request', '_parent_request.service_point',
        'service_point')
    def on_change_request(self):
        if self.request and self.request.service_point:
            self.service_point = self.request.service_point

    @fields.depends('service_point', 'meter')
    def on_change_service_point(self):
        self.meter = self.installed_meter(self.service_point)

    @staticmethod
    def installed_meter(point):
        "The meter installed now at point, if any"
        if not point:
            return None
        Meter = Pool().get('utility.meter')
        meters = Meter.search([
                ('service_point', '=', point.id),
                ('status', '=', 'installed'),
                ], limit=1)
        return meters[0] if meters else None

    @classmethod
    def create(cls, vlist):
        orders = super().create(vlist)
        # A short number field staff can quote, as service requests have.
        to_write = []
        for order in orders:
            if not order.number:
                to_write.extend([[order], {'number': 'WO%06d' % order.id}])
        if to_write:
            cls.write(*to_write)
        return orders

    @classmethod
    def copy(cls, orders, default=None):
        default = default.copy() if default else {}
        for name in ['number', 'result', 'reading_time', 'reading_value',
                'new_meter', 'exchange_time', 'final_value', 'initial_value',
                'reading', 'final_reading', 'initial_reading', 'done_date']:
            default.setdefault(name, None)
        return super().copy(orders, default=default)

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        super().check_modification(
            mode, records, values=values, external=external)
        if mode == 'delete':
            for order in records:
                if order.state not in {'draft', 'cancelled'}:
                    raise WorkOrderError(gettext(
                            'utility_care.msg_work_order_delete',
                            order=order.rec_name))

    @classmethod
    def create_for_requests(cls, requests):
        """Draft a work order for each request of a field kind that has a
        service point and no open work order yet"""
        existing = {o.request for o in cls.search([
                    ('request', 'in', [r.id for r in requests]),
                    ('state', 'in', ['draft', 'scheduled']),
                    ])}
        orders = []
        for request in requests:
            if (request.kind not in WORK_ORDER_KINDS
                    or not request.service_point or request in existing):
                continue
            point = request.service_point
            orders.append(cls(company=request.company, request=request,
                    service_point=point, meter=cls.installed_meter(point),
                    description=request.subject,
                    employee=request.employee))
        cls.save(orders)
        return orders

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    def draft(cls, orders):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('scheduled')
    def schedule(cls, orders):
        for order in orders:
            if not order.employee or not order.scheduled_date:
                raise WorkOrderError(gettext(
                        'utility_care.msg_work_order_schedule',
                        order=order.rec_name))

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, orders):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('done')
    def do(cls, orders):
        "Record the results into metering, then note them on the request"
        pool = Pool()
        Message = pool.get('utility.service.request.message')
        now = dt.datetime.now()
        notes = []
        for order in orders:
            order._record_results()
            order.done_date = now
            if order.request:
                notes.append({
                        'request': order.request.id,
                        'author': 'staff',
                        'internal': True,
                        'body': order._note(),
                        })
        cls.save(orders)
        if notes:
            Message.create(notes)

    def _check_results(self):
        if not (self.result or self.new_meter
                or self.reading_value is not None):
            raise WorkOrderError(gettext(
                    'utility_care.msg_work_order_no_result',
                    order=self.rec_name))
        if (self.reading_value is None) != (self.reading_time is None):
            raise WorkOrderError(gettext(
                    'utility_care.msg_work_order_reading_incomplete',
                    order=self.rec_name))
        if (self.new_meter or self.reading_value is not None) \
                and not self.meter:
            raise WorkOrderError(gettext(
                    'utility_care.msg_work_order_no_meter',
                    order=self.rec_name))
        if self.new_meter and (self.exchange_time is None
                or self.final_value is None or self.initial_value is None):
            raise WorkOrderError(gettext(
                    'utility_care.msg_work_order_exchange_incomplete',
                    order=self.rec_name, meter=self.meter.rec_name))

    def _record_results(self):
        """Exchange the meter and read it as the staff reported.

        Raise a WorkOrderError on the first refusal: the caller's
        transaction is then rolled back whole."""
        pool = Pool()
        Meter = pool.get('utility.meter')
        Reading = pool.get('utility.meter.reading')
        self._check_results()
        meter = self.meter
        if self.new_meter:
            try:
                self.final_reading, self.initial_reading = Meter.exchange(
                    meter, self.new_meter, self.exchange_time,
                    self.final_value, self.initial_value)
            except UserError as exception:
                raise WorkOrderError(gettext(
                        'utility_care.msg_work_order_exchange_refused',
                        order=self.rec_name,
                        reason=exception.message)) from exception
            meter = self.new_meter
        if self.reading_value is not None:
            reading = Reading(meter=meter, company=meter.company,
                date_time=self.reading_time, value=self.reading_value,
                kind='actual', source='manual')
            reading.save()
            Reading.validate_reading([reading])
            if reading.state != 'valid':
                raise WorkOrderError(gettext(
                        'utility_care.msg_work_order_reading_rejected',
                        order=self.rec_name, meter=meter.rec_name,
                        value=self.reading_value,
                        date_time=self.reading_time,
                        reason=reading.rejection_reason or ''))
            self.reading = reading

    def _note(self):
        "The internal note left on the request"
        lines = [gettext('utility_care.msg_work_order_done_note',
                order=self.rec_name,
                employee=self.employee.rec_name if self.employee else '')]
        if self.final_reading:
            lines.append(gettext('utility_care.msg_work_order_done_exchange',
                    old=self.meter.rec_name, final=self.final_value,
                    new=self.new_meter.rec_name, initial=self.initial_value))
        if self.reading:
            lines.append(gettext('utility_care.msg_work_order_done_reading',
                    meter=self.reading.meter.rec_name,
                    value=self.reading_value))
        if self.result:
            lines.append(self.result)
        return '\n'.join(lines)


class ServiceRequest(metaclass=PoolMeta):
    __name__ = 'utility.service.request'
    work_orders = fields.One2Many('utility.work.order', 'request',
        "Work Orders", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'create_work_order': {
                    'invisible': (~Eval('state').in_(
                            ['new', 'in_progress', 'waiting'])
                        | ~Eval('kind').in_(WORK_ORDER_KINDS)),
                    'depends': ['state', 'kind'],
                    },
                })

    @classmethod
    def copy(cls, requests, default=None):
        default = default.copy() if default else {}
        default.setdefault('work_orders', None)
        return super().copy(requests, default=default)

    @classmethod
    def create(cls, vlist):
        WorkOrder = Pool().get('utility.work.order')
        requests = super().create(vlist)
        # A meter repair or service issue sends somebody out.
        WorkOrder.create_for_requests(requests)
        return requests

    @classmethod
    @ModelView.button_action('utility_care.act_work_order_form')
    def create_work_order(cls, requests):
        WorkOrder = Pool().get('utility.work.order')
        orders = WorkOrder.create_for_requests(requests)
        orders += WorkOrder.search([
                ('request', 'in', [r.id for r in requests]),
                ('state', 'in', ['draft', 'scheduled']),
                ('id', 'not in', [o.id for o in orders]),
                ])
        return {'res_id': [o.id for o in orders]}
