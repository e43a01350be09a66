"""Back office: Green Button "Download My Data" file of a service agreement
or a customer, for the customer service and billing staff."""
import datetime as dt

from trytond.model import ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .espi import green_button_xml


class GreenButtonStart(ModelView):
    "Green Button Download Start"
    __name__ = 'utility.integration.green_button.start'
    start_date = fields.Date("Start Date", required=True,
        domain=[('start_date', '<=', Eval('end_date', None))])
    end_date = fields.Date("End Date", required=True,
        domain=[('end_date', '>=', Eval('start_date', None))])

    @classmethod
    def default_end_date(cls):
        return Pool().get('ir.date').today()

    @classmethod
    def default_start_date(cls):
        today = Pool().get('ir.date').today()
        return today.replace(day=1) - dt.timedelta(days=365)


class GreenButtonResult(ModelView):
    "Green Button Download Result"
    __name__ = 'utility.integration.green_button.result'
    file = fields.Binary("File", filename='filename', readonly=True)
    filename = fields.Char("File Name", readonly=True)


class GreenButton(Wizard):
    "Green Button Download"
    __name__ = 'utility.integration.green_button'
    start = StateView('utility.integration.green_button.start',
        'utility_integration.green_button_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Export", 'export', 'tryton-ok', default=True),
            ])
    export = StateTransition()
    result = StateView('utility.integration.green_button.result',
        'utility_integration.green_button_result_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def transition_export(self):
        record = self.record
        content = green_button_xml(record, self.start.start_date,
            self.start.end_date)
        if self.model.__name__ == 'party.party':
            name = record.code or str(record.id)
        else:
            name = record.number or str(record.id)
        self.result.file = content
        self.result.filename = 'green-button-%s-%s-%s.xml' % (
            name, self.start.start_date, self.start.end_date)
        return 'result'

    def default_result(self, fields):
        return {
            'file': self.result.file,
            'filename': self.result.filename,
            }
