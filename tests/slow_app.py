"""The real chat app with a slow answer generator, for browser tests of streaming, Stop and the
sources-first display (``python -m tests.slow_app --port P --data-dir D --log FILE``).

The generator writes the extractive answer word by word (0.25 s a word) while holding one lock,
as the in-process LLM holds its slot; it logs ``start``/``closed`` lines (with times) to ``--log``,
so a test can see a generation end when Stop is pressed. The engine yields a ``Sources`` record
before any text, as the answering issue's engine will: the retrieved passages with each one's
best-matching sentence as evidence.
"""

from __future__ import annotations

import argparse
import re
import threading
import time
from pathlib import Path

from index.config import Config
from rag.engine import RagEngine
from rag.generation.extractive import ExtractiveGenerator
from rag.records import EvidenceSentence, Sources
from rag.retriever import HybridRetriever

WORD_SECONDS = 0.25
SLOT = threading.Lock()


class SlowGenerator(ExtractiveGenerator):
    name = "slow-extractive"

    def __init__(self, log: Path):
        super().__init__(scorer=None)  # the engine hands over its scorer
        self.log = log

    def _note(self, what: str) -> None:
        with self.log.open("a") as f:
            f.write(f"{what} {time.time():.3f}\n")

    def stream(self, request):
        with SLOT:
            self._note("start")
            try:
                items = list(super().stream(request))  # the answer text, then the GenerationResult
                text = "".join(i for i in items if isinstance(i, str))
                for word in re.findall(r"\S+\s*", (text + " ") * 3):  # long enough to be stopped
                    time.sleep(WORD_SECONDS)
                    yield word
                yield from (i for i in items if not isinstance(i, str))
            finally:
                self._note("closed")


class SourcesFirstEngine(RagEngine):
    """The engine as it will be after the answering issue: a ``Sources`` record before any text."""

    def stream(self, question, history=None, *, top_k=None, retrieval_mode=None, **kw):
        snap = self.snapshot()
        retriever = HybridRetriever(snap, self._embedder, self.options.retrieval)
        passages = retriever.retrieve(question, top_k=top_k or self.options.top_k)
        words = {w.lower() for w in re.findall(r"\w{3,}", question)}
        evidence = []
        for number, passage in enumerate(passages, start=1):
            best = max(
                re.finditer(r"[^.!?]+[.!?]?", passage.text),
                key=lambda m: len(words & {w.lower() for w in re.findall(r"\w{3,}", m.group())}),
                default=None,
            )
            if best is not None:
                start = passage.char_start + best.start() + (len(best.group()) - len(best.group().lstrip()))
                evidence.append(
                    EvidenceSentence(number, start, passage.char_start + best.end(), best.group().strip(), 0.5)
                )
        yield Sources(question, None, passages, evidence[:3])
        time.sleep(1.5)  # the evidence stays on screen alone for a moment, as before a model's first word
        yield from super().stream(question, history, top_k=top_k, retrieval_mode=retrieval_mode, **kw)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args()
    from ui.app import build_app, serve

    config = Config.load(data_dir=args.data_dir)
    app = build_app(config, "extractive")
    handlers = app._rag_handlers
    generator = SlowGenerator(args.log)
    engine = SourcesFirstEngine(config, generator)
    generator.scorer = engine.scorer  # what make_generator does for the engine's own extractive generator
    handlers.engine = lambda spec=None: engine
    serve(app, "127.0.0.1", args.port)


if __name__ == "__main__":
    main()
