import functools

import trytond.tools.misc

# trytond 8.0 looks the module entry points up on every import_module
# call; caching it makes the test start several times faster.
if not hasattr(trytond.tools.misc.import_module, 'cache_info'):
    trytond.tools.misc.import_module = functools.cache(
        trytond.tools.misc.import_module)
