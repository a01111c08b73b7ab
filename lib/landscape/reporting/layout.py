"""The layout rules of a rendered report, checked on its page and its PDF (:func:`defects`; the
renderer records what they find in the manifest): no paragraph, list item or table shown twice
or inside another (:func:`repeated_blocks`), every term it uses explained in its guide (:func:`unexplained`), tables and figures numbered in reading order (:func:`numbering`), no
page but the last less than two-thirds full (:func:`underfilled_pages`), no text under 9 pt and
no table caption left at the foot of a page without its rows (:func:`orphaned_captions`).

The PDF is read back with pdfminer. Figures are SVG drawings (their text is paths), so every
character in a report PDF is prose, a caption, a table or the page footer."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from pdfminer.high_level import extract_pages
from pdfminer.layout import LTChar, LTComponent, LTPage, LTTextLine

from .terms import catalogue

MM = 72 / 25.4  # points per millimetre
TOP_MARGIN, BOTTOM_MARGIN = 14 * MM, 16 * MM  # report.css @page


@dataclass
class Page:
    number: int
    lowest: float | None  # the lowest content on the page (points from the bottom), None if empty
    first_size: float | None  # size of the first character from the top (points)
    sizes: list[tuple[float, str]]  # (size, character) of every character above the footer
    height: float
    lines: list[tuple[float, str]]  # (top in points from the bottom, text) of every line, top to bottom

    @property
    def empty_share(self) -> float:
        """Share of the content area below the last content (1: a blank page)."""
        area = self.height - TOP_MARGIN - BOTTOM_MARGIN
        return 1.0 if self.lowest is None else max(0.0, (self.lowest - BOTTOM_MARGIN) / area)


def words(text: str) -> str:
    """``text`` as the PDF's text reads: ligatures undone (NFKC), runs of white space as one space."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def _lines(item):
    if isinstance(item, LTTextLine):
        yield item
    elif hasattr(item, "__iter__") and not isinstance(item, LTChar):
        for child in item:
            yield from _lines(child)


def _leaves(item):
    if isinstance(item, LTChar) or not hasattr(item, "__iter__"):
        yield item
    else:
        for child in item:
            yield from _leaves(child)


def read(pdf: str | Path) -> list[Page]:
    pages = []
    for number, page in enumerate(extract_pages(str(pdf)), start=1):
        assert isinstance(page, LTPage)
        area = page.height - TOP_MARGIN - BOTTOM_MARGIN
        body = [leaf for leaf in _leaves(page) if isinstance(leaf, LTComponent) and leaf.y1 > BOTTOM_MARGIN * 0.8
                and leaf.height < 0.9 * area]  # not the page's background
        chars = [c for c in body if isinstance(c, LTChar) and c.get_text().strip()]
        top = max(chars, key=lambda c: c.y1, default=None)
        lines = sorted(((line.y1, words(line.get_text())) for line in _lines(page)), key=lambda line: -line[0])
        pages.append(Page(number, min((leaf.y0 for leaf in body), default=None),
                          None if top is None else top.size, [(c.size, c.get_text()) for c in chars], page.height,
                          lines))
    return pages


def smallest_text(pages: list[Page]) -> tuple[float, int, str]:
    """(size in points, page, a character of that size) of the smallest text above the footer."""
    return min(((size, p.number, ch) for p in pages for size, ch in p.sizes), default=(float("inf"), 0, ""))


EMPTY_LIMIT = 1 / 3  # a page (but the last) is at least two-thirds full
MIN_TEXT_PT = 8.95  # tables print at 9 pt, one step below the 10.5 pt body


def underfilled_pages(pages: list[Page], limit: float = EMPTY_LIMIT) -> list[tuple[int, float]]:
    """Pages (number, empty share) more than ``limit`` empty, except the last."""
    return [(p.number, round(p.empty_share, 2)) for p in pages[:-1] if p.empty_share > limit]


def orphaned_captions(pages: list[Page], tables: dict[int, tuple[str, list[str]]]) -> list[tuple[int, int]]:
    """(table number, page) of each printed table caption ("Table n. ...", a part's too) after
    which its page holds nothing but the rest of the caption, header cells and the page footer:
    the caption (or its first lines) is at the foot of the page and its rows start on the next.
    ``tables``: number -> (caption, column names)."""
    found = []
    for page in pages:
        for top, text in page.lines:
            start = re.match(r"Table (\d+)\.", text)
            if not start or int(start.group(1)) not in tables:
                continue
            caption, columns = tables[int(start.group(1))]
            caption = words(f"Table {start.group(1)}. {caption}")
            printed = [caption] + [f"{caption} (part {i} of {k})" for k in range(2, 6) for i in range(1, k + 1)]
            header = {word for column in columns for word in words(column).split()}
            below = [line for y, line in page.lines if y < top - 1 and not any(line in c for c in printed)
                     and not re.fullmatch(r"\d+ / \d+", line) and not set(line.split()) <= header]
            if not below:
                found.append((int(start.group(1)), page.number))
    return found


# ---------------------------------------------------------------------------- the page (HTML)

REPEAT_MIN_CHARS = 80  # an identical paragraph, item or table this long is shown twice
PASSAGE_MIN_CHARS = 200  # a passage this long inside another block is shown twice (a quoted claim is shorter)


class _Blocks(HTMLParser):
    """The text of every paragraph, list item, caption, table cell and table of a report page, in order,
    leaving out the printed parts of a wide table (``report-print-parts``: the same table cut to
    the page width, shown in print only) and a block's text that a nested block already holds."""

    BLOCKS = ("p", "li", "td", "th", "caption", "figcaption", "table")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[list] = []  # [tag, skip, texts, holds a block]
        self.found: list[tuple[str, str, int]] = []
        self.tables = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("br", "img", "hr", "meta", "link", "input", "col"):
            return
        self.tables += tag == "table"
        skip = bool(self.stack and self.stack[-1][1]) or "report-print-parts" in (dict(attrs).get("class") or "")
        self.stack.append([tag, skip, [], False])

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            name, skip, texts, holds = self.stack.pop()
            text = " ".join(" ".join(texts).split())
            if self.stack:
                self.stack[-1][2].append(text)
            if name in self.BLOCKS and not skip and (name == "table" or not holds):
                # where it is: a cell's table (cells of one table may repeat), else a place of its own
                self.found.append((name, text, self.tables if name in ("td", "th") else -1 - len(self.found)))
                for outer in self.stack:
                    outer[3] = outer[3] or outer[0] != "table"  # a table holds its cells and is still a block
            if name == tag:
                return

    def handle_data(self, data: str) -> None:
        if self.stack:
            self.stack[-1][2].append(data)


def blocks(page: str) -> list[tuple[str, str, int]]:
    """(tag, text, where) of every paragraph, list item, table cell and table of the HTML ``page``,
    in order; ``where`` is the same for the cells of one table and differs for everything else."""
    parser = _Blocks()
    parser.feed(page)
    parser.close()
    return parser.found


def repeated_blocks(page: str) -> list[str]:
    """What the HTML ``page`` shows twice, each once as "<what>: <start of its text>": an identical
    paragraph, list item, cell or table of at least ``REPEAT_MIN_CHARS`` characters in two places
    (cells of one table may repeat a value), and a passage of at least ``PASSAGE_MIN_CHARS`` (a
    paragraph, item or cell) inside another one (evidence in the claims table printed again in a
    list)."""
    texts = [(tag, text, where) for tag, text, where in blocks(page) if len(text) >= REPEAT_MIN_CHARS]
    places: dict[tuple[str, str], set[int]] = {}
    for tag, text, where in texts:
        places.setdefault(("table" if tag == "table" else "text", text), set()).add(where)
    found = [f"{kind} ×{len(where)}: {text[:70]}…" for (kind, text), where in places.items() if len(where) > 1]
    passages = list(dict.fromkeys(text for tag, text, _ in texts if tag != "table"))
    found += [f"passage inside another: {short[:70]}…" for short in passages if len(short) >= PASSAGE_MIN_CHARS
              and any(short in long and short != long for long in passages)]
    return found


def numbering(page: str) -> list[str]:
    """What is wrong with the numbers of the tables and figures of the HTML ``page`` (printed parts
    left out): each kind must run 1, 2, 3, … in reading order, and no link may be left unnumbered."""
    shown = re.sub(r'<div class="report-print-parts".*?</div></div>', "", page, flags=re.S)
    found = []
    for kind in ("Table", "Figure"):
        numbers = [int(n) for n in re.findall(rf"<b>{kind} (\d+)\.</b>", shown)]
        if numbers != list(range(1, len(numbers) + 1)):
            found.append(f"{kind.lower()}s are numbered {numbers}, not in reading order")
    found += [f"a link to {target} has no number" for target in re.findall(r'data-ref="([^"]+)">\w+ \?', page)]
    return found


GUIDE = "How to read this report."  # the opening of the page's guide (``export.arrange``)
PROSE = ("p", "li", "caption", "figcaption")  # where a term is used; a table's cells only show values


def unexplained(page: str, catalogue: list[tuple[str, str, tuple[str, ...]]]) -> list[str]:
    """The terms of ``catalogue`` ((name, meaning, words that show it is used): ``terms.catalogue``)
    whose words the prose of the HTML ``page`` (``PROSE``: paragraphs, list items, captions) uses
    outside its guide while the guide does not list them."""
    parts = [(tag, text) for tag, text, _ in blocks(page)]
    start = next((i for i, (_, text) in enumerate(parts) if text.startswith(GUIDE)), len(parts))
    end = start + 1
    while end < len(parts) and parts[end][0] == "li":  # the guide's list: one item per term
        end += 1
    listed = {name for name, _, _ in catalogue for _, item in parts[start + 1:end]
              if item.startswith((f"{name} (", f"{name}:"))}
    used = " ".join(text for tag, text in parts[:start] + parts[end:] if tag in PROSE)
    return [name for name, _, words in catalogue if name not in listed and any(w in used for w in words)]


def defects(html_path: str | Path, pdf_path: str | Path | None, tables: dict[int, tuple[str, list[str]]]
            ) -> list[str]:
    """Every layout rule a rendered report breaks (module docstring), from its page ``html_path``
    and, when printed, its ``pdf_path``; ``tables``: number -> (caption, column names), for the
    captions left at the foot of a page."""
    page = Path(html_path).read_text()
    found = [f"shown twice: {what}" for what in repeated_blocks(page)] + numbering(page)
    found += [f"term used without its entry in the guide: {name}" for name in unexplained(page, catalogue())]
    if pdf_path is not None and Path(pdf_path).exists():
        pages = read(pdf_path)
        size, number, char = smallest_text(pages)
        found += [f"text at {size:.1f} pt on page {number} ({char!r})"] if size < MIN_TEXT_PT else []
        found += [f"page {n} is {share:.0%} empty" for n, share in underfilled_pages(pages)]
        found += [f"table {n}'s caption is alone at the foot of page {p}" for n, p in orphaned_captions(pages, tables)]
    return found
