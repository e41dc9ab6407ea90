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

import logging
import threading
from collections.abc import Iterator

from index.config import Config
from rag.engine import EngineOptions, RagEngine
from rag.generation.base import Generator
from rag.records import Answer, Sources

log = logging.getLogger(__name__)
_engines: dict[tuple, RagEngine] = {}
_engines_lock = threading.Lock()


def get_engine(
    config: Config | None = None, generator: str | Generator | None = None, options: EngineOptions | None = None
) -> RagEngine:
    """The shared engine for ``config`` and ``generator`` (a ``Generator``, or a name for
    rag.generation.factory.make_generator; None: ``config.generator``)."""
    config = config or Config.load()
    spec = generator if generator is not None else config.generator
    key = (config, spec if isinstance(spec, str) else id(spec), repr(options))
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = RagEngine(config, spec, options)
            _engines[key] = engine
        return engine


def prepare_answers(config: Config | None = None, generator: str | None = None, on_stage=None) -> bool:
    """Have the local LLM read the current index's stable prompt prefixes now and save their KV states
    (rag.generation.kv_cache), so that the next question — in this process or a fresh one — finds them
    ready instead of waiting for them (~35 s for a whole small corpus on 2 cores). One-time work on the
    way (joining the packaged model) and the evaluation report to ``on_stage(stage, done, total, detail)``
    (index/progress.py). False when the generator is not a local LLM (nothing to prepare)."""
    config = config or Config.load()
    spec = generator or config.generator
    if spec != "llm" or (on_stage is not None and not ensure_packaged_model(config, on_stage)):
        return False
    engine = get_engine(config, spec)
    if not engine.generator.uses_llm:
        return False
    if on_stage is not None and hasattr(engine.generator, "on_prefix_progress"):
        stage = "Reading the documents into the model (once per change)"
        engine.generator.on_prefix_progress = lambda done, total: on_stage(stage, done, total, "tokens")
    try:
        engine.warm_up()
    finally:
        if hasattr(engine.generator, "on_prefix_progress"):
            engine.generator.on_prefix_progress = None
    return True


def ensure_packaged_model(config: Config, on_stage) -> bool:
    """The packaged GGUF joined and checked (once per machine), its progress to ``on_stage``; later
    calls only compare its stamp. False when the model's packages are missing (the generator then
    falls back to the extractive one, and says so); True too when ``config.model_path`` names a file."""
    if config.model_path:
        return True
    from rag.weights import ModelUnavailable, packaged_model

    try:
        packaged_model(config.cache_dir, lambda what, done, total: on_stage(what, done >> 20, total >> 20, "MiB"))
    except ModelUnavailable:
        return False
    return True


def stream_answer(
    question: str,
    history: list[dict] | None = None,
    *,
    generator: str | Generator | None = None,
    top_k: int | None = None,
    retrieval: str | None = None,
    config: Config | None = None,
    documents: list[str] | None = None,
) -> Iterator[Sources | str | Answer]:
    """Yield the ``Sources`` first (the numbered passages and evidence sentences, as soon as retrieval is
    done), then text pieces as they are generated, then the final ``Answer`` (whose text is authoritative).
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
