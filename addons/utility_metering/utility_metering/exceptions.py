from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError, ValidationError


class ReadingValidationError(ValidationError):
    pass


class BilledReadingError(AccessError):
    pass


class ReadingImportError(UserError):
    pass
