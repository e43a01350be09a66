"""Customer care on the portal's service requests.

States: the portal's open and done become new and resolved (migrated in
__register__); waiting (on the customer), closed and cancelled complete
the helpdesk workflow. A customer's reply on a waiting or resolved request
puts it back in progress.
"""
import datetime as dt
from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import ModelView, Workflow, fields
from trytond.model.exceptions import AccessError
from trytond.exceptions import UserError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval, If
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .care import PRIORITIES

STATES = [
    ('new', "New"),
    ('in_progress', "In Progress"),
    ('waiting', "Waiting on Customer"),
    ('resolved', "Resolved"),
    ('closed', "Closed"),
    ('cancelled', "Cancelled"),
    ]
# Requests the provider still has to act on, or the customer to answer.
ACTIVE = ['new', 'in_progress', 'waiting']
# The SLA clock does not run while the provider waits on the customer.
SLA_RUNNING = ['new', 'in_progress']
CHANNELS = [
    ('portal', "Portal"),
    ('phone', "Phone"),
    ('email', "E-mail"),
    ('walk_in', "Walk-in"),
    ]
# The portal's states and ours
MIGRATE_STATES = {'open': 'new', 'done': 'resolved'}


class ServiceRequest(metaclass=PoolMeta):
    __name__ = 'utility.service.request'
    priority = fields.Selection(PRIORITIES, "Priority", required=True,
        sort=False,
        states={'readonly': ~Eval('state').in_(ACTIVE)})
    channel = fields.Selection(CHANNELS, "Channel", required=True,
        states={'readonly': Eval('id', -1) >= 0})
    team = fields.Many2One('utility.care.team', "Team",
        domain=[('company', '=', Eval('company', -1))],
        states={'readonly': ~Eval('state').in_(ACTIVE)})
    employee = fields.Many2One('company.employee', "Assigned To",
        domain=[
            ('company', '=', Eval('company', -1)),
            If(Bool(Eval('team')),
                ('utility_care_teams', '=', Eval('team', -1)),
                ()),
            ],
        states={'readonly': ~Eval('state').in_(ACTIVE)})
    service_point = fields.Many2One('utility.service.point',
        "Service Point", readonly=True)
    deadline = fields.DateTime("Deadline", readonly=True,
        help="When the request should be resolved, from the SLA of its "
        "kind and priority at creation.")
    overdue = fields.Function(fields.Boolean("Overdue"), 'get_overdue',
        searcher='search_overdue')
    mine = fields.Function(fields.Boolean("Mine"), 'get_mine',
        searcher='search_mine')
    resolution = fields.Selection([
            (None, ""),
            ('solved', "Solved"),
            ('rejected', "Rejected"),
            ('credited', "Credit Note"),
            ('rebilled', "Rebilled"),
            ('moved', "Moved"),
            ], "Resolution", readonly=True)
    resolution_note = fields.Text("Resolution Note", readonly=True)
    credit_note = fields.Many2One('account.invoice', "Credit Note",
        readonly=True)
    new_bill = fields.Many2One('utility.bill', "New Bill", readonly=True,
        help="The bill issued by a rebill or a move out.")
    new_agreement = fields.Many2One('utility.service.agreement',
        "New Agreement", readonly=True,
        help="The agreement of the new occupant after a move.")
    conversation = fields.One2Many('utility.service.request.message',
        'request', "Conversation",
        help="Every message, internal notes included.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.state.selection = list(STATES)
        # The portal reads messages: it never sees internal notes.
        cls.messages.filter = [('internal', '=', False)]
        editable = {'readonly': Eval('state') != 'new'}
        for name in ['party', 'agreement', 'bill', 'kind', 'subject',
                'requested_date']:
            field = getattr(cls, name)
            field.readonly = False
            field.states = dict(editable)
        cls._order = [('deadline', 'ASC NULLS LAST'), ('id', 'DESC')]
        cls._transitions = {
            ('new', 'in_progress'),
            ('new', 'waiting'),
            ('new', 'resolved'),
            ('new', 'cancelled'),
            ('in_progress', 'waiting'),
            ('in_progress', 'resolved'),
            ('in_progress', 'cancelled'),
            ('waiting', 'in_progress'),
            ('waiting', 'resolved'),
            ('waiting', 'cancelled'),
            ('resolved', 'in_progress'),
            ('resolved', 'closed'),
            }
        cls._buttons.update({
                'start': {
                    'invisible': ~Eval('state').in_(
                        ['new', 'waiting', 'resolved']),
                    'depends': ['state'],
                    },
                'wait': {
                    'invisible': ~Eval('state').in_(['new', 'in_progress']),
                    'depends': ['state'],
                    },
                'finish': {
                    'invisible': ~Eval('state').in_(ACTIVE),
                    'depends': ['state'],
                    },
                'resolve': {
                    'invisible': ~Eval('state').in_(ACTIVE),
                    'depends': ['state'],
                    },
                'move': {
                    'invisible': (~Eval('state').in_(ACTIVE)
                        | ~Eval('kind').in_(['move_in', 'move_out'])),
                    'depends': ['state', 'kind'],
                    },
                'close': {
                    'invisible': Eval('state') != 'resolved',
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': ~Eval('state').in_(ACTIVE),
                    'depends': ['state'],
                    },
                })

    @classmethod
    def __register__(cls, module):
        super().__register__(module)
        cursor = Transaction().connection.cursor()
        table = cls.__table__()
        for old, new in MIGRATE_STATES.items():
            cursor.execute(*table.update([table.state], [new],
                    where=table.state == old))

    @staticmethod
    def default_state():
        return 'new'

    @staticmethod
    def default_priority():
        return 'normal'

    @classmethod
    def default_channel(cls):
        return 'phone'

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('/tree', 'visual', If(Eval('overdue', False), 'danger', '')),
            ]

    def get_overdue(self, name):
        return bool(self.deadline and self.state in SLA_RUNNING
            and self.deadline < dt.datetime.now())

    @classmethod
    def search_overdue(cls, name, clause):
        _, operator, value = clause[:3]
        if operator not in {'=', '!='}:
            raise ValueError("overdue: unsupported operator %s" % operator)
        now = dt.datetime.now()
        if (operator == '=') == bool(value):
            return [
                ('state', 'in', SLA_RUNNING),
                ('deadline', '!=', None),
                ('deadline', '<', now),
                ]
        return ['OR',
            ('state', 'not in', SLA_RUNNING),
            ('deadline', '=', None),
            ('deadline', '>=', now),
            ]

    @classmethod
    def _user_employee(cls):
        pool = Pool()
        User = pool.get('res.user')
        employee = Transaction().context.get('employee')
        if employee is None:
            user = User(Transaction().user)
            employee = user.employee.id if user.employee else None
        return employee

    def get_mine(self, name):
        employee = self._user_employee()
        return bool(employee and self.employee
            and self.employee.id == employee)

    @classmethod
    def search_mine(cls, name, clause):
        _, operator, value = clause[:3]
        employee = cls._user_employee()
        if (operator == '=') == bool(value):
            return [('employee', '=', employee or -1)]
        return ['OR', ('employee', '=', None),
            ('employee', '!=', employee or -1)]

    @classmethod
    def _care_values(cls, values):
        "Fill channel, service point, team and SLA deadline of new values"
        pool = Pool()
        SLA = pool.get('utility.care.sla')
        Agreement = pool.get('utility.service.agreement')
        values = values.copy()
        if not values.get('channel'):
            values['channel'] = 'portal' if values.get('web_user') else (
                cls.default_channel())
        values.setdefault('priority', cls.default_priority())
        if values.get('agreement') and not values.get('service_point'):
            values['service_point'] = Agreement(
                values['agreement']).service_point.id
        company = values.get('company', cls.default_company())
        if company is not None and values.get('kind'):
            with without_check_access():
                sla = SLA.find(company, values['kind'], values['priority'])
            if sla:
                if not values.get('deadline'):
                    values['deadline'] = (dt.datetime.now()
                        + dt.timedelta(hours=sla.hours))
                if not values.get('team') and sla.team:
                    values['team'] = sla.team.id
        return values

    @classmethod
    def create(cls, vlist):
        vlist = [cls._care_values(v) for v in vlist]
        requests = super().create(vlist)
        cls._sync_dispute_dunnings(requests)
        return requests

    @classmethod
    def write(cls, *args):
        super().write(*args)
        changed = []
        for records, values in zip(args[::2], args[1::2]):
            if {'state', 'bill', 'kind'} & set(values):
                changed.extend(records)
        if changed:
            cls._sync_dispute_dunnings(cls.browse(changed))

    @classmethod
    def copy(cls, requests, default=None):
        default = default.copy() if default else {}
        for name in ['deadline', 'resolution', 'resolution_note',
                'credit_note', 'new_bill', 'new_agreement', 'number']:
            default.setdefault(name, None)
        default.setdefault('conversation', None)
        return super().copy(requests, default=default)

    @property
    def disputes_invoice(self):
        "The invoice under an open billing dispute of this request"
        if (self.kind == 'billing_dispute' and self.state in ACTIVE
                and self.bill and self.bill.invoice):
            return self.bill.invoice

    @classmethod
    def disputed_moves(cls):
        "Ids of the accounting moves of invoices under an open dispute"
        with without_check_access():
            requests = cls.search([
                    ('kind', '=', 'billing_dispute'),
                    ('state', 'in', ACTIVE),
                    ('bill.invoice.move', '!=', None),
                    ])
            return sorted({r.bill.invoice.move.id for r in requests})

    @classmethod
    def _sync_dispute_dunnings(cls, requests):
        """Block the dunnings of invoices while a dispute on them is open,
        and release those a dispute blocked when no dispute is left.

        A dunning blocked by hand (utility_dispute empty) is left alone.
        """
        pool = Pool()
        Dunning = pool.get('account.dunning')
        requests = [r for r in requests if r.kind == 'billing_dispute'
            and r.bill and r.bill.invoice]
        if not requests:
            return
        with without_check_access():
            block, release = {}, []
            for request in requests:
                invoice = request.bill.invoice
                lines = [l.id for l in invoice.lines_to_pay]
                if not lines:
                    continue
                with Transaction().set_context(active_test=False):
                    dunnings = Dunning.search([('line', 'in', lines)])
                if request.disputes_invoice:
                    for dunning in dunnings:
                        if not dunning.blocked:
                            block[dunning] = request
                else:
                    release.extend(d for d in dunnings
                        if d.utility_dispute == request)
            to_write = []
            for dunning, request in block.items():
                to_write.extend([[dunning], {
                            'blocked': True,
                            'utility_dispute': request.id,
                            }])
            if release:
                still = set(cls.disputed_moves())
                for dunning in release:
                    if dunning.line.move.id in still:
                        # Another open dispute on the same invoice
                        other, = cls.search([
                                ('kind', '=', 'billing_dispute'),
                                ('state', 'in', ACTIVE),
                                ('bill.invoice.move', '=',
                                    dunning.line.move.id),
                                ], limit=1)
                        to_write.extend([[dunning],
                                {'utility_dispute': other.id}])
                    else:
                        to_write.extend([[dunning], {
                                    'blocked': False,
                                    'utility_dispute': None,
                                    }])
            if to_write:
                Dunning.write(*to_write)

    @classmethod
    @ModelView.button
    @Workflow.transition('waiting')
    def wait(cls, requests):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('resolved')
    def finish(cls, requests):
        # The portal's "done" is our "resolved".
        for request in requests:
            if not request.resolution:
                request.resolution = 'solved'
        cls.save(requests)

    @classmethod
    @ModelView.button
    @Workflow.transition('closed')
    def close(cls, requests):
        pass

    @classmethod
    @ModelView.button_action('utility_care.wizard_resolve')
    def resolve(cls, requests):
        pass

    @classmethod
    @ModelView.button_action('utility_care.wizard_move')
    def move(cls, requests):
        pass

    # Resolutions -------------------------------------------------------

    def _say(self, body):
        "A message the customer reads in the portal"
        Message = Pool().get('utility.service.request.message')
        Message.create([{'request': self.id, 'author': 'staff',
                    'body': body}])

    @classmethod
    def reject(cls, requests, reason):
        "Resolve requests as rejected and tell the customer why"
        if not reason:
            raise UserError(gettext('utility_care.msg_reject_reason'))
        for request in requests:
            request._say(reason)
        cls.write(list(requests), {
                'resolution': 'rejected',
                'resolution_note': reason,
                })
        cls.finish(requests)

    def _check_dispute(self):
        if (self.kind != 'billing_dispute' or not self.bill
                or not self.bill.invoice
                or self.bill.invoice.state != 'posted'):
            raise UserError(gettext('utility_care.msg_dispute_no_invoice',
                    request=self.rec_name))

    def adjust(self, amount, line=None, note=None):
        """Credit amount (untaxed) on the disputed invoice and resolve.

        A credit note from account_invoice, not a sale_complaint: a bill is
        no sale (sale_complaint would pull sale and stock in only to draft
        the same account_invoice credit note), and a dispute credits an
        agreed amount rather than whole quantities of lines. The credit
        note copies line's product, account and taxes (default: the
        invoice's most expensive line), is posted and applied to the
        invoice as a payment line, so its amount to pay drops by the
        credit note's total (reconciled when nothing is left).
        """
        pool = Pool()
        Invoice = pool.get('account.invoice')
        MoveLine = pool.get('account.move.line')
        Date = pool.get('ir.date')
        self._check_dispute()
        amount = Decimal(amount)
        if amount <= 0:
            raise UserError(gettext('utility_care.msg_credit_amount'))
        invoice = self.bill.invoice
        if line is None:
            line = max((l for l in invoice.lines if l.type == 'line'),
                key=lambda l: l.amount)
        credit = invoice._credit()
        credit_line = line._credit()
        credit_line.quantity = -1
        credit_line.unit_price = amount
        credit_line.description = gettext('utility_care.msg_credit_line',
            request=self.number, description=line.description or '')
        credit.lines = [credit_line]
        with Transaction().set_context(company=invoice.company.id):
            credit.invoice_date = Date.today()
        credit.reference = self.number
        credit.save()
        Invoice.post([credit])
        Invoice.add_payment_lines({invoice: list(credit.lines_to_pay)})
        invoice = Invoice(invoice.id)
        if invoice.amount_to_pay == 0:
            MoveLine.reconcile(
                list(invoice.lines_to_pay) + list(credit.lines_to_pay))
        self._say(note or gettext('utility_care.msg_credit_message',
                amount=credit.total_amount, number=credit.number))
        self.__class__.write([self], {
                'resolution': 'credited',
                'resolution_note': note,
                'credit_note': credit.id,
                })
        self.__class__.finish([self])
        return credit

    def rebill_bill(self, note=None):
        """Credit the disputed bill and bill its period again from the
        current (corrected) readings, then resolve"""
        Bill = Pool().get('utility.bill')
        self._check_dispute()
        new_bills = Bill.rebill([self.bill])
        if not new_bills:
            raise UserError(gettext('utility_care.msg_dispute_no_invoice',
                    request=self.rec_name))
        new_bill, = new_bills
        self._say(note or gettext('utility_care.msg_rebill_message',
                amount=new_bill.total_amount))
        self.__class__.write([self], {
                'resolution': 'rebilled',
                'resolution_note': note,
                'new_bill': new_bill.id,
                })
        self.__class__.finish([self])
        return new_bill


class ServiceRequestMessage(metaclass=PoolMeta):
    __name__ = 'utility.service.request.message'
    internal = fields.Boolean("Internal Note",
        states={'invisible': Eval('author') == 'customer'},
        help="Staff only: the customer never sees it.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.author.domain = [If(Eval('internal', False),
                ('author', '=', 'staff'), ())]

    @staticmethod
    def default_internal():
        return False

    @classmethod
    def create(cls, vlist):
        pool = Pool()
        Request = pool.get('utility.service.request')
        messages = super().create(vlist)
        # A customer's answer puts the request back in the staff's hands.
        reopen = {m.request for m in messages
            if m.author == 'customer'
            and m.request.state in {'waiting', 'resolved'}}
        if reopen:
            Request.start(list(reopen))
        return messages


class ResolveStart(ModelView):
    "Resolve Service Request"
    __name__ = 'utility.service.request.resolve.start'
    request = fields.Many2One('utility.service.request', "Request",
        readonly=True)
    kind = fields.Selection('get_kinds', "Kind", readonly=True)
    action = fields.Selection([
            ('solved', "Solved"),
            ('rejected', "Reject with a Reason"),
            ('credited', "Credit Note"),
            ('rebilled', "Rebill from Corrected Readings"),
            ], "Resolution", required=True,
        domain=[If(Eval('kind') != 'billing_dispute',
                ('action', 'in', ['solved', 'rejected']), ())])
    amount = fields.Numeric("Credit Amount", digits=(16, 2),
        states={
            'invisible': Eval('action') != 'credited',
            'required': Eval('action') == 'credited',
            },
        help="Untaxed; the taxes of the credited line are added.")
    line = fields.Many2One('account.invoice.line', "Credited Line",
        domain=[('invoice', '=', Eval('invoice', -1))],
        states={'invisible': Eval('action') != 'credited'})
    invoice = fields.Many2One('account.invoice', "Invoice", readonly=True)
    note = fields.Text("Message to the Customer",
        states={'required': Eval('action') == 'rejected'})

    @classmethod
    def get_kinds(cls):
        Request = Pool().get('utility.service.request')
        return Request.fields_get(['kind'])['kind']['selection']


class Resolve(Wizard):
    "Resolve Service Request"
    __name__ = 'utility.service.request.resolve'
    start = StateView('utility.service.request.resolve.start',
        'utility_care.service_request_resolve_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Resolve", 'resolve', 'tryton-ok', default=True),
            ])
    resolve = StateTransition()

    def default_start(self, fields):
        request = self.record
        return {
            'request': request.id,
            'kind': request.kind,
            'invoice': (request.bill.invoice.id
                if request.bill and request.bill.invoice else None),
            'action': 'solved',
            }

    def transition_resolve(self):
        request = self.record
        Request = request.__class__
        action = self.start.action
        if action == 'rejected':
            Request.reject([request], self.start.note)
        elif action == 'credited':
            request.adjust(self.start.amount, line=self.start.line,
                note=self.start.note)
        elif action == 'rebilled':
            request.rebill_bill(note=self.start.note)
        else:
            if self.start.note:
                request._say(self.start.note)
            Request.write([request], {'resolution_note': self.start.note})
            Request.finish([request])
        return 'end'


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'
    utility_service_requests = fields.One2Many('utility.service.request',
        'party', "Service Requests", readonly=True)


class ServicePoint(metaclass=PoolMeta):
    __name__ = 'utility.service.point'
    utility_service_requests = fields.One2Many('utility.service.request',
        'service_point', "Service Requests", readonly=True)
