import importlib.util

# The portal's pages are registered on trytond's WSGI app on import, when
# utility_portal is installed (an optional dependency, extras_depend).
if importlib.util.find_spec('utility_portal'):
    from . import portal  # noqa: F401
