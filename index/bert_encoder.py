"""A sentence-transformers BERT model (MiniLM) run by ONNX Runtime without torch.

The graph is built in memory from the folder's ``model.safetensors`` (index/bert_graph.py): no
export step, no torch, nothing written to disk. The tokenizer is the folder's own ``tokenizer.json``
through ``tokenizers``, truncated at the model's ``max_seq_length`` as sentence-transformers does;
its character offsets give the late-chunking sentence vectors. Pooling is the folder's mean pooling.
Vectors equal ``SentenceTransformer.encode``'s to ~1e-6 (tests/models/test_onnx_encoder_real.py).

Only folders whose first module is a Hugging Face BERT (``model_type: bert``, absolute positions,
GELU) with mean pooling qualify (``BertEncoder.supports``); any other sentence-transformers model
keeps torch (index/onnx_encoder.py exports it for questions).
"""

from __future__ import annotations

import json
import mmap
import threading
from pathlib import Path

import numpy as np

from index.bert_graph import Linear, build_encoder, length_batches, mean_pool, release_freed_memory, session

# padded tokens per ONNX Runtime call when many texts are encoded. Smaller batches run faster on 2 cores
# (their activations stay in cache): 400 SQuAD paragraphs, chunk + sentence vectors, 48.5 / 43.1 chunks/s
# at 4096 (two runs), 49.7 at 2048, 51.8 at 1024, 51.1 at 512, 38.8 at 8192
BATCH_TOKENS = 1024


def _read_json(path: Path) -> dict | list | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class BertEncoder:
    """Token vectors and mean-pooled (not normalised) sentence vectors of a BERT sentence-transformers folder."""

    def __init__(self, folder: Path, threads: int | None = None):
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        config = _read_json(self.folder / "config.json")
        st_config = _read_json(self.folder / "sentence_bert_config.json") or {}
        self.hidden = int(config["hidden_size"])
        tensors = read_safetensors(self.folder / "model.safetensors")
        prefix = next(k for k in tensors if k.endswith("embeddings.word_embeddings.weight"))[
            : -len("embeddings.word_embeddings.weight")
        ]
        t = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        self.word = t["embeddings.word_embeddings.weight"]
        self.positions = t["embeddings.position_embeddings.weight"]
        self.token_type = t["embeddings.token_type_embeddings.weight"][0]
        self.max_tokens = min(
            int(st_config.get("max_seq_length") or config["max_position_embeddings"]),
            int(config["max_position_embeddings"]),
        )
        names = {
            "q": "attention.self.query",
            "k": "attention.self.key",
            "v": "attention.self.value",
            "ao": "attention.output.dense",
            "aln": "attention.output.LayerNorm",
            "fi": "intermediate.dense",
            "fo": "output.dense",
            "oln": "output.LayerNorm",
        }

        def hf(key: str) -> str:
            if key == "emb.ln":
                return "embeddings.LayerNorm"
            layer, part = key.split(".")
            return f"encoder.layer.{layer[1:]}.{names[part]}"

        graph = build_encoder(
            int(config["num_hidden_layers"]),
            self.hidden,
            int(config["num_attention_heads"]),
            float(config.get("layer_norm_eps", 1e-12)),
            lambda key: Linear(t[hf(key) + ".weight"], t[hf(key) + ".bias"]),
            lambda key: (t[hf(key) + ".weight"], t[hf(key) + ".bias"]),
            self.folder.name,
        )
        self.session = session(graph, threads)
        del graph, tensors
        t.clear()
        self._drop_file_pages()
        release_freed_memory()
        self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_tokens)
        self._counter = Tokenizer.from_file(str(self.folder / "tokenizer.json"))  # no truncation: for fits()
        self._counter.no_padding()
        self._counter.no_truncation()
        self.pad_id = int(config.get("pad_token_id") or 0)
        self._lock = threading.Lock()

    def _drop_file_pages(self) -> None:
        """The model file's pages read to build the graph (ONNX Runtime holds its own copy of the weights
        now) are dropped from this process; the embedding rows are read again as tokens need them."""
        base = self.word.base
        while base is not None and not isinstance(base, mmap.mmap):
            base = getattr(base, "base", None)
        if base is not None:
            base.madvise(mmap.MADV_DONTNEED)

    @staticmethod
    def supports(folder: Path) -> bool:
        """Whether ``folder`` is a sentence-transformers BERT with mean pooling this encoder can run."""
        folder = Path(folder)
        config = _read_json(folder / "config.json") or {}
        modules = _read_json(folder / "modules.json") or []
        pooling = next((m for m in modules if isinstance(m, dict) and m.get("type", "").endswith("Pooling")), None)
        pool = _read_json(folder / (pooling or {}).get("path", "1_Pooling") / "config.json") or {}
        kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules if isinstance(m, dict)]
        return (
            config.get("model_type") == "bert"
            and config.get("hidden_act") == "gelu"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and (folder / "model.safetensors").is_file()
            and (folder / "tokenizer.json").is_file()
            and kinds in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"])
            and pool.get("pooling_mode_mean_tokens") is True
            and not any(v for k, v in pool.items() if k.startswith("pooling_mode") and k != "pooling_mode_mean_tokens")
        )

    @property
    def dimension(self) -> int:
        return self.hidden

    def token_counts(self, texts: list[str]) -> list[int]:
        """Word pieces of each text with the special tokens, untruncated."""
        return [len(e.ids) for e in self._counter.encode_batch(list(texts))]

    def encode(self, texts: list[str], batch_tokens: int = BATCH_TOKENS) -> np.ndarray:
        """Mean-pooled sentence vectors (the caller normalises), shortest texts batched together."""
        out = np.zeros((len(texts), self.hidden), np.float32)
        for rows, hidden, mask, _ in self.token_vectors(texts, batch_tokens):
            out[rows] = mean_pool(hidden, mask)
        return out

    def token_vectors(self, texts: list[str], batch_tokens: int = BATCH_TOKENS, offsets: bool = False):
        """Yield (rows, hidden (n, length, dim), mask (n, length), offsets (n, length, 2) or None)
        batch by batch, rows being the texts' indices: shortest first, ~``batch_tokens`` padded tokens
        a batch. Offsets are character (start, end) per token, (0, 0) for special and padding tokens."""
        encodings = self.tokenizer.encode_batch(list(texts))
        for rows in length_batches([len(e.ids) for e in encodings], batch_tokens):
            length = max(len(encodings[i].ids) for i in rows)
            ids = np.full((len(rows), length), self.pad_id, np.int64)
            mask = np.zeros((len(rows), length), np.int32)
            spans = np.zeros((len(rows), length, 2), np.int64) if offsets else None
            for r, i in enumerate(rows):
                e = encodings[i]
                ids[r, : len(e.ids)] = e.ids
                mask[r, : len(e.ids)] = 1
                if offsets:
                    spans[r, : len(e.ids)] = e.offsets
            embeddings = self.word[ids] + self.positions[None, :length] + self.token_type
            with self._lock:
                hidden = self.session.run(None, {"embeddings": embeddings, "key_padding_mask": mask})[0]
            yield rows, hidden, mask, spans


_SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a .safetensors file as read-only arrays memory-mapped from it (the format: an
    8-byte header length, a JSON header of dtype/shape/offsets, then the raw little-endian data), so
    the 47 MB word-embedding table costs only the rows of the tokens looked up."""
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + size)
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        dtype = _SAFETENSORS_DTYPES.get(meta["dtype"])
        if dtype is None:
            raise ValueError(f"{path.name}: tensor {name} has dtype {meta['dtype']}, not one this encoder reads")
        start, end = meta["data_offsets"]
        out[name] = data[start:end].view(dtype).reshape(meta["shape"])
    return out


_encoders: dict[str, BertEncoder | None] = {}
_encoders_lock = threading.Lock()


def bert_encoder(folder: str | Path) -> BertEncoder | None:
    """The process's encoder for ``folder``, or None when the folder is not one it can run."""
    key = str(folder)
    with _encoders_lock:
        if key not in _encoders:
            _encoders[key] = BertEncoder(Path(folder)) if BertEncoder.supports(Path(folder)) else None
        return _encoders[key]
