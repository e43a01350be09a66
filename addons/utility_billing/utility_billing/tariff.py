"""The rating engine: prices a bill period on a rate plan.

Plain data in, priced lines out, no database: the rules of a published
tariff are unit-tested here to the cent. Dates are inclusive ranges;
quantities and money are Decimal.
"""
import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

from dateutil.relativedelta import relativedelta

DAY = dt.timedelta(days=1)
QUANTITY = Decimal('0.0001')
AVERAGE_MONTH_DAYS = Decimal(365) / 12
ROUNDINGS = {'half_up': ROUND_HALF_UP, 'half_even': ROUND_HALF_EVEN}


@dataclass
class Block:
    threshold: Decimal  # units above which price applies
    price: Decimal


@dataclass
class Component:
    code: str
    name: str
    kind: str  # fixed variable blocks demand levy credit surcharge minimum
    price: Decimal | None = None
    per: str | None = None  # fixed: period, day or month
    register: str | None = None  # None prices the total
    percentage: Decimal | None = None
    base: tuple = ()  # surcharge: component codes, empty = all before
    units: Decimal | None = None  # credit: first units per month
    season: tuple | None = None  # ((month, day), (month, day)) inclusive
    attribute: str | None = None  # fixed: scaled by a point attribute
    blocks: list = field(default_factory=list)
    taxable: bool = True
    ref: object = None  # what the caller needs back (e.g. the record)


@dataclass
class Version:
    name: str
    start: dt.date
    components: list
    end: dt.date | None = None  # inclusive; None while in force
    ref: object = None


@dataclass
class Plan:
    versions: list
    rounding: str = 'half_up'
    proration: str = 'actual'  # or average_month
    block_basis: str = 'month'  # period, month or day
    quantity_digits: int | None = None
    quantum: Decimal = Decimal('0.01')  # the currency's smallest unit


@dataclass
class Line:
    component: Component
    version: Version
    start: dt.date
    end: dt.date
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    description: str
    explanation: str
    block: tuple | None = None  # (from, to) units of a block line

    @property
    def days(self):
        return (self.end - self.start).days + 1

    @property
    def taxable(self):
        return self.component.taxable

    def trace(self):
        "The computation as plain data for the bill and the back office"
        return {
            'component': self.component.code,
            'version': self.version.name,
            'start': self.start.isoformat(),
            'end': self.end.isoformat(),
            'days': self.days,
            'quantity': str(self.quantity),
            'unit_price': str(self.unit_price),
            'amount': str(self.amount),
            'block': [str(b) if b is not None else None
                for b in self.block] if self.block else None,
            'explanation': self.explanation,
            }


@dataclass
class Bill:
    start: dt.date
    end: dt.date
    lines: list
    segments: list

    @property
    def total(self):
        return sum((l.amount for l in self.lines), Decimal(0))

    @property
    def taxable_total(self):
        return sum((l.amount for l in self.lines if l.taxable), Decimal(0))

    def explain(self):
        return '\n'.join(l.explanation for l in self.lines)


@dataclass
class Segment:
    "Days of the period priced with one version and one set of seasons"
    start: dt.date
    end: dt.date
    version: Version
    quantities: dict  # register -> allocated quantity

    @property
    def days(self):
        return (self.end - self.start).days + 1


def days(start, end):
    return (end - start).days + 1


def in_season(season, date):
    if not season:
        return True
    (m0, d0), (m1, d1) = season
    key = (date.month, date.day)
    if (m0, d0) <= (m1, d1):
        return (m0, d0) <= key <= (m1, d1)
    return key >= (m0, d0) or key <= (m1, d1)  # wraps the year end


def _season_starts(season, start, end):
    "Dates in (start, end] where being in season changes"
    result = []
    for year in range(start.year, end.year + 1):
        for month, day in season:
            try:
                first = dt.date(year, month, day)
            except ValueError:  # 02-29 in a common year
                first = dt.date(year, month, 28)
            for date in (first, first + DAY):
                if start < date <= end and (
                        in_season(season, date)
                        != in_season(season, date - DAY)):
                    result.append(date)
    return result


def months(start, end, proration):
    """The period [start, end] as a number of months.

    actual: each calendar month counts its days over its length (so a
    whole month is 1 whatever its length); average_month: days / (365/12).
    """
    if proration == 'average_month':
        return Decimal(days(start, end)) / AVERAGE_MONTH_DAYS
    total = Decimal(0)
    cursor = start
    while cursor <= end:
        month_end = cursor + relativedelta(day=31)
        last = min(month_end, end)
        total += Decimal(days(cursor, last)) / Decimal(month_end.day)
        cursor = last + DAY
    return total


def _allocate(total, weights):
    "Split total by weights to QUANTITY; the last share takes the rest"
    weight = sum(weights)
    shares, given = [], Decimal(0)
    for i, w in enumerate(weights):
        if i == len(weights) - 1:
            shares.append(total - given)
        else:
            share = (total * w / weight).quantize(QUANTITY)
            shares.append(share)
            given += share
    return shares


def split(plan, start, end, registers):
    "Segments of [start, end] at version changes and season boundaries"
    if end < start:
        raise ValueError("period ends before it starts")
    versions = sorted(plan.versions, key=lambda v: v.start)
    cuts = set()
    in_force = []
    for version, following in zip(versions, versions[1:] + [None]):
        v_end = version.end or (following.start - DAY if following
            else None)
        if version.start > end or (v_end is not None and v_end < start):
            continue
        in_force.append((version, max(start, version.start),
                min(end, v_end) if v_end else end))
    if not in_force or in_force[0][1] > start:
        raise LookupError(start)
    covered = start
    for version, v_start, v_end in in_force:
        if v_start > covered:
            raise LookupError(covered)
        covered = v_end + DAY
        cuts.add(v_start)
        for component in version.components:
            if component.season:
                cuts.update(_season_starts(component.season, v_start, v_end))
    if covered <= end:
        raise LookupError(covered)
    cuts = sorted(c for c in cuts if start <= c <= end)
    bounds = list(zip(cuts, [c - DAY for c in cuts[1:]] + [end]))
    weights = [days(s, e) for s, e in bounds]
    allocated = {r: _allocate(q, weights) for r, q in registers.items()}
    segments = []
    for i, (s, e) in enumerate(bounds):
        version = next(v for v, vs, ve in in_force if vs <= s <= ve)
        segments.append(Segment(s, e, version,
                {r: shares[i] for r, shares in allocated.items()}))
    return segments


def _runs(segments, component):
    "Consecutive segments where the component applies, merged"
    runs, current = [], []
    for segment in segments:
        applies = (any(c is component for c in segment.version.components)
            and in_season(component.season, segment.start))
        if applies:
            current.append(segment)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def rate(plan, start, end, registers, demand=None, attributes=None):
    """Price [start, end] for registers ({name: quantity}).

    The total is the sum of all registers; a component with a register
    prices that register only (time-of-use).
    """
    attributes = attributes or {}
    rounding = ROUNDINGS[plan.rounding]

    def money(value):
        return value.quantize(plan.quantum, rounding=rounding)

    registers = dict(registers)
    if plan.quantity_digits is not None:
        exp = Decimal(1).scaleb(-plan.quantity_digits)
        registers = {r: q.quantize(exp, rounding=ROUND_HALF_UP)
            for r, q in registers.items()}
    if 'total' not in registers:
        registers['total'] = sum(registers.values(), Decimal(0))
    segments = split(plan, start, end, registers)
    period_days = days(start, end)
    components = []
    seen = set()
    for segment in segments:
        for component in segment.version.components:
            if id(component) not in seen:
                seen.add(id(component))
                components.append((segment.version, component))
    lines = []
    for version, component in components:
        for run in _runs(segments, component):
            r_start, r_end = run[0].start, run[-1].end
            r_days = days(r_start, r_end)
            r_months = months(r_start, r_end, plan.proration)
            quantity = sum((s.quantities.get(component.register or 'total',
                        Decimal(0)) for s in run), Decimal(0))
            lines.extend(_price(plan, money, version, component, r_start,
                    r_end, r_days, r_months, period_days, quantity, demand,
                    attributes, lines))
    return Bill(start, end, lines, segments)


def _fmt(value):
    "A quantity without trailing zeros nor exponent"
    text = format(Decimal(value).normalize(), 'f')
    return text


def _price(plan, money, version, component, start, end, r_days, r_months,
        period_days, quantity, demand, attributes, previous):
    kind = component.kind
    span = '%s to %s' % (start, end)
    make = lambda q, p, a, text, block=None: Line(component, version, start,
        end, q, p, a, component.name, text, block)
    if kind == 'fixed':
        factor = Decimal(1)
        scaled = ''
        if component.attribute:
            value = attributes.get(component.attribute)
            factor = _scale_factor(component, value)
            scaled = ' × %s for %s %s' % (_fmt(factor),
                component.attribute.replace('_', ' '), value)
        if component.per == 'day':
            amount = money(component.price * factor * r_days)
            text = '%s days × %s%s = %s' % (r_days, component.price, scaled,
                amount)
            return [make(Decimal(r_days), component.price * factor, amount,
                    '%s: %s (%s)' % (component.name, text, span))]
        if component.per == 'month':
            amount = money(component.price * factor * r_months)
            basis = ('%s days ÷ 30.4167' % r_days
                if plan.proration == 'average_month'
                else '%s months' % _fmt(r_months.quantize(QUANTITY)))
            text = '%s × %s%s = %s' % (basis, component.price, scaled, amount)
            return [make(Decimal(1), amount, amount,
                    '%s: %s (%s)' % (component.name, text, span))]
        share = Decimal(r_days) / Decimal(period_days)
        amount = money(component.price * factor * share)
        text = '%s%s' % (component.price, scaled)
        if share != 1:
            text += ' × %s/%s days' % (r_days, period_days)
        return [make(Decimal(1), amount, amount,
                '%s: %s = %s (%s)' % (component.name, text, amount, span))]
    if kind in {'variable', 'levy'}:
        amount = money(quantity * component.price)
        return [make(quantity, component.price, amount,
                '%s: %s units × %s = %s (%s)' % (component.name,
                    _fmt(quantity), component.price, amount, span))]
    if kind == 'demand':
        if not demand:
            return []
        amount = money(demand * component.price * r_months)
        return [make(demand, component.price * r_months, amount,
                '%s: %s kW × %s × %s months = %s (%s)' % (component.name,
                    _fmt(demand), component.price,
                    _fmt(r_months.quantize(QUANTITY)), amount, span))]
    if kind == 'blocks':
        return _blocks(plan, money, make, component, quantity, r_days,
            r_months, span)
    if kind == 'credit':
        limit = (component.units * r_months).quantize(QUANTITY)
        units = min(quantity, limit)
        if units <= 0:
            return []
        amount = money(-units * component.price)
        return [make(units, -component.price, amount,
                '%s: first %s units (%s per month) × -%s = %s (%s)' % (
                    component.name, _fmt(units), _fmt(component.units),
                    component.price, amount, span))]
    if kind == 'surcharge':
        base = sum((l.amount for l in previous
                if not component.base or l.component.code in component.base),
            Decimal(0))
        amount = money(base * component.percentage / 100)
        return [make(Decimal(1), amount, amount,
                '%s: %s%% of %s = %s' % (component.name,
                    _fmt(component.percentage), base, amount))]
    if kind == 'minimum':
        minimum = money(component.price * r_months)
        billed = sum((l.amount for l in previous), Decimal(0))
        if billed >= minimum:
            return []
        amount = minimum - billed
        return [make(Decimal(1), amount, amount,
                '%s: minimum %s for %s months, billed %s, adds %s' % (
                    component.name, minimum,
                    _fmt(r_months.quantize(QUANTITY)), billed, amount))]
    raise ValueError(kind)


def _scale_factor(component, value):
    "Factor of the blocks table row whose threshold equals value"
    for block in component.blocks:
        if str(block.threshold.normalize()) == str(value) or (
                _as_decimal(value) == block.threshold):
            return block.price
    raise LookupError((component.code, component.attribute, value))


def _as_decimal(value):
    try:
        return Decimal(str(value))
    except Exception:
        return None


def _blocks(plan, money, make, component, quantity, r_days, r_months,
        span):
    if plan.block_basis == 'day':
        scale, note = Decimal(r_days), 'per day × %s days' % r_days
    elif plan.block_basis == 'month':
        scale = r_months
        note = 'per month × %s months' % _fmt(r_months.quantize(QUANTITY))
    else:
        scale, note = Decimal(1), 'per bill period'
    blocks = sorted(component.blocks, key=lambda b: b.threshold)
    lines = []
    for block, following in zip(blocks, blocks[1:] + [None]):
        low = (block.threshold * scale).quantize(QUANTITY)
        high = ((following.threshold * scale).quantize(QUANTITY)
            if following else None)
        if quantity <= low:
            break
        units = (min(quantity, high) if high is not None else quantity) - low
        amount = money(units * block.price)
        if high is not None:
            where = '%s to %s units' % (_fmt(low), _fmt(high))
        else:
            where = 'over %s units' % _fmt(low)
        lines.append(make(units, block.price, amount,
                '%s: %s units %s × %s = %s (blocks %s, %s)' % (
                    component.name, _fmt(units), where, block.price, amount,
                    note, span), block=(low, high)))
    return lines


@dataclass
class TimeOfUseRule:
    bucket: str
    weekdays: frozenset  # 0 = Monday
    start_hour: int  # inclusive
    end_hour: int  # exclusive


def time_of_use_bucket(local_time, rules, default, holidays=()):
    """The register an interval starting at local_time counts on.

    Holidays are priced like the default (off-peak) register.
    """
    if local_time.date() in holidays:
        return default
    for rule in rules:
        if (local_time.weekday() in rule.weekdays
                and rule.start_hour <= local_time.hour < rule.end_hour):
            return rule.bucket
    return default


class TimeOfUseSpanError(ValueError):
    "An interval reading spans more than one time-of-use register"

    def __init__(self, start, end):
        super().__init__(start, end)
        self.start, self.end = start, end


def bucket_intervals(intervals, rules, default, holidays=()):
    """Sum interval consumption per time-of-use register.

    intervals: (local start, local end, quantity). An interval counts on
    the register of its start; one whose hours fall on several registers
    cannot be split honestly and raises TimeOfUseSpanError.
    """
    registers = {}
    for start, end, quantity in intervals:
        bucket = time_of_use_bucket(start, rules, default, holidays)
        hour = (start.replace(minute=0, second=0, microsecond=0)
            + dt.timedelta(hours=1))
        while hour < end:
            if time_of_use_bucket(hour, rules, default, holidays) != bucket:
                raise TimeOfUseSpanError(start, end)
            hour += dt.timedelta(hours=1)
        registers[bucket] = registers.get(bucket, Decimal(0)) + quantity
    return registers
