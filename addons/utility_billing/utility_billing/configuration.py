from trytond.model import ModelSingleton, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Id


class Configuration(ModelSingleton, ModelSQL, ModelView):
    "Utility Billing Configuration"
    __name__ = 'utility.billing.configuration'
    agreement_sequence = fields.Many2One('ir.sequence',
        "Agreement Sequence", required=True,
        domain=[('sequence_type', '=',
                Id('utility_billing', 'sequence_type_agreement'))])
    bill_batch_size = fields.Integer("Bill Run Batch Size", required=True,
        domain=[('bill_batch_size', '>', 0)],
        help="Agreements billed per queued task and transaction.")

    @classmethod
    def default_agreement_sequence(cls):
        ModelData = Pool().get('ir.model.data')
        return ModelData.get_id('utility_billing', 'sequence_agreement')

    @classmethod
    def default_bill_batch_size(cls):
        return 200
