"""OCR with Tesseract (Debian's ``tesseract-ocr`` with English and Spanish data, installed by
``make``), through pytesseract. Words Tesseract is unsure of (confidence under ``MIN_CONFIDENCE``)
are dropped, so an image without text gives no text rather than speckle read as letters."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from index.formats.base import Extracted, FormatError, TextBuilder

WANTED_LANGUAGES = ("eng", "spa")
MIN_CONFIDENCE = 40  # 0-100, per word
RENDER_DPI = 300  # Tesseract reads best at about 300 dpi
PAGE_TIMEOUT = 120  # seconds for one page
MAX_IMAGE_PIXELS = 80_000_000  # a larger image is refused (decompression bombs)


class OcrUnavailable(FormatError):
    pass


@functools.cache
def languages() -> str:
    """The "eng+spa" argument for the languages installed; raises ``OcrUnavailable`` without Tesseract."""
    import pytesseract

    try:
        installed = set(pytesseract.get_languages(config=""))
    except (pytesseract.TesseractNotFoundError, OSError):
        raise OcrUnavailable(
            "needs OCR, but Tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-eng "
            "tesseract-ocr-spa, or run `make install`)"
        ) from None
    wanted = [lang for lang in WANTED_LANGUAGES if lang in installed]
    return "+".join(wanted or sorted(installed - {"osd"})[:1] or ["eng"])


def image_text(image) -> str:
    """The text Tesseract reads in a PIL image, line by line, paragraphs separated by a blank line."""
    import pytesseract

    image = image.convert("L") if image.mode not in ("L", "RGB") else image
    try:
        data = pytesseract.image_to_data(
            image, lang=languages(), output_type=pytesseract.Output.DICT, timeout=PAGE_TIMEOUT
        )
    except RuntimeError as exc:  # pytesseract's timeout
        raise FormatError(f"OCR gave up after {PAGE_TIMEOUT} s ({exc})") from None
    except pytesseract.TesseractError as exc:
        raise FormatError(f"OCR failed ({exc})") from None
    lines: dict[tuple[int, int, int], list[str]] = {}
    for i, word in enumerate(data["text"]):
        word = (word or "").strip()
        if word and float(data["conf"][i]) >= MIN_CONFIDENCE:
            lines.setdefault((data["block_num"][i], data["par_num"][i], data["line_num"][i]), []).append(word)
    text, last = [], None
    for key in sorted(lines):
        if last is not None and key[:2] != last[:2]:
            text.append("")
        text.append(" ".join(lines[key]))
        last = key
    result = "\n".join(text)
    return result if len(re.findall(r"\w", result)) >= 3 else ""


def read_image(path: Path, raw: bytes) -> Extracted:
    """.png / .jpg / .tiff: every frame (a multi-page TIFF has several) is OCR'd; frames are "page N"."""
    import io

    from PIL import Image, ImageSequence, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        image = Image.open(io.BytesIO(raw))
        frames = [frame.copy() for frame in ImageSequence.Iterator(image)]
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise FormatError(f"not a readable image ({exc})") from None
    out, pages = TextBuilder(), []
    for number, frame in enumerate(frames, start=1):
        text = image_text(frame)
        if text and len(frames) > 1:
            out.mark(f"page {number}")
        if text:
            pages.append(number)
        out.block(text)
    if not out.text:
        raise FormatError("no text found in this image (OCR read nothing)")
    return Extracted(text=out.text, marks=out.marks, ocr_pages=pages)
