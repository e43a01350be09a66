"""Late payment: reminder, late fee and final notice per provider.

Built on account_dunning and account_dunning_fee. A customer's overdue
receivable lines are dunned with the party's own procedure when it has
one, else with the provider's (company.utility_dunning_procedure); the
hook is account.move.line.dunning_procedure because the party's procedure
is not per company while a customer may buy from several providers.

Tryton 8.0 has no dunning cron: utility_process_dunnings generates the
dunnings due on a date and processes them, which posts the level's fee
as an accounting move. A paid (reconciled) line's dunning is inactive, so
it neither escalates nor gets processed again.
"""
import datetime as dt

from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction

NOTICES = [
    (None, ""),
    ('reminder', "Reminder"),
    ('late_fee', "Late Fee"),
    ('final_notice', "Final Notice Before Disconnection"),
    ]


class Procedure(metaclass=PoolMeta):
    __name__ = 'account.dunning.procedure'

    @classmethod
    def create_default_procedure(cls, company, fee_product, fee_journal,
            fee_percentage=None, reminder_days=1, fee_days=15,
            final_days=30, name="Utility late payment",
            fee_name="Late fee", set_default=True):
        """Create a three-level procedure and, with set_default, make it
        company's default:
        - a reminder reminder_days after the due date,
        - a late fee fee_days after it: fee_product's list price, or
          fee_percentage (0.05 for 5 %) of the overdue amount, posted in
          fee_journal to fee_product's revenue account,
        - a final notice before disconnection final_days after it.
        """
        pool = Pool()
        Fee = pool.get('account.dunning.fee')
        Level = pool.get('account.dunning.level')
        if not 0 <= reminder_days < fee_days < final_days:
            raise ValueError("Levels must come in order: "
                "reminder_days < fee_days < final_days")
        fee = Fee(name=fee_name, product=fee_product, journal=fee_journal)
        if fee_percentage is None:
            fee.compute_method = 'list_price'
        else:
            fee.compute_method = 'percentage'
            fee.percentage = fee_percentage
        fee.save()
        procedure = cls(name=name, levels=[
                Level(sequence=10, overdue=dt.timedelta(days=reminder_days),
                    utility_notice='reminder'),
                Level(sequence=20, overdue=dt.timedelta(days=fee_days),
                    utility_notice='late_fee', fee=fee),
                Level(sequence=30, overdue=dt.timedelta(days=final_days),
                    utility_notice='final_notice'),
                ])
        procedure.save()
        if set_default:
            company.utility_dunning_procedure = procedure
            company.save()
        return procedure


class Level(metaclass=PoolMeta):
    __name__ = 'account.dunning.level'
    utility_notice = fields.Selection(NOTICES, "Utility Notice",
        help="What this level tells the customer; the portal and the bill "
        "show it, and final notices list the disconnections to prepare.")


class Dunning(metaclass=PoolMeta):
    __name__ = 'account.dunning'
    utility_notice = fields.Function(fields.Selection(NOTICES,
            "Utility Notice"),
        'get_utility_notice', searcher='search_utility_notice')

    def get_utility_notice(self, name):
        return self.level.utility_notice

    @classmethod
    def search_utility_notice(cls, name, clause):
        return [('level.utility_notice',) + tuple(clause[1:])]

    @classmethod
    def utility_process_dunnings(cls, date=None):
        """Dun the overdue customer lines on date (default: the provider's
        today) and process the new levels, for the context's company or
        else for every company"""
        pool = Pool()
        Company = pool.get('company.company')
        Date = pool.get('ir.date')
        company_id = Transaction().context.get('company')
        if company_id is not None and company_id >= 0:
            companies = [Company(company_id)]
        else:
            companies = Company.search([])
        for company in companies:
            # The cron runs as root, so no record rule limits
            # generate_dunnings to the provider: _utility_dunning_company does.
            with Transaction().set_context(company=company.id,
                    _utility_dunning_company=company.id):
                cls.generate_dunnings(date or Date.today())
                cls.process(cls.search([
                            ('state', '=', 'draft'),
                            ('blocked', '=', False),
                            ]))

    @classmethod
    def _overdue_line_domain(cls, date):
        domain = super()._overdue_line_domain(date)
        company_id = Transaction().context.get('_utility_dunning_company')
        if company_id is not None:
            domain.append(('move.company', '=', company_id))
        return domain

    @classmethod
    def search(cls, domain, *args, **kwargs):
        # Also scopes generate_dunnings' escalation of waiting dunnings.
        company_id = Transaction().context.get('_utility_dunning_company')
        if company_id is not None:
            domain = [domain, ('company', '=', company_id)]
        return super().search(domain, *args, **kwargs)


class MoveLine(metaclass=PoolMeta):
    __name__ = 'account.move.line'

    @property
    def dunning_procedure(self):
        procedure = super().dunning_procedure
        if not procedure and self.party:
            procedure = self.move.company.utility_dunning_procedure
        return procedure


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('account.dunning|utility_process_dunnings',
                "Dun and Process Overdue Bills"))
