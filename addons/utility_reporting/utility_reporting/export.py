"""CSV, Excel and PDF exports of the reports' lists.

One report action per format and report model, on the list's print menu.
The rows are streamed: the view's query runs once and its rows are
fetched in batches (a server-side cursor on PostgreSQL), written as they
come to a temporary file (xlsxwriter in constant_memory mode, which
flushes each row), so only a batch is held in memory. The PDF is an HTML
table WeasyPrint lays out (as utility_billing's bill does); WeasyPrint
needs the whole document, so the HTML text (not the records) is held.
"""
import csv
import datetime as dt
import io
import tempfile
from decimal import Decimal
from xml.sax.saxutils import escape

import xlsxwriter
from sql import Literal

from trytond import backend
from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import fields
from trytond.pool import Pool
from trytond.report import Report
from trytond.transaction import Transaction

from .reporting import company_currency

BATCH = 1000
BROWSE = 100
# Character widths of the columns per kind.
WIDTHS = {
    'char': 30, 'many2one': 30, 'date': 12, 'integer': 10, 'money': 16,
    'percent': 10, 'quantity': 16, 'boolean': 10,
    }
# Metered quantities keep the readings' 4 decimals.
QUANTITY_FORMAT = '#,##0.0000'


def _money_format(currency):
    "An Excel number format with the currency's symbol and digits"
    digits = currency.digits if currency else 2
    number = '#,##0' + ('.' + '0' * digits if digits else '')
    symbol = (currency.symbol or currency.code) if currency else ''
    if not symbol:
        return number
    symbol = '"%s"' % symbol.replace('"', '')
    # Negative amounts keep the sign before the symbol.
    return '%s%s;-%s%s' % (symbol, number, symbol, number)


class _Export(Report):
    extension = None

    @classmethod
    def execute(cls, ids, data):
        pool = Pool()
        ActionReport = pool.get('ir.action.report')
        action_id = data.get('action_id')
        if action_id is None:
            action, = ActionReport.search([
                    ('report_name', '=', cls.__name__),
                    ('model', '=', data.get('model')),
                    ], limit=1)
        else:
            action = ActionReport(action_id)
        model = action.model or data.get('model')
        ids = list(map(int, ids))
        cls.check_access(action, model, ids)
        Model = pool.get(model)
        header, kinds, rows = cls.rows(Model, ids)
        content = cls.write(header, kinds, rows,
            title=Model.__names__()['model'])
        return (cls.extension, content, False,
            action.name or Model.__names__()['model'])

    @classmethod
    def rows(cls, Model, ids):
        """Column titles, kinds and an iterator of rows (lists of Python
        values) of the Model's records ids, in the Model's order"""
        names = [n for n, _ in Model._export_columns]
        kinds = [k for _, k in Model._export_columns]
        strings = Model.fields_get(names)
        header = [strings[n]['string'] for n in names]
        return header, kinds, cls._stream(Model, ids, names, kinds)

    @classmethod
    def _stream(cls, Model, ids, names, kinds):
        pool = Pool()
        transaction = Transaction()
        table = Model.__table__()
        stored = [n for n in names
            if not isinstance(Model._fields[n], fields.Function)]
        columns = [table.id] + [getattr(table, n) for n in stored]
        if ids:
            where = fields.SQL_OPERATORS['in'](table.id, ids)
        else:
            where = Literal(False)
        # The list's order: the reports order by their own columns only.
        order = []
        for name, direction in Model._order:
            if name in stored or name == 'id':
                column = getattr(table, name)
                order.append(column.desc
                    if (direction or 'ASC').upper() == 'DESC'
                    else column.asc)
        order.append(table.id.asc)
        query = table.select(*columns, where=where, order_by=order)
        if backend.name == 'postgresql':
            # A named cursor fetches the rows from the server in batches.
            cursor = transaction.connection.cursor(
                name='utility_reporting_export')
        else:
            cursor = transaction.connection.cursor()
        cursor.execute(*query)
        # Values as the model types them (Decimal, date) on both backends.
        converters = {n: cls._converter(Model._fields[n]) for n in stored}
        try:
            while True:
                batch = cursor.fetchmany(BATCH)
                if not batch:
                    break
                records = []
                for row in batch:
                    record = {'id': row[0]}
                    for name, value in zip(stored, row[1:]):
                        record[name] = converters[name](value)
                    records.append(record)
                if hasattr(Model, 'export_rows'):
                    # Models that read more for their rows do it per batch.
                    records = Model.export_rows(records)
                else:
                    records = [Model.export_values(r) for r in records]
                names_ = {}
                for name, kind in zip(names, kinds):
                    if kind == 'many2one':
                        Target = pool.get(Model._fields[name].model_name)
                        target_ids = list({r[name]
                                for r in records if r[name] is not None})
                        names_[name] = {}
                        # Small browse lists: an instance's set-up checks
                        # the whole list it was browsed with.
                        for i in range(0, len(target_ids), BROWSE):
                            names_[name].update((t.id, t.rec_name)
                                for t in Target.browse(
                                    target_ids[i:i + BROWSE]))
                for record in records:
                    values = []
                    for name, kind in zip(names, kinds):
                        value = record.get(name)
                        if kind == 'many2one' and value is not None:
                            value = names_[name].get(value, str(value))
                        values.append(value)
                    yield values
        finally:
            cursor.close()

    @staticmethod
    def _converter(field):
        if isinstance(field, fields.Numeric):
            return lambda v: (None if v is None
                else v if isinstance(v, Decimal) else Decimal(str(v)))
        if isinstance(field, fields.Date):
            return lambda v: (None if v is None
                else v if isinstance(v, dt.date)
                else dt.date.fromisoformat(str(v)[:10]))
        if isinstance(field, fields.Integer):
            return lambda v: None if v is None else int(v)
        return lambda v: v


class XlsxExport(_Export):
    "Report Export to Excel"
    __name__ = 'utility.reporting.export.xlsx'
    extension = 'xlsx'

    @classmethod
    def write(cls, header, kinds, rows, title=None):
        currency = company_currency()
        with tempfile.NamedTemporaryFile(suffix='.xlsx') as file:
            workbook = xlsxwriter.Workbook(file.name, {
                    'constant_memory': True,
                    'tmpdir': tempfile.gettempdir(),
                    'in_memory': False,
                    })
            sheet = workbook.add_worksheet(
                gettext('utility_reporting.msg_export_sheet'))
            bold = workbook.add_format({'bold': True})
            formats = {
                'date': workbook.add_format({'num_format': 'yyyy-mm-dd'}),
                'integer': workbook.add_format({'num_format': '0'}),
                'money': workbook.add_format({
                        'num_format': _money_format(currency)}),
                'percent': workbook.add_format({'num_format': '0.00%'}),
                'quantity': workbook.add_format({
                        'num_format': QUANTITY_FORMAT}),
                }
            for col, kind in enumerate(kinds):
                sheet.set_column(col, col, max(WIDTHS.get(kind, 15),
                        len(header[col]) + 2))
            # constant_memory writes each row once, in order.
            sheet.write_row(0, 0, header, bold)
            sheet.freeze_panes(1, 0)
            n = 0
            for n, values in enumerate(rows, 1):
                for col, (kind, value) in enumerate(zip(kinds, values)):
                    if value is None:
                        sheet.write_blank(n, col, None, formats.get(kind))
                    elif kind == 'boolean':
                        sheet.write_boolean(n, col, bool(value))
                    elif kind == 'date':
                        sheet.write_datetime(n, col,
                            dt.datetime.combine(value, dt.time()),
                            formats['date'])
                    elif kind in formats:
                        # Excel numbers are doubles; the cell formats
                        # round money to the currency's digits.
                        sheet.write_number(n, col, float(value),
                            formats[kind])
                    else:
                        sheet.write_string(n, col, str(value))
            sheet.autofilter(0, 0, n, len(header) - 1)
            workbook.close()
            file.seek(0)
            return file.read()


class CsvExport(_Export):
    "Report Export to CSV"
    __name__ = 'utility.reporting.export.csv'
    extension = 'csv'

    @classmethod
    def write(cls, header, kinds, rows, title=None):
        with tempfile.SpooledTemporaryFile(max_size=8 << 20) as file:
            text = io.TextIOWrapper(file, encoding='utf-8', newline='')
            writer = csv.writer(text)
            writer.writerow(header)
            for values in rows:
                writer.writerow([cls._csv_value(k, v)
                        for k, v in zip(kinds, values)])
            text.flush()
            file.seek(0)
            content = file.read()
            text.detach()
            return content

    @staticmethod
    def _csv_value(kind, value):
        if value is None:
            return ''
        if kind == 'date':
            return value.isoformat()
        if kind == 'percent':
            # Plain decimal ratios that any tool reads as numbers.
            return '%.4f' % value
        if kind == 'boolean':
            return 'true' if value else 'false'
        return str(value)


PDF_STYLE = """
@page { size: A4 landscape; margin: 12mm;
    @bottom-right { content: counter(page) " / " counter(pages);
        font-size: 7pt; } }
body { font-family: sans-serif; font-size: 7.5pt; }
h1 { font-size: 11pt; margin: 0 0 2mm 0; }
p { margin: 0 0 3mm 0; color: #444; }
table { border-collapse: collapse; width: 100%; }
th { background: #ddd; text-align: left; }
th, td { border-bottom: 0.3pt solid #999; padding: 1mm 1.5mm; }
td.number { text-align: right; white-space: nowrap; }
"""
# Kinds written right aligned.
NUMBERS = {'integer', 'money', 'percent', 'quantity'}


class PdfExport(_Export):
    "Report Export to PDF"
    __name__ = 'utility.reporting.export.pdf'
    extension = 'pdf'

    @classmethod
    def write(cls, header, kinds, rows, title=None):
        try:
            import weasyprint
        except ImportError as exc:
            raise UserError(gettext(
                    'utility_reporting.msg_export_weasyprint')) from exc
        pool = Pool()
        Company = pool.get('company.company')
        currency = company_currency()
        digits = currency.digits if currency else 2
        context = Transaction().context
        company_id = context.get('company')
        company = (Company(company_id).rec_name
            if company_id is not None and company_id >= 0 else '')
        filters = []
        for key in ['from_date', 'to_date', 'date']:
            if context.get(key):
                filters.append(str(context[key]))
        parts = ['<!DOCTYPE html><html><head><meta charset="utf-8"/>'
            '<style>%s</style></head><body>' % PDF_STYLE,
            '<h1>%s</h1>' % escape(title or ''),
            '<p>%s</p>' % escape(' · '.join(
                    [company] + [' – '.join(filters)] if filters
                    else [company])),
            '<table><thead><tr>',
            ''.join('<th>%s</th>' % escape(h) for h in header),
            '</tr></thead><tbody>']
        for values in rows:
            parts.append('<tr>')
            for kind, value in zip(kinds, values):
                parts.append('<td%s>%s</td>' % (
                        ' class="number"' if kind in NUMBERS else '',
                        escape(cls._pdf_value(kind, value, digits))))
            parts.append('</tr>')
        parts.append('</tbody></table></body></html>')
        # Nothing is fetched: the document has no external resource.
        fetcher = weasyprint.URLFetcher(allowed_protocols={'data'})
        return weasyprint.HTML(string=''.join(parts),
            url_fetcher=fetcher).write_pdf()

    @staticmethod
    def _pdf_value(kind, value, digits):
        if value is None:
            return ''
        if kind == 'date':
            return value.isoformat()
        if kind == 'money':
            return '{:,.{}f}'.format(value, digits)
        if kind == 'quantity':
            return '{:,.4f}'.format(value)
        if kind == 'percent':
            return '{:.2f} %'.format(value * 100)
        if kind == 'boolean':
            return gettext('utility_reporting.msg_export_yes'
                if value else 'utility_reporting.msg_export_no')
        return str(value)
