"""Retrieval, generation, citations and the answer API.

from rag import answer, ChatSession
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["answer", "stream_answer", "ChatSession", "Answer", "Citation", "Passage", "Sources", "EvidenceSentence"]

if TYPE_CHECKING:
    from rag.api import ChatSession, answer, stream_answer
    from rag.records import Answer, Citation, EvidenceSentence, Passage, Sources


def __getattr__(name: str):
    # keep `import rag` light: the API (and torch, faiss...) load on first use
    if name in ("answer", "stream_answer", "ChatSession"):
        from rag import api

        return getattr(api, name)
    if name in ("Answer", "Citation", "Passage", "Sources", "EvidenceSentence"):
        from rag import records

        return getattr(records, name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
