"""What a printed report looks like, read back from its PDF (pdfminer): the size of its text and
how much of each page is left empty. Figures are SVG drawings (their text is paths), so every
character in a report PDF is prose, a caption, a table or the page footer."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pdfminer.high_level import extract_pages
from pdfminer.layout import LTChar, LTComponent, LTPage

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

    @property
    def empty_share(self) -> float:
        """Share of the content area below the last content (1: a blank page)."""
        area = self.height - TOP_MARGIN - BOTTOM_MARGIN
        return 1.0 if self.lowest is None else max(0.0, (self.lowest - BOTTOM_MARGIN) / area)


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
        pages.append(Page(number, min((leaf.y0 for leaf in body), default=None),
                          None if top is None else top.size, [(c.size, c.get_text()) for c in chars], page.height))
    return pages


def smallest_text(pages: list[Page]) -> tuple[float, int, str]:
    """(size in points, page, a character of that size) of the smallest text above the footer."""
    return min(((size, p.number, ch) for p in pages for size, ch in p.sizes), default=(float("inf"), 0, ""))


def half_empty_pages(pages: list[Page], limit: float = 1 / 3) -> list[tuple[int, float]]:
    """Pages (number, empty share) more than ``limit`` empty, except the last and those before a
    page that opens with a section heading."""
    return [(p.number, round(p.empty_share, 2)) for p, after in zip(pages, pages[1:])
            if p.empty_share > limit and not (after.first_size or 0) >= HEADING_PT]
