"""Extraction speed and text recovered per format, for our readers and for the one-library
alternatives (markitdown, kreuzberg), on the same files; and OCR time per page.

    python bench/formats.py write DIR            # the test files (needs the project's venv)
    python bench/formats.py read DIR             # our loaders (index/loaders.py), + OCR
    python bench/formats.py read DIR --reader markitdown    # in a venv with markitdown[docx,pptx,xlsx]
    python bench/formats.py read DIR --reader kreuzberg     # in a venv with kreuzberg

Files (tests/documents.py writes them with python-docx, python-pptx, openpyxl, ebooklib, odfdo):
a .docx of 300 sections (1,500 paragraphs, a 200-row table, page header and footer), a .pptx of
150 slides (title, bullets, speaker notes) and a table slide, a 20,000-row .xlsx and .csv, an
.epub of 150 chapters, an .odt of 400 sections and a table. "Recovered" is the share of the
phrases written into the file (each paragraph, title, note, and every table cell) found in the
extracted text; "rows with header" the share of table rows found as one line naming its columns
("Product: Avocados; Year: 2026; ..."), which is what lets one retrieved row answer a question.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = {"sections": 300, "paragraphs": 5, "slides": 150, "rows": 20_000, "chapters": 150, "odt_sections": 400}


def write(folder: Path) -> None:
    """The files and, beside them, expected.json: per file its phrases and its table rows."""
    from tests import documents as make

    folder.mkdir(parents=True, exist_ok=True)
    expected: dict[str, dict] = {}
    table_rows = [list(r) for r in make.TABLE[1:]]
    header = list(make.TABLE[0])

    make.make_docx(folder / "notes.docx", sections=SIZES["sections"], paragraphs=SIZES["paragraphs"])
    expected["notes.docx"] = {
        "phrases": ["Trade Notes", "HEADER: Ministry of Economy", "FOOTER: internal draft"]
        + [f"Section {s}: Exports" for s in range(1, SIZES["sections"] + 1)]
        + [
            f"Paragraph {p} of section {s} says exports grew by {s + p} percent in 2026."
            for s in range(1, SIZES["sections"] + 1)
            for p in range(SIZES["paragraphs"])
        ],
        "header": header,
        "rows": table_rows,
    }
    make.make_pptx(folder / "deck.pptx", slides=SIZES["slides"])
    expected["deck.pptx"] = {
        "phrases": [f"Slide title {n}: Market outlook" for n in range(1, SIZES["slides"] + 1)]
        + [f"Bullet point on slide {n}: demand rose {n * 3} percent." for n in range(1, SIZES["slides"] + 1)]
        + [f"Speaker note {n}: mention the port of Veracruz." for n in range(1, SIZES["slides"] + 1)],
        "header": header,
        "rows": table_rows,
    }
    extra = [[f"Item {i}", str(2000 + i % 27), _number(i / 10)] for i in range(SIZES["rows"])]
    make.make_xlsx(folder / "figures.xlsx", extra_rows=SIZES["rows"])
    expected["figures.xlsx"] = {
        "phrases": ["Figures are provisional until March."],
        "header": header,
        "rows": table_rows + extra,
    }
    make.make_csv(folder / "figures.csv", extra_rows=SIZES["rows"])
    as_written = [[f"Item {i}", str(2000 + i % 27), str(i / 10)] for i in range(SIZES["rows"])]  # csv writes 2.0
    expected["figures.csv"] = {"phrases": [], "header": header, "rows": table_rows + as_written}
    make.make_epub(folder / "book.epub", chapters=SIZES["chapters"])
    expected["book.epub"] = {
        "phrases": [f"Chapter {n}: The Harbour" for n in range(1, SIZES["chapters"] + 1)]
        + [
            f"In chapter {n} the ship Aurora waited {n * 2} days at the harbour of Cádiz."
            for n in range(1, SIZES["chapters"] + 1)
        ],
    }
    make.make_odt(folder / "atlas.odt", sections=SIZES["odt_sections"])
    expected["atlas.odt"] = {
        "phrases": [f"Chapter {s}: Rivers" for s in range(1, SIZES["odt_sections"] + 1)]
        + [f"The river in chapter {s} is {s * 100} kilometres long." for s in range(1, SIZES["odt_sections"] + 1)],
        "header": header,
        "rows": table_rows,
    }
    pages = [
        [f"Scanned page {n} of the customs report", f"Copper exports rose {n} percent", "in the third quarter"]
        for n in range(1, 4)
    ]
    make.make_scanned_pdf(folder / "scan.pdf", pages)
    expected["scan.pdf"] = {"phrases": [line for page in pages for line in page], "pages": len(pages)}
    make.make_image(folder / "invoice.png", ["Invoice number 4417", "Total due: 312 euros", "Paid by Mariana Campos"])
    expected["invoice.png"] = {
        "phrases": ["Invoice number 4417", "Total due: 312 euros", "Paid by Mariana Campos"],
        "pages": 1,
    }
    (folder / "expected.json").write_text(json.dumps(expected, ensure_ascii=False))
    for name in expected:
        print(f"{name:14s} {(folder / name).stat().st_size / 1e6:6.2f} MB")


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:.15g}"


def extract(path: Path, reader: str) -> str:
    if reader == "ours":
        from index.loaders import load_document

        return load_document(path).text
    if reader == "markitdown":
        from markitdown import MarkItDown

        return MarkItDown(enable_plugins=False).convert(str(path)).text_content
    if reader == "kreuzberg":
        from kreuzberg import extract_file_sync

        return extract_file_sync(str(path)).content
    raise SystemExit(f"unknown reader {reader!r}")


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("|", " ")).strip()


def score(text: str, expected: dict) -> tuple[float, float | None]:
    flat = _flat(text)
    phrases = list(expected.get("phrases", []))
    cells = [c for row in expected.get("rows", []) for c in row]
    found = sum(1 for p in phrases if _flat(p) in flat)
    # a cell counts when its value appears as a whole token sequence
    tokens = set(re.findall(r"[\w.()]+", flat))
    found_cells = sum(1 for c in cells if all(t in tokens for t in re.findall(r"[\w.()]+", c)))
    recovered = (found + found_cells) / max(1, len(phrases) + len(cells))
    rows = expected.get("rows")
    if not rows:
        return recovered, None
    lines = {_flat(line) for line in text.splitlines()}
    header = expected["header"]
    with_header = sum(1 for row in rows if "; ".join(f"{h}: {v}" for h, v in zip(header, row)) in lines)
    return recovered, with_header / len(rows)


def read(folder: Path, reader: str) -> None:
    expected = json.loads((folder / "expected.json").read_text())
    print(f"reader: {reader}")
    for warm in ("figures.csv", "book.epub"):  # the first call of a reader imports its libraries: not timed
        extract(folder / warm, reader)
    print(f"{'file':14s} {'MB':>6s} {'seconds':>8s} {'s/MB':>7s} {'recovered':>9s} {'rows w/ header':>14s}")
    for name, wanted in expected.items():
        path = folder / name
        if reader != "ours" and path.suffix in (".png", ".pdf"):
            continue  # OCR is compared separately (the alternatives need their own OCR set-up)
        started = time.perf_counter()
        try:
            text = extract(path, reader)
        except Exception as exc:  # noqa: BLE001 - a reader that cannot read a format is a result too
            print(f"{name:14s} failed: {type(exc).__name__}: {str(exc)[:80]}")
            continue
        seconds = time.perf_counter() - started
        size = path.stat().st_size / 1e6
        recovered, rows = score(text, wanted)
        extra = f" ({seconds / wanted['pages']:.2f} s/page OCR)" if "pages" in wanted else ""
        rows_text = "–" if rows is None else f"{rows:.0%}"
        print(f"{name:14s} {size:6.2f} {seconds:8.2f} {seconds / size:7.2f} {recovered:9.1%} {rows_text:>14s}{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["write", "read"])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--reader", default="ours", choices=["ours", "markitdown", "kreuzberg"])
    args = parser.parse_args()
    if args.action == "write":
        write(args.folder)
    else:
        read(args.folder, args.reader)


if __name__ == "__main__":
    main()
