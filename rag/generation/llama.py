"""In-process llama.cpp generator (the default): the packaged Qwen2.5-Coder-1.5B-Instruct GGUF.

The model is loaded once per process, lazily, and shared. Two llama.cpp contexts use the
same loaded weights: one only ever sees answer prompts, so the next answer prompt
finds its prefix (system text + passages) still in the KV cache, and one, smaller, takes the side
tasks (rewriting a follow-up, translating an answer). Generations are serialised with one
lock (two cores gain nothing from running two at once); callers simply wait their turn.

A prompt may mark its start as stable (``Prompt.stable_prefix_chars``: the system text and a whole
small corpus). That prefix is read into the context first and its KV state saved under ``kv_dir``,
so a fresh process restores it from disk instead of evaluating ~1,450 tokens again
(rag.generation.kv_cache). How it was made ready is reported in the ``GenerationResult``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from rag.generation.base import GenerationRequest, GenerationResult, Generator, GeneratorUnavailable
from rag.generation.kv_cache import KVStateStore, common_prefix_length, ensure_prefix, model_identity
from rag.prompt import NO_ANSWER

_models: dict[tuple, object] = {}
_models_lock = threading.Lock()
_generation_locks: dict[str, threading.Lock] = {}

N_CTX = 4096  # the answer context: a whole small corpus (~1,450 tokens), the system text, examples, the reply
# the side tasks' context: a rewrite reads the last exchange, a translation one answer (300 tokens at most)
UTILITY_N_CTX = 2048


def load_llama(model_path: str, threads: int, n_ctx: int = N_CTX, role: str = "answer"):
    """The process's llama.cpp context for ``role``, and the lock every generation on that model file
    takes. All roles share one copy of the weights (see ``_new_llama``)."""
    key = (str(model_path), threads, n_ctx, role)
    with _models_lock:
        llm = _models.get(key)
        if llm is None:
            if not Path(model_path).is_file():
                raise GeneratorUnavailable(f"model file not found: {model_path}")
            owner = next((m for k, m in _models.items() if k[0] == str(model_path)), None)
            llm = _models[key] = _new_llama(str(model_path), threads, n_ctx, owner)
        lock = _generation_locks.setdefault(str(model_path), threading.Lock())  # one lock per model file
        return llm, lock


class _SharedModel:
    """The ``LlamaModel`` of ``owner`` (a ``Llama``) lent to a second ``Llama``, which must not free it
    when closed; it keeps ``owner``, and so the weights, alive as long as it lives."""

    def __init__(self, owner):
        self._owner = owner

    def __getattr__(self, name):
        return getattr(self._owner._model, name)

    def close(self) -> None:  # the first Llama owns the weights
        pass


def _new_llama(model_path: str, threads: int, n_ctx: int, owner=None):
    """A ``Llama`` (one llama.cpp context) on the model file; given ``owner``, on the weights ``owner``
    already loaded. llama.cpp repacks the Q4_K matrices into its CPU layout at load (597 MiB of
    heap), so each ``Llama`` of its own held a full copy — 1.9 GiB of the two contexts' 3.8 GiB
    (bench/memory.py). The file is read rather than memory-mapped: with the weights repacked, a
    mapping kept 1.1 GB of file pages resident beside them, more than half of them never read again."""
    try:
        from llama_cpp import Llama
        from llama_cpp import llama as llama_module
    except ImportError:
        raise GeneratorUnavailable(
            "llama-cpp-python is not installed; re-run the install command or use --generator extractive"
        ) from None
    settings = dict(
        model_path=model_path,
        n_ctx=n_ctx,
        n_threads=threads,
        n_threads_batch=threads,
        n_batch=512,
        use_mmap=False,
        verbose=bool(os.environ.get("RAG_LLAMA_VERBOSE")),
    )
    if owner is None:
        return Llama(**settings)
    loader = llama_module.internals.LlamaModel
    llama_module.internals.LlamaModel = lambda **_: _SharedModel(owner)  # under _models_lock
    try:
        return Llama(**settings)
    finally:
        llama_module.internals.LlamaModel = loader


class LlamaCppGenerator(Generator):
    uses_llm = True

    def __init__(
        self,
        model_path: str | Path,
        threads: int,
        n_ctx: int = N_CTX,
        kv_dir: str | Path | None = None,
        utility_n_ctx: int = UTILITY_N_CTX,
    ):
        self.model_path = str(model_path)
        self.threads = threads
        self.n_ctx = n_ctx
        self.utility_n_ctx = min(utility_n_ctx, n_ctx)
        self.kv_dir = Path(kv_dir) if kv_dir else None  # None: prefixes are not kept on disk
        self.name = f"llama.cpp:{Path(self.model_path).name}"
        # on_prefix_progress(done, total): the tokens of a stable prefix evaluated so far (`rag index` shows it)
        self.on_prefix_progress = None
        self._formatter = None
        self._grammars: dict[str, object] = {}

    def _n_ctx(self, role: str) -> int:
        return self.utility_n_ctx if role == "utility" else self.n_ctx

    def _model(self, role: str = "answer"):
        return load_llama(self.model_path, self.threads, self._n_ctx(role), role)

    def warm_up(self) -> None:
        self._model()
        self._model("utility")

    def prefill(self, request: GenerationRequest) -> GenerationResult:
        role = "utility" if request.utility else "answer"
        llm, lock = self._model(role)
        with lock:
            return self._ensure_prefix(llm, request, role)

    def stream(self, request: GenerationRequest) -> Iterator[str | GenerationResult]:
        role = "utility" if request.utility else "answer"
        llm, lock = self._model(role)
        with lock:
            prefix = self._ensure_prefix(llm, request, role)
            finish_reason = None
            from llama_cpp import LogitsProcessorList

            floor = _NoAnswerFloor(llm, request.no_answer_floor) if request.no_answer_floor is not None else None
            chunks = llm.create_chat_completion(
                messages=request.prompt.messages,
                stream=True,
                max_tokens=request.max_tokens,
                temperature=0.0,
                top_k=1,
                repeat_penalty=1.0,
                stop=list(request.stop) or None,
                seed=0,
                logits_processor=LogitsProcessorList([floor]) if floor else None,
                grammar=self._grammar(request.grammar) if request.grammar else None,
            )
            for chunk in chunks:
                choice = chunk["choices"][0]
                finish_reason = choice.get("finish_reason") or finish_reason
                piece = choice["delta"].get("content")
                if piece:
                    yield piece
            yield replace(
                prefix, finish_reason=finish_reason, no_answer_probability=floor.probability if floor else None
            )

    def _grammar(self, text: str):
        grammar = self._grammars.get(text)
        if grammar is None:
            from llama_cpp import LlamaGrammar

            grammar = self._grammars[text] = LlamaGrammar.from_string(text, verbose=False)
        return grammar

    def _ensure_prefix(self, llm, request: GenerationRequest, role: str = "answer") -> GenerationResult:
        """Make the context hold the prompt's stable prefix (if it marks one); report how."""
        chars = request.prompt.stable_prefix_chars
        prefix = self.prefix_tokens(llm, request.prompt.messages, chars) if chars is not None else []
        if not prefix:
            return GenerationResult()
        started = time.perf_counter()
        store = KVStateStore(self.kv_dir, model_identity(self.model_path, self._n_ctx(role))) if self.kv_dir else None
        state = ensure_prefix(llm, prefix, store, self.on_prefix_progress)  # "held", "restored" or "evaluated"
        return GenerationResult(
            prefix_state=state, prefix_tokens=len(prefix), prefix_seconds=time.perf_counter() - started
        )

    def prompt_tokens(self, llm, messages: list[dict]) -> list[int] | None:
        """The tokens ``create_chat_completion`` evaluates for ``messages``: the GGUF's chat
        template rendered as ``Llama`` itself does. None for models ``Llama`` formats otherwise."""
        if self._formatter is None:
            template = llm.metadata.get("tokenizer.chat_template")
            if llm.chat_format != "chat_template.default" or not template:
                return None
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            eos, bos = llm.token_eos(), llm.token_bos()
            self._formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
                bos_token=llm._model.token_get_text(bos) if bos != -1 else "",
                stop_token_ids=[eos],
            )
        result = self._formatter(messages=messages)
        return llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)

    def prefix_tokens(self, llm, messages: list[dict], prefix_chars: int) -> list[int]:
        """The prompt's tokens up to the first ``prefix_chars`` characters of the last message:
        the common start of the prompt and of the same prompt with that message cut there (so a
        token that merges across the cut is left out, not guessed)."""
        cut = messages[:-1] + [{**messages[-1], "content": messages[-1]["content"][:prefix_chars]}]
        full, part = self.prompt_tokens(llm, messages), self.prompt_tokens(llm, cut)
        if full is None or part is None:
            return []
        return full[: common_prefix_length(full, part)]


class _NoAnswerFloor:
    """A logits processor for the reply's first token: it notes how likely the model's NO_ANSWER is and,
    below ``floor``, takes that opening away, so the model gives its best answer instead of a
    hesitant refusal (GenerationRequest.no_answer_floor)."""

    def __init__(self, llm, floor: float):
        self.token = llm.tokenize(NO_ANSWER.encode("utf-8"), add_bos=False, special=False)[0]
        self.floor = floor
        self.probability: float | None = None
        self._first: int | None = None

    def __call__(self, input_ids, scores):
        if self._first is None:
            self._first = len(input_ids)
        if len(input_ids) != self._first:
            return scores
        shifted = np.exp(scores - scores.max())
        self.probability = float(shifted[self.token] / shifted.sum())
        if self.probability < self.floor:
            scores = scores.copy()
            scores[self.token] = -np.inf
        return scores
