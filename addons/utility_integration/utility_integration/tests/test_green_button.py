"""Green Button "Download My Data": ESPI Atom feeds of billed data,
validated against the schema of what we emit."""
import datetime as dt
import unittest

from lxml import etree

from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from utility_metering.tests.activation import activate_fixture
from trytond.transaction import Transaction

from utility_integration import espi
from utility_integration.exceptions import GreenButtonError

from utility_billing.tests.tools import read

from .tools import (
    BILLING, METERING, SERVICE, as_user, billed_data, in_company,
    integration_fixture, local, user)

NS = {'a': espi.NS_ATOM, 'espi': espi.NS_ESPI}


def epoch(naive_utc):
    return int(naive_utc.replace(tzinfo=dt.timezone.utc).timestamp())


def resources(document, tag):
    return document.xpath('/a:feed/a:entry/a:content/espi:%s' % tag,
        namespaces=NS)


def ints(element, path):
    return [int(v) for v in element.xpath(path + '/text()', namespaces=NS)]


class GreenButtonTestCase(unittest.TestCase):
    "Green Button feeds of a customer and of an agreement"

    @classmethod
    def setUpClass(cls):
        activate_fixture(cls, 'utility_integration', integration_fixture)

    @with_transaction()
    @in_company
    def test_customer_feed(self):
        "The customer's feed is valid ESPI and equals readings and bills"
        agreement, other, bills = billed_data(self.company)
        party = agreement.party
        # An estimate not yet replaced by an actual read, across DST.
        meter = agreement.service_point.installations[0].meter
        read(meter, local(2024, 3, 15), 2600, kind='estimated')
        content = espi.green_button_xml(party, dt.date(2024, 1, 1),
            dt.date(2024, 3, 31))
        espi.validate(content)
        document = etree.fromstring(content)

        self.assertEqual(len(resources(document, 'UsagePoint')), 1)
        self.assertEqual(len(resources(document, 'MeterReading')), 1)
        time, = resources(document, 'LocalTimeParameters')
        # New York: second Sunday of March and first of November, 2:00.
        self.assertEqual(time.findtext('espi:dstStartRule', namespaces=NS),
            '360E2000')
        self.assertEqual(time.findtext('espi:dstEndRule', namespaces=NS),
            'B40E2000')
        self.assertEqual(ints(time, 'espi:tzOffset'), [-18000])
        self.assertEqual(ints(time, 'espi:dstOffset'), [3600])

        point, = resources(document, 'UsagePoint')
        self.assertEqual(ints(point, 'espi:ServiceCategory/espi:kind'), [0])
        reading_type, = resources(document, 'ReadingType')
        self.assertEqual(ints(reading_type, 'espi:uom'), [72])  # Wh
        self.assertEqual(ints(reading_type, 'espi:commodity'), [1])
        self.assertEqual(ints(reading_type, 'espi:currency'), [840])
        self.assertEqual(ints(reading_type, 'espi:accumulationBehaviour'),
            [4])

        blocks = resources(document, 'IntervalBlock')
        self.assertEqual(len(blocks), 3)  # January to March
        readings = document.xpath('//espi:IntervalReading', namespaces=NS)
        # The 15 January estimate was superseded by the 1 February read:
        # Jan 1 → Feb 1, Feb 1 → Mar 1, Mar 1 → Mar 15 (estimated).
        self.assertEqual([ints(r, 'espi:value')[0] for r in readings],
            [742000, 600000, 258000])
        self.assertEqual(
            [ints(r, 'espi:timePeriod/espi:start')[0] for r in readings],
            [epoch(local(2024, 1, 1)), epoch(local(2024, 2, 1)),
                epoch(local(2024, 3, 1))])
        # Clocks went forward on 10 March.
        self.assertEqual(
            [ints(r, 'espi:timePeriod/espi:duration')[0]
                for r in readings],
            [31 * 86400, 29 * 86400, 14 * 86400 - 3600])
        self.assertEqual([ints(r, 'espi:ReadingQuality/espi:quality')
                for r in readings], [[], [], [8]])
        # The other customer's usage is not in the feed.
        self.assertEqual(sum(ints(document, '//espi:IntervalReading'
                    '/espi:value')), 1600000)
        first, = ints(blocks[0], 'espi:interval/espi:start')
        self.assertEqual(first, epoch(local(2024, 1, 1)))

        summaries = resources(document, 'UsageSummary')
        own = [b for b in bills if b.agreement == agreement]
        self.assertEqual(len(summaries), len(own))
        for summary, bill in zip(summaries, own):
            self.assertEqual(ints(summary, 'espi:billLastPeriod'),
                [int(bill.invoice.total_amount * 100000)])
            self.assertEqual(ints(summary,
                    'espi:overallConsumptionLastPeriod/espi:value'),
                [int(bill.consumption * 1000)])
            start = local(bill.period_start.year, bill.period_start.month,
                bill.period_start.day)
            self.assertEqual(ints(summary, 'espi:billingPeriod/espi:start'),
                [epoch(start)])
            days = (bill.period_end - bill.period_start).days + 1
            self.assertEqual(
                ints(summary, 'espi:billingPeriod/espi:duration'),
                [days * 86400])
            self.assertEqual(ints(summary, 'espi:qualityOfReading'),
                [8 if bill.estimated else 0])
        # 31 × 0.40 + 600 × 0.11 + 142 × 0.135 = 97.57, plus 20% tax
        self.assertEqual(ints(summaries[0], 'espi:billLastPeriod'),
            [11708000])

    @with_transaction()
    @in_company
    def test_agreement_window(self):
        "An agreement's feed keeps to the asked dates and the agreement's"
        agreement, other, bills = billed_data(self.company)
        content = espi.green_button_xml(other, dt.date(2024, 2, 1),
            dt.date(2024, 2, 29))
        espi.validate(content)
        document = etree.fromstring(content)
        self.assertEqual(ints(document, '//espi:IntervalReading'
                '/espi:value'), [200000])
        summary, = resources(document, 'UsageSummary')
        bill, = [b for b in bills if b.agreement == other
            and b.period_start == dt.date(2024, 2, 1)]
        self.assertEqual(ints(summary, 'espi:billLastPeriod'),
            [int(bill.invoice.total_amount * 100000)])

        # A move-out ends what the customer receives.
        Agreement = Pool().get('utility.service.agreement')
        Agreement.write([other], {'end_date': dt.date(2024, 1, 31)})
        content = espi.green_button_xml(other.party, dt.date(2024, 1, 1),
            dt.date(2024, 2, 29))
        espi.validate(content)
        document = etree.fromstring(content)
        self.assertEqual(ints(document, '//espi:IntervalReading'
                '/espi:value'), [300000])
        self.assertEqual(len(resources(document, 'UsageSummary')), 1)

    @with_transaction()
    @in_company
    def test_schema_rejects(self):
        "The schema is real: a summary without its status time fails"
        agreement, _, _ = billed_data(self.company)
        content = espi.green_button_xml(agreement, dt.date(2024, 1, 1),
            dt.date(2024, 1, 31))
        document = etree.fromstring(content)
        stamp, = document.xpath('//espi:statusTimeStamp', namespaces=NS)
        stamp.getparent().remove(stamp)
        with self.assertRaises(etree.DocumentInvalid):
            espi.validate(etree.tostring(document))
        document = etree.fromstring(content)
        value = document.xpath('//espi:IntervalReading/espi:value',
            namespaces=NS)[0]
        value.text = '12.5'
        with self.assertRaises(etree.DocumentInvalid):
            espi.validate(etree.tostring(document))

    @with_transaction()
    @in_company
    def test_bad_dates(self):
        "A start after the end is refused with a message"
        agreement, _, _ = billed_data(self.company)
        with self.assertRaises(GreenButtonError) as cm:
            espi.green_button_xml(agreement, dt.date(2024, 2, 1),
                dt.date(2024, 1, 1))
        self.assertIn('2024-02-01', cm.exception.message)

    @with_transaction()
    @in_company
    def test_unknown_service(self):
        "A service without an ESPI kind is named in the error"
        agreement, _, _ = billed_data(self.company)
        ServiceType = Pool().get('utility.service.type')
        service = agreement.service_point.service_type
        ServiceType.write([service], {'code': 'steam'})
        with self.assertRaises(GreenButtonError) as cm:
            espi.green_button_xml(agreement, dt.date(2024, 1, 1),
                dt.date(2024, 1, 31))
        self.assertIn(agreement.rec_name, cm.exception.message)

    @with_transaction()
    @in_company
    def test_wizard_and_access(self):
        "Customer service downloads the file; metering staff may not"
        pool = Pool()
        Wizard = pool.get('utility.integration.green_button', type='wizard')
        ModelData = pool.get('ir.model.data')
        agreement, _, _ = billed_data(self.company)
        party = agreement.party
        action_id = ModelData.get_id('utility_integration',
            'wizard_green_button_party')
        for group in [SERVICE, BILLING]:
            with as_user(user(self.company, group)), \
                    Transaction().set_context(active_model='party.party',
                        active_id=party.id, active_ids=[party.id],
                        action_id=action_id):
                session_id, _, _ = Wizard.create()
                wizard = Wizard(session_id)
                wizard.start.start_date = dt.date(2024, 1, 1)
                wizard.start.end_date = dt.date(2024, 2, 29)
                wizard.transition_export()
                espi.validate(wizard.result.file)
                self.assertTrue(wizard.result.filename.endswith('.xml'))
                result = Wizard.execute(session_id, {
                        'start': {
                            'start_date': dt.date(2024, 1, 1),
                            'end_date': dt.date(2024, 2, 29),
                            },
                        }, 'export')
                self.assertEqual(
                    result['view']['defaults']['file'][:5], b'<?xml')
        with as_user(user(self.company, METERING)), \
                Transaction().set_context(active_model='party.party',
                    active_id=party.id, active_ids=[party.id],
                    action_id=action_id):
            with self.assertRaises(AccessError):
                Wizard.create()
                Wizard.check_access()
