from trytond.model import fields
from trytond.pool import PoolMeta


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'
    portal_paperless = fields.Boolean("Paperless Billing",
        help="Bills are only sent electronically.")
    portal_notify_email = fields.Boolean("Notify by E-mail")
    portal_notify_sms = fields.Boolean("Notify by SMS")
    portal_alert_threshold = fields.Numeric("Usage Alert Threshold",
        digits=(16, 2),
        domain=['OR',
            ('portal_alert_threshold', '=', None),
            ('portal_alert_threshold', '>', 0),
            ],
        help="Alert the customer when a bill period uses more than this.")
    portal_bill_threshold = fields.Numeric("Bill Alert Threshold",
        digits=(16, 2),
        domain=['OR',
            ('portal_bill_threshold', '=', None),
            ('portal_bill_threshold', '>', 0),
            ],
        help="Alert the customer when a bill is above this amount.")

    @classmethod
    def default_portal_notify_email(cls):
        return True

    @classmethod
    def default_portal_paperless(cls):
        return False

    @classmethod
    def default_portal_notify_sms(cls):
        return False
