"""A billing dispute pauses the dunning of its invoice.

account_dunning 8.0 dunns receivable lines through
Dunning._overdue_line_domain (new dunnings) and skips blocked dunnings both
when escalating (generate_dunnings) and when processing. So:
- no new dunning for a line of an invoice under an open dispute,
- a dunning that already exists is blocked when the dispute opens and
  released when it is resolved, closed or cancelled (utility_dispute keeps
  which request blocked it, so a dunning blocked by hand stays blocked).
"""
from trytond.model import fields
from trytond.pool import Pool, PoolMeta


class Dunning(metaclass=PoolMeta):
    __name__ = 'account.dunning'
    utility_dispute = fields.Many2One('utility.service.request',
        "Paused by Dispute", readonly=True, ondelete='SET NULL')

    @classmethod
    def _overdue_line_domain(cls, date):
        Request = Pool().get('utility.service.request')
        domain = super()._overdue_line_domain(date)
        moves = Request.disputed_moves()
        if moves:
            domain.append(('move', 'not in', moves))
        return domain
