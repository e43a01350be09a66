"""The shipped password policy and login throttling (config/trytond.conf
[password] and [session]), with the [password] entropy that
docs/deployment.md recommends, refuse weak passwords and throttle
repeated failed logins, in the back office and the portal."""
import configparser
import unittest
from pathlib import Path
from unittest.mock import patch

import trytond.config as config
from trytond.exceptions import RateLimitException
from trytond.pool import Pool
from trytond.res.exceptions import PasswordError
from trytond.tests.test_tryton import (
    activate_module, drop_db, with_transaction)
from trytond.transaction import Transaction

from . import tools  # noqa: F401 (faster import_module)

# addons/utility_privacy/utility_privacy/tests -> the repository root
CONF = Path(__file__).resolve().parents[4] / 'config' / 'trytond.conf'
STRONG = 'Meter-Reading-7xQ'
# [password] entropy as docs/deployment.md recommends it for production;
# used unless config/trytond.conf sets one.
ENTROPY = '0.6'


def shipped():
    "The [password] and [session] options of config/trytond.conf"
    parser = configparser.ConfigParser(interpolation=None)
    with open(CONF) as file:
        parser.read_file(file)
    return {section: dict(parser.items(section))
        for section in ['password', 'session']}


class PasswordPolicyTestCase(unittest.TestCase):
    "Password policy and login throttling as configured"

    @classmethod
    def setUpClass(cls):
        activate_module('utility_privacy')
        # Failed logins are counted in transactions of their own, which
        # on an in-memory SQLite database commit the test's users too.
        cls.addClassCleanup(drop_db)

    def setUp(self):
        # Apply the shipped options for the test only.
        self.options = shipped()
        self.options['password'].setdefault('entropy', ENTROPY)
        for section, options in self.options.items():
            for option, value in options.items():
                old = config.get(section, option, default=None)
                config.set(section, option, value)
                if old is None:
                    self.addCleanup(self.remove_option, section, option)
                else:
                    self.addCleanup(config.set, section, option, old)

    @staticmethod
    def remove_option(section, option):
        # trytond.config has no public remove; its getters are cached.
        config._config.remove_option(section, option)
        config._cache_clear()

    def test_shipped_values(self):
        "The documented policy is what the file sets"
        options = shipped()
        self.assertGreaterEqual(int(options['password']['length']), 12)
        self.assertLessEqual(int(options['session']['max_attempt']), 5)
        self.assertLessEqual(
            int(options['session']['max_attempt_ip_network']), 300)

    @with_transaction()
    def test_weak_password_refused(self):
        "Short, repetitive or login-equal passwords are refused"
        pool = Pool()
        User = pool.get('res.user')
        user, = User.create([{'name': "Clerk", 'login': 'clerk-longlogin'}])
        # Passwords are only checked when a user (not root) sets them.
        with Transaction().set_user(1):
            for weak in ['Short-1', 'aaaaaaaaaaaaaaaa', 'abababababab12',
                    'clerk-longlogin']:
                with self.subTest(password=weak):
                    with self.assertRaises(PasswordError):
                        User.write([user], {'password': weak})
            User.write([user], {'password': STRONG})
        self.assertTrue(User.get_login('clerk-longlogin',
                {'password': STRONG}))

    @with_transaction()
    def test_weak_portal_password_refused(self):
        "Portal customers get the same policy"
        pool = Pool()
        WebUser = pool.get('web.user')
        with Transaction().set_user(1):
            with self.assertRaises(PasswordError):
                WebUser.create([{'email': 'bart@example.com',
                            'password': 'bart2024'}])
            user, = WebUser.create([{'email': 'bart.simpson@example.com',
                        'password': STRONG}])
        self.assertEqual(
            WebUser.authenticate('bart.simpson@example.com', STRONG), user)

    @patch('time.sleep')
    @with_transaction()
    def test_back_office_login_throttled(self, sleep=None):
        "After max_attempt failures even the right password is refused"
        pool = Pool()
        User = pool.get('res.user')
        User.create([{'name': "Clerk", 'login': 'clerk',
                    'password': STRONG}])
        max_attempt = int(self.options['session']['max_attempt'])
        # A good login clears earlier failures.
        User.get_login('clerk', {'password': 'wrong'})
        self.assertTrue(User.get_login('clerk', {'password': STRONG}))
        for _ in range(max_attempt + 1):
            self.assertIsNone(User.get_login('clerk', {'password': 'wrong'}))
        with self.assertRaises(RateLimitException):
            User.get_login('clerk', {'password': STRONG})
        # Another login is not throttled by clerk's failures.
        User.create([{'name': "Other", 'login': 'other',
                    'password': STRONG}])
        self.assertTrue(User.get_login('other', {'password': STRONG}))

    @patch('time.sleep')
    @with_transaction()
    def test_portal_login_throttled(self, sleep=None):
        "The portal's logins are throttled the same way"
        pool = Pool()
        WebUser = pool.get('web.user')
        WebUser.create([{'email': 'lisa@example.com', 'password': STRONG}])
        max_attempt = int(self.options['session']['max_attempt'])
        for _ in range(max_attempt + 1):
            self.assertIsNone(
                WebUser.authenticate('lisa@example.com', 'wrong'))
        with self.assertRaises(RateLimitException):
            WebUser.authenticate('lisa@example.com', STRONG)
