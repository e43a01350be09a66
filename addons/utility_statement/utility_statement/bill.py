from trytond.model import fields
from trytond.pool import Pool, PoolMeta


class Bill(metaclass=PoolMeta):
    __name__ = 'utility.bill'

    payment_reference = fields.Function(fields.Char("Payment Reference",
            help="The structured reference (ISO 11649) the customer "
            "quotes on a bank transfer so that it pays this bill."),
        'get_payment_reference')
    amount_to_pay = fields.Function(fields.Numeric("Amount to Pay",
            digits='currency'), 'get_payment_reference')

    @classmethod
    def get_payment_reference(cls, bills, names):
        result = {n: dict.fromkeys(map(int, bills)) for n in names}
        for bill in bills:
            if bill.invoice:
                if 'payment_reference' in names:
                    result['payment_reference'][bill.id] = (
                        bill.invoice.customer_payment_reference)
                if 'amount_to_pay' in names:
                    result['amount_to_pay'][bill.id] = (
                        bill.invoice.amount_to_pay)
        return result


class _BankAccountMixin:

    @classmethod
    def bank_account(cls, bill):
        "The provider's IBAN (first active one on the company's party)"
        pool = Pool()
        Number = pool.get('bank.account.number')
        numbers = Number.search([
                ('account.owners', '=', bill.company.party.id),
                ('account.active', '=', True),
                ('type', '=', 'iban'),
                ], order=[('account.id', 'ASC'), ('sequence', 'ASC')],
            limit=1)
        if numbers:
            return numbers[0].number
        return super().bank_account(bill)


class BillReport(_BankAccountMixin, metaclass=PoolMeta):
    __name__ = 'utility.bill.report'


class BillRunReport(_BankAccountMixin, metaclass=PoolMeta):
    __name__ = 'utility.bill.run.report'
