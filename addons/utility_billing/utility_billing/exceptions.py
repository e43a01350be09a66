from trytond.exceptions import UserError, UserWarning
from trytond.model.exceptions import ValidationError


class AgreementError(UserError):
    pass


class RatingError(UserError):
    pass


class RateVersionError(ValidationError):
    pass


class BillError(UserError):
    pass


class BillRunPastDateWarning(UserWarning):
    pass
