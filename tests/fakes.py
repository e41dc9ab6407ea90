"""Model-free stand-ins for logic tests (the real models are covered by @pytest.mark.models tests)."""

from __future__ import annotations

import hashlib

import numpy as np

from rag.generation.base import GenerationResult, Generator


class HashEmbedder:
    """Deterministic bag-of-words vectors: texts sharing words get similar vectors."""

    def __init__(self, name: str = "test-hash-embedder", dimension: int = 64):
        self.name = name
        self.batch_size = 64
        self._dimension = dimension
        self.embedded = 0  # how many texts went through encode(), for incremental-indexing tests

    @property
    def dimension(self) -> int:
        return self._dimension

    def fits(self, texts):
        return [True] * len(texts)

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self._dimension, dtype=np.float32)
        for word in text.lower().split():
            h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
            vec[h % self._dimension] += 1.0
        norm = np.linalg.norm(vec)
        return vec / norm if norm else vec

    def encode(self, texts, progress=None, on_progress=None) -> np.ndarray:
        self.embedded += len(texts)
        if on_progress is not None:
            on_progress(len(texts), len(texts))
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])

    def encode_query(self, text: str) -> np.ndarray:
        return self._vector(text)

    def encode_with_sentences(self, texts, spans, on_progress=None, progress=None):
        """Chunk vectors, and each sentence embedded on its own (the real embedder pools tokens)."""
        vectors = self.encode(texts, on_progress=on_progress)
        sentences = [
            np.stack([self._vector(t[s:e]) for s, e in sp]).astype(np.float16)
            if sp
            else np.zeros((0, self._dimension), np.float16)
            for t, sp in zip(texts, spans)
        ]
        return vectors, sentences


class HashSecondEmbedder:
    """Stand-in for the second embedder (index/second_embedder.py): character-trigram hashing, so its
    signal differs from HashEmbedder's words. Counts what it encodes."""

    def __init__(self, name: str = "multilingual-e5-small", dimension: int = 32):
        self.name = name
        self._dimension = dimension
        self.embedded = 0

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self._dimension, dtype=np.float32)
        text = text.lower()
        for i in range(len(text) - 2):
            h = int.from_bytes(hashlib.blake2b(text[i : i + 3].encode(), digest_size=8).digest(), "little")
            vec[h % self._dimension] += 1.0
        norm = np.linalg.norm(vec)
        return vec / norm if norm else vec

    def encode_passages(self, texts, on_progress=None, progress=None) -> np.ndarray:
        self.embedded += len(texts)
        for done in range(1, len(texts) + 1):
            if on_progress is not None:
                on_progress(done, len(texts))
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self._dimension), np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self._vector(text)

    def encode_queries(self, texts) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts])


class ScriptedLLM(Generator):
    """An LLM that replies from a script (one reply per request, then empty ones) and records the
    prompts it was given; it ends every reply with ``finish_reason``."""

    name = "scripted"
    uses_llm = True

    def __init__(self, *replies: str, finish_reason: str = "stop", no_answer_probability: float | None = None):
        self.replies = list(replies)
        self.prompts: list[list[dict]] = []
        self.finish_reason = finish_reason
        self.no_answer_probability = no_answer_probability  # reported for requests that set a floor

    def stream(self, request):
        self.prompts.append(request.prompt.messages)
        reply = self.replies.pop(0) if self.replies else ""
        for i in range(0, len(reply), 4):  # stream in small pieces like a real model
            yield reply[i : i + 4]
        floor = getattr(request, "no_answer_floor", None) is not None
        yield GenerationResult(
            finish_reason=self.finish_reason, no_answer_probability=self.no_answer_probability if floor else None
        )
