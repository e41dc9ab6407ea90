"""A spreadsheet of a million rows: streamed and capped, never read whole (writing the 1M-row
workbook takes ~15 s, so it is a stress test; the fast CSV version is in tests/test_formats.py)."""

from __future__ import annotations

import time

from index.loaders import load_document


def test_a_sheet_of_a_million_rows_is_streamed_and_capped(tmp_path):
    """openpyxl's read-only mode streams the rows: the loader stops at the cap without reading the rest."""
    import xlsxwriter  # installed with python-pptx; writes a 1M-row sheet in constant memory, fast

    path = tmp_path / "million.xlsx"
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("Data")
    sheet.write_row(0, 0, ["Item", "Value"])
    for i in range(1, 1_000_001):
        sheet.write_number(i, 0, i)
        sheet.write_number(i, 1, i * 2)
    book.close()
    started = time.perf_counter()
    doc = load_document(path)
    elapsed = time.perf_counter() - started
    assert "Item: 50000; Value: 100000" in doc.text and "Item: 50001;" not in doc.text
    assert any("sheet Data: kept the first 50,000 rows of 1,000,000" in w for w in doc.warnings)
    assert elapsed < 60
