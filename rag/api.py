"""The Python API: ``answer()``, ``stream_answer()`` and ``ChatSession``.

    from rag import answer
    result = answer("How much must auto workers earn per hour under USMCA?")
    print(result.text)                      # "... at least US$16 per hour [3]."
    for c in result.citations:
        print(c.number, c.title, c.source, c.span_start, c.span_end, c.text)

Engines (index + embedder + generator) are created once per configuration and shared,
so repeated calls are fast; all of it is safe to call from several threads.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

from index.config import Config
from rag.engine import EngineOptions, RagEngine
from rag.generation.base import Generator
from rag.records import Answer

_engines: dict[tuple, RagEngine] = {}
_engines_lock = threading.Lock()


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean "the user can fix this" (missing or damaged index or model, a bad setting):
    the CLI prints them as one `error:` line and the chat shows them, neither as a traceback."""
    from index.embedder import EmbedderUnavailable
    from index.scope import UnknownDocument
    from index.store_api import IndexBusy, IndexCorrupt, IndexMissing, StoreUnavailable
    from index.tokens import TokenizerUnavailable
    from rag.engine import EmptyQuestion
    from rag.generation.base import GeneratorUnavailable
    from rag.weights import ModelIntegrityError, ModelUnavailable

    return (
        IndexMissing,
        IndexCorrupt,
        IndexBusy,
        StoreUnavailable,
        EmbedderUnavailable,
        TokenizerUnavailable,
        GeneratorUnavailable,
        ModelIntegrityError,
        ModelUnavailable,
        EmptyQuestion,
        UnknownDocument,
    )


def make_generator(spec: str, config: Config) -> Generator:
    """``"llm"`` (in-process llama.cpp), ``"extractive"``, or an OpenAI-compatible base URL."""
    spec = (spec or "llm").strip()
    if spec.startswith(("http://", "https://")):
        from rag.generation.openai_compat import OpenAICompatibleGenerator

        return OpenAICompatibleGenerator(spec)
    if spec == "llm":
        from rag.generation.llama import LlamaCppGenerator
        from rag.weights import ModelUnavailable, packaged_model

        try:
            import llama_cpp  # noqa: F401

            path = config.model_path or str(packaged_model(config.cache_dir))
            return LlamaCppGenerator(path, threads=config.threads, kv_dir=Path(config.cache_dir) / "kv")
        except (ImportError, ModelUnavailable) as exc:
            warnings.warn(f"no local LLM available ({exc}); answering extractively", RuntimeWarning, stacklevel=2)
            spec = "extractive"
    if spec == "extractive":
        from rag.generation.extractive import ExtractiveGenerator

        return ExtractiveGenerator()  # the engine hands it its support scorer
    raise ValueError(f"unknown generator {spec!r}: use 'llm', 'extractive' or an http(s):// URL")


def get_engine(
    config: Config | None = None, generator: str | Generator | None = None, options: EngineOptions | None = None
) -> RagEngine:
    config = config or Config.from_env()
    spec = generator if generator is not None else config.generator
    key = (config, spec if isinstance(spec, str) else id(spec), repr(options))
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            gen = spec if isinstance(spec, Generator) else make_generator(spec, config)
            engine = RagEngine(config, gen, options)
            _engines[key] = engine
        return engine


def stream_answer(
    question: str,
    history: list[dict] | None = None,
    *,
    generator: str | Generator | None = None,
    top_k: int | None = None,
    retrieval: str | None = None,
    config: Config | None = None,
    documents: list[str] | None = None,
) -> Iterator[str | Answer]:
    """Yield text pieces as they are generated, then the final ``Answer`` (whose text is authoritative).
    ``documents``: search only these (file names, paths, globs or titles)."""
    if isinstance(documents, str):
        documents = [documents]
    engine = get_engine(config, generator)
    yield from engine.stream(question, history, top_k=top_k, retrieval_mode=retrieval, documents=documents)


def answer(question: str, history: list[dict] | None = None, **options) -> Answer:
    """Answer ``question`` from the indexed documents.

    ``history``: the conversation so far as ``[{"role": "user"|"assistant", "content": str}, ...]``.
    Options: ``generator`` ("llm", "extractive" or a URL), ``top_k``, ``retrieval``
    ("hybrid", "dense", "bm25"), ``config`` (an ``index.Config``), ``documents`` (answer only from
    these: file names, paths, globs or titles; an unknown name raises ``UnknownDocument``).
    """
    final = None
    for item in stream_answer(question, history, **options):
        if isinstance(item, Answer):
            final = item
    return final


class ChatSession:
    """A conversation: keeps the history so follow-up questions are understood. Takes the options of
    ``answer`` (``documents=[...]`` keeps the whole conversation to those documents)."""

    def __init__(self, **options):
        self.options = options
        self.history: list[dict] = []

    def stream(self, question: str) -> Iterator[str | Answer]:
        for item in stream_answer(question, list(self.history), **self.options):
            if isinstance(item, Answer):
                self.history += [{"role": "user", "content": question}, {"role": "assistant", "content": item.text}]
            yield item

    def ask(self, question: str) -> Answer:
        final = None
        for item in self.stream(question):
            if isinstance(item, Answer):
                final = item
        return final

    def reset(self) -> None:
        self.history.clear()
