"""Utility provider profile on the Tryton company.

A provider is a company. Its profile references what Tryton already
keeps rather than copying it: contact data come from the company's
party, the logo is the company's own logo (company.logo, used by the bill
report), and invoices are numbered by the fiscal year's invoice sequences,
which are per company.
"""
from trytond.model import ModelSQL, Unique, fields
from trytond.modules.account.exceptions import (
    FiscalYearNotFoundError, PeriodNotFoundError)
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction


class Company(metaclass=PoolMeta):
    __name__ = 'company.company'
    utility_service_types = fields.Many2Many(
        'company.company-utility.service.type', 'company', 'service_type',
        "Service Offerings",
        help="The services this provider sells.")
    utility_payment_term = fields.Many2One(
        'account.invoice.payment_term', "Default Payment Term",
        ondelete='RESTRICT',
        help="Used by service agreements whose customer has no customer "
        "payment term of its own.")
    utility_dunning_procedure = fields.Many2One(
        'account.dunning.procedure', "Dunning Procedure",
        ondelete='RESTRICT',
        help="Applied to overdue bills of customers who have no dunning "
        "procedure of their own.\n"
        "Leave Accounting's default dunning procedure empty when several "
        "providers share the database: it is copied to every new party "
        "and so would override this one.")
    utility_address = fields.Function(fields.Many2One(
            'party.address', "Address",
            help="The invoice address of the provider's party: "
            "edit it on the party."),
        'get_utility_contact')
    utility_phone = fields.Function(fields.Char(
            "Phone", help="From the provider's party: edit it there."),
        'get_utility_contact')
    utility_email = fields.Function(fields.Char(
            "Email", help="From the provider's party: edit it there."),
        'get_utility_contact')
    utility_website = fields.Function(fields.Char(
            "Website", help="From the provider's party: edit it there."),
        'get_utility_contact')
    utility_invoice_sequence = fields.Function(fields.Many2One(
            'ir.sequence.strict', "Invoice Sequence",
            help="Numbers this provider's customer invoices today. "
            "Each fiscal year of the provider has its own invoice "
            "sequences (Accounting > Fiscal Years > Invoice Sequences): "
            "change the numbering there."),
        'get_utility_invoice_sequence')

    def get_utility_contact(self, name):
        party = self.party
        if name == 'utility_address':
            address = party.address_get(type='invoice')
            return address.id if address else None
        return getattr(party, name[len('utility_'):])

    def get_utility_invoice_sequence(self, name):
        pool = Pool()
        Period = pool.get('account.period')
        Date = pool.get('ir.date')
        with Transaction().set_context(company=self.id):
            today = Date.today()
        try:
            period = Period.find(self, date=today, test_state=False)
        except (PeriodNotFoundError, FiscalYearNotFoundError):
            return None
        pattern = {
            'company': self.id,
            'fiscalyear': period.fiscalyear.id,
            'period': period.id,
            }
        # The same match as account.invoice.get_next_number.
        for invoice_sequence in period.fiscalyear.invoice_sequences:
            if invoice_sequence.match(pattern):
                sequence = invoice_sequence.out_invoice_sequence
                return sequence.id if sequence else None

    def utility_agreement_payment_term(self, party):
        "The payment term a new agreement of party gets by default"
        if party and party.customer_payment_term:
            return party.customer_payment_term
        return self.utility_payment_term


class CompanyServiceType(ModelSQL):
    "Provider Service Offering"
    __name__ = 'company.company-utility.service.type'
    __access__ = {'company'}
    company = fields.Many2One('company.company', "Provider",
        required=True, ondelete='CASCADE')
    service_type = fields.Many2One('utility.service.type', "Service Type",
        required=True, ondelete='CASCADE')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('company_service_type_unique',
                Unique(t, t.company, t.service_type),
                'utility_billing.msg_provider_service_type_unique'),
            ]
