"""Back-office password policy.

trytond 8.0 checks ``[password] length`` and ``forbidden`` but no longer
reads ``[password] entropy``: this enforces it again, as the share of
distinct characters in the password (Tryton's former rule), for back
office users and, through web.user, for portal customers.
"""
import trytond.config as config
from trytond.i18n import gettext
from trytond.pool import PoolMeta
from trytond.res.exceptions import PasswordError


class User(metaclass=PoolMeta):
    __name__ = 'res.user'

    @classmethod
    def validate_password(cls, password, users):
        super().validate_password(password, users)
        entropy = config.getfloat('password', 'entropy', default=0)
        if entropy and password:
            if len(set(password)) / len(password) < entropy:
                raise PasswordError(gettext(
                        'utility_privacy.msg_password_entropy'))
