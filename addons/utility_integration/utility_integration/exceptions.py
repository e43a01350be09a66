from trytond.exceptions import UserError


class GreenButtonError(UserError):
    pass


class MeterSourceError(UserError):
    pass


class LedgerExportError(UserError):
    pass
