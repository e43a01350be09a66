from trytond.pool import PoolMeta
from trytond.transaction import Transaction

import trytond.config as config


def portal_url(path):
    "Absolute URL of a portal page for the request being served"
    transaction = Transaction()
    request = transaction.context.get('_request') or {}
    base = config.get('utility_portal', 'url', default=None)
    if not base:
        host = request.get('http_host') or 'localhost'
        scheme = request.get('scheme') or 'http'
        base = '%s://%s%s/%s/portal' % (scheme, host,
            request.get('root_path') or '', transaction.database.name)
    return base.rstrip('/') + path


class User(metaclass=PoolMeta):
    __name__ = 'web.user'

    # The mails link to the portal unless [web] sets other pages.
    def get_email_validation_url(self, url=None):
        if url is None and not config.get('web', 'email_validation_url'):
            url = portal_url('/validate-email')
        return super().get_email_validation_url(url=url)

    def get_email_reset_password_url(self, url=None):
        if url is None and not config.get('web', 'reset_password_url'):
            url = portal_url('/reset-password')
        return super().get_email_reset_password_url(url=url)
