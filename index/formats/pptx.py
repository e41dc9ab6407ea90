"""PowerPoint .pptx through python-pptx: per slide its title, every text frame, tables (rows with
their header), grouped shapes, and the speaker notes; each slide is the location "slide N"."""

from __future__ import annotations

import io
from pathlib import Path

from index.formats.base import Extracted, Table, TextBuilder, cell_text, open_package, reading, title_or


def read(path: Path, raw: bytes) -> Extracted:
    from pptx import Presentation

    open_package(raw, ".pptx", "ppt/presentation.xml", "a PowerPoint presentation")
    with reading(".pptx"):
        return _extract(Presentation(io.BytesIO(raw)))


def _extract(deck) -> Extracted:
    out = TextBuilder()
    first_title = ""
    for number, slide in enumerate(deck.slides, start=1):
        out.mark(f"slide {number}")
        title_shape = slide.shapes.title
        title = title_shape.text_frame.text.strip() if title_shape is not None and title_shape.has_text_frame else ""
        first_title = first_title or title
        if title:
            out.block(f"Slide {number}: {title}")
        for shape in slide.shapes:
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            _shape(shape, out)
        if slide.has_notes_slide:
            notes = slide.notes_slide.notes_text_frame
            if notes is not None and notes.text.strip():
                out.block("Notes: " + notes.text)
    return Extracted(text=out.text, title=title_or(deck.core_properties.title, first_title), marks=out.marks)


def _shape(shape, out: TextBuilder) -> None:
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
        for inner in shape.shapes:
            _shape(inner, out)
        return
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = Table(out)
        for row in shape.table.rows:
            rows.row([cell_text(cell.text) for cell in row.cells], 0)
        return
    if getattr(shape, "has_chart", False) and shape.has_chart:
        chart = shape.chart
        if chart.has_title and chart.chart_title.has_text_frame:
            out.block("Chart: " + chart.chart_title.text_frame.text)
        return
    if shape.has_text_frame:
        out.block(shape.text_frame.text)
