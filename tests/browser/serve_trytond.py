"""trytond for the browser tests, talking to the fake Stripe
($STRIPE_API_BASE) instead of api.stripe.com: stripe-python's base URL is
a process setting, not a trytond option.

    STRIPE_API_BASE=http://127.0.0.1:8124 python serve_trytond.py -c conf -d DB
"""
import os
import sys

import stripe

stripe.api_base = os.environ['STRIPE_API_BASE']
stripe.max_network_retries = 0

from trytond.cli import main  # noqa: E402

if __name__ == '__main__':
    sys.argv[0] = 'trytond'
    sys.exit(main())
