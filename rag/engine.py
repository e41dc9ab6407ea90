"""The answering pipeline: rewrite -> retrieve -> build context -> generate -> verify citations.

One ``RagEngine`` per (config, generator); ``rag.api`` keeps them in a small thread-safe
cache so the embedder, the index and the LLM are loaded once per process. The engine
picks up a rebuilt index automatically (it checks the store's version before each question).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from index.config import Config
from index.embedder import Embedder
from index.errors import UserError
from index.store_api import IndexView
from index.store_factory import open_store
from index.tokens import token_counter
from rag.citations import SUPPORT_THRESHOLD, SUPPORT_THRESHOLD_OTHER_LANGUAGE, is_only_markers, parse_answer, verify
from rag.context import build_context, whole_corpus_fits
from rag.generation.base import GenerationRequest, GenerationResult, Generator
from rag.generation.extractive import MIN_SUPPORT, OVERRIDE_SUPPORT, ExtractiveGenerator
from rag.generation.factory import make_generator
from rag.language import abstain_message, detect_language
from rag.prompt import (
    NO_ANSWER,
    answer_prompt,
    is_no_answer,
    obeys_instruction,
    rewrite_prompt,
    translate_prompt,
)
from rag.records import Answer
from rag.retriever import HybridRetriever, RetrievalSettings
from rag.support import SupportScorer

MAX_QUESTION_CHARS = 2000
# Words that make a question lean on the conversation ("Who said that?", "What about her?").
_REFERRING = re.compile(
    r"\b(he|she|it|they|him|her|them|his|hers|its|their|that|this|those|these|there|then|former|latter|"
    r"él|ella|ellos|ellas|eso|esto|esa|ese|aquel|aquella|lo|la|le|les|su|sus|allí|ahí)\b|^(and|what about|y|¿y)\b",
    re.IGNORECASE,
)


class EmptyQuestion(UserError):
    """The question is empty or blank."""


@dataclass
class EngineOptions:
    """The engine's own knobs. The user-facing ones (``top_k``, ``context_tokens``, ``abstain_below``)
    are ``Config`` fields, with their ``RAG_*`` variables."""

    retrieval_mode: str = "hybrid"
    max_answer_tokens: int = 160
    max_answer_sentences: int = 3  # the model is asked for one or two; longer replies are cut
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)


def needs_rewrite(question: str, history: list[dict]) -> bool:
    has_history = any(m.get("role") == "user" for m in history)
    return has_history and bool(_REFERRING.search(question))


class _IndexEmbedder:
    """The embedder of the index the engine reads now, as one object for the engine's lifetime: the
    index's manifest names it, and a rebuild may change it. So the support scorer, and an extractive
    generator holding it, are made once with the engine, before any index is loaded."""

    def __init__(self, engine: RagEngine):
        self._engine = engine

    def _current(self) -> Embedder:
        current = self._engine._embedder  # set by snapshot(), which each question calls first
        return current if current is not None else self._engine.embedder

    @property
    def name(self) -> str:
        return self._current().name

    def encode(self, texts, progress=None):
        return self._current().encode(texts, progress=progress)


class RagEngine:
    def __init__(
        self,
        config: Config,
        generator: Generator | str | None = None,
        options: EngineOptions | None = None,
        embedder=None,
    ):
        """``generator``: a ``Generator``, or a name for rag.generation.factory.make_generator (None:
        ``config.generator``), made with the engine's support scorer. ``embedder``: normally the one the
        index's manifest names, built when the index is loaded; tests pass a fake."""
        self.config = config
        self.options = options or EngineOptions()
        self.store = open_store(config)
        self.count_tokens = token_counter(config.cache_dir)  # the context budget's tokens
        self._snapshot: IndexView | None = None
        self._lock = threading.Lock()
        self._embedder = embedder
        self.scorer = SupportScorer(_IndexEmbedder(self))
        if not isinstance(generator, Generator):
            generator = make_generator(generator or config.generator, config, self.scorer)
        self.generator = generator

    # -- loading ----------------------------------------------------------------------

    def snapshot(self) -> IndexView:
        """The current index version, reloaded if `rag index` committed a new one."""
        with self._lock:
            current = self.store.version()
            if self._snapshot is None or current != self._snapshot.version:
                self._snapshot = self.store.load()
                name = self._snapshot.embedder_name
                if self._embedder is None or self._embedder.name != name:
                    self._embedder = Embedder(
                        name, self.config.embed_batch_size, self.config.question_encoder, self.config.cache_dir
                    )
            return self._snapshot

    @property
    def embedder(self) -> Embedder:
        self.snapshot()
        return self._embedder

    def warm_up(self) -> None:
        """Load index, embedder and LLM, and read the stable prompt prefix into both LLM contexts
        (answers and side tasks), so the first question is answered as fast as the tenth."""
        snap = self.snapshot()
        self.embedder.encode_query("warm up")
        self.generator.warm_up()
        if self.generator.uses_llm and whole_corpus_fits(snap, self.config.context_tokens, self.count_tokens):
            context = build_context(snap, [], self.config.context_tokens, self.count_tokens)
            self.generator.prefill(
                GenerationRequest(answer_prompt("Warm-up.", context, passages_fixed=True), "", context)
            )
            self.generator.prefill(
                GenerationRequest(
                    rewrite_prompt("Warm-up.", [], context, passages_fixed=True), "", context, utility=True
                )
            )

    # -- answering --------------------------------------------------------------------

    def answer(self, question: str, history: list[dict] | None = None, **kw) -> Answer:
        result = None
        for item in self.stream(question, history, **kw):
            if isinstance(item, Answer):
                result = item
        return result

    def stream(
        self,
        question: str,
        history: list[dict] | None = None,
        *,
        top_k: int | None = None,
        retrieval_mode: str | None = None,
    ) -> Iterator[str | Answer]:
        """Yield answer text pieces as they are generated, then the final ``Answer``."""
        started = time.perf_counter()
        timings: dict[str, float] = {}
        notices: list[str] = []
        question = (question or "").strip()
        if not question:
            raise EmptyQuestion("the question is empty; type a question about your documents")
        if len(question) > MAX_QUESTION_CHARS:
            notices.append(f"question truncated from {len(question):,} to {MAX_QUESTION_CHARS:,} characters")
            question = question[:MAX_QUESTION_CHARS]
        history = [m for m in (history or []) if isinstance(m, dict) and m.get("content")]
        top_k = top_k or self.config.top_k
        mode = retrieval_mode or self.options.retrieval_mode
        snap = self.snapshot()
        language = detect_language(question)
        retriever = HybridRetriever(snap, self._embedder, self.options.retrieval)

        # 1. a standalone (and English) query for retrieval
        query, rewritten = question, None
        if needs_rewrite(question, history) or language != "en":
            t = time.perf_counter()
            rewritten = self._rewrite(question, history, snap, retriever)
            timings["rewrite"] = time.perf_counter() - t
            query = rewritten or question

        # 2. retrieve
        t = time.perf_counter()
        retrieved = retriever.retrieve(query, top_k=top_k, mode=mode)
        if query != question and mode != "dense":  # keep the user's own words (names, numbers) in play
            seen = {p.chunk.id for p in retrieved}
            retrieved += [p for p in retriever.retrieve(question, top_k=2, mode=mode) if p.chunk.id not in seen]
        timings["retrieve"] = time.perf_counter() - t

        answer = Answer(
            question=question,
            text="",
            passages=[],
            retrieved=retrieved,
            language=language,
            rewritten_question=rewritten,
            generator=self.generator.name,
            notices=notices,
        )
        best_dense = max((p.dense_score or 0.0 for p in retrieved), default=0.0)
        if not retrieved or (best_dense < self.config.abstain_below and not any(p.bm25_score for p in retrieved)):
            answer.abstained, answer.text = True, abstain_message(language)
            answer.fallback_reason = "nothing relevant was retrieved"
            timings["total"] = time.perf_counter() - started
            answer.timings = timings
            yield answer.text
            yield answer
            return

        # 3. generate. The model answers the English question; other languages get a translation after
        # verification, so the citations are checked on the text the model grounded in the passages.
        context = build_context(snap, retrieved, self.config.context_tokens, self.count_tokens)
        answer.passages = context
        english = rewritten or question  # standalone (follow-ups resolved) and in English
        fits = whole_corpus_fits(snap, self.config.context_tokens, self.count_tokens)  # then the passages never change
        request = GenerationRequest(
            answer_prompt(english, context, passages_fixed=fits),
            english,
            context,
            language,
            max_tokens=self.options.max_answer_tokens,
        )
        t = time.perf_counter()
        pieces: list[str] = []
        generated = GenerationResult()
        held, released = "", language != "en"  # non-English: nothing is shown until translated
        for piece in self.generator.stream(request):
            if isinstance(piece, GenerationResult):
                generated = piece
                continue
            if language == "en":
                timings.setdefault("first_token", time.perf_counter() - started)
            pieces.append(piece)
            if language != "en":
                continue
            if released:
                yield piece
                continue
            held += piece  # hold the first characters back until they cannot be NO_ANSWER
            head = held.strip().upper()
            if len(head) > len(NO_ANSWER) + 1 or not NO_ANSWER.startswith(head[: len(NO_ANSWER)]):
                if not is_no_answer(held):
                    released = True
                    yield held
        timings["generate"] = time.perf_counter() - t
        answer.raw_text = "".join(pieces).strip()

        # 4. non-answers, abstentions, verification
        self._finish(answer, answer.raw_text, generated.cut_off, context)

        # 5. the question's language
        if language != "en" and not answer.abstained:
            if self.generator.uses_llm:
                t = time.perf_counter()
                translated = []
                request = GenerationRequest(
                    translate_prompt(answer.text, language), "", [], language, max_tokens=300, utility=True
                )
                for piece in self.generator.stream(request):
                    if isinstance(piece, GenerationResult):
                        continue
                    timings.setdefault("first_token", time.perf_counter() - started)
                    translated.append(piece)
                    yield piece
                timings["translate"] = time.perf_counter() - t
                text = "".join(translated).strip()
                if text:
                    answer.english_text, answer.text = answer.text, text
                else:
                    notices.append("the translation failed; the answer is in English")
            else:
                notices.append("the extractive mode answers with the documents' own sentences, untranslated")
        timings["total"] = time.perf_counter() - started
        answer.timings = timings
        yield answer

    # -- steps --------------------------------------------------------------------------

    def _rewrite(self, question: str, history: list[dict], snap, retriever) -> str | None:
        if self.generator.uses_llm:
            # share the answer prompt's prefix when it is the whole corpus; otherwise no passages
            fits = whole_corpus_fits(snap, self.config.context_tokens, self.count_tokens)
            passages = build_context(snap, [], self.config.context_tokens, self.count_tokens) if fits else []
            text = self.generator.complete(
                rewrite_prompt(question, history, passages, passages_fixed=fits), max_tokens=60
            )
            text = text.strip().strip('"').splitlines()[0].strip() if text.strip() else ""
            return text if len(text) > 3 and not is_no_answer(text) else None
        last_user = next((m["content"] for m in reversed(history) if m.get("role") == "user"), "")
        return f"{last_user} {question}".strip() if last_user else None

    def _finish(self, answer: Answer, raw: str, truncated: bool, context) -> None:
        language = answer.language
        english = language == "en" or self.generator.uses_llm  # the LLM answered in English
        if is_no_answer(raw):
            self._extractive_fallback(
                answer,
                context,
                "the model found no answer, but a passage sentence closely matches the question",
                min_support=OVERRIDE_SUPPORT,
            )
            if answer.abstained:
                answer.fallback_reason = ""
            return
        if not raw or is_only_markers(raw):
            self._extractive_fallback(answer, context, f"the model gave a non-answer ({raw!r})")
            return
        sentences = parse_answer(raw, len(context))
        english_question = answer.rewritten_question or answer.question
        obeyed = [s for s in sentences if obeys_instruction(s.text, english_question, context)]
        if obeyed:  # documents are data: text that does what a passage orders is no answer
            answer.notices.append("left out of the answer: text that followed an instruction written in a document")
            sentences = [s for s in sentences if s not in obeyed]
            if not sentences:
                self._extractive_fallback(answer, context, "the model followed an instruction written in a document")
                return
        if len(sentences) > self.options.max_answer_sentences:
            sentences, truncated = sentences[: self.options.max_answer_sentences], False
        if truncated and len(sentences) > 1:
            sentences = sentences[:-1]  # drop the sentence the token limit cut
        elif truncated:
            self._extractive_fallback(answer, context, "the model's answer was cut off")
            return
        threshold = SUPPORT_THRESHOLD if english else SUPPORT_THRESHOLD_OTHER_LANGUAGE
        verified = verify(sentences, context, self.scorer, threshold)
        if verified.supported_sentences == 0 and english:
            answer.abstained, answer.text = True, abstain_message(language)
            answer.unsupported_sentences = verified.unsupported
            answer.fallback_reason = "no sentence of the model's answer is supported by the passages"
            return
        answer.text, answer.citations, answer.unsupported_sentences = (
            verified.text,
            verified.citations,
            verified.unsupported,
        )

    def _extractive_fallback(self, answer: Answer, context, reason: str, min_support: float = MIN_SUPPORT) -> None:
        text = ExtractiveGenerator(self.scorer).answer_text(
            answer.rewritten_question or answer.question, context, min_support
        )
        answer.fallback_reason = reason
        if is_no_answer(text):
            answer.abstained, answer.text = True, abstain_message(answer.language)
            return
        verified = verify(parse_answer(text, len(context)), context, self.scorer, 0.0)
        answer.text, answer.citations = verified.text, verified.citations
