"""What a printed report looks like, read back from its PDF (pdfminer): the size of its text and
how much of each page is left empty. Figures are SVG drawings (their text is paths), so every
character in a report PDF is prose, a caption, a table or the page footer."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from pdfminer.high_level import extract_pages
from pdfminer.layout import LTChar, LTComponent, LTPage, LTTextLine

MM = 72 / 25.4  # points per millimetre
TOP_MARGIN, BOTTOM_MARGIN = 14 * MM, 16 * MM  # report.css @page
HEADING_PT = 14.0  # an h2 (1.35 × 14 px) and larger


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


def half_empty_pages(pages: list[Page], limit: float = 1 / 3) -> list[tuple[int, float]]:
    """Pages (number, empty share) more than ``limit`` empty, except the last and those before a
    page that opens with a section heading."""
    return [(p.number, round(p.empty_share, 2)) for p, after in zip(pages, pages[1:])
            if p.empty_share > limit and not (after.first_size or 0) >= HEADING_PT]


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
