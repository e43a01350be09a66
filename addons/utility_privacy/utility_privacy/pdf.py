"HTML to PDF with WeasyPrint, as our bill report does"
from trytond.exceptions import UserError
from trytond.i18n import gettext


def html_to_pdf(html):
    try:
        import weasyprint
    except ImportError as exc:
        raise UserError(gettext(
                'utility_privacy.msg_weasyprint_missing')) from exc
    # Nothing is fetched from the network or the disk.
    fetcher = weasyprint.URLFetcher(allowed_protocols={'data'})
    return weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf()


def check_report_access(report, ids, data):
    "What Report.execute checks first: the action's groups, read access"
    from trytond.pool import Pool
    from trytond.transaction import without_check_access
    ActionReport = Pool().get('ir.action.report')
    if data.get('action_id') is not None:
        action = ActionReport(data['action_id'])
    else:
        # Found whatever the user's groups: check_access says no to them.
        with without_check_access():
            action, = ActionReport.search([
                    ('report_name', '=', report.__name__)], limit=1)
    report.check_access(action, action.model or data.get('model'), ids)
