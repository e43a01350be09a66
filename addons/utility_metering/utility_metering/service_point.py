from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction


class ServicePoint(ModelSQL, ModelView):
    "Service Point"
    __name__ = 'utility.service.point'
    _rec_name = 'code'
    company = fields.Many2One('company.company', "Provider", required=True)
    code = fields.Char("Code", required=True,
        help="The premise identifier printed on bills.")
    service_type = fields.Many2One('utility.service.type', "Service",
        required=True)
    party = fields.Many2One('party.party', "Owner",
        context={'company': Eval('company', -1)}, depends={'company'})
    address = fields.Many2One('party.address', "Address", required=True,
        domain=[('party', '=', Eval('party', -1))])
    status = fields.Selection([
            ('active', "Active"),
            ('inactive', "Inactive"),
            ('disconnected', "Disconnected"),
            ], "Status", required=True)
    route = fields.Many2One('utility.reading.route', "Route",
        domain=[('company', '=', Eval('company', -1))],
        help="The reading route that schedules the reads of the point.")
    installations = fields.One2Many('utility.meter.installation',
        'service_point', "Meter Installations")
    readings = fields.One2Many('utility.meter.reading', 'service_point',
        "Readings", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.company, t.code),
                'utility_metering.msg_service_point_code_unique'),
            ]

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_status():
        return 'active'

    def get_rec_name(self, name):
        if self.address:
            return '%s - %s' % (self.code, self.address.rec_name)
        return self.code

    @classmethod
    def search_rec_name(cls, name, clause):
        return [('code',) + tuple(clause[1:])]

    def get_consumption(self, start, end):
        "Consumption of the point over [start, end] across meter exchanges"
        Meter = Pool().get('utility.meter')
        meters = Meter.search([
                ('installations.service_point', '=', self.id),
                ])
        return Meter.consumption_for(meters, start, end,
            service_point=self)
