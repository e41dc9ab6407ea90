"""HTML pages (and an EPUB's chapters) through BeautifulSoup: headings and paragraphs, without
scripts, styles, navigation or page banners."""

from __future__ import annotations

import re

from index.formats.base import Extracted, normalise

_DROP_TAGS = [
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "aside",
    "form",
    "iframe",
    "svg",
    "canvas",
    "button",
    "select",
    "input",
    "textarea",
]
_BLOCK_TAGS = {
    "p",
    "div",
    "section",
    "article",
    "main",
    "li",
    "ul",
    "ol",
    "table",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "figcaption",
    "dd",
    "dt",
    "hr",
}


def html_text(html: str) -> tuple[str, str]:
    """Readable text of a page: headings and paragraphs, no scripts/styles/navigation."""
    from bs4 import BeautifulSoup, Comment, Doctype, NavigableString, ProcessingInstruction

    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(_DROP_TAGS):
        tag.decompose()
    for tag in soup(["header", "footer"]):  # page banners go; an article's own header stays
        if not tag.find_parent(["article", "main"]):
            tag.decompose()
    for tag in soup.find_all(attrs={"role": ["navigation", "banner", "contentinfo"]}):
        tag.decompose()
    if soup.head:
        soup.head.decompose()
    body = soup.body or soup
    # Walk the tree once, putting blank lines around block elements.
    parts: list[str] = []
    for element in body.descendants:
        if isinstance(element, (Comment, Doctype, ProcessingInstruction)):
            continue
        if isinstance(element, NavigableString):  # HTML whitespace is a space, except inside <pre>
            in_pre = element.find_parent("pre") is not None
            parts.append(str(element) if in_pre else re.sub(r"\s+", " ", str(element)))
        elif element.name == "br":
            parts.append("\n")
        elif element.name in _BLOCK_TAGS:
            parts.append("\n\n")
    lines = []
    for line in "".join(parts).split("\n"):
        lines.append(re.sub(r"\s+", " ", line).strip())
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    if not title:
        heading = body.find(["h1", "h2"])
        title = heading.get_text(" ", strip=True) if heading else ""
    return title, text


def read_html(html: str) -> Extracted:
    """A page's text, title, and its headings as the locations of what follows them."""
    title, text = html_text(html)
    text = normalise(text)
    return Extracted(text=text, title=title, marks=_heading_marks(text, _html_headings(html)))


def _html_headings(html: str) -> list[str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    return [h.get_text(" ", strip=True) for h in soup.find_all(["h1", "h2", "h3", "h4"]) if h.get_text(strip=True)]


def _heading_marks(text: str, headings: list[str]) -> list[tuple[int, str]]:
    """Where each heading's line is in ``text`` (found in order; a heading not found is skipped)."""
    marks, pos = [], 0
    for heading in headings:
        heading = re.sub(r"\s+", " ", heading).strip()
        at = text.find(heading, pos)
        while at > 0 and text[at - 1] != "\n":  # a heading is a line of its own
            at = text.find(heading, at + 1)
        if at >= 0:
            marks.append((at, heading[:120]))
            pos = at + len(heading)
    return marks
