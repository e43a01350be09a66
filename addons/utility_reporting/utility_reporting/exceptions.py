from trytond.exceptions import UserError


class RateImpactError(UserError):
    pass
