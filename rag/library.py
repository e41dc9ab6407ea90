"""The document library behind the chat: what is indexed, adding uploaded files, removing documents.

The UI talks to this module rather than to ``index/`` (layers: ui -> rag -> index). Uploaded
files are copied into ``<data_dir>/uploads/`` and indexed incrementally from there, so an
upload survives restarts and re-indexing that folder is the single source of truth for them.
A file is checked (name, type, size, readable text) *before* it reaches that folder, so a bad
upload is refused with a reason and the index is left exactly as it was.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from index.config import Config
from index.errors import DocumentError
from index.loaders import SUPPORTED_SUFFIXES, LoaderError, load_document
from index.pipeline import IndexReport, build_index
from index.scope import resolve_documents
from index.store_api import IndexCorrupt, StoreUnavailable
from index.store_factory import open_store

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # per file; documented in the README
INDEX_WAIT_SECONDS = 120  # an upload waits this long for a running `rag index` before giving up


class UploadRejected(DocumentError):
    """An upload is refused (name, type, size, no text) or a removal names no indexed document."""


@dataclass(frozen=True)
class DocumentInfo:
    title: str
    source: str
    chunks: int
    uploaded: bool
    doc_id: str = ""


@dataclass
class LibraryStatus:
    documents: list[DocumentInfo] = field(default_factory=list)
    chunks: int = 0
    embedder: str = ""
    index_type: str = ""
    built_at: str = ""
    path: str = ""
    problem: str = ""  # set when there is no usable index


@dataclass
class UploadResult:
    report: IndexReport | None
    accepted: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # "name: reason"


def uploads_dir(config: Config) -> Path:
    return Path(config.data_dir) / "uploads"


def status(config: Config) -> LibraryStatus:
    """What the index holds, read from its manifest (cheap: no vectors or models are loaded)."""
    store = open_store(config)
    try:
        manifest = store.read_manifest()
    except (IndexCorrupt, StoreUnavailable) as exc:
        return LibraryStatus(problem=str(exc))
    finally:
        store.close()
    if manifest is None:
        return LibraryStatus(problem="No index yet: upload documents here, or run `rag index PATH`.")
    uploads = uploads_dir(config).resolve()
    documents = sorted(
        (
            DocumentInfo(
                meta.get("title") or Path(meta["source"]).name,
                meta["source"],
                int(meta.get("chunks", 0)),
                uploads in Path(meta["source"]).parents,
                doc_id,
            )
            for doc_id, meta in manifest.get("documents", {}).items()
        ),
        key=lambda d: (d.title.lower(), d.source),
    )
    return LibraryStatus(
        documents=documents,
        chunks=int(manifest.get("counts", {}).get("chunks", 0)),
        embedder=manifest.get("embedder", {}).get("name", ""),
        index_type=manifest.get("index_type", ""),
        built_at=manifest.get("built_at", ""),
        path=config.store_location if config.store else str(store.current_path() or ""),
    )


def index_version(config: Config) -> str:
    """The store's current version ("" without an index): what feedback records it was given on."""
    store = open_store(config)
    try:
        return str(store.version() or "")
    except (IndexCorrupt, StoreUnavailable):
        return ""
    finally:
        store.close()


def scope_sources(config: Config, names: list[str], current: LibraryStatus | None = None) -> list[str]:
    """The sources of the indexed documents ``names`` pick (file names, paths, globs, titles), among
    those of ``current`` (default: read now); ``UnknownDocument`` for a name that picks none."""
    documents = {d.source: {"source": d.source, "title": d.title} for d in (current or status(config)).documents}
    return sorted(resolve_documents(documents, names))


def safe_upload_name(name: str) -> str:
    """The file's own name, stripped of any directory part and of characters that could
    misbehave on a file system; refuses names that end up empty or hidden."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFC", name or ""))[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip().strip(".")
    base = re.sub(r"[^\w.\- ()\[\]]", "_", base)[:120]
    if not base or base.startswith(".") or Path(base).suffix == "":
        raise UploadRejected(f"{name!r}: not a usable file name")
    return base


def check_upload(name: str, path: Path) -> str:
    """Validate one uploaded file; return the name it will be stored under."""
    safe = safe_upload_name(name)
    suffix = Path(safe).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UploadRejected(
            f"{safe}: unsupported file type {suffix!r}; supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}"
        )
    size = Path(path).stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise UploadRejected(f"{safe}: {size / 1e6:.1f} MB is over the {MAX_UPLOAD_BYTES // 2**20} MiB upload limit")
    return safe


def add_uploads(
    files: Iterable[tuple[str, Path | str]],
    config: Config,
    on_progress: Callable[[int, int], None] | None = None,
    say: Callable[[str], None] = lambda message: None,
    embedder=None,
) -> UploadResult:
    """Copy valid uploads into the uploads folder and index them incrementally.

    ``files`` are ``(original name, temporary path)`` pairs as a web framework hands them over.
    Each file is read with the real loader first; one without usable text is refused and never
    copied, so it cannot disturb the index.
    """
    result = UploadResult(report=None)
    target_dir = uploads_dir(config)
    target_dir.mkdir(parents=True, exist_ok=True)
    for name, path in files:
        try:
            safe = check_upload(name, Path(path))
            staged = _stage(Path(path), target_dir, safe)
            try:
                load_document(staged)  # has usable text? (raises LoaderError with the reason)
            except LoaderError as exc:
                staged.unlink(missing_ok=True)
                raise UploadRejected(f"{safe}: {str(exc).split(': ', 1)[-1]}") from None
            os.replace(staged, target_dir / safe)
            result.accepted.append(safe)
        except (UploadRejected, OSError) as exc:
            result.rejected.append(str(exc))
    if result.accepted:
        result.report = build_index(
            [target_dir], config, on_progress=on_progress, say=say, lock_timeout=INDEX_WAIT_SECONDS, embedder=embedder
        )
    return result


def _stage(source: Path, target_dir: Path, name: str) -> Path:
    """Copy into a hidden staging folder beside the uploads (the indexer skips hidden paths)."""
    staging = target_dir / ".incoming"
    staging.mkdir(exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=staging, suffix=Path(name).suffix)
    os.close(fd)
    shutil.copyfile(source, tmp)
    return Path(tmp)


def remove_document(source: str, config: Config, embedder=None) -> IndexReport:
    """Drop one document from the index; an uploaded copy is deleted too (else the next upload
    would bring it back). Files elsewhere are left alone: re-indexing their folder re-adds them."""
    path = Path(source)
    known = {d.source for d in status(config).documents}
    if source not in known:
        raise UploadRejected(f"{source!r} is not in the index")
    uploads = uploads_dir(config).resolve()
    if uploads in path.resolve().parents:
        path.unlink(missing_ok=True)
        return build_index([uploads], config, lock_timeout=INDEX_WAIT_SECONDS, embedder=embedder)
    return build_index([], config, remove=[path], lock_timeout=INDEX_WAIT_SECONDS, embedder=embedder)


_WORD = r"[A-Z][a-zá-úñ]+"
_ROLE = (
    r"(?:Former |Senior |Chief |Executive |Deputy |Vice |Managing |General |Co-)*(?:Director|CEO|CFO|CTO|President|"
    r"Chair|Chairman|Chairwoman|Founder|Researcher|Professor|Analyst|Minister|Secretary|Manager|Head|Partner|"
    r"Economist|Editor|Officer|Governor|Ambassador|Spokesperson|Lead|Engineer|Scientist|Author)\b"
)
_PERSON = re.compile(
    rf"\b({_WORD}(?: (?:de |del |van |von )?{_WORD}){{1,2}}), (?:the |a |an )?{_ROLE}"
    rf"|\b(?:said|says|according to) ({_WORD}(?: {_WORD}){{1,2}})\b"
    rf"|\b({_WORD}(?: {_WORD}){{1,2}}) (?:said|says|explained|noted|added|stated|warned)\b"
)
_ACRONYM = re.compile(r"\b([A-Z]{3,6})\b")
_NAME = re.compile(rf"\b({_WORD}(?: (?:of |de |del )?{_WORD}){{1,3}})\b")
_NOT_NAMES = {"The", "This", "That", "These", "Those", "However", "According", "During", "In", "On", "At", "By"}


def example_questions(chunks: Iterable, several_documents: bool, n: int = 3) -> list[str]:
    """``n`` questions a newcomer could ask, drawn from the documents' own text without an LLM:
    people the documents quote or introduce ("Who is ...?"), the abbreviations they use most
    ("What is ...?"), then the names they mention most. ``chunks`` are ``index.records.Chunk``s."""
    people: dict[str, int] = {}
    acronyms: dict[str, int] = {}
    names: dict[str, int] = {}
    for chunk in chunks:
        text = chunk.text
        for match in _PERSON.finditer(text):
            name = next(g for g in match.groups() if g)
            if name.split()[0] not in _NOT_NAMES:
                people[name] = people.get(name, 0) + 1
        for match in _ACRONYM.finditer(text):
            acronyms[match.group(1)] = acronyms.get(match.group(1), 0) + 1
        for match in _NAME.finditer(text):
            words = match.group(1).split()
            words = words[1:] if words[0] in _NOT_NAMES else words
            if len(words) >= 2:
                names[" ".join(words)] = names.get(" ".join(words), 0) + 1

    def ranked(counts: dict[str, int], least: int = 1) -> list[str]:
        return [k for k in sorted(counts, key=lambda k: -counts[k]) if counts[k] >= least]  # stable: first seen

    where = "the documents say" if several_documents else "the document say"
    pools = [
        [f"Who is {p}?" for p in ranked(people)],
        [f"What is {a}?" for a in ranked(acronyms, least=2)],
        [f"What does {where} about {m}?" for m in ranked(names, least=2) if m not in people],
    ]
    chosen: list[str] = []
    for group in (pools[:2], pools[2:]):  # people and abbreviations in turn; other names only to fill up
        while len(chosen) < n and any(group):
            for pool in group:
                if pool and len(chosen) < n and (question := pool.pop(0)) not in chosen:
                    chosen.append(question)
    return chosen
