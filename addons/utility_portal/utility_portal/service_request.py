from trytond.model import ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction


class ServiceRequest(Workflow, ModelSQL, ModelView):
    """Service Request

    Opened by a customer in the portal (or by staff); the conversation is
    kept in its messages.
    """
    __name__ = 'utility.service.request'
    _rec_name = 'number'
    company = fields.Many2One('company.company', "Provider", required=True,
        readonly=True)
    number = fields.Char("Number", readonly=True)
    party = fields.Many2One('party.party', "Customer", required=True,
        readonly=True,
        context={'company': Eval('company', -1)}, depends={'company'})
    agreement = fields.Many2One('utility.service.agreement', "Agreement",
        readonly=True,
        domain=[('party', '=', Eval('party', -1))])
    bill = fields.Many2One('utility.bill', "Bill", readonly=True,
        domain=[('party', '=', Eval('party', -1))])
    kind = fields.Selection([
            ('billing_dispute', "Billing Dispute"),
            ('service_issue', "Service Issue"),
            ('meter_repair', "Meter Repair"),
            ('move_in', "Move In"),
            ('move_out', "Move Out"),
            ], "Kind", required=True, readonly=True)
    subject = fields.Char("Subject", required=True, readonly=True)
    requested_date = fields.Date("Requested Date", readonly=True,
        help="The date asked for a move in or out.")
    web_user = fields.Many2One('web.user', "Opened By", readonly=True,
        ondelete='SET NULL')
    state = fields.Selection([
            ('open', "Open"),
            ('in_progress', "In Progress"),
            ('done', "Done"),
            ('cancelled', "Cancelled"),
            ], "State", required=True, readonly=True, sort=False)
    messages = fields.One2Many('utility.service.request.message', 'request',
        "Messages")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('create_date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('open', 'in_progress'),
            ('open', 'cancelled'),
            ('in_progress', 'done'),
            ('in_progress', 'cancelled'),
            ('done', 'in_progress'),
            }
        cls._buttons.update({
                'start': {
                    'invisible': ~Eval('state').in_(['open', 'done']),
                    'depends': ['state'],
                    },
                'finish': {
                    'invisible': Eval('state') != 'in_progress',
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': ~Eval('state').in_(['open', 'in_progress']),
                    'depends': ['state'],
                    },
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_state():
        return 'open'

    @classmethod
    def create(cls, vlist):
        # A short number a customer can quote on the phone.
        vlist = [v.copy() for v in vlist]
        requests = super().create(vlist)
        to_write = []
        for request in requests:
            if not request.number:
                to_write.extend([[request], {'number': 'SR%06d' % request.id}])
        if to_write:
            cls.write(*to_write)
        return requests

    @classmethod
    @ModelView.button
    @Workflow.transition('in_progress')
    def start(cls, requests):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('done')
    def finish(cls, requests):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, requests):
        pass


class ServiceRequestMessage(ModelSQL, ModelView):
    "Service Request Message"
    __name__ = 'utility.service.request.message'
    request = fields.Many2One('utility.service.request', "Request",
        required=True, ondelete='CASCADE')
    author = fields.Selection([
            ('customer', "Customer"),
            ('staff', "Staff"),
            ], "Author", required=True)
    web_user = fields.Many2One('web.user', "Web User", readonly=True,
        ondelete='SET NULL')
    body = fields.Text("Message", required=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('create_date', 'ASC'), ('id', 'ASC')]

    @staticmethod
    def default_author():
        # Messages written in the back office come from staff.
        return 'staff'

    @classmethod
    def create(cls, vlist):
        pool = Pool()
        Request = pool.get('utility.service.request')
        messages = super().create(vlist)
        # A customer answer reopens a finished request.
        reopen = {m.request for m in messages
            if m.author == 'customer' and m.request.state == 'done'}
        if reopen:
            Request.start(list(reopen))
        return messages
