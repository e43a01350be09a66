"""Provider Manager: a provider's own profile, rates and contact data.

A provider is a company; its contact data live on the company's party.
The record rules of the Provider Manager group (provider.xml) reach that
party through ``utility_provider_companies``.
"""
from trytond.model import fields
from trytond.pool import PoolMeta


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'
    utility_provider_companies = fields.One2Many('company.company', 'party',
        "Provider Companies", readonly=True,
        help="The providers (companies) this party is the party of.")
