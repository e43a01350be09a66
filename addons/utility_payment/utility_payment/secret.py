"""Gateway secrets encrypted at rest with a key kept out of the database.

The same as account_payment_paypal/secret.py (that module is generic and
depends on Tryton only, so the two do not share code); keep them alike.

The key is read from the trytond configuration, never from the database:

    [utility]
    # a file holding the key (one key per line), readable by trytond only
    secrets_key_file = /etc/tryton/secrets.key
    # or the key itself (also TRYTOND_UTILITY__SECRETS_KEY)
    secrets_key = <urlsafe base64 Fernet key>

Several keys (comma separated or one per line) rotate the key: the first
encrypts, every one decrypts, and a module update encrypts again with the
first. Stored values are ``fernet:<token>``; a clear value left by an
earlier version is encrypted on module update.

The ORM encrypts on create and write and decrypts on read, so the gateway
code reads ``account.secret`` as before; a read from a client (with access
check) gets MASK instead, which a write of it leaves unchanged.
"""
import os

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sql import Column

from trytond import config
from trytond.i18n import gettext
from trytond.transaction import Transaction

from .exceptions import SecretsKeyError

PREFIX = 'fernet:'
MASK = '*' * 10
SECTION = 'utility'

_MESSAGES = {
    'msg_secrets_key_missing': (
        "No secrets key is configured: set [utility] secrets_key_file (or "
        "secrets_key) in the trytond configuration to store or read "
        "the secrets of %(model)s."),
    'msg_secrets_key_invalid': (
        "The secrets key configured in [utility] is not a valid Fernet key "
        "(%(error)s)."),
    'msg_secrets_undecryptable': (
        "A secret of %(model)s cannot be decrypted with the configured "
        "[utility] secrets key: was the key changed without keeping the old "
        "one after it?"),
    }
_cache = {}


def _error(name, **variables):
    message_id = 'utility_payment.%s' % name
    try:
        text = gettext(message_id, **variables)
    except (KeyError, ValueError):
        text = message_id
    if text == message_id:
        # During a module update the messages may not be loaded yet.
        text = _MESSAGES[name] % variables
    return SecretsKeyError(text)


def _source():
    "What the key depends on: the options and the key file's version"
    inline = config.get(SECTION, 'secrets_key', default=None) or ''
    path = config.get(SECTION, 'secrets_key_file', default=None) or ''
    stamp = None
    if path:
        try:
            stat = os.stat(path)
            stamp = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            pass
    return inline, path, stamp


def _keys(model=''):
    "The (MultiFernet, rotating) of the configured keys or a user error"
    source = _source()
    if source in _cache:
        return _cache[source]
    inline, path, _ = source
    text = inline
    if path:
        try:
            with open(path) as file:
                text = file.read()
        except OSError:
            raise _error('msg_secrets_key_missing', model=model)
    keys = [k.strip() for k in text.replace(',', '\n').splitlines()
        if k.strip()]
    if not keys:
        raise _error('msg_secrets_key_missing', model=model)
    try:
        result = MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, TypeError) as exception:
        # The message of the exception never holds the key.
        raise _error('msg_secrets_key_invalid',
            error=type(exception).__name__)
    _cache.clear()
    _cache[source] = result, len(keys) > 1
    return _cache[source]


def fernet(model=''):
    "The MultiFernet of the configured keys or a user error"
    return _keys(model)[0]


def is_encrypted(value):
    return isinstance(value, str) and value.startswith(PREFIX)


def encrypt(value, model=''):
    if not value or is_encrypted(value):
        return value
    token = fernet(model).encrypt(value.encode('utf-8'))
    return PREFIX + token.decode('ascii')


def decrypt(value, model=''):
    if not is_encrypted(value):
        return value
    try:
        return fernet(model).decrypt(
            value[len(PREFIX):].encode('ascii')).decode('utf-8')
    except InvalidToken:
        raise _error('msg_secrets_undecryptable', model=model)


class EncryptedSecretsMixin:
    "Encrypt the Char fields named in _secret_fields at their column"
    __slots__ = ()
    _secret_fields = ()

    @classmethod
    def __register__(cls, module):
        super().__register__(module)
        cls._encrypt_stored_secrets()

    @classmethod
    def _encrypt_stored_secrets(cls):
        "Encrypt clear values, re-encrypt with the first key if rotating"
        cursor = Transaction().connection.cursor()
        table = cls.__table__()
        columns = [Column(table, n) for n in cls._secret_fields]
        cursor.execute(*table.select(table.id, *columns))
        rows = cursor.fetchall()
        clear = any(v and not is_encrypted(v) for r in rows for v in r[1:])
        if not clear and not (rows and _rotating()):
            return
        key = fernet(cls.__name__)
        for row in rows:
            values = []
            for value in row[1:]:
                if value and is_encrypted(value):
                    value = PREFIX + key.rotate(
                        value[len(PREFIX):].encode('ascii')).decode('ascii')
                elif value:
                    value = encrypt(value, cls.__name__)
                values.append(value)
            if values != list(row[1:]):
                cursor.execute(*table.update(columns, values,
                        where=table.id == row[0]))

    def __getattr__(self, name):
        # The transaction cache may hold the stored (encrypted) value.
        value = super().__getattr__(name)
        if name in self._secret_fields:
            value = decrypt(value, self.__name__)
        return value

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        if values:
            # A mask sent back is no modification (e.g. no key warning).
            values = {k: v for k, v in values.items()
                if not (k in cls._secret_fields and v == MASK)}
        super().check_modification(
            mode, records, values=values, external=external)

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        for name in cls._secret_fields:
            if name not in values:
                continue
            if values[name] == MASK:
                # The client sent back the placeholder it was shown.
                del values[name]
            else:
                values[name] = encrypt(values[name], cls.__name__)
        return values

    @classmethod
    def read(cls, ids, fields_names):
        rows = super().read(ids, fields_names)
        names = [n for n in cls._secret_fields if n in fields_names]
        if names:
            # Clients (access checked) only learn that a secret is set.
            masked = Transaction().check_access
            for row in rows:
                for name in names:
                    if row.get(name):
                        row[name] = (MASK if masked
                            else decrypt(row[name], cls.__name__))
        return rows

    @classmethod
    def export_data(cls, records, fields_names, header=False):
        data = super().export_data(records, fields_names, header=header)
        if Transaction().check_access:
            positions = [i for i, n in enumerate(fields_names)
                if n.split('/')[0].split('.')[0] in cls._secret_fields]
            for row in data[1 if header else 0:]:
                for i in positions:
                    if row[i]:
                        row[i] = MASK
        return data


def _rotating():
    try:
        return _keys()[1]
    except SecretsKeyError:
        return False
