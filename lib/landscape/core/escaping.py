"""Escaping: how text reaches a report page, in one place.

Everything a page shows is either markup the suite's code writes or text from outside it (params
strings: titles, questions, labels, assumptions, claims; dataset and stand-in notes). Text from
outside is never markup: :func:`literal` makes a string read literally inside Markdown (every
Markdown punctuation character backslash-escaped), :func:`html_text` inside HTML. And Markdown is
turned into HTML here, by :func:`markdown_html`, which escapes any raw HTML in it and shows a link
or image that leaves the page's folder tree (any scheme, ``javascript:`` or ``https:``, or ``//``)
as its text: a report links only to its own sections and to sibling files, and is read offline.
So a string that slipped through unescaped still shows as text, never as a tag or a live link.
"""
from __future__ import annotations

import html
import re
from functools import lru_cache

_INLINE_MARKUP = re.compile(r"([\\`*_\[\]<>!|~&])")  # what can open markup inside a line


def literal(text: object) -> str:
    """``text`` (folded onto one line) as inline Markdown that renders as exactly that text: no
    emphasis, code, link, image, tag, entity, table cell or strikethrough. It must not start a line
    (as in "# {title}" or "- {item}"), where ``#``, ``-`` or ``1.`` would still open a block."""
    return _INLINE_MARKUP.sub(r"\\\1", " ".join(str(text).split()))


def html_text(text: object) -> str:
    """``text`` as HTML text or attribute value (``&``, ``<``, ``>`` and both quotes escaped)."""
    return html.escape(str(text), quote=True)


_LEAVES_THE_PAGE = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:|//|\\\\)", re.IGNORECASE)


@lru_cache(maxsize=1)
def _renderer():
    import mistune

    class LocalLinksOnly(mistune.HTMLRenderer):
        def link(self, text: str, url: str, title: str | None = None) -> str:
            return text if _LEAVES_THE_PAGE.match(url) else super().link(text, url, title)

        def image(self, text: str, url: str, title: str | None = None) -> str:
            return text if _LEAVES_THE_PAGE.match(url) else super().image(text, url, title)

    return mistune.create_markdown(renderer=LocalLinksOnly(escape=True), plugins=["table", "strikethrough"])


def markdown_html(markdown: str) -> str:
    """The HTML of ``markdown``: raw HTML in it is escaped (shown as text) and harmful link
    targets are dropped (mistune's ``escape=True`` renderer)."""
    return _renderer()(markdown)
