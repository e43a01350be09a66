from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError


class PaymentProviderError(UserError):
    pass


class BillPaymentError(UserError):
    pass


class AutopayValidationError(ValidationError):
    pass


class ProviderValidationError(ValidationError):
    pass


class SecretsKeyError(UserError):
    "The key that encrypts gateway secrets is missing or wrong"
