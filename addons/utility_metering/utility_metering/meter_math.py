"""Pure metering arithmetic: rollover, consumption, validation, proration.

No ORM here so the rules are unit-tested directly and shared by the
ORM workflow and the bulk CSV import.
"""
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

SECONDS_PER_DAY = Decimal(86400)
# A drop is read as a rollover only if the rolled consumption is below
# this share of the register capacity; otherwise it is a bad reading.
ROLLOVER_MAX_SHARE = Decimal('0.5')


def register_capacity(dials):
    return Decimal(10) ** dials if dials else None


def register_delta(previous, value, dials):
    """Return (delta, rolled) between two register values."""
    delta = value - previous
    if delta >= 0:
        return delta, False
    capacity = register_capacity(dials)
    if capacity is not None:
        rolled = capacity - previous + value
        if 0 <= rolled < capacity * ROLLOVER_MAX_SHARE:
            return rolled, True
    return delta, False


def day_position(local_dt):
    """Position of a local wall-clock time in days.

    Using the wall clock makes every calendar day weigh exactly one day,
    also on the 23 or 25 hour days of a DST change.
    """
    if isinstance(local_dt, dt.datetime):
        seconds = (local_dt.hour * 3600 + local_dt.minute * 60
            + local_dt.second)
        return Decimal(local_dt.toordinal()) + Decimal(seconds) / SECONDS_PER_DAY
    return Decimal(local_dt.toordinal())


@dataclass
class MeterHistory:
    "What validation needs to know about a meter before a new reading."
    dials: int | None
    multiplier: Decimal
    installed: dt.datetime | None = None
    removed: dt.datetime | None = None
    previous_time: dt.datetime | None = None
    previous_value: Decimal | None = None
    average_daily: Decimal | None = None
    last_nonzero_time: dt.datetime | None = None
    first_time: dt.datetime | None = None
    total: Decimal = Decimal(0)

    def advance(self, time, value, consumption):
        "Take an accepted reading into the history"
        if self.previous_value is not None:
            self.total += consumption or 0
        if self.first_time is None:
            self.first_time = time
        self.previous_time, self.previous_value = time, value
        if consumption:
            self.last_nonzero_time = time
        days = Decimal((time - self.first_time).total_seconds()) / (
            SECONDS_PER_DAY)
        if days >= 1:
            self.average_daily = self.total / days


@dataclass
class ReadingCheck:
    consumption: Decimal | None = None
    rollover: bool = False
    errors: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.errors


def check_reading(history, time, value, now, spike_factor=None,
        max_zero_days=None):
    """Validate one reading against the meter's history.

    errors are (message_id, params) pairs so callers can translate them.
    """
    result = ReadingCheck()
    if value < 0:
        result.errors.append(('msg_reading_negative_value', {}))
        return result
    if time > now:
        result.errors.append(('msg_reading_future', {}))
    if history.installed and time < history.installed:
        result.errors.append(('msg_reading_before_installation', {
                    'installed': history.installed}))
    if history.removed and time > history.removed:
        result.errors.append(('msg_reading_after_removal', {
                    'removed': history.removed}))
    if history.previous_value is None:
        result.consumption = Decimal(0)
        return result
    if history.previous_time and time <= history.previous_time:
        result.errors.append(('msg_reading_not_after_previous', {
                    'previous': history.previous_time}))
        return result
    delta, rolled = register_delta(
        history.previous_value, value, history.dials)
    result.rollover = rolled
    if delta < 0:
        result.errors.append(('msg_reading_lower_than_previous', {
                    'previous': history.previous_value}))
        return result
    consumption = delta * history.multiplier
    result.consumption = consumption
    days = Decimal((time - history.previous_time).total_seconds()) / (
        SECONDS_PER_DAY)
    if (spike_factor and history.average_daily and days > 0
            and consumption / days
            > history.average_daily * spike_factor):
        result.errors.append(('msg_reading_spike', {
                    'daily': round(consumption / days, 2),
                    'average': round(history.average_daily, 2),
                    'factor': spike_factor,
                    }))
    if consumption == 0 and max_zero_days:
        since = history.last_nonzero_time or history.previous_time
        zero_days = (time - since).days
        if zero_days > max_zero_days:
            result.errors.append(('msg_reading_zero_too_long', {
                        'days': zero_days}))
    return result


def interpolate(points, position):
    """Cumulative consumption at position on a [(position, cumul)] curve.

    Returns None outside the curve: the caller must estimate there.
    """
    if not points or position < points[0][0] or position > points[-1][0]:
        return None
    for (p0, c0), (p1, c1) in zip(points, points[1:]):
        if p0 <= position <= p1:
            if p1 == p0:
                return c1
            return c0 + (c1 - c0) * (position - p0) / (p1 - p0)
    return points[0][1]


def prorate(points, start, end):
    "Consumption between two positions on a cumulative curve or None."
    c_start = interpolate(points, start)
    c_end = interpolate(points, end)
    if c_start is None or c_end is None:
        return None
    return c_end - c_start
