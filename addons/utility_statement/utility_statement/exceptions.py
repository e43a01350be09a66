from trytond.modules.account_statement.exceptions import ImportStatementError


class DuplicateStatementError(ImportStatementError):
    pass


class CSVStatementError(ImportStatementError):
    pass
