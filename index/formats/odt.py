"""OpenDocument text .odt through odfdo: headings (the location of what follows them), paragraphs,
lists, sections and tables (each row with its header), in document order."""

from __future__ import annotations

import io
import re
from pathlib import Path

from index.formats.base import Extracted, Table, TextBuilder, cell_text, open_package, reading, title_or


def read(path: Path, raw: bytes) -> Extracted:
    from odfdo import Document

    names = open_package(raw, ".odt", "content.xml", "an OpenDocument file").namelist()
    with reading(".odt"):
        document = Document(io.BytesIO(raw))
        out = TextBuilder()
        first_heading = _walk(document.body, out, "")
        title = document.meta.get_title() if "meta.xml" in names else ""
    return Extracted(text=out.text, title=title_or(title, first_heading), marks=out.marks)


def _walk(element, out: TextBuilder, first_heading: str) -> str:
    for child in element.children:
        tag = child.tag
        if tag == "text:h":
            text = _text(child)
            if text:
                first_heading = first_heading or text
                out.mark(text[:120])
                out.block(text)
        elif tag == "text:p":
            out.block(_text(child))
        elif tag == "table:table":
            rows = Table(out)
            for row in child.get_rows():
                rows.row([cell_text(str(cell)) for cell in row.get_cells()], 0)
        elif tag in ("text:list", "text:list-item", "text:list-header", "text:section"):
            first_heading = _walk(child, out, first_heading)
    return first_heading


def _text(element) -> str:
    return re.sub(r"[ \t]+", " ", str(element)).strip()
