"""Rate plan records → rating engine data → priced invoice lines."""
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from trytond.i18n import gettext
from trytond.pool import Pool

from . import tariff
from .exceptions import RatingError

# Tryton's default invoice line price digits ([product] price_decimal).
PRICE_QUANTUM = Decimal('0.0001')


@dataclass
class PricedLine:
    "An invoice line to be: what Tryton needs plus the computation"
    product: object
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    taxable: bool
    trace: str
    version: object


@dataclass
class PricedBill:
    lines: list
    engine: tariff.Bill
    quantity: Decimal
    conversion: list

    @property
    def total(self):
        return sum((l.amount for l in self.lines), Decimal(0))

    def explain(self):
        return '\n'.join(l.trace for l in self.lines)


def _season(component):
    if not component.season_start or not component.season_end:
        return None
    return tuple(tuple(int(x) for x in text.split('-'))
        for text in (component.season_start, component.season_end))


def engine_plan(plan, start, end):
    "The engine's Plan for the versions of plan in force in [start, end]"
    versions = []
    for version, version_end in plan.versions_between(start, end):
        components = []
        for c in version.components:
            components.append(tariff.Component(
                    code=c.code, name=c.name, kind=c.kind, price=c.price,
                    per=c.per, register=c.register or None,
                    percentage=c.percentage,
                    base=tuple(x.strip() for x in (c.base or '').split(',')
                        if x.strip()),
                    units=c.units, season=_season(c),
                    attribute=c.attribute,
                    blocks=[tariff.Block(b.threshold, b.price)
                        for b in c.blocks],
                    taxable=c.taxable, ref=c))
        versions.append(tariff.Version(version.name, version.start_date,
                components, end=version_end, ref=version))
    return tariff.Plan(versions, rounding=plan.rounding,
        proration=plan.proration, block_basis=plan.block_basis,
        quantity_digits=plan.quantity_digits,
        quantum=plan.company.currency.rounding)


def price(plan, start, end, registers, service_point=None, demand=None,
        attributes=None):
    pool = Pool()
    HeatFactor = pool.get('utility.heat.factor')
    registers = dict(registers)
    total = registers.get('total', sum(registers.values(), Decimal(0)))
    conversion = []
    if plan.convert_heat_factor:
        therms, parts = HeatFactor.convert(plan.company, plan.service_type,
            start, end, total)
        conversion = parts
        ratio = therms / total if total else Decimal(0)
        registers = {r: (q * ratio) for r, q in registers.items()}
        registers['total'] = therms
    if attributes is None:
        attributes = service_point.rate_attributes() if service_point else {}
    try:
        bill = tariff.rate(engine_plan(plan, start, end), start, end,
            registers, demand=demand, attributes=attributes)
    except LookupError as exc:
        raise RatingError(gettext('utility_billing.msg_rating_lookup',
                plan=plan.rec_name, start=start, end=end,
                missing=', '.join(str(a) for a in exc.args))) from exc
    lines = []
    for line in bill.lines:
        component = line.component.ref
        uom = component.product.default_uom
        quantity = line.quantity.quantize(
            Decimal(1).scaleb(-(uom.digits or 0)))
        unit_price = line.unit_price
        # The invoice keeps quantities to the unit's digits and prices to
        # 4 decimals, then recomputes quantity × unit price: when that
        # would differ from the tariff's amount, bill the amount.
        if (unit_price != unit_price.quantize(PRICE_QUANTUM)
                or plan.company.currency.round(quantity * unit_price)
                != line.amount):
            quantity, unit_price = Decimal(1), line.amount
        note = line.explanation
        if conversion:
            note += ' [%s]' % '; '.join(
                '%s to %s: %s CCF × %s' % (p.start, p.end, p.quantity,
                    p.factor) for p in conversion)
        lines.append(PricedLine(
                product=component.product,
                description='%s (%s – %s)' % (
                    line.description, line.start, line.end),
                quantity=quantity, unit_price=unit_price,
                amount=line.amount, taxable=line.taxable,
                trace=note, version=line.version.ref))
    return PricedBill(lines, bill, registers.get('total', total), conversion)


def simulate(plan, start, end, registers, attributes, demand):
    "Plain-data pricing for RPC callers: lines, taxes and total"
    pool = Pool()
    Tax = pool.get('account.tax')
    if isinstance(start, str):
        start = dt.date.fromisoformat(start)
    if isinstance(end, str):
        end = dt.date.fromisoformat(end)
    registers = {r: Decimal(str(q)) for r, q in registers.items()}
    demand = Decimal(str(demand)) if demand is not None else None
    priced = price(plan, start, end, registers, demand=demand,
        attributes=attributes)
    currency = plan.company.currency
    taxes = {}
    lines = []
    for line in priced.lines:
        line_taxes = (line.product.customer_taxes_used
            if line.taxable else [])
        for tax_line in Tax.compute(line_taxes, line.unit_price,
                line.quantity, end):
            tax = tax_line['tax']
            entry = taxes.setdefault(tax.id, {
                    'tax': tax.rec_name, 'base': Decimal(0),
                    'amount': Decimal(0)})
            entry['base'] += tax_line['base']
            entry['amount'] += tax_line['amount']
        lines.append({
                'product': line.product.rec_name,
                'description': line.description,
                'quantity': line.quantity,
                'unit_price': line.unit_price,
                'amount': line.amount,
                'version': line.version.rec_name,
                'computation': line.trace,
                })
    tax_lines = []
    for entry in taxes.values():
        entry['base'] = currency.round(entry['base'])
        entry['amount'] = currency.round(entry['amount'])
        tax_lines.append(entry)
    untaxed = priced.total
    tax_amount = sum((t['amount'] for t in tax_lines), Decimal(0))
    return {
        'plan': plan.rec_name,
        'start': start,
        'end': end,
        'quantity': priced.quantity,
        'lines': lines,
        'taxes': tax_lines,
        'untaxed_amount': untaxed,
        'tax_amount': tax_amount,
        'total_amount': untaxed + tax_amount,
        }
