"""pytest plugin (scripts/test.sh loads it with -p): a test class's modules
are activated on top of the largest database cached earlier in the run
whose modules they extend, instead of from an empty database.

Activating a module set from scratch takes a minute or more (account's
data alone is most of it) and the suite uses a dozen sets that share most
of their modules: billing is metering plus 6 modules, the portal is
billing plus 6, care is the portal plus 5.

A cached set is only used as a base when none of its modules has an
optional dependency (extras_depend) among the modules added: Tryton
would not register such a module's extra parts afterwards, so the result
would differ from a fresh activation."""
from trytond import backend
from trytond.modules import get_module_info
from trytond.pool import Pool
from trytond.tests import test_tryton
from trytond.transaction import Transaction, TransactionError

_activate_module = test_tryton.activate_module
# cache name -> (language, modules activated), for the caches of this run
_cached = {}
# cache name -> the pool Tryton started on a copy of that database
_pools = {}


def _closure(modules):
    result, stack = set(), list(modules)
    while stack:
        module = stack.pop()
        if module not in result:
            result.add(module)
            stack.extend(get_module_info(module).get('depends', []))
    return result


def _base(closure, lang):
    "The name of the largest cached set that closure can extend"
    best, best_size = None, 0
    for name, (cache_lang, cached) in _cached.items():
        if cache_lang != lang or not cached <= closure:
            continue
        added = closure - cached
        if any(set(get_module_info(m).get('extras_depend', [])) & added
                for m in cached):
            continue
        if len(cached) > best_size:
            best, best_size = name, len(cached)
    return best


def _restore(name):
    "Copy the cached database without starting its pool"
    cache_file = test_tryton._db_cache_file(test_tryton.DB_CACHE, name)
    if backend.name == 'sqlite':
        return test_tryton._sqlite_copy(cache_file, restore=True)
    elif backend.name == 'postgresql':
        return test_tryton._pg_restore(cache_file)
    return False


def _restore_db_cache(name):
    """Like restore_db_cache but the pool started on an earlier copy of the
    same database is used again: starting one takes seconds per class."""
    database = test_tryton.DB_NAME
    if name not in _pools:
        if not test_tryton.restore_db_cache(name):
            return False
        _pools[name] = (Pool._pools[database], Pool._pool_modules[database])
        return True
    if not _restore(name):
        return False
    with Pool._lock:
        Pool._pools[database], Pool._pool_modules[database] = _pools[name]
        Pool._pool_instances.clear()
    return True


def activate_module(modules, lang='en'):
    if isinstance(modules, str):
        modules = [modules]
    name = '-'.join(modules)
    if lang != 'en':
        name += '--' + lang
    if (not test_tryton.DB_CACHE
            or test_tryton.db_exist(test_tryton.DB_NAME)):
        # A class that keeps the database of the class before it: its
        # modules may be more than closure, so it is no base.
        return _activate_module(modules, lang=lang)
    if _restore_db_cache(name):
        return
    closure = _closure(modules)
    base = _base(closure, lang)
    if base:
        _restore(base)
    # With the database there, Tryton activates only the missing modules
    # and caches the result under name.
    _activate_module(modules, lang=lang)
    _cached[name] = (lang, closure)


def activate_modules(modules, *setup):
    "trytond.tests.tools.activate_modules (scenarios) through activate_module"
    from trytond.tests import tools
    if isinstance(modules, str):
        modules = [modules]
    cache_name = '-'.join(sorted(modules))
    if setup_name := '|'.join(tools._func_name(f) for f in setup):
        cache_name += f'--{setup_name}'
    test_tryton.drop_db()
    if _restore_db_cache(cache_name):
        return tools._get_config()
    activate_module(sorted(modules))
    config = tools._get_config()
    for func in setup:
        func(config=config)
    test_tryton.backup_db_cache(cache_name)
    return config


_db_cache_file = test_tryton._db_cache_file


def db_cache_file(path, name):
    """The cache of name for this run's database only: parallel runs
    (scripts/test.sh with TEST_JOBS) share PostgreSQL's template
    databases, and one must not restore a template the other is still
    writing."""
    return _db_cache_file(path, '%s:%s' % (test_tryton.DB_NAME, name))


def pytest_configure(config):
    from trytond.tests import tools
    test_tryton.activate_module = activate_module
    test_tryton._db_cache_file = db_cache_file
    tools.activate_modules = activate_modules


def activate_fixture(test_class, modules, fixture):
    """Start test_class from a copy of a database with modules activated
    and fixture() committed: the fixture is built once per run instead
    of in each test (a company with its chart of accounts takes seconds).
    Each test still runs in a transaction that is rolled back."""
    if isinstance(modules, str):
        modules = [modules]
    name = '%s+%s.%s' % (
        '-'.join(modules), fixture.__module__, fixture.__qualname__)
    test_tryton.drop_db()
    # The next class must not find the fixture's records.
    test_class.addClassCleanup(test_tryton.drop_db)
    if _restore_db_cache(name):
        return
    test_tryton.activate_module(modules)
    extras = {}
    while True:
        with Transaction().start(
                test_tryton.DB_NAME, 1, **extras) as transaction:
            try:
                fixture()
            except TransactionError as exception:
                # Tryton restarts a transaction to take table locks.
                transaction.rollback()
                exception.fix(extras)
                continue
            transaction.commit()
            break
    test_tryton.backup_db_cache(name)
