# This file is part of Tryton.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.

from trytond.tools import logging as _logging

from . import routes

# The RPC log redacts keys holding "secret", "password" or "token"; the
# PayPal webhook id is a secret too (issue 8).
_logging._SENSITIVE_KEYS.add('webhook_id')

__all__ = [routes]
