"""The Office, e-book, spreadsheet and image readers on real files written by the same libraries,
their location marks, OCR, and bad input (each one error naming the file)."""

from __future__ import annotations

import shutil
import time

import pytest

from index.formats import base
from index.loaders import LoaderError, find_files, load_document
from index.locations import location_of
from tests import documents as make

needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract-ocr is not installed")

AVOCADO_ROW = "Product: Avocados; Year: 2026; Value (billion USD): 3.7"


def location(doc, phrase: str) -> str:
    at = doc.text.index(phrase)
    return location_of(doc.marks, at, at + len(phrase))


def test_docx_keeps_headings_paragraphs_tables_headers_and_footers(tmp_path):
    doc = load_document(make.make_docx(tmp_path / "notes.docx"))
    assert doc.title == "Trade Notes"
    assert "Paragraph 2 of section 2 says exports grew by 4 percent in 2026." in doc.text
    assert AVOCADO_ROW in doc.text.splitlines()  # a table row keeps its header, on a line of its own
    assert "HEADER: Ministry of Economy" in doc.text and "FOOTER: internal draft" in doc.text
    assert location(doc, "Paragraph 1 of section 2") == "Section 2: Exports"
    assert location(doc, AVOCADO_ROW) == "Export values"
    assert location(doc, "HEADER: Ministry") == ""  # before the first heading there is no section


def test_pptx_keeps_titles_bullets_notes_and_tables_per_slide(tmp_path):
    doc = load_document(make.make_pptx(tmp_path / "deck.pptx"))
    assert doc.title == "Quarterly Review"
    assert "Slide 2: Slide title 2: Market outlook" in doc.text
    assert "Notes: Speaker note 3: mention the port of Veracruz." in doc.text
    assert location(doc, "Speaker note 3") == "slide 3"
    assert location(doc, "demand rose 6 percent") == "slide 2"
    assert location(doc, AVOCADO_ROW) == "slide 4"
    start = doc.text.index("Bullet point on slide 1")
    assert location_of(doc.marks, start, doc.text.index("Speaker note 2")) == "slides 1–2"


def test_xlsx_rows_keep_their_header_and_say_sheet_and_row(tmp_path):
    doc = load_document(make.make_xlsx(tmp_path / "figures.xlsx"))
    assert doc.title == "Export figures"
    lines = doc.text.splitlines()
    assert AVOCADO_ROW in lines and "Product: Berries; Year: 2025; Value (billion USD): 2.4" in lines
    assert "Note: Figures are provisional until March." in lines
    assert location(doc, AVOCADO_ROW) == "sheet Exports, row 2"
    assert location(doc, "Product: Tomatoes") == "sheet Exports, row 3"
    assert location(doc, "provisional") == "sheet Notes, row 2"
    assert location_of(doc.marks, doc.text.index(AVOCADO_ROW), doc.text.index("Berries")) == "sheet Exports, rows 2–4"


def test_csv_rows_keep_their_header_and_sniff_the_delimiter(tmp_path):
    doc = load_document(make.make_csv(tmp_path / "exports.csv"))
    assert AVOCADO_ROW in doc.text.splitlines()
    assert location(doc, "Product: Tomatoes") == "row 3"
    semicolons = tmp_path / "semi.csv"
    semicolons.write_text("Town;Population\nDunharrow;1200\nBrackenmoor;870\n", encoding="utf-8")
    semi = load_document(semicolons)
    assert "Town: Brackenmoor; Population: 870" in semi.text and location(semi, "Brackenmoor") == "row 3"
    headless = tmp_path / "numbers.csv"
    headless.write_text("1,2,3\n4,5,6\n", encoding="utf-8")
    assert load_document(headless).text.splitlines() == ["1; 2; 3", "4; 5; 6"]  # no header row to name columns


def test_epub_chapters_in_reading_order_located_by_title(tmp_path):
    doc = load_document(make.make_epub(tmp_path / "book.epub"))
    assert doc.title == "The Harbour Book"
    assert doc.text.index("chapter 1 the ship") < doc.text.index("chapter 3 the ship")
    assert location(doc, "In chapter 2 the ship Aurora waited 4 days") == "Chapter 2: The Harbour"


def test_odt_headings_paragraphs_and_tables(tmp_path):
    doc = load_document(make.make_odt(tmp_path / "atlas.odt"))
    assert doc.title == "River Atlas"
    assert "The river in chapter 2 is 200 kilometres long." in doc.text
    assert AVOCADO_ROW in doc.text.splitlines()
    assert location(doc, "200 kilometres") == "Chapter 2: Rivers"


def test_pdf_pages_are_locations_and_keep_the_old_text(tmp_path):
    from tests.pdfs import make_pdf

    doc = load_document(make_pdf(tmp_path / "one.pdf", ["Quarterly trade report", "Exports grew."]))
    assert doc.marks == ((0, "page 1"),) and doc.ocr_pages == ()
    assert location(doc, "Exports grew.") == "page 1"


def test_markdown_and_html_sections_are_locations(tmp_path):
    md = tmp_path / "guide.md"
    md.write_text("# Guide\n\nIntro.\n\n## Install\n\nRun make.\n\n```\n# not a heading\n```\n\n## Use\n\nAsk.\n")
    doc = load_document(md)
    assert location(doc, "Run make.") == "Install" and location(doc, "not a heading") == "Install"
    assert location(doc, "Ask.") == "Use"
    page = tmp_path / "page.html"
    page.write_text("<html><body><h1>Trade</h1><p>Intro text.</p><h2>Labour rules</h2><p>Wages rose.</p></body></html>")
    doc = load_document(page)
    assert location(doc, "Wages rose.") == "Labour rules" and location(doc, "Intro text.") == "Trade"


def test_find_files_picks_up_every_new_type(tmp_path):
    for name in ("a.docx", "b.pptx", "c.xlsx", "d.csv", "e.epub", "f.odt", "g.png", "h.jpg", "i.tiff", "j.exe"):
        (tmp_path / name).write_bytes(b"x")
    found, problems = find_files([tmp_path])
    assert [p.name for p in found] == [
        f"{c}.{e}" for c, e in zip("abcdefghi", "docx pptx xlsx csv epub odt png jpg tiff".split())
    ]
    assert problems == []


# -- OCR ------------------------------------------------------------------------------------


@needs_tesseract
def test_an_image_of_text_is_read_by_ocr(tmp_path):
    doc = load_document(make.make_image(tmp_path / "invoice.png", ["Invoice number 4417", "Paid by Mariana Campos"]))
    assert "Invoice number 4417" in doc.text and "Mariana Campos" in doc.text
    assert doc.ocr_pages == (1,)
    jpg = tmp_path / "receipt.jpg"
    make.text_image(["Receipt for twelve lemons"]).convert("RGB").save(jpg, quality=90)
    assert "twelve lemons" in load_document(jpg).text


@needs_tesseract
def test_a_scanned_pdf_is_read_by_ocr_page_by_page(tmp_path):
    path = make.make_scanned_pdf(
        tmp_path / "scan.pdf", [["Exports rose in March", "said the ministry"], ["Imports fell in April"]]
    )
    doc = load_document(path)
    assert doc.ocr_pages == (1, 2)
    assert location(doc, "Imports fell in April") == "page 2"
    assert location(doc, "Exports rose in March") == "page 1"


@needs_tesseract
def test_only_the_pages_without_a_text_layer_are_ocrd(tmp_path):
    doc = load_document(make.make_mixed_pdf(tmp_path / "mixed.pdf", ["Typed page text here"], ["Scanned avocado page"]))
    assert doc.ocr_pages == (2,)
    assert location(doc, "Typed page text here") == "page 1" and location(doc, "Scanned avocado page") == "page 2"


@needs_tesseract
@pytest.mark.skipif(not make.DEJAVU.is_file(), reason="no font with accented letters to draw the page")
def test_spanish_text_is_read_with_its_accents(tmp_path):
    doc = load_document(make.make_image(tmp_path / "nota.png", ["La exportación de aguacates creció", "según el año"]))
    assert "exportación" in doc.text and "según" in doc.text


# -- bad input: one clear message naming the file ----------------------------------------------


def loader_error(path) -> str:
    with pytest.raises(LoaderError) as caught:
        load_document(path)
    message = str(caught.value)
    assert message.startswith(path.name + ": ")
    return message


@needs_tesseract
def test_an_image_without_text_is_refused_by_name(tmp_path):
    from PIL import Image, ImageDraw

    blank = tmp_path / "photo.png"
    image = Image.new("RGB", (800, 600), (200, 220, 240))
    ImageDraw.Draw(image).ellipse((200, 150, 600, 450), fill=(30, 120, 60))
    image.save(blank)
    assert "no text found in this image" in loader_error(blank)


def test_password_protected_pdf_and_docx_are_named(tmp_path):
    from pypdf import PdfWriter

    from tests.pdfs import make_pdf

    writer = PdfWriter(clone_from=make_pdf(tmp_path / "plain.pdf", ["Secret figures"]))
    writer.encrypt(user_password="hunter2", owner_password="owner")
    locked = tmp_path / "locked.pdf"
    with open(locked, "wb") as handle:
        writer.write(handle)
    assert "password-protected" in loader_error(locked)
    # an "owner password" only (opens without one, restricts printing or copying): read as usual
    restricted = PdfWriter(clone_from=make_pdf(tmp_path / "plain2.pdf", ["Open figures"]))
    restricted.encrypt(user_password="", owner_password="owner", algorithm="AES-256")
    with open(tmp_path / "restricted.pdf", "wb") as handle:
        restricted.write(handle)
    assert "Open figures" in load_document(tmp_path / "restricted.pdf").text

    ooxml = pytest.importorskip("msoffcrypto.format.ooxml")
    plain = make.make_docx(tmp_path / "plain.docx")
    encrypted = tmp_path / "locked.docx"
    with open(plain, "rb") as source, open(encrypted, "wb") as target:
        ooxml.OOXMLFile(source).encrypt("hunter2", target)
    assert "password-protected" in loader_error(encrypted)


@pytest.mark.parametrize("suffix", [".docx", ".pptx", ".xlsx", ".epub", ".odt"])
def test_a_corrupt_zip_container_is_named(tmp_path, suffix):
    builder = {
        ".docx": make.make_docx,
        ".pptx": make.make_pptx,
        ".xlsx": make.make_xlsx,
        ".epub": make.make_epub,
        ".odt": make.make_odt,
    }[suffix]
    good = builder(tmp_path / f"good{suffix}").read_bytes()
    truncated = tmp_path / f"truncated{suffix}"
    truncated.write_bytes(good[: len(good) // 2])
    assert "corrupt zip container" in loader_error(truncated) or "not a readable" in loader_error(truncated)
    garbage = tmp_path / f"garbage{suffix}"
    garbage.write_bytes(b"this is not a zip file at all" * 10)
    assert "not a valid" in loader_error(garbage)


def test_a_zip_that_is_not_the_format_is_named(tmp_path):
    import zipfile

    path = tmp_path / "fake.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    assert "not a Word document" in loader_error(path)


def test_a_docx_that_is_really_html_is_read_as_html_with_a_warning(tmp_path):
    path = tmp_path / "saved-from-word.docx"
    path.write_text("<html><body><h1>Minutes</h1><p>The board met on Tuesday.</p></body></html>")
    doc = load_document(path)
    assert "The board met on Tuesday." in doc.text
    assert any("saved-from-word.docx: is really HTML" in w for w in doc.warnings)


def test_a_zero_byte_file_is_named(tmp_path):
    for suffix in (".docx", ".pdf", ".txt", ".csv", ".png"):
        path = tmp_path / f"empty{suffix}"
        path.write_bytes(b"")
        assert "the file is empty (0 bytes)" in loader_error(path)


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path, monkeypatch):
    monkeypatch.setattr(base, "MAX_UNPACKED_BYTES", 1_000_000)
    import zipfile

    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * 5_000_000)
    assert "over the" in loader_error(path) and "zip bomb" in loader_error(path)


def test_a_csv_of_a_million_rows_is_capped_with_a_notice(tmp_path):
    path = tmp_path / "huge.csv"
    with open(path, "w") as handle:
        handle.write("Item,Year,Value\n")
        handle.writelines(f"item {i},{2000 + i % 27},{i}\n" for i in range(1_000_000))
    started = time.perf_counter()
    doc = load_document(path)
    elapsed = time.perf_counter() - started
    lines = doc.text.splitlines()
    assert len(lines) == 1 + base.MAX_TABLE_ROWS and lines[-1] == "Item: item 49999; Year: 2022; Value: 49999"
    assert any(w.startswith("huge.csv: ") and "kept the first 50,000 rows of 1,000,000" in w for w in doc.warnings)
    assert elapsed < 30


def test_csv_of_the_wrong_encoding_and_binary_files(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("Ciudad,Año\nMéxico,2026\n".encode("cp1252"))
    with pytest.warns(UnicodeWarning):
        doc = load_document(path)
    assert "Ciudad: México;" in doc.text
    binary = tmp_path / "data.csv"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    assert "looks like a binary file" in loader_error(binary)


def test_an_unreadable_image_is_named(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    assert "not a readable image" in loader_error(path)
