"""Asking only some documents: names given by the user (a file name, a path, a glob, or a title)
resolved to the ids of indexed documents, and a view of the index restricted to them.

The restriction is a filter inside each store's search (index/store.py, index/pg_store.py: only the
chosen documents' rows are scored), not a filter after a corpus-wide top-k, which could leave
nothing from a small document among many.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from index.errors import DocumentError


class UnknownDocument(DocumentError):
    """A name that matches no indexed document (``--document NAME``, ``documents=[...]``); the message
    lists close matches."""


def _is_glob(name: str) -> bool:
    return any(ch in name for ch in "*?[")


def resolve_documents(documents: dict[str, dict], names: Iterable[str]) -> frozenset[str]:
    """The ids of the indexed ``documents`` (id -> metadata with "source" and "title") that ``names``
    pick. Each name must pick at least one: a full or relative path, a file name ("report.pdf", case
    ignored when nothing matches exactly), a glob ("*.xlsx", "docs/2026-*"), or a document title."""
    chosen: set[str] = set()
    for raw in names:
        name = str(raw).strip()
        if not name:
            raise UnknownDocument("an empty document name was given")
        found = _matches(documents, name)
        if not found:
            raise UnknownDocument(_unknown_message(documents, name))
        chosen |= found
    return frozenset(chosen)


def _matches(documents: dict[str, dict], name: str) -> set[str]:
    absolute = os.path.abspath(os.path.expanduser(name))
    sources = {doc_id: str(meta.get("source", "")) for doc_id, meta in documents.items()}
    if _is_glob(name):
        pattern_is_path = "/" in name or os.sep in name
        return {
            doc_id
            for doc_id, source in sources.items()
            if fnmatch.fnmatchcase(source, absolute if pattern_is_path else name)
            or (not pattern_is_path and fnmatch.fnmatchcase(Path(source).name, name))
            or (not pattern_is_path and fnmatch.fnmatch(Path(source).name.lower(), name.lower()))
        }
    for same in (
        lambda doc_id, source: source == absolute or source == name,
        lambda doc_id, source: Path(source).name == name,
        lambda doc_id, source: Path(source).name.lower() == name.lower(),
        lambda doc_id, source: str(documents[doc_id].get("title", "")).strip().lower() == name.lower(),
    ):
        found = {doc_id for doc_id, source in sources.items() if same(doc_id, source)}
        if found:
            return found
    return set()


def _unknown_message(documents: dict[str, dict], name: str) -> str:
    names = sorted({Path(str(m.get("source", ""))).name for m in documents.values()})
    titles = sorted({str(m.get("title", "")) for m in documents.values() if m.get("title")})
    close = difflib.get_close_matches(Path(name).name, names, n=3, cutoff=0.5)
    close += [t for t in difflib.get_close_matches(name, titles, n=2, cutoff=0.6) if t not in close]
    if not documents:
        return f"no document matches {name!r}: the index is empty"
    hint = f"; close matches: {', '.join(close)}" if close else ""
    return (
        f"no indexed document matches {name!r}{hint} ({len(documents)} documents indexed; `rag index PATH` adds more)"
    )


class ScopedView:
    """An index view (index/store_api.py) that only searches the documents ``doc_ids``.

    Everything else is the underlying view's: scores (BM25's statistics, idf) stay corpus-wide, so a
    passage scores the same with or without a scope."""

    def __init__(self, view, doc_ids: Iterable[str]):
        self._view = view
        self.doc_ids = frozenset(d for d in doc_ids if d in view.documents)
        self.documents = {d: view.documents[d] for d in sorted(self.doc_ids)}
        self.manifest = view.manifest
        digest = hashlib.sha256("\n".join(sorted(self.doc_ids)).encode()).hexdigest()[:16]
        self._version = f"{view.version}#scope:{digest}"

    def __getattr__(self, name):  # everything not restricted here is the underlying view's
        return getattr(self._view, name)

    @property
    def version(self) -> str:
        return self._version  # per scope: caches keyed by version (the corpus-token count) see only the scope

    def search_dense(self, query_vector, k: int):
        return self._view.search_dense(query_vector, k, doc_ids=self.doc_ids)

    def search_second(self, query_vector, k: int):
        return self._view.search_second(query_vector, k, doc_ids=self.doc_ids)

    def search_lexical(self, query: str, k: int):
        return self._view.search_lexical(query, k, doc_ids=self.doc_ids)

    def chunks_of(self, doc_ids):
        return self._view.chunks_of([d for d in doc_ids if d in self.doc_ids])


def scoped(view, names: Iterable[str] | None):
    """``view`` restricted to the documents ``names`` pick (``view`` itself when ``names`` is empty)."""
    names = [n for n in (names or []) if n is not None]
    if not names:
        return view
    return ScopedView(view, resolve_documents(view.documents, names))
