from trytond.model import fields
from trytond.pool import PoolMeta


class ServicePoint(metaclass=PoolMeta):
    __name__ = 'utility.service.point'
    meter_size = fields.Char("Meter Size",
        help="Connection size a fixed charge may scale with, "
        "e.g. 0.625 or 1 (inches).")
    connection_amps = fields.Integer("Connection Amperes")

    def rate_attributes(self):
        "Values rate components may be scaled by"
        return {
            'meter_size': self.meter_size,
            'connection_amps': self.connection_amps,
            }
