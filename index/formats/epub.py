"""EPUB e-books through ebooklib: the spine's chapters in reading order, each chapter's text from
its XHTML (the same HTML reader as .html files), located by the chapter's title from the table of
contents (else the chapter's first heading)."""

from __future__ import annotations

import posixpath
import warnings as _warnings
from pathlib import Path

from index.formats.base import Extracted, FormatError, TextBuilder, open_package, reading, title_or


def read(path: Path, raw: bytes) -> Extracted:
    open_package(raw, ".epub", "META-INF/container.xml", "an EPUB book")
    import tempfile

    from ebooklib import ITEM_DOCUMENT, epub

    # ebooklib reads from a path; the bytes already read go to a private temp file
    with tempfile.NamedTemporaryFile(suffix=".epub") as handle:
        handle.write(raw)
        handle.flush()
        with reading(".epub"), _warnings.catch_warnings():
            _warnings.simplefilter("ignore")  # ebooklib's FutureWarnings about its own options
            book = epub.read_epub(handle.name, options={"ignore_ncx": False})
    toc = _toc_titles(book.toc)
    out = TextBuilder()
    for item_id, _linear in book.spine:
        item = book.get_item_with_id(item_id)
        if item is None or item.get_type() != ITEM_DOCUMENT or isinstance(item, epub.EpubNav):
            continue
        try:
            html = item.get_content().decode("utf-8", errors="replace")
        except Exception as exc:
            raise FormatError(f"chapter {item.get_name()} cannot be read ({exc})") from None
        chapter_title, text = _chapter(html)
        label = toc.get(item.get_name()) or toc.get(posixpath.basename(item.get_name())) or chapter_title
        if label:
            out.mark(label[:120])
        out.block(text)
    metadata = book.get_metadata("DC", "title")
    return Extracted(text=out.text, title=title_or(metadata[0][0] if metadata else ""), marks=out.marks)


def _chapter(html: str) -> tuple[str, str]:
    from bs4 import BeautifulSoup

    from index.formats.html import html_text

    title, text = html_text(html)
    heading = BeautifulSoup(html, "html.parser").find(["h1", "h2", "h3"])
    return (heading.get_text(" ", strip=True) if heading else title), text


def _toc_titles(toc) -> dict[str, str]:
    """file name -> title of its first table-of-contents entry (nested sections flattened)."""
    out: dict[str, str] = {}

    def walk(entries):
        for entry in entries:
            if isinstance(entry, (tuple, list)) and len(entry) == 2:
                section, children = entry
                walk([section])
                walk(children)
                continue
            href = getattr(entry, "href", "") or getattr(entry, "file_name", "")
            title = getattr(entry, "title", "")
            if href and title:
                out.setdefault(href.split("#")[0], title)

    walk(toc)
    return out
