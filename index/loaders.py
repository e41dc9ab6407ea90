"""Turn files into ``Document`` records: plain text, Markdown and HTML here; PDF (with OCR of
scanned pages), Word, PowerPoint, Excel, CSV, EPUB, OpenDocument text and images of text through
the readers in index/formats/.

Documents are untrusted: we only extract text from them, never run or render them.
A file with no extractable text is an error that names the file, never a silent
zero-chunk document. Each document carries its location marks (``Document.marks``: where each
page, slide, sheet row, chapter or section starts in its text; index/locations.py).
"""

from __future__ import annotations

import hashlib
import re
import warnings as _warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

from index.errors import DocumentError
from index.formats.base import Extracted, FormatError, normalise, sniff
from index.formats.html import read_html
from index.records import Document

TEXT_SUFFIXES = {".txt", ".text", ".md", ".markdown", ".html", ".htm", ".csv"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | IMAGE_SUFFIXES | {".pdf", ".docx", ".pptx", ".xlsx", ".epub", ".odt"}
MAX_FILE_BYTES = 50 * 1024 * 1024  # a larger file is refused rather than read into memory
# what a file of each kind is called in messages
KINDS = {
    ".pdf": "PDF",
    ".docx": "Word document",
    ".pptx": "presentation",
    ".xlsx": "spreadsheet",
    ".csv": "CSV file",
    ".epub": "e-book",
    ".odt": "OpenDocument text",
}


def supported_list() -> str:
    """ ".csv .docx .epub ..." for messages."""
    return " ".join(sorted(SUPPORTED_SUFFIXES))


class LoaderError(DocumentError):
    """A file could not be turned into text; the message names the file and says why."""


def document_id(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def find_files(paths: Iterable[Path | str]) -> tuple[list[Path], list[str]]:
    """Expand files and folders into supported files (sorted); also return problems found."""
    found: list[Path] = []
    problems: list[str] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            problems.append(f"{raw}: no such file or folder")
        elif path.is_dir():
            inside = [
                child.resolve()
                for child in sorted(path.rglob("*"))
                if child.is_file() and not _hidden(child, path) and child.suffix.lower() in SUPPORTED_SUFFIXES
            ]
            if not inside:
                problems.append(f"{raw}: no supported documents in this folder (supported: {supported_list()})")
            found += inside
        elif path.suffix.lower() in SUPPORTED_SUFFIXES:
            found.append(path.resolve())
        else:
            problems.append(
                f"{raw}: unsupported file type {path.suffix or '(none)'!r}; "
                f"supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}"
            )
    return sorted(dict.fromkeys(found)), problems


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def load_document(path: Path | str) -> Document:
    """Read one file; raise ``LoaderError`` with a clear message if it has no usable text."""
    path = Path(path).resolve()
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoaderError(f"{path.name}: unsupported file type {suffix or '(none)'!r}")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise LoaderError(f"{path.name}: {size / 2**20:.0f} MiB is over the {MAX_FILE_BYTES // 2**20} MiB limit")
        raw = path.read_bytes()
    except OSError as exc:
        raise LoaderError(f"{path.name}: cannot be read ({exc.strerror or exc})") from None

    if not raw:
        raise LoaderError(f"{path.name}: the file is empty (0 bytes)")
    notes: list[str] = []
    try:
        extracted = _extract(path, suffix, raw, notes)
    except FormatError as exc:
        raise LoaderError(f"{path.name}: {exc}") from None
    except MemoryError:
        raise LoaderError(f"{path.name}: too large to read into memory") from None
    text = extracted.text
    if not text.strip():
        if suffix == ".pdf":
            reason = "no text in this PDF, not even by OCR of its pages"
        else:
            reason = f"no extractable text in this {KINDS.get(suffix, 'file')}"
        raise LoaderError(f"{path.name}: {reason}")
    notes += [f"{path.name}: {w}" for w in extracted.warnings]
    return Document(
        id=document_id(text),
        title=(extracted.title or path.stem).strip()[:200],
        source=str(path),
        text=text,
        warnings=tuple(notes),
        marks=tuple((int(offset), label) for offset, label in extracted.marks),
        ocr_pages=tuple(extracted.ocr_pages),
    )


def _extract(path: Path, suffix: str, raw: bytes, notes: list[str]) -> Extracted:
    """The reader of ``suffix``; a file whose bytes are of another kind than its name says is read as what
    it is when that is HTML or PDF (a "Word" file saved as a web page), with a warning."""
    found = sniff(raw)
    if suffix in {".docx", ".pptx", ".xlsx", ".epub", ".odt"} and found in ("html", "pdf"):
        notes.append(f"{path.name}: is really {found.upper()}, not {suffix}; read as {found.upper()}")
        suffix = ".html" if found == "html" else ".pdf"
    if suffix == ".pdf":
        from index.formats import pdf

        return pdf.read(path, raw)
    if suffix in IMAGE_SUFFIXES:
        from index.formats import ocr

        return ocr.read_image(path, raw)
    if suffix in {".docx", ".pptx", ".xlsx", ".epub", ".odt"}:
        from index.formats import docx, epub, odt, pptx, sheets

        reader = {
            ".docx": docx.read,
            ".pptx": pptx.read,
            ".xlsx": sheets.read_xlsx,
            ".epub": epub.read,
            ".odt": odt.read,
        }[suffix]
        return reader(path, raw)
    if b"\x00" in raw[:8192]:
        raise FormatError(f"looks like a binary file, not {suffix} text")
    decoded = _decode(raw, path, notes)
    if suffix == ".csv":
        from index.formats import sheets

        return sheets.read_csv(path, decoded)
    if suffix in {".html", ".htm"}:
        return read_html(decoded)
    text = _normalise(decoded)
    if suffix in {".md", ".markdown"}:
        return Extracted(text=text, title=_markdown_title(decoded), marks=_markdown_marks(text))
    return Extracted(text=text, title=_first_line_title(decoded))


def load_documents(paths: Iterable[Path]) -> Iterator[Document | LoaderError]:
    for path in paths:
        try:
            yield load_document(path)
        except LoaderError as exc:
            yield exc


# --- text decoding -----------------------------------------------------------------


def _decode(raw: bytes, path: Path, notes: list[str]) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    if best is not None and best.encoding:
        encoding = best.encoding
        text = str(best)
    else:  # cp1252 decodes any byte except five; replace those
        encoding = "cp1252"
        text = raw.decode("cp1252", errors="replace")
    notes.append(f"{path.name}: not UTF-8; decoded as {encoding}")
    _warnings.warn(notes[-1], UnicodeWarning, stacklevel=3)
    return text


_normalise = normalise


TITLE_MAX_CHARS = 120  # a longer first line is the start of the text, not its title


def _first_line_title(text: str) -> str:
    """The first line, when it reads as a heading: short, with more text after it. A one-paragraph file
    gets no title here (the file's name stands in), not its opening words cut off."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and len(lines[0]) <= TITLE_MAX_CHARS:
        return lines[0]
    return ""


def _markdown_title(text: str) -> str:
    match = re.search(r"^\s{0,3}#\s+(.+?)\s*#*\s*$", text, flags=re.MULTILINE)
    return match.group(1) if match else _first_line_title(text).lstrip("# ")


_MD_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
_MD_FENCE = re.compile(r"^ {0,3}(```|~~~)", re.MULTILINE)


def _markdown_marks(text: str) -> list[tuple[int, str]]:
    """Each ATX heading (# ...) outside code fences starts a section named by it."""
    fences = [m.start() for m in _MD_FENCE.finditer(text)]
    marks = []
    for match in _MD_HEADING.finditer(text):
        inside = sum(1 for f in fences if f < match.start()) % 2 == 1
        if not inside:
            marks.append((match.start(), match.group(2).strip()[:120]))
    return marks
