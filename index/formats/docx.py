"""Word .docx through python-docx: headings (the location of what follows them), paragraphs,
tables (each row with its header), page headers and footers, in document order."""

from __future__ import annotations

import io
import re
from pathlib import Path

from index.formats.base import Extracted, Table, TextBuilder, cell_text, open_package, reading, title_or

_HEADING = re.compile(r"^(Heading \d|Title|Subtitle)$", re.IGNORECASE)


def read(path: Path, raw: bytes) -> Extracted:
    import docx

    open_package(raw, ".docx", "word/document.xml", "a Word document")
    with reading(".docx"):
        return _extract(docx.Document(io.BytesIO(raw)))


def _extract(document) -> Extracted:
    from docx.table import Table as DocxTable
    from docx.text.paragraph import Paragraph

    out = TextBuilder()
    headers = _unique(
        p.text for s in document.sections if not s.header.is_linked_to_previous for p in s.header.paragraphs
    )
    footers = _unique(
        p.text for s in document.sections if not s.footer.is_linked_to_previous for p in s.footer.paragraphs
    )
    if headers:
        out.block("Header: " + " | ".join(headers))
    first_heading = ""
    # style names by id, read once: python-docx's Paragraph.style resolves the default style by a
    # scan of every style, per paragraph (2 ms each: 3 s for a 1,500-paragraph document)
    names = {s.style_id: s.name for s in document.styles if s.style_id}
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            text = item.text
            style = names.get(item._p.style, "") if item._p.style else ""
            if text.strip() and _HEADING.match(style or ""):
                first_heading = first_heading or text.strip()
                if not style.lower().startswith("title"):
                    out.mark(re.sub(r"\s+", " ", text).strip()[:120])
            out.block(text)
        elif isinstance(item, DocxTable):
            _table(item, out)
    if footers:
        out.block("Footer: " + " | ".join(footers))
    title = title_or(document.core_properties.title, first_heading)
    return Extracted(text=out.text, title=title, marks=out.marks)


def _table(table, out: TextBuilder) -> None:
    rows = Table(out)
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:  # a merged cell is returned once per grid column it spans
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            cells.append(cell_text(cell.text))
        rows.row(cells, 0)


def _unique(texts) -> list[str]:
    return list(dict.fromkeys(t.strip() for t in texts if t and t.strip()))
