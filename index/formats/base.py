"""What every format reader shares: the ``Extracted`` result, a text builder that records where
each location starts, table rows that keep their header, and the checks on containers.

A reader returns the document text together with *marks*: ``(char_offset, label)`` pairs saying
that from that offset on the text is on "page 2", "slide 3", "sheet Exports, row 3", in chapter
"The Harbour"... (index/locations.py turns them into a chunk's or a citation's location).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import re
import zipfile
from dataclasses import dataclass, field

from index.errors import DocumentError

MAX_TABLE_ROWS = 50_000  # rows kept from one spreadsheet/CSV file; the rest is dropped with a notice
MAX_UNPACKED_BYTES = 512 * 2**20  # a zip container (docx, xlsx, epub...) that unpacks to more is refused
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # compound file: legacy .doc/.xls, or an encrypted OOXML file


class FormatError(DocumentError):
    """The file cannot be read as its format; the message says why. index/loaders.py turns it into a
    ``LoaderError`` that names the file."""


@dataclass
class Extracted:
    text: str
    title: str = ""
    marks: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ocr_pages: list[int] = field(default_factory=list)  # 1-based pages (or 1 for an image) read by OCR


def normalise(text: str) -> str:
    """Unix newlines, no NULs, no trailing spaces on lines, at most one blank line in a row, stripped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


class TextBuilder:
    """Appends blocks of text and remembers where each location label starts.

    ``mark(label)`` makes ``label`` the location of everything added after it; blocks are separated
    by a blank line, ``line()`` continues the current block on the next line (table rows)."""

    def __init__(self):
        self._parts: list[str] = []
        self._length = 0
        self._pending: str | None = None
        self.marks: list[tuple[int, str]] = []

    def mark(self, label: str) -> None:
        self._pending = label

    def block(self, text: str, separator: str = "\n\n") -> None:
        text = normalise(text)
        if not text:
            return
        if self._parts:
            self._parts.append(separator)
            self._length += len(separator)
        if self._pending is not None:
            if not self.marks or self.marks[-1][1] != self._pending:
                self.marks.append((self._length, self._pending))
            self._pending = None
        self._parts.append(text)
        self._length += len(text)

    def line(self, text: str) -> None:
        self.block(text, separator="\n")

    def __len__(self) -> int:
        return self._length

    @property
    def text(self) -> str:
        return "".join(self._parts)


def cell_text(value) -> str:
    """A spreadsheet cell as people read it: 2026 not 2026.0, 0.3 not 0.30000000000000004, dates as dates."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.15g}"
    if isinstance(value, _dt.datetime):
        return value.date().isoformat() if value.time() == _dt.time() else value.isoformat(sep=" ")
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    return re.sub(r"\s+", " ", str(value)).strip()


def looks_like_header(cells: list[str]) -> bool:
    """A first row names the columns when its filled cells are words, not numbers, and are distinct."""
    filled = [c for c in cells if c]
    if len(filled) < max(1, (len(cells) + 1) // 2):
        return False
    if len(set(filled)) != len(filled):
        return False
    return not any(re.fullmatch(r"[-+]?[\d.,%$€£ ]+", c) for c in filled)


def row_text(header: list[str] | None, cells: list[str]) -> str:
    """One table row as text that stands on its own: "Product: Avocados; Year: 2026; Value: 3.7".

    Empty cells are left out; a column without a header name keeps only its value."""
    parts = []
    for i, value in enumerate(cells):
        if not value:
            continue
        name = header[i] if header and i < len(header) else ""
        parts.append(f"{name}: {value}" if name and name != value else value)
    return "; ".join(parts)


class Table:
    """Rows of one table turned into text, the first row taken as the header when it looks like one."""

    def __init__(self, builder: TextBuilder, label=None):
        self.builder = builder
        self.header: list[str] | None = None
        self.started = False
        self.rows = 0  # data rows added (the header row not counted)
        self.label = label  # label(row_number) -> location of that row, or None for none

    def row(self, cells: list[str], number: int) -> bool:
        """Add row ``number`` (the header, if this first row is one); False when it held nothing."""
        if not any(cells):
            return False
        if not self.started:
            self.started = True
            if looks_like_header(cells):
                self.header = cells
                self.builder.block("Columns: " + "; ".join(c for c in cells if c))
                return True
        text = row_text(self.header, cells)
        if self.label is not None:
            self.builder.mark(self.label(number))
        self.builder.line(text)
        self.rows += 1
        return True


def sniff(raw: bytes) -> str:
    """What the bytes really are: "zip", "ole", "pdf", "html", "empty" or "other"."""
    if not raw:
        return "empty"
    if raw.startswith(b"PK\x03\x04") or raw.startswith(b"PK\x05\x06"):
        return "zip"
    if raw.startswith(OLE_MAGIC):
        return "ole"
    if raw.lstrip()[:5] == b"%PDF-":
        return "pdf"
    head = raw[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<meta", b"<div", b"<p>", b"<table")):
        return "html"
    if head.startswith(b"<?xml") and b"<html" in raw[:4096].lower():
        return "html"
    return "other"


def is_encrypted_office(raw: bytes) -> bool:
    """An OOXML file saved with a password is a compound file holding an "EncryptedPackage" stream."""
    return raw.startswith(OLE_MAGIC) and "EncryptedPackage".encode("utf-16-le") in raw[:65536]


def check_container(raw: bytes, kind: str) -> None:
    """Refuse what is not the zip container ``kind`` (docx, xlsx, epub...) claims to be, with the reason."""
    found = sniff(raw)
    if found == "zip":
        return
    if found == "ole":
        if is_encrypted_office(raw):
            raise FormatError(f"the {kind} file is password-protected; save it without a password to index it")
        raise FormatError(f"this is a legacy binary Office file, not {kind}; save it as {kind} to index it")
    raise FormatError(f"not a valid {kind} file (it is not a zip container)")


def open_zip(raw: bytes, kind: str) -> zipfile.ZipFile:
    """The zip container, after checking it is one, that it is intact, and that it does not unpack
    to more than ``MAX_UNPACKED_BYTES`` (a zip bomb would otherwise fill the memory)."""
    import io

    check_container(raw, kind)
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise FormatError(f"not a valid {kind} file (corrupt zip container: {exc})") from None
    if any(m.flag_bits & 0x1 for m in members):
        raise FormatError(f"the {kind} file is password-protected (encrypted zip)")
    unpacked = sum(m.file_size for m in members)
    if unpacked > MAX_UNPACKED_BYTES:
        raise FormatError(
            f"unpacks to {unpacked / 2**20:,.0f} MiB, over the {MAX_UNPACKED_BYTES // 2**20} MiB limit "
            "for one document (a zip bomb?)"
        )
    return archive


def open_package(raw: bytes, kind: str, member: str, what: str) -> zipfile.ZipFile:
    """``open_zip``, and the zip must hold ``member`` (word/document.xml for a .docx...)."""
    archive = open_zip(raw, kind)
    if member not in archive.namelist():
        raise FormatError(f"not {what} (the zip has no {member})")
    return archive


@contextlib.contextmanager
def reading(kind: str):
    """Turn whatever a library raises on a damaged file (KeyError, lxml's XMLSyntaxError, zlib errors
    of a damaged member, ...) into one ``FormatError`` that says so."""
    try:
        yield
    except FormatError:
        raise
    except MemoryError:
        raise
    except Exception as exc:
        raise FormatError(f"not a readable {kind} file ({type(exc).__name__}: {exc})") from None


def title_or(*candidates: str | None) -> str:
    for candidate in candidates:
        if candidate and str(candidate).strip():
            return re.sub(r"\s+", " ", str(candidate)).strip()[:200]
    return ""
