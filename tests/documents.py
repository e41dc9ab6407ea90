"""Real files of every supported format, written with the writing side of the same libraries the
loaders read them with (python-docx, python-pptx, openpyxl, ebooklib, odfdo) and Pillow for images
of text, so tests and bench/formats.py check extraction on genuine files, not on hand-made XML.

Every builder returns the path it wrote; ``EXPECTED`` phrases say what each file must yield.
"""

from __future__ import annotations

import csv
from pathlib import Path

TABLE = [
    ("Product", "Year", "Value (billion USD)"),
    ("Avocados", "2026", "3.7"),
    ("Tomatoes", "2026", "2.9"),
    ("Berries", "2025", "2.4"),
]


def make_docx(path: Path, sections: int = 2, paragraphs: int = 3) -> Path:
    """Headings, paragraphs, a table with a header row, a page header and footer."""
    import docx

    document = docx.Document()
    document.core_properties.title = "Trade Notes"
    document.sections[0].header.paragraphs[0].text = "HEADER: Ministry of Economy"
    document.sections[0].footer.paragraphs[0].text = "FOOTER: internal draft"
    document.add_heading("Trade Notes", level=0)
    for s in range(1, sections + 1):
        document.add_heading(f"Section {s}: Exports", level=1)
        for p in range(paragraphs):
            document.add_paragraph(f"Paragraph {p} of section {s} says exports grew by {s + p} percent in 2026.")
    document.add_heading("Export values", level=1)
    table = document.add_table(rows=len(TABLE), cols=len(TABLE[0]))
    for r, row in enumerate(TABLE):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_paragraph("The table above lists the main agricultural exports.")
    document.save(path)
    return path


def make_pptx(path: Path, slides: int = 3) -> Path:
    """Titled slides with bullet text and speaker notes, and a table slide."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    deck.core_properties.title = "Quarterly Review"
    for n in range(1, slides + 1):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"Slide title {n}: Market outlook"
        slide.placeholders[1].text = f"Bullet point on slide {n}: demand rose {n * 3} percent."
        slide.notes_slide.notes_text_frame.text = f"Speaker note {n}: mention the port of Veracruz."
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Export table"
    shape = slide.shapes.add_table(len(TABLE), len(TABLE[0]), Inches(1), Inches(2), Inches(6), Inches(2))
    for r, row in enumerate(TABLE):
        for c, value in enumerate(row):
            shape.table.cell(r, c).text = value
    deck.save(path)
    return path


def make_xlsx(path: Path, extra_rows: int = 0, sheets: tuple[str, ...] = ("Exports", "Notes")) -> Path:
    """Sheet ``Exports`` with a header row and TABLE's rows (plus ``extra_rows`` more); sheet ``Notes``."""
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    book.properties.title = "Export figures"
    exports = book.create_sheet(sheets[0])
    for row in TABLE:
        exports.append([float(v) if v.replace(".", "").isdigit() and "." in v else v for v in row])
    for i in range(extra_rows):
        exports.append([f"Item {i}", 2000 + i % 27, i / 10])
    if len(sheets) > 1:
        notes = book.create_sheet(sheets[1])
        notes.append(["Note"])
        notes.append(["Figures are provisional until March."])
    book.save(path)
    return path


def make_csv(path: Path, extra_rows: int = 0) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerows(TABLE)
        for i in range(extra_rows):
            writer.writerow([f"Item {i}", 2000 + i % 27, i / 10])
    return path


def make_epub(path: Path, chapters: int = 3) -> Path:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("rag-test-book")
    book.set_title("The Harbour Book")
    book.set_language("en")
    items = []
    for n in range(1, chapters + 1):
        chapter = epub.EpubHtml(title=f"Chapter {n}: The Harbour", file_name=f"chap_{n}.xhtml", lang="en")
        chapter.content = (
            f"<html><body><h1>Chapter {n}: The Harbour</h1>"
            f"<p>In chapter {n} the ship Aurora waited {n * 2} days at the harbour of Cádiz.</p></body></html>"
        )
        book.add_item(chapter)
        items.append(chapter)
    book.toc = items
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *items]
    epub.write_epub(str(path), book)
    return path


def make_odt(path: Path, sections: int = 2) -> Path:
    from odfdo import Document, Header, Paragraph, Table

    document = Document("text")
    body = document.body
    body.clear()
    document.meta.set_title("River Atlas")
    for s in range(1, sections + 1):
        body.append(Header(1, f"Chapter {s}: Rivers"))
        body.append(Paragraph(f"The river in chapter {s} is {s * 100} kilometres long."))
    table = Table("Exports", width=len(TABLE[0]), height=len(TABLE))
    table.set_values([list(row) for row in TABLE])
    body.append(table)
    document.save(str(path))
    return path


DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # Debian's fonts-dejavu-core


def text_image(lines: list[str], size: tuple[int, int] = (1700, 2200), font_size: int = 44):
    """A white page with black text: DejaVu Sans where Debian has it (accented letters), else Pillow's
    built-in font (ASCII only)."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    if DEJAVU.is_file():
        font = ImageFont.truetype(str(DEJAVU), font_size)
    else:
        font = ImageFont.load_default(size=font_size)
    y = 150
    for line in lines:
        draw.text((150, y), line, fill=0, font=font)
        y += int(font_size * 1.8)
    return image


def make_image(path: Path, lines: list[str]) -> Path:
    text_image(lines).save(path)
    return path


def make_scanned_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A PDF whose pages are only images of text (no text layer), as a scanner makes them."""
    images = [text_image(lines).convert("RGB") for lines in pages]
    images[0].save(path, "PDF", resolution=200.0, save_all=True, append_images=images[1:])
    return path


def make_mixed_pdf(path: Path, text_lines: list[str], scanned_lines: list[str]) -> Path:
    """Page 1 has a text layer, page 2 is an image of text only."""
    import io

    from pypdf import PdfReader, PdfWriter

    from tests.pdfs import make_pdf

    text_pdf = make_pdf(path.with_suffix(".text.pdf"), text_lines)
    scanned = io.BytesIO()
    text_image(scanned_lines).convert("RGB").save(scanned, "PDF", resolution=200.0)
    writer = PdfWriter()
    writer.append(PdfReader(text_pdf))
    writer.append(PdfReader(io.BytesIO(scanned.getvalue())))
    with open(path, "wb") as handle:
        writer.write(handle)
    text_pdf.unlink()
    return path
