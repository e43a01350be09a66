"""Customer care set-up: teams of employees and the SLA table."""
from trytond.model import DeactivableMixin, ModelSQL, ModelView, Unique, fields
from trytond.pool import PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction

KINDS = [
    ('billing_dispute', "Billing Dispute"),
    ('service_issue', "Service Issue"),
    ('meter_repair', "Meter Repair"),
    ('move_in', "Move In"),
    ('move_out', "Move Out"),
    ]
PRIORITIES = [
    ('low', "Low"),
    ('normal', "Normal"),
    ('high', "High"),
    ('urgent', "Urgent"),
    ]


class Team(DeactivableMixin, ModelSQL, ModelView):
    "Customer Care Team"
    __name__ = 'utility.care.team'
    company = fields.Many2One('company.company', "Provider", required=True)
    name = fields.Char("Name", required=True, translate=True)
    members = fields.Many2Many('utility.care.team-company.employee', 'team',
        'employee', "Members",
        domain=[('company', '=', Eval('company', -1))])

    @staticmethod
    def default_company():
        return Transaction().context.get('company')


class TeamEmployee(ModelSQL):
    "Customer Care Team - Employee"
    __name__ = 'utility.care.team-company.employee'
    team = fields.Many2One('utility.care.team', "Team", required=True,
        ondelete='CASCADE')
    employee = fields.Many2One('company.employee', "Employee", required=True,
        ondelete='CASCADE')


class SLA(ModelSQL, ModelView):
    """Service Level Agreement

    How many hours the provider gives itself to resolve a request of a
    kind and priority; the request's deadline is set when it is opened.
    """
    __name__ = 'utility.care.sla'
    company = fields.Many2One('company.company', "Provider", required=True)
    kind = fields.Selection(KINDS, "Kind", required=True)
    priority = fields.Selection(PRIORITIES, "Priority", required=True)
    hours = fields.Integer("Hours", required=True,
        domain=[('hours', '>', 0)])
    team = fields.Many2One('utility.care.team', "Default Team",
        domain=[('company', '=', Eval('company', -1))],
        help="The team a new request of this kind and priority goes to.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('kind_priority_unique', Unique(t, t.company, t.kind, t.priority),
                'utility_care.msg_sla_unique'),
            ]
        cls._order = [('kind', 'ASC'), ('priority', 'ASC'), ('id', 'ASC')]

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_priority():
        return 'normal'

    @classmethod
    def find(cls, company, kind, priority):
        slas = cls.search([
                ('company', '=', company),
                ('kind', '=', kind),
                ('priority', '=', priority),
                ], limit=1)
        return slas[0] if slas else None


class Employee(metaclass=PoolMeta):
    __name__ = 'company.employee'
    utility_care_teams = fields.Many2Many(
        'utility.care.team-company.employee', 'employee', 'team',
        "Care Teams")
