import datetime as dt
from decimal import Decimal

from sql import Null
from sql.operators import Equal, Exists

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Exclude, Index, ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from . import meter_math
from .exceptions import BilledReadingError, ReadingValidationError

# Readings of the last year give a meter's own average daily use.
HISTORY_DAYS = 365


def in_max():
    "Ids per SQL IN clause: SQLite limits parameters, PostgreSQL does not"
    return 900 if backend.name == 'sqlite' else 20000


class MeterReading(Workflow, ModelSQL, ModelView):
    "Meter Reading"
    __name__ = 'utility.meter.reading'
    _states = {'readonly': Eval('state') != 'draft'}
    company = fields.Many2One('company.company', "Provider", required=True,
        states=_states)
    meter = fields.Many2One('utility.meter', "Meter", required=True,
        ondelete='RESTRICT', states=_states,
        domain=[('company', '=', Eval('company', -1))])
    service_point = fields.Many2One('utility.service.point',
        "Service Point", readonly=True)
    date_time = fields.DateTime("Read At", required=True, states=_states)
    value = fields.Numeric("Value", digits=(16, 4), required=True,
        states=_states)
    kind = fields.Selection([
            ('actual', "Actual"),
            ('estimated', "Estimated"),
            ('customer', "Customer"),
            ('smart', "Smart"),
            ], "Kind", required=True, states=_states)
    source = fields.Selection([
            ('manual', "Manual"),
            ('import', "Import"),
            ('portal', "Portal"),
            ('integration', "Integration"),
            ('system', "System"),
            ], "Source", required=True, states=_states)
    state = fields.Selection([
            ('draft', "Draft"),
            ('valid', "Valid"),
            ('rejected', "Rejected"),
            ('superseded', "Superseded"),
            ('billed', "Billed"),
            ], "State", required=True, readonly=True, sort=False)
    consumption = fields.Numeric("Consumption", digits=(16, 4),
        readonly=True,
        help="Use since the previous reading, after rollover and "
        "multiplier.")
    rollover = fields.Boolean("Rollover", readonly=True)
    rejection_reason = fields.Text("Rejection Reason", readonly=True)
    corrects = fields.Many2One('utility.meter.reading', "Corrects",
        states=_states,
        domain=[('meter', '=', Eval('meter', -1))],
        help="The reading this one replaces.")
    corrected_by = fields.One2Many('utility.meter.reading', 'corrects',
        "Corrected By", readonly=True)
    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('meter_time_exclude',
                Exclude(t, (t.meter, Equal), (t.date_time, Equal),
                    where=(t.state != 'rejected') & (t.corrects == Null)),
                'utility_metering.msg_reading_duplicate'),
            ]
        cls._sql_indexes.add(Index(t,
                (t.meter, Index.Range()), (t.date_time, Index.Range())))
        cls._order = [('date_time', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('draft', 'valid'),
            ('draft', 'rejected'),
            ('rejected', 'valid'),
            ('rejected', 'draft'),
            ('valid', 'superseded'),
            ('valid', 'billed'),
            }
        cls._buttons.update({
                'validate_reading': {
                    'invisible': Eval('state') != 'draft',
                    'depends': ['state'],
                    },
                'approve': {
                    'invisible': Eval('state') != 'rejected',
                    'depends': ['state'],
                    },
                'draft': {
                    'invisible': Eval('state') != 'rejected',
                    'depends': ['state'],
                    },
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_state():
        return 'draft'

    @staticmethod
    def default_kind():
        return 'actual'

    @staticmethod
    def default_source():
        return 'manual'

    @staticmethod
    def default_rollover():
        return False

    def get_rec_name(self, name):
        return '%s @ %s: %s' % (
            self.meter.rec_name, self.date_time, self.value)

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        super().check_modification(
            mode, records, values=values, external=external)
        if mode in {'write', 'delete'}:
            allowed = {'state'} if mode == 'write' else set()
            for reading in records:
                if reading.state == 'billed' and (
                        mode == 'delete' or set(values or {}) - allowed):
                    raise BilledReadingError(gettext(
                            'utility_metering.msg_reading_billed_immutable',
                            reading=reading.rec_name))

    @classmethod
    def histories(cls, meters, before):
        "MeterHistory per meter id from stored readings before a time"
        return cls.histories_by_id({
                m.id: (m.dials, m.multiplier) for m in meters}, before)

    @classmethod
    def histories_by_id(cls, registers, before):
        """MeterHistory per meter id for {meter id: (dials, multiplier)}.

        Read with plain SQL in slices: building ORM records for a year of
        readings of every meter was 60% of a bulk import.
        """
        pool = Pool()
        Installation = pool.get('utility.meter.installation')
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        histories = {
            meter_id: meter_math.MeterHistory(
                dials=dials, multiplier=Decimal(multiplier))
            for meter_id, (dials, multiplier) in registers.items()}
        since = before - dt.timedelta(days=HISTORY_DAYS)
        inst = Installation.__table__()
        reading = cls.__table__()
        correction = cls.__table__()
        not_corrected = ~Exists(correction.select(correction.id,
                where=correction.corrects == reading.id))
        for sub in grouped_slice(list(histories), in_max()):
            sub = list(sub)
            cursor.execute(*inst.select(inst.meter, inst.start, inst.end,
                    where=inst.meter.in_(sub),
                    order_by=[inst.meter, inst.start]))
            for meter_id, start, end in cursor:
                h = histories[meter_id]
                if h.installed is None or start < h.installed:
                    h.installed = start
                # The latest installation tells if the meter is removed.
                h.removed = end
            cursor.execute(*reading.select(
                    reading.meter, reading.date_time, reading.value,
                    reading.consumption,
                    where=reading.meter.in_(sub)
                    & reading.state.in_(['valid', 'billed'])
                    & (reading.date_time < before)
                    & (reading.date_time >= since)
                    & not_corrected,
                    order_by=[reading.meter, reading.date_time]))
            for meter_id, date_time, value, consumption in cursor:
                histories[meter_id].advance(date_time, value, consumption)
            missing = [m for m in sub
                if histories[m].previous_value is None]
            if missing:
                # The last reading may be older than the history window.
                cursor.execute(*reading.select(
                        reading.meter, reading.date_time, reading.value,
                        where=reading.meter.in_(missing)
                        & reading.state.in_(['valid', 'billed'])
                        & (reading.date_time < since)
                        & not_corrected,
                        order_by=[reading.meter, reading.date_time]))
                for meter_id, date_time, value in cursor:
                    h = histories[meter_id]
                    h.previous_time, h.previous_value = date_time, value
        return histories

    @classmethod
    @ModelView.button
    def validate_reading(cls, readings):
        "Check draft readings in time order and set them valid or rejected"
        now = dt.datetime.now()
        valid, rejected = [], []
        for reading in sorted(readings, key=lambda r: r.date_time):
            # A correction takes the place of the reading it corrects.
            before = (reading.corrects.date_time if reading.corrects
                else reading.date_time)
            history = cls.histories([reading.meter], before)[reading.meter.id]
            service_type = reading.meter.service_type
            check = meter_math.check_reading(history, reading.date_time,
                reading.value, now,
                spike_factor=service_type.spike_factor,
                max_zero_days=service_type.max_zero_days)
            reading.consumption = check.consumption
            reading.rollover = check.rollover
            reading.service_point = reading.meter.service_point
            if check.ok:
                reading.state = 'valid'
                reading.rejection_reason = None
                valid.append(reading)
            else:
                reading.state = 'rejected'
                reading.rejection_reason = '\n'.join(
                    gettext('utility_metering.' + msg, **params)
                    for msg, params in check.errors)
                rejected.append(reading)
            # Save one by one: the next reading's history depends on it.
            reading.save()
        if valid:
            cls.supersede_estimates(valid)

    @classmethod
    def supersede_estimates(cls, readings):
        "An actual read replaces unbilled estimates since the last actual"
        to_supersede = []
        for reading in readings:
            if reading.kind == 'estimated':
                continue
            estimates = cls.search([
                    ('meter', '=', reading.meter.id),
                    ('kind', '=', 'estimated'),
                    ('state', '=', 'valid'),
                    ('date_time', '<', reading.date_time),
                    ])
            to_supersede.extend(estimates)
        if to_supersede:
            cls.write(to_supersede, {'state': 'superseded'})
            # Recompute the consumption of the actual reads over the gap.
            for reading in readings:
                if reading.kind == 'estimated':
                    continue
                history = cls.histories(
                    [reading.meter], reading.date_time)[reading.meter.id]
                delta, rolled = meter_math.register_delta(
                    history.previous_value, reading.value,
                    reading.meter.dials) if history.previous_value is not None \
                    else (Decimal(0), False)
                reading.consumption = delta * reading.meter.multiplier
                reading.rollover = rolled
                reading.save()

    @classmethod
    @ModelView.button
    def approve(cls, readings):
        "Accept rejected readings a person has checked"
        for reading in readings:
            if reading.consumption is None:
                raise ReadingValidationError(gettext(
                        'utility_metering.msg_reading_cannot_approve',
                        reading=reading.rec_name,
                        reason=reading.rejection_reason or ''))
        cls.write(readings, {'state': 'valid'})

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    def draft(cls, readings):
        cls.write(readings, {'consumption': None, 'rejection_reason': None})

    @classmethod
    def bill(cls, readings):
        "Lock readings used by a bill"
        # Where the database cannot enforce the one-reading-per-instant
        # constraint, Tryton checks it with one nested clause per record,
        # which overflows on a month of hourly reads: write in slices.
        for sub in grouped_slice(readings, 20):
            cls.write(list(sub), {'state': 'billed'})

    @classmethod
    def estimate(cls, meter, date_time):
        """Create a valid estimated reading for the meter at date_time.

        Average daily use comes from the same period last year when the
        meter has readings then, else from its recent history.
        """
        pool = Pool()
        Meter = pool.get('utility.meter')
        history = cls.histories([meter], date_time)[meter.id]
        if history.previous_value is None:
            raise ReadingValidationError(gettext(
                    'utility_metering.msg_estimate_no_history',
                    meter=meter.rec_name))
        days = Decimal((date_time - history.previous_time).total_seconds()
            ) / meter_math.SECONDS_PER_DAY
        daily = None
        last_year_start = (history.previous_time - dt.timedelta(days=365)
            ).date()
        last_year_end = (date_time - dt.timedelta(days=365)).date()
        if last_year_end > last_year_start:
            usage = Meter.consumption_for(
                [meter], last_year_start, last_year_end)
            if usage.complete:
                daily = usage.quantity / Decimal(
                    (last_year_end - last_year_start).days + 1)
        if daily is None:
            daily = history.average_daily or Decimal(0)
        consumption = daily * days
        delta = consumption / meter.multiplier
        value = history.previous_value + delta
        capacity = meter_math.register_capacity(meter.dials)
        if capacity is not None and value >= capacity:
            value -= capacity
        reading = cls(meter=meter, company=meter.company,
            date_time=date_time, value=value.quantize(Decimal('0.0001')),
            kind='estimated', source='system')
        reading.save()
        cls.validate_reading([reading])
        return reading
