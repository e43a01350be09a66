"Shared by the utility_ops tests"
import importlib.util

# One set of modules for every test class, so that they share one cached
# database: with the PayPal gateway (our own module) when it is installed,
# for the secrets test; it brings account_payment, whose payments are
# audited too.
PAYPAL = importlib.util.find_spec('account_payment_paypal') is not None
EXTRAS = ['account_payment_paypal'] if PAYPAL else []
MODULES = ['utility_ops'] + EXTRAS
