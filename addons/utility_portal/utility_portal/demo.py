"""Demo web users for the portal, on top of utility_billing's demo.

The first agreement's customer logs in as customer@example.com; a
landlord (landlord@example.com) acts for the next two customers, so the
account switcher shows. Both have the password ``portal-demo-2024``.

Command line (after ``python -m utility_billing.demo``)::

    python -m utility_portal.demo --database DB [--config FILE]
"""
import argparse
import sys

PASSWORD = 'portal-demo-2024'


def generate(password=PASSWORD):
    "Create the demo web users once; return their e-mails"
    from trytond.pool import Pool
    pool = Pool()
    User = pool.get('web.user')
    Agreement = pool.get('utility.service.agreement')
    agreements = Agreement.search([('state', '=', 'active')],
        order=[('number', 'ASC')], limit=3)
    if not agreements:
        return []
    users = []
    if not User.search([('email', '=', 'customer@example.com')]):
        users.append({'email': 'customer@example.com',
                'party': agreements[0].party.id, 'email_valid': True})
    if len(agreements) > 1 and not User.search(
            [('email', '=', 'landlord@example.com')]):
        parties = [a.party.id for a in agreements[1:]]
        users.append({'email': 'landlord@example.com',
                'party': parties[0], 'email_valid': True,
                'secondary_parties': [('add', parties[1:])]})
    users = User.create(users)
    User.write(users, {'password': password})
    return [u.email for u in users]


def main(argv=None):
    parser = argparse.ArgumentParser(description="Portal demo web users")
    parser.add_argument('--database', '-d', required=True)
    parser.add_argument('--config', '-c')
    args = parser.parse_args(argv)
    from trytond import config
    if args.config:
        config.update_etc(args.config)
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    Pool(args.database).init()
    with Transaction().start(args.database, 0) as transaction:
        emails = generate()
        transaction.commit()
    for email in emails:
        print("Portal user %s / %s" % (email, PASSWORD))
    return 0


if __name__ == '__main__':
    sys.exit(main())
