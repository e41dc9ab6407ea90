"""Spreadsheets: .xlsx through openpyxl (read-only mode: rows are streamed, never the whole sheet in
memory) and .csv through the standard library. Each row becomes one line that names its columns
("Product: Avocados; Year: 2026; Value (billion USD): 3.7"), located as "sheet Exports, row 3" or
"row 3" (the row numbers a spreadsheet program shows). At most ``MAX_TABLE_ROWS`` rows a file are
kept; a warning says how many were."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from index.formats import base
from index.formats.base import Extracted, FormatError, Table, TextBuilder, cell_text, open_package, reading, title_or


def read_xlsx(path: Path, raw: bytes) -> Extracted:
    import openpyxl

    open_package(raw, ".xlsx", "xl/workbook.xml", "an Excel workbook")
    with reading(".xlsx"):
        book = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    out, warnings = TextBuilder(), []
    budget = base.MAX_TABLE_ROWS
    try:
        with reading(".xlsx"):
            _sheets(book, out, warnings, budget)
    finally:
        book.close()
    title = title_or(book.properties.title if book.properties else "")
    return Extracted(text=out.text, title=title, marks=out.marks, warnings=warnings)


def _sheets(book, out: TextBuilder, warnings: list[str], budget: int) -> None:
    for sheet in book.worksheets:
        name = sheet.title
        out.mark(f"sheet {name}")
        out.block(f"Sheet: {name}")
        rows = Table(out, label=lambda number, name=name: f"sheet {name}, row {number}")
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            if rows.rows >= budget:
                # the sheet's own dimension says how many rows it has (absent in some writers' files)
                total = sheet.max_row - (rows.header is not None) if sheet.max_row and sheet.max_row >= number else None
                warnings.append(_capped(f"sheet {name}", rows.rows, total))
                break
            rows.row([cell_text(v) for v in values], number)
        budget -= rows.rows


def read_csv(path: Path, text: str) -> Extracted:
    """``text`` is the decoded file (the loader handles encodings). The delimiter is sniffed (, ; tab |)."""
    sample = text[:65536]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    out, warnings = TextBuilder(), []
    rows = Table(out, label=lambda number: f"row {number}")
    reader = csv.reader(io.StringIO(text), dialect)
    number = 0
    try:
        for values in reader:
            number += 1  # the row number a spreadsheet program shows (reader.line_num counts quoted newlines)
            if rows.rows >= base.MAX_TABLE_ROWS:
                total = rows.rows + 1 + sum(1 for _ in reader)
                warnings.append(_capped("the file", rows.rows, total))
                break
            rows.row([cell_text(v) for v in values], number)
    except csv.Error as exc:
        raise FormatError(f"not a readable CSV file (line {reader.line_num}: {exc})") from None
    return Extracted(text=out.text, marks=out.marks, warnings=warnings)


def _capped(where: str, kept: int, total: int | None) -> str:
    of = f"of {total:,} " if total else ""
    return (
        f"{where}: kept the first {kept:,} rows {of}(at most {base.MAX_TABLE_ROWS:,} rows a file are indexed); "
        "split the file to index the rest"
    )
