"""Bill periods of a billing cycle: pure date arithmetic.

A cycle cuts time at boundaries: the billing day of every k-th month
counted from an anchor month, or every n days from an anchor date. A bill
period runs from one boundary to the day before the next; an agreement's
first and last periods are cut by its start and end, so they are partial.
Periods are inclusive date ranges [start, end].
"""
import datetime as dt

from dateutil.relativedelta import relativedelta


def _clamped(year, month, day):
    "The day of the month, or its last day for a short month"
    last = (dt.date(year, month, 1) + relativedelta(months=1, days=-1)).day
    return dt.date(year, month, min(day, last))


def boundary_on_or_before(date, months=None, billing_day=1, anchor_month=1,
        days=None, anchor_date=None):
    "The last cycle boundary on or before date"
    if days:
        offset = (date - anchor_date).days // days
        return anchor_date + dt.timedelta(days=offset * days)
    index = date.year * 12 + date.month - 1
    # Step back to a boundary month of the cycle.
    index -= (index - (anchor_month - 1)) % months
    while True:
        candidate = _clamped(index // 12, index % 12 + 1, billing_day)
        if candidate <= date:
            return candidate
        index -= months


def next_boundary(date, months=None, billing_day=1, anchor_month=1,
        days=None, anchor_date=None):
    "The first cycle boundary strictly after date"
    if days:
        return boundary_on_or_before(date, days=days,
            anchor_date=anchor_date) + dt.timedelta(days=days)
    last = boundary_on_or_before(date, months, billing_day, anchor_month)
    index = last.year * 12 + last.month - 1 + months
    return _clamped(index // 12, index % 12 + 1, billing_day)


def next_period(billed_until, agreement_start, agreement_end=None,
        **cycle):
    """The next bill period of an agreement or None when nothing is left.

    billed_until is the end of the last billed period (None before the
    first bill). cycle holds months, billing_day and anchor_month, or days
    and anchor_date.
    """
    start = (billed_until + dt.timedelta(days=1) if billed_until
        else agreement_start)
    if agreement_end and start > agreement_end:
        return None
    end = next_boundary(start, **cycle) - dt.timedelta(days=1)
    if agreement_end and end > agreement_end:
        end = agreement_end
    return start, end


def periods_between(agreement_start, until, agreement_end=None, **cycle):
    "Every period of an agreement that ends on or before until"
    result, billed = [], None
    while True:
        period = next_period(billed, agreement_start, agreement_end,
            **cycle)
        if period is None or period[1] > until:
            return result
        result.append(period)
        billed = period[1]
