# This module is part of the utility billing project; see README.md.
# Registering the portal's privacy pages on trytond's WSGI app is an
# import side effect.
from . import portal  # noqa: F401
