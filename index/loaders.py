"""Turn .txt / .md / .html / .pdf files into ``Document`` records.

Documents are untrusted: we only extract text from them, never run or render them.
A file with no extractable text is an error that names the file, never a silent
zero-chunk document.
"""

from __future__ import annotations

import hashlib
import re
import warnings as _warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

from index.errors import DocumentError
from index.records import Document

SUPPORTED_SUFFIXES = {".txt", ".text", ".md", ".markdown", ".html", ".htm", ".pdf"}
MAX_FILE_BYTES = 50 * 1024 * 1024  # a larger file is refused rather than read into memory


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
                problems.append(f"{raw}: no .txt, .md, .html or .pdf files in this folder")
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

    notes: list[str] = []
    if suffix == ".pdf":
        title, text = _pdf_text(path, raw)
    else:
        if b"\x00" in raw[:8192]:
            raise LoaderError(f"{path.name}: looks like a binary file, not {suffix} text")
        decoded = _decode(raw, path, notes)
        if suffix in {".html", ".htm"}:
            title, text = _html_text(decoded)
        elif suffix in {".md", ".markdown"}:
            title, text = _markdown_title(decoded), decoded
        else:
            title, text = _first_line_title(decoded), decoded
    text = _normalise(text)
    if not text.strip():
        kind = "PDF (scanned images or empty pages?)" if suffix == ".pdf" else "file"
        raise LoaderError(f"{path.name}: no extractable text in this {kind}")
    return Document(
        id=document_id(text),
        title=(title or path.stem).strip()[:200],
        source=str(path),
        text=text,
        warnings=tuple(notes),
    )


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


def _normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _first_line_title(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:200]
    return ""


def _markdown_title(text: str) -> str:
    match = re.search(r"^\s{0,3}#\s+(.+?)\s*#*\s*$", text, flags=re.MULTILINE)
    return match.group(1) if match else _first_line_title(text).lstrip("# ")


# --- HTML --------------------------------------------------------------------------

_DROP_TAGS = [
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "aside",
    "form",
    "iframe",
    "svg",
    "canvas",
    "button",
    "select",
    "input",
    "textarea",
]
_BLOCK_TAGS = {
    "p",
    "div",
    "section",
    "article",
    "main",
    "li",
    "ul",
    "ol",
    "table",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "figcaption",
    "dd",
    "dt",
    "hr",
}


def _html_text(html: str) -> tuple[str, str]:
    """Readable text of a page: headings and paragraphs, no scripts/styles/navigation."""
    from bs4 import BeautifulSoup, Comment, Doctype, NavigableString, ProcessingInstruction

    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(_DROP_TAGS):
        tag.decompose()
    for tag in soup(["header", "footer"]):  # page banners go; an article's own header stays
        if not tag.find_parent(["article", "main"]):
            tag.decompose()
    for tag in soup.find_all(attrs={"role": ["navigation", "banner", "contentinfo"]}):
        tag.decompose()
    if soup.head:
        soup.head.decompose()
    body = soup.body or soup
    # Walk the tree once, putting blank lines around block elements.
    parts: list[str] = []
    for element in body.descendants:
        if isinstance(element, (Comment, Doctype, ProcessingInstruction)):
            continue
        if isinstance(element, NavigableString):  # HTML whitespace is a space, except inside <pre>
            in_pre = element.find_parent("pre") is not None
            parts.append(str(element) if in_pre else re.sub(r"\s+", " ", str(element)))
        elif element.name == "br":
            parts.append("\n")
        elif element.name in _BLOCK_TAGS:
            parts.append("\n\n")
    lines = []
    for line in "".join(parts).split("\n"):
        lines.append(re.sub(r"\s+", " ", line).strip())
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    if not title:
        heading = body.find(["h1", "h2"])
        title = heading.get_text(" ", strip=True) if heading else ""
    return title, text


# --- PDF ---------------------------------------------------------------------------


def _pdf_text(path: Path, raw: bytes) -> tuple[str, str]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted:
            try:
                reader.decrypt("")
            except Exception:
                raise LoaderError(f"{path.name}: the PDF is encrypted") from None
        pages = [page.extract_text() or "" for page in reader.pages]
        title = ""
        if reader.metadata and reader.metadata.title:
            title = str(reader.metadata.title)
    except LoaderError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise LoaderError(f"{path.name}: not a readable PDF ({exc})") from None
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    return title or _first_line_title(text), text
