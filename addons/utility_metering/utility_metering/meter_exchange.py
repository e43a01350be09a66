"Back-office wizard replacing an installed meter by one from stock"
import datetime as dt
from decimal import Decimal

from trytond.model import ModelView, fields
from trytond.pyson import Eval
from trytond.wizard import Button, StateAction, StateView, Wizard


class MeterExchangeStart(ModelView):
    "Exchange Meter"
    __name__ = 'utility.meter.exchange.start'
    meter = fields.Many2One('utility.meter', "Meter", readonly=True)
    company = fields.Many2One('company.company', "Provider", readonly=True)
    service_type = fields.Many2One('utility.service.type', "Service",
        readonly=True)
    service_point = fields.Many2One('utility.service.point',
        "Service Point", readonly=True)
    date_time = fields.DateTime("Exchanged At", required=True)
    final_value = fields.Numeric("Final Reading", digits=(16, 4),
        required=True,
        help="The register of the removed meter at the exchange.")
    new_meter = fields.Many2One('utility.meter', "New Meter", required=True,
        domain=[
            ('company', '=', Eval('company', -1)),
            ('service_type', '=', Eval('service_type', -1)),
            ('status', '=', 'stock'),
            ])
    initial_value = fields.Numeric("Initial Reading", digits=(16, 4),
        required=True,
        help="The register of the new meter when it is installed.")

    @staticmethod
    def default_date_time():
        return dt.datetime.now().replace(second=0, microsecond=0)

    @staticmethod
    def default_initial_value():
        return Decimal(0)


class MeterExchange(Wizard):
    "Exchange Meter"
    __name__ = 'utility.meter.exchange'
    start = StateView('utility.meter.exchange.start',
        'utility_metering.meter_exchange_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Exchange", 'exchange', 'tryton-ok', default=True),
            ])
    exchange = StateAction('utility_metering.act_meter_form')

    def default_start(self, fields):
        # Refuse before the form opens rather than after it is filled.
        current = self.record.current_installation()
        return {
            'meter': self.record.id,
            'company': self.record.company.id,
            'service_type': self.record.service_type.id,
            'service_point': current.service_point.id,
            }

    def do_exchange(self, action):
        new = self.start.new_meter
        self.model.exchange(self.record, new, self.start.date_time,
            self.start.final_value, self.start.initial_value)
        action['views'].reverse()
        return action, {'res_id': [new.id]}
