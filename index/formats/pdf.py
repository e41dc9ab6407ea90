"""PDF through pypdf, page by page ("page N"); a page without a text layer (a scan) is rendered
with pypdfium2 and read by OCR (index/formats/ocr.py)."""

from __future__ import annotations

import io
import re
from pathlib import Path

from index.formats.base import Extracted, FormatError, TextBuilder, title_or

LOCKED = "the PDF is password-protected; save it without a password to index it"
MAX_RENDER_PIXELS = 40_000_000  # an A4 page at 300 dpi is 8.7 M
MIN_TEXT_CHARS = 16  # a page with less text than this and an image on it is taken for a scan


def read(path: Path, raw: bytes) -> Extracted:
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(raw))
        # an empty user password (only an "owner password" restricting printing or copying) opens it
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise FormatError(LOCKED)
        pages = []
        for page in reader.pages:
            pages.append(((page.extract_text() or "").strip(), _has_images(page)))
        title = str(reader.metadata.title) if reader.metadata and reader.metadata.title else ""
    except FormatError:
        raise
    except FileNotDecryptedError:
        raise FormatError(LOCKED) from None
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        raise FormatError(f"not a readable PDF ({type(exc).__name__}: {exc})") from None

    out, warnings, ocr_pages = TextBuilder(), [], []
    scanned = [n for n, (text, images) in enumerate(pages, start=1) if _needs_ocr(text, images)]
    ocr_texts: dict[int, str] = {}
    if scanned:
        ocr_texts = _ocr_pages(raw, scanned, warnings)
    for number, (text, _images) in enumerate(pages, start=1):
        if number in ocr_texts and len(ocr_texts[number]) > len(text):
            text = ocr_texts[number]
            ocr_pages.append(number)
        out.mark(f"page {number}")
        out.block(text)
    if not out.text.strip():
        if not pages:
            raise FormatError("no extractable text in this PDF (it has no pages)")
        if not scanned:
            raise FormatError("no extractable text in this PDF (its pages are empty)")
        missing = next((w for w in warnings if "Tesseract is not installed" in w), "")
        raise FormatError(
            f"no text in this PDF: {len(scanned)} page(s) without a text layer"
            + (f", and {missing.split(': ', 1)[-1]}" if missing else ", and OCR found no text on them")
        )
    first_line = next((line.strip() for line in out.text.splitlines() if line.strip()), "")
    return Extracted(
        text=out.text, title=title_or(title, first_line), marks=out.marks, warnings=warnings, ocr_pages=ocr_pages
    )


def _has_images(page) -> bool:
    try:
        resources = page.get("/Resources") or {}
        xobjects = resources.get("/XObject") if hasattr(resources, "get") else None
        return bool(xobjects)
    except Exception:
        return False


def _needs_ocr(text: str, has_images: bool) -> bool:
    """A page whose text layer has (almost) nothing but which shows an image: a scan. (A page with
    neither is blank: nothing to read.)"""
    return has_images and len(re.sub(r"\s", "", text)) < MIN_TEXT_CHARS


def _ocr_pages(raw: bytes, numbers: list[int], warnings: list[str]) -> dict[int, str]:
    """Render the pages ``numbers`` (1-based) and OCR them; a missing Tesseract is a warning here
    (the text pages are still indexed), and an error only if no page has text at all."""
    from index.formats import ocr

    try:
        ocr.languages()
    except ocr.OcrUnavailable as exc:
        warnings.append(f"{len(numbers)} page(s) without a text layer were skipped: {exc}")
        return {}
    import pypdfium2 as pdfium

    texts: dict[int, str] = {}
    try:
        document = pdfium.PdfDocument(raw)
    except pdfium.PdfiumError as exc:
        warnings.append(f"pages without a text layer could not be rendered for OCR ({exc})")
        return {}
    try:
        for number in numbers:
            page = document[number - 1]
            try:
                width, height = page.get_size()  # points
                # 300 dpi, but never a bitmap over MAX_RENDER_PIXELS (a poster-sized page)
                scale = min(ocr.RENDER_DPI / 72, (MAX_RENDER_PIXELS / max(1.0, width * height)) ** 0.5)
                image = page.render(scale=scale, grayscale=True).to_pil()
            finally:
                page.close()
            texts[number] = ocr.image_text(image)
    finally:
        document.close()
    return texts
