"""The texts of the customer notifications: Tryton's e-mail templates.

Why ir.email.template and not notification_email: notification_email
sends one e-mail per record when an ir.trigger fires (or after a fixed
delay), its content being a report action of the record's model; our
notifications are chosen, held (quiet hours), gathered (digest) and queued
by utility.notification, one customer at a time. What we need of Tryton is
the template itself, which ir.email.template is: a subject and an HTML
body edited in the client (rich text), translated per language with the
client's translation dialog, written in Genshi with the record and the
format_* helpers, checked when saved. So each event has a template of the
model utility.notification (utility_event), a provider may have its own
(utility_company, else the default of every provider is used), and the
messages are built around them as Tryton's e-mail dialog does (HTML with
its plain-text alternative) and logged as ir.email.

Genshi runs Python: as in Tryton, only the system administrators write any
expression; a provider's utility administrators may edit the templates of
their own provider with plain substitutions (${name}) only.
"""
import re
from html import escape

from genshi.core import Markup
from genshi.template import TextTemplate

from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import fields
from trytond.model.exceptions import ValidationError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .events import EVENTS

# Templates around the events' texts: one message, or a digest of several
LAYOUTS = [
    ('message', "Message Layout"),
    ('digest', "Digest Layout"),
    ]
MODEL = 'utility.notification'
# What a substitution of a template saved by a non-administrator may be:
# $$ (a dollar sign), $name or ${name}
SAFE_SUBSTITUTION = re.compile(r'\$(\$|[A-Za-z_]\w*\b(?!\.)|\{\s*[A-Za-z_]\w*\s*\})')
DIRECTIVE = re.compile(r'^\s*#\s*[A-Za-z]', re.MULTILINE)


class TemplateValidationError(ValidationError):
    pass


def html_to_text(html):
    """The plain-text alternative of an HTML part: trytond's html_to_text
    (html2text), without wrapping the lines nor Markdown's line breaks"""
    import html2text
    converter = html2text.HTML2Text()
    converter.body_width = 0
    text = converter.handle(html)
    return re.sub(r'[ \t]+\n', '\n', text).strip('\n')


def html_value(value):
    "value for an HTML body: escaped, its lines kept"
    if isinstance(value, Markup):
        return value
    return Markup(escape(str(value)).replace('\n', '<br/>\n'))


class EmailTemplate(metaclass=PoolMeta):
    __name__ = 'ir.email.template'
    utility_event = fields.Selection(
        [(None, "")] + EVENTS + LAYOUTS, "Customer Notification",
        states={
            'invisible': Eval('model_name') != MODEL,
            'required': Eval('model_name') == MODEL,
            },
        help="The event whose messages this template writes, or the "
        "layout around them.")
    utility_company = fields.Many2One('company.company', "Provider",
        ondelete='CASCADE',
        states={
            'invisible': Eval('model_name') != MODEL,
            },
        help="The provider whose customers get this text; "
        "empty: every provider without a template of its own.")

    @classmethod
    def default_model(cls):
        if Transaction().context.get('utility_notification_template'):
            Model = Pool().get('ir.model')
            models = Model.search([('name', '=', MODEL)], limit=1)
            if models:
                return models[0].id

    @classmethod
    def validate_fields(cls, templates, field_names):
        # (before Tryton's checks, which compile the templates)
        cls.check_utility_safe(templates, field_names)
        super().validate_fields(templates, field_names)
        cls.check_utility_unique(templates, field_names)

    @classmethod
    def check_utility_unique(cls, templates, field_names=None):
        "One template per event and provider (or default)"
        if field_names and not (
                {'model', 'utility_event', 'utility_company'}
                & field_names):
            return
        for template in templates:
            if not template.utility_event:
                continue
            others = cls.search([
                    ('id', '!=', template.id),
                    ('model', '=', template.model.id),
                    ('utility_event', '=', template.utility_event),
                    ('utility_company', '=', template.utility_company.id
                        if template.utility_company else None),
                    ], limit=1)
            if others:
                raise TemplateValidationError(gettext(
                        'utility_notification.msg_template_unique',
                        template=template.rec_name,
                        other=others[0].rec_name))

    @classmethod
    def check_utility_safe(cls, templates, field_names=None):
        """A user who is not a system administrator writes substitutions
        of names only: Genshi would run any Python expression"""
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        # (validation runs without access checks: the user decides)
        if Transaction().user == 0:
            return
        if field_names and not ({'subject', 'body'} & field_names):
            return
        admin = ModelData.get_id('res', 'group_admin')
        if admin in User.get_groups():
            return
        for template in templates:
            for name in ['subject', 'body']:
                text = getattr(template, name) or ''
                rest = SAFE_SUBSTITUTION.sub('', text)
                if '$' in rest or DIRECTIVE.search(text):
                    raise TemplateValidationError(gettext(
                            'utility_notification.msg_template_unsafe',
                            template=template.rec_name,
                            field=cls.__names__(name)['field']))

    @classmethod
    def utility_templates(cls, company):
        """The templates of company's notifications by event: its own,
        else the default"""
        templates = {}
        for template in cls.search([
                    ('model.name', '=', MODEL),
                    ('utility_event', '!=', None),
                    ('utility_company', 'in', [company.id, None]),
                    ], order=[('id', 'ASC')]):
            if (template.utility_company
                    or template.utility_event not in templates):
                templates[template.utility_event] = template
        return templates


class Renderer:
    """Renders a provider's templates in languages, each translation read
    and compiled once"""

    def __init__(self, company):
        Template = Pool().get('ir.email.template')
        self.company = company
        self.templates = Template.utility_templates(company)
        self._texts = {}

    def texts(self, event, language):
        "(subject, body) of event's template in language, compiled"
        Template = Pool().get('ir.email.template')
        key = (event, language)
        if key not in self._texts:
            template = self.templates.get(event)
            if template is None:
                raise UserError(gettext(
                        'utility_notification.msg_template_missing',
                        event=event, company=self.company.rec_name))
            with Transaction().set_context(language=language):
                template = Template(template.id)
                self._texts[key] = tuple(TextTemplate(t or '')
                    for t in [template.subject, template.body])
        return self._texts[key]

    def render(self, event, language, values, record=None):
        """Subject (text) and body (HTML) of event's template with
        values (a body gets them escaped)"""
        subject, body = self.texts(event, language)
        context = {}
        if record is not None:
            # as Tryton's templates: record, user, format_date…
            context.update(self.templates[event].get_context(record))
        with Transaction().set_context(language=language):
            subject = subject.generate(
                **dict(context, **values)).render().strip()
            body = body.generate(**dict(context, **{
                        k: html_value(v) for k, v in values.items()}
                    )).render()
        # A subject is one line (its no-break spaces kept)
        return re.sub(r'\s*\n\s*', ' ', subject), body
