"""Customer notifications about payments.

A record per event, kept queryable; delivery (e-mail, SMS) is another
module's job: it sends the pending ones and marks them sent.
"""
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Workflow, fields
from trytond.pyson import Eval


class Notification(Workflow, ModelSQL, ModelView):
    "Payment Notification"
    __name__ = 'utility.payment.notification'
    company = fields.Many2One('company.company', "Provider", required=True,
        readonly=True)
    party = fields.Many2One('party.party', "Customer", required=True,
        readonly=True)
    agreement = fields.Many2One('utility.service.agreement', "Agreement",
        readonly=True)
    bill = fields.Many2One('utility.bill', "Bill", readonly=True)
    invoice = fields.Many2One('account.invoice', "Invoice", readonly=True)
    attempt = fields.Many2One('utility.payment.autopay.attempt', "Attempt",
        readonly=True)
    payment = fields.Many2One('account.payment', "Payment", readonly=True)
    kind = fields.Selection([
            ('autopay_succeeded', "Autopay Succeeded"),
            ('autopay_failed', "Autopay Declined"),
            ('autopay_stopped', "Autopay Stopped"),
            ], "Kind", required=True, readonly=True)
    message = fields.Text("Message", readonly=True)
    state = fields.Selection([
            ('pending', "Pending"),
            ('sent', "Sent"),
            ('cancelled', "Cancelled"),
            ], "State", required=True, readonly=True, sort=False)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('create_date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('pending', 'sent'),
            ('pending', 'cancelled'),
            }
        cls._buttons.update({
                'cancel': {
                    'invisible': Eval('state') != 'pending',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'pending'

    @classmethod
    def notify(cls, items):
        "Store one pending notification per (attempt, kind)"
        notifications = []
        for attempt, kind in items:
            bill = attempt.bill
            values = {
                'bill': bill.rec_name,
                'invoice': attempt.invoice.number or '',
                'amount': attempt.amount,
                'currency': attempt.company.currency.code,
                'error': attempt.error_message or attempt.error_code or '',
                'date': attempt.next_retry_date or '',
                }
            notifications.append(cls(
                    company=attempt.company,
                    party=attempt.party,
                    agreement=attempt.agreement,
                    bill=bill,
                    invoice=attempt.invoice,
                    attempt=attempt,
                    payment=attempt.payment,
                    kind=kind,
                    message=gettext(
                        'utility_payment.msg_notification_%s' % kind,
                        **values)))
        cls.save(notifications)
        return notifications

    @classmethod
    @Workflow.transition('sent')
    def send(cls, notifications):
        "Mark delivered; called by the delivery channel"
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, notifications):
        pass
