"""The answering pipeline: rewrite -> retrieve -> choose the evidence -> generate -> verify.

1. A follow-up is rewritten into a standalone question (rag.conversation, rag.prompt); a question
   that only points back with no conversation is answered with a question back.
2. Hybrid retrieval returns passages with every sentence scored against the question.
3. Evidence first (rag.evidence): the model reads the few sentences that answer (~160 tokens, not
   ~1,000) — or, when the whole corpus fits the prompt, the whole corpus from its cached prefix,
   with the evidence sentences quoted after it; in a corpus of a few documents that doesn't fit,
   the best passage's whole document when it fits, then the other documents' evidence
   (rag.context.whole_document). ``stream`` yields those sources (a ``Sources``
   record) before the model's first word.
4. The model answers, or says NO_ANSWER; a hesitant NO_ANSWER (its first token less likely than
   ``EngineOptions.no_answer_floor``) is taken away so the model answers instead.
5. Citations are verified (rag.citations) and the answer is checked against the question
   (rag.answer_check): a number, date or name asked for must be there, from the passage cited.
   A failed answer is replaced by the evidence sentence that holds what was asked, or abstains.

One ``RagEngine`` per (config, generator); ``rag.api`` keeps them in a small thread-safe
cache so the embedder, the index and the LLM are loaded once per process. The engine
picks up a rebuilt index automatically (it checks the store's version before each question).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from index.config import Config
from index.embedder import Embedder
from index.errors import UserError
from index.scope import scoped
from index.store_api import IndexView
from index.store_factory import open_store
from index.tokens import token_counter
from rag.answer_check import check_answer, complete_names, full_name, numbers_as_written
from rag.citations import (
    SUPPORT_THRESHOLD,
    SUPPORT_THRESHOLD_OTHER_LANGUAGE,
    is_only_markers,
    parse_answer,
    strip_markers,
    verify,
    with_markers,
)
from rag.context import build_context, whole_corpus_fits, whole_document
from rag.conversation import (
    fallback_query,
    last_exchange_text,
    last_question,
    needs_rewrite,
    only_points_back,
    usable_rewrite,
    user_turns,
)
from rag.evidence import EvidenceSettings, Excerpt, select_evidence, with_lead_ins
from rag.generation.base import GenerationRequest, GenerationResult, Generator
from rag.generation.extractive import MIN_SUPPORT, ExtractiveGenerator
from rag.generation.factory import make_generator
from rag.language import (
    abstain_message,
    clarify_message,
    detect_language,
    load_identifier,
    lost_in_translation,
    without_possessives,
)
from rag.prompt import (
    NO_ANSWER,
    answer_prompt,
    is_no_answer,
    obeys_instruction,
    rewrite_prompt,
    translate_prompt,
)
from rag.question import expected_kind, holds_kind, subject_share
from rag.records import Answer, EvidenceSentence, Passage, Sources
from rag.retriever import HybridRetriever, RetrievalSettings
from rag.support import SupportScorer, evidence_spans

MAX_QUESTION_CHARS = 2000


class EmptyQuestion(UserError):
    """The question is empty or blank."""


@dataclass
class EngineOptions:
    """The engine's own knobs. The user-facing ones (``top_k``, ``context_tokens``, ``abstain_below``)
    are ``Config`` fields, with their ``RAG_*`` variables."""

    retrieval_mode: str = "hybrid"
    max_answer_tokens: int = 100  # one or two short sentences; a longer reply is cut (and its last sentence dropped)
    max_answer_sentences: int = 3  # the model is asked for one or two; longer replies are cut
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    evidence: EvidenceSettings | None = None  # None: EvidenceSettings with the config's evidence_tokens
    # NO_ANSWER is accepted as the model's first token only at this probability or above (see module doc)
    no_answer_floor: float = 0.5
    # the model "hesitated" when its NO_ANSWER was at least this likely though it answered: its answer is
    # then checked as a whole claim. SQuAD dev (all answerable): 8 % of answers at 0.1 or more; the seed
    # set's out-of-scope questions the model answered anyway: 4 of 5 (0.20-0.47)
    hesitant_above: float = 0.1
    # a GBNF grammar the answer must follow (rag.prompt.ANSWER_GRAMMAR), or None for free text
    answer_grammar: str | None = None
    # whole-corpus (and whole-document) prompts: this many evidence sentences are quoted after the passages
    whole_corpus_hints: int = 1
    # when the corpus does not fit the context budget but the best passage's document does (and has more
    # than that one chunk), the model reads that document whole, then the other documents' evidence
    whole_document: bool = True
    # an evidence sentence answers in the model's place (after a NO_ANSWER, or for an answer that failed its
    # checks) only if it names this share of what the question names (rag.question.subject_share) and
    # holds what it asks for. Lower, out-of-scope questions got a sentence that merely shared two of
    # three words ("the population of Mexico City" -> Mexico's migrant population, 70%)
    stand_in_share: float = 0.75


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
        """Load index, embedder and LLM, and read the stable prompt prefixes (the answer prompt's, with a
        whole small corpus when it fits; the rewrite's) into the LLM's contexts, so the first question is
        answered as fast as the tenth."""
        snap = self.snapshot()
        self.embedder.encode_query("warm up")
        HybridRetriever(snap, self._embedder, self.options.retrieval).encode_second_query("warm up")
        self.generator.warm_up()
        load_identifier()
        fits = whole_corpus_fits(snap, self.config.context_tokens, self.count_tokens)
        context = build_context(snap, [], self.config.context_tokens, self.count_tokens) if fits else []
        self.scorer.prepare(evidence_spans(context))  # the answer check's spans: all of a small corpus
        if not self.generator.uses_llm:
            return
        self.generator.prefill(
            GenerationRequest(answer_prompt("Warm-up.", context, fixed_passages=len(context)), "", context)
        )
        self.generator.prefill(GenerationRequest(rewrite_prompt("Warm-up.", []), "", [], utility=True))

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
        documents: list[str] | None = None,
    ) -> Iterator[Sources | str | Answer]:
        """Yield the ``Sources`` the answer is drawn from (as soon as retrieval is done), then the answer
        text pieces as the model writes them, then the final ``Answer`` (whose text is authoritative).
        ``documents``: answer from these documents only (file names, paths, globs or titles; index/scope.py)."""
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
        snap = scoped(self.snapshot(), documents)  # an unknown name is an error before any work
        if snap.documents is not self._snapshot.documents:
            names = sorted(Path(m.get("source", "")).name for m in snap.documents.values())
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            notices.append(f"searched {len(names)} of {len(self._snapshot.documents)} document(s): {shown}")
        language = detect_language(question)
        retriever = HybridRetriever(snap, self._embedder, self.options.retrieval)
        answer = Answer(question=question, text="", language=language, generator=self.generator.name, notices=notices)

        # 0. "Who said that?" with no conversation: nothing to resolve it with, so ask
        if not user_turns(history) and only_points_back(question):
            yield Sources(question, None, [], [], abstaining=True)
            yield from self._abstained(
                answer,
                started,
                "the question refers to something earlier, but this conversation has nothing before it",
                clarify_message(language),
            )
            return

        # 1. a standalone (and English) query for retrieval
        query, rewritten, earlier = question, None, ""
        follow_up = needs_rewrite(question, history)
        if follow_up or language != "en":
            t = time.perf_counter()
            candidate = self._rewrite(question, history)
            timings["rewrite"] = time.perf_counter() - t
            if usable_rewrite(candidate, question, follow_up, history, english=language == "en"):
                query = rewritten = candidate
            elif follow_up:  # search with the last exchange, and show it to the model beside the question
                query, earlier = fallback_query(question, history), last_exchange_text(history)
        answer.rewritten_question = rewritten
        answer.searched_for = query if query != question else None

        # 2. retrieve
        t = time.perf_counter()
        retrieved = retriever.retrieve(query, top_k=top_k, mode=mode)
        if query != question and mode != "dense":  # keep the user's own words (names, numbers) in play
            seen = {p.chunk.id for p in retrieved}
            retrieved += [p for p in retriever.retrieve(question, top_k=2, mode=mode) if p.chunk.id not in seen]
        timings["retrieve"] = time.perf_counter() - t
        answer.retrieved = retrieved
        best_dense = max((p.dense_score or 0.0 for p in retrieved), default=0.0)
        if not retrieved or (best_dense < self.config.abstain_below and not any(p.bm25_score for p in retrieved)):
            yield Sources(question, answer.searched_for, [], [], abstaining=True)
            yield from self._abstained(answer, started, "nothing relevant was retrieved")
            return

        # 3. the evidence, and the sources shown before the first word
        english = rewritten or question  # standalone (follow-ups resolved) and in English
        excerpts = select_evidence(english if rewritten else query, retrieved, self.count_tokens, self._evidence())
        excerpts = with_lead_ins(excerpts, lambda passage: _previous_chunk(snap, passage))
        fits = whole_corpus_fits(snap, self.config.context_tokens, self.count_tokens)
        document = []
        if not fits and self.options.whole_document:
            document = whole_document(snap, retrieved, self.config.context_tokens, self.count_tokens)
        if fits:  # the whole small corpus, from the cached prefix; the evidence is pointed at after it
            context = build_context(snap, retrieved, self.config.context_tokens, self.count_tokens)
        elif document:  # the best passage's whole document, then the other documents' evidence
            others = [e for e in excerpts if e.passage.doc_id != document[0].doc_id]
            context = document + [e.as_passage(rank) for rank, e in enumerate(others, start=len(document) + 1)]
        else:
            context = [excerpt.as_passage(rank) for rank, excerpt in enumerate(excerpts, start=1)]
        evidence = evidence_sentences(excerpts, context)
        answer.passages = context
        timings["sources"] = time.perf_counter() - started
        yield Sources(question, answer.searched_for, context, evidence)

        # 4. generate. The model answers the English question; other languages get a translation after
        # verification, so the citations are checked on the text the model grounded in the passages.
        hints = _hints(excerpts, evidence, self.options.whole_corpus_hints) if fits or document else []
        request = GenerationRequest(
            answer_prompt(
                english, context, fixed_passages=len(context) if fits else len(document), hints=hints, earlier=earlier
            ),
            english,
            context,
            language,
            max_tokens=self.options.max_answer_tokens,
            no_answer_floor=self.options.no_answer_floor,
            grammar=self.options.answer_grammar,
            follow_up_of=last_question(history) if earlier else "",
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
        answer.no_answer_probability = generated.no_answer_probability

        # 5. non-answers, abstentions, verification, the question's own check
        stand_ins = _hints(excerpts, evidence, len(excerpts)) + [(e.number, e.text) for e in evidence]
        checked = _with_context_text(excerpts)
        self._finish(answer, answer.raw_text, generated.cut_off, context, stand_ins, checked, english)

        # 6. the question's language
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
                text = "".join(translated).strip()
                lost = lost_in_translation(answer.text, text)
                if text and lost:  # once more, naming what must stay; shown with the final answer, not streamed
                    source = without_possessives(answer.text, lost)
                    retry = self.generator.complete(translate_prompt(source, language, keep=lost), 300).strip()
                    if retry and len(lost_in_translation(answer.text, retry)) < len(lost):
                        text = retry
                timings["translate"] = time.perf_counter() - t
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

    def _evidence(self) -> EvidenceSettings:
        return self.options.evidence or EvidenceSettings(budget_tokens=self.config.evidence_tokens)

    def _abstained(self, answer: Answer, started: float, reason: str, text: str | None = None) -> Iterator:
        answer.abstained, answer.text = True, text or abstain_message(answer.language)
        answer.fallback_reason = reason
        answer.timings = {**answer.timings, "total": time.perf_counter() - started}
        yield answer.text
        yield answer

    def _rewrite(self, question: str, history: list[dict]) -> str | None:
        """The LLM's standalone English version of ``question``; without an LLM, None."""
        if not self.generator.uses_llm:
            return None
        text = self.generator.complete(rewrite_prompt(question, history), max_tokens=60)
        text = text.strip().strip('"').splitlines()[0].strip() if text.strip() else ""
        return None if is_no_answer(text) else text

    def _finish(
        self, answer: Answer, raw: str, truncated: bool, context, stand_ins, excerpts: list[str], question: str
    ) -> None:
        """Turn the model's reply into the answer: abstain, verify, check it against the question, and
        where it fails answer with a stand-in (a (passage number, evidence text) pair, best first)."""
        language = answer.language
        english = language == "en" or self.generator.uses_llm  # the LLM answered in English
        if is_no_answer(raw):
            self._from_evidence(
                answer,
                context,
                stand_ins,
                question,
                self.options.stand_in_share,
                "the model found no answer, but a passage sentence answers the question closely",
            )
            if answer.abstained:
                answer.fallback_reason = "the model found no answer in the passages"
            return
        if not raw or is_only_markers(raw):
            self._extractive_fallback(answer, context, f"the model gave a non-answer ({raw!r})")
            return
        sentences = parse_answer(raw, len(context))
        obeyed = [s for s in sentences if obeys_instruction(s.text, question, context)]
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
        # a sure answer is judged on what it adds to the question, a hesitant one as a whole claim
        sure = answer.no_answer_probability is None or answer.no_answer_probability < self.options.hesitant_above
        verified = verify(sentences, context, self.scorer, threshold, question if sure else "")
        problem = ""
        if verified.supported_sentences == 0 and english:
            answer.unsupported_sentences = verified.unsupported
            problem = "no sentence of the model's answer is supported by the passages"
        elif english:
            check = check_answer(question, strip_markers(verified.text), verified.citations, context, excerpts[:2])
            problem = check.problem
            if check.speaker and self._answer_with_speaker(answer, context, stand_ins, check.speaker, problem):
                return
        if problem:  # the passage sentence that answers the question, if one does; else abstain
            reason = f"{problem}; answered with the passage sentence that best answers the question"
            self._from_evidence(answer, context, stand_ins, question, self.options.stand_in_share, reason)
            if answer.abstained:
                answer.fallback_reason = problem
            return
        cited = [c.text for c in verified.citations]
        answer.text = numbers_as_written(complete_names(verified.text, cited, question), cited)
        answer.citations, answer.unsupported_sentences = verified.citations, verified.unsupported

    def _answer_with_speaker(self, answer: Answer, context, stand_ins, speaker: str, problem: str) -> bool:
        """Repair a "Who said…?" answer to the speaker the matching sentences give, cited to the first
        evidence text that names them; False when none does."""
        number = next((n for n, text in stand_ins if re.search(rf"\b{re.escape(speaker)}\b", text)), None)
        if number is None:
            return False
        name = full_name(speaker, [p.text for p in context])
        verified = verify(parse_answer(with_markers(f"{name}.", [number]), len(context)), context, self.scorer, 0.0)
        answer.text, answer.citations, answer.abstained = verified.text, verified.citations, False
        answer.fallback_reason = f"{problem}; answered with that speaker"
        return True

    def _from_evidence(
        self, answer: Answer, context, stand_ins, question: str, min_coverage: float, reason: str
    ) -> None:
        """Answer with the best stand-in (evidence text, with its passage number) that holds what
        ``question`` asks for and names at least ``min_coverage`` of what it names; abstain when none does."""
        kind = expected_kind(question)
        best = next(
            (
                (number, text)
                for number, text in stand_ins
                if subject_share(question, text) >= min_coverage and holds_kind(text, kind, question)
            ),
            None,
        )
        if best is None:
            answer.abstained, answer.text, answer.citations = True, abstain_message(answer.language), []
            answer.fallback_reason = reason
            return
        number, text = best
        verified = verify(parse_answer(with_markers(text.strip(), [number]), len(context)), context, self.scorer, 0.0)
        answer.text, answer.citations, answer.fallback_reason = verified.text, verified.citations, reason
        answer.abstained = False

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


def evidence_sentences(excerpts: list[Excerpt], context: list[Passage]) -> list[EvidenceSentence]:
    """The excerpts' evidence sentences, best first, numbered as the prompt's passages (``context``):
    the excerpt itself in the evidence-first prompt, the passage holding it in a whole-corpus one."""
    out = []
    for excerpt in excerpts:
        for span in excerpt.evidence:
            start = excerpt.passage.char_start + span.start
            end = excerpt.passage.char_start + span.end
            number = next(
                (
                    n
                    for n, p in enumerate(context, start=1)
                    if p.doc_id == excerpt.passage.doc_id and p.char_start <= start and end <= p.char_end
                ),
                None,
            )
            if number is None:
                continue
            text = excerpt.passage.text[span.start : span.end]
            out.append(EvidenceSentence(number, start, end, text, round(span.score, 4), round(span.coverage, 4)))
    out.sort(key=lambda e: -e.score)
    return out


def _hints(excerpts: list[Excerpt], evidence: list[EvidenceSentence], count: int) -> list[tuple[int, str]]:
    """What a whole-corpus prompt quotes after the passages: the best ``count`` excerpts' hints, each
    with the number of the passage holding its evidence sentence."""
    out = []
    for excerpt in [e for e in excerpts if not e.lead_in][:count]:
        best = excerpt.evidence[0]
        start = excerpt.passage.char_start + best.start
        number = next((e.number for e in evidence if e.span_start == start), None)
        if number is not None:
            out.append((number, excerpt.hint()))
    return out


def _with_context_text(excerpts: list[Excerpt]) -> list[str]:
    """Each evidence excerpt's text, with the lead-in before it when it has one: what the answer checks
    compare against (the speaker of "However, he noted…" is in the lead-in)."""
    out, lead = [], ""
    for excerpt in excerpts:
        if excerpt.lead_in:
            lead = excerpt.text
            continue
        out.append(f"{lead} {excerpt.text}".strip())
        lead = ""
    return out


def _previous_chunk(snapshot: IndexView, passage: Passage) -> Passage | None:
    """The chunk before ``passage``'s in its document, as a passage of the same document."""
    if passage.chunk.ordinal == 0:
        return None
    chunks = snapshot.chunks_of([passage.doc_id])
    at = next((i for i, c in enumerate(chunks) if c.id == passage.chunk.id), 0)
    return replace(passage, chunk=chunks[at - 1], sentences=()) if at > 0 else None
