"""Online payment in the browser tests' database, once: a Stripe account
(any sk_/pk_ keys suit the fake Stripe), a payment journal with a clearing
account and the provider's settings, as utility_payment's tests set them.

    python tests/browser/setup_payment.py -c trytond.conf -d DB
"""
import argparse
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--config', '-c', required=True)
    parser.add_argument('--database', '-d', required=True)
    args = parser.parse_args()
    from trytond import config
    config.update_etc(args.config)
    from trytond.modules.company.tests import set_company
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    from utility_payment.tests.tools import setup_provider
    Pool(args.database).init()
    with Transaction().start(args.database, 0,
            context={'_skip_warnings': True}) as transaction:
        pool = Pool()
        Company = pool.get('company.company')
        Provider = pool.get('utility.payment.provider')
        for company in Company.search([]):
            if not Provider.search([('company', '=', company.id)]):
                with set_company(company):
                    setup_provider(company)
                print("Stripe payment set up for %s" % company.rec_name)
        transaction.commit()
    return 0


if __name__ == '__main__':
    sys.exit(main())
