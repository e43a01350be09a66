# This file is part of Tryton.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError


class PayPalError(UserError):
    "PayPal refused the call because of our configuration"


class PayPalUnavailableError(UserError):
    "PayPal could not be reached: the same call can be retried later"


class PayPalAccountValidationError(ValidationError):
    pass


class SecretsKeyError(UserError):
    "The key that encrypts gateway secrets is missing or wrong"
