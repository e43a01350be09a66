# Registering the routes on trytond's WSGI app is an import side effect.
from . import payments, routes  # noqa: F401
