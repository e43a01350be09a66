"""Genshi templates pre-compiled once per process.

Genshi pushes every tag, attribute and text of a template through its
filters and HTML serializer on each render. Most of a page is static: once
a template is loaded (and its static includes inlined), each run of static
events is serialized to one Markup text, so a render only handles what
depends on the page's values. The output is the same HTML.
"""
from genshi.core import COMMENT, END, START, TEXT, Attrs, Markup, QName
from genshi.output import HTMLSerializer
from genshi.template import MarkupTemplate
from genshi.template.base import SUB

XHTML = 'http://www.w3.org/1999/xhtml'
# Elements whose content the serializer treats apart (whitespace, escaping)
KEEP = {'pre', 'textarea', 'script', 'style'}
VOID = HTMLSerializer._EMPTY_ELEMS
_END_OF_RUN = 'END-OF-STATIC-RUN'


def _static(event):
    kind, data, pos = event
    if kind is TEXT or kind is COMMENT:
        return True
    if kind is START:
        tag, attrs = data
        return (tag.namespace in (None, XHTML)
            and tag.localname not in KEEP
            and all(type(value) is str and not name.namespace
                for name, value in attrs))
    if kind is END:
        return data.namespace in (None, XHTML) and data.localname not in KEEP
    return False


def _serialize(events):
    # Without their XHTML namespace, as the page serializer writes them
    plain = []
    for kind, data, pos in events:
        if kind is START:
            tag, attrs = data
            data = QName(tag.localname), Attrs(
                [(QName(n.localname), v) for n, v in attrs])
        elif kind is END:
            data = QName(data.localname)
        plain.append((kind, data, pos))
    # The serializer holds a start tag back until it sees the next event.
    plain.append((TEXT, _END_OF_RUN, None))
    serializer = HTMLSerializer(strip_whitespace=False)
    html = ''.join(serializer(iter(plain)))
    assert html.endswith(_END_OF_RUN)
    return Markup(html[:-len(_END_OF_RUN)])


def precompile(stream, keep_ends=False):
    """The stream with its runs of static events merged into Markup texts
    (keep_ends: a directive's own element stays as events, e.g. for
    py:attrs or py:strip)"""
    result, run = [], []

    def flush():
        if len(run) > 1 or (run and run[0][0] is not TEXT):
            result.append((TEXT, _serialize(run), run[0][2]))
        else:
            result.extend(run)
        del run[:]

    last = len(stream) - 1
    for i, event in enumerate(stream):
        kind, data, pos = event
        if keep_ends and i in {0, last}:
            flush()
            result.append(event)
        elif kind is SUB:
            flush()
            directives, substream = data
            result.append((SUB, (directives,
                        precompile(substream, keep_ends=True)), pos))
        elif _static(event) and not (kind is END
                and data.localname in VOID
                and not (run and run[-1][0] is START)):
            # (a void element's end tag goes with its start tag: the
            # serializer writes no end tag for the pair)
            run.append(event)
        else:
            flush()
            result.append(event)
    flush()
    return result


class PortalTemplate(MarkupTemplate):
    "A markup template whose static parts are serialized once"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The portal's templates use no py:match: skip its filter, which
        # looks at every event.
        self.filters.remove(self._match)

    def _prepare_self(self, inlined=None):
        if not self._prepared:
            super()._prepare_self(inlined)
            self._stream = precompile(self._stream)
