# The portal's Green Button page registers on trytond's WSGI app on import
# (when utility_portal is installed).
from . import portal  # noqa: F401
