from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError


class AgreementError(UserError):
    pass


class RatingError(UserError):
    pass


class RateVersionError(ValidationError):
    pass


class BillError(UserError):
    pass
