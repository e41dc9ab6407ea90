"""In-process llama.cpp generator (the default): the packaged Qwen2.5-Coder-1.5B-Instruct GGUF.

The model is loaded once per process, lazily, and shared. Two llama.cpp contexts use the
same memory-mapped weights: one only ever sees answer prompts, so the next answer prompt
finds its prefix (system text + passages) still in the KV cache, and one takes the side
tasks (rewriting a follow-up, translating an answer). Generations are serialised with one
lock (two cores gain nothing from running two at once); callers simply wait their turn.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

from rag.generation.base import GenerationRequest, Generator, GeneratorUnavailable

_models: dict[tuple, object] = {}
_models_lock = threading.Lock()
_generation_locks: dict[tuple, threading.Lock] = {}

N_CTX = 4096


def load_llama(model_path: str, threads: int, n_ctx: int = N_CTX, role: str = "answer"):
    key = (str(model_path), threads, n_ctx, role)
    with _models_lock:
        llm = _models.get(key)
        if llm is None:
            try:
                from llama_cpp import Llama
            except ImportError:
                raise GeneratorUnavailable("llama-cpp-python is not installed; re-run the install command "
                                           "or use --generator extractive") from None
            if not Path(model_path).is_file():
                raise GeneratorUnavailable(f"model file not found: {model_path}")
            llm = Llama(model_path=str(model_path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                        n_batch=512, verbose=bool(os.environ.get("RAG_LLAMA_VERBOSE")))
            _models[key] = llm
        lock = _generation_locks.setdefault(key[:3], threading.Lock())  # one lock per model file
        return llm, lock


class LlamaCppGenerator(Generator):
    uses_llm = True

    def __init__(self, model_path: str | Path, threads: int, n_ctx: int = N_CTX):
        self.model_path = str(model_path)
        self.threads = threads
        self.n_ctx = n_ctx
        self.name = f"llama.cpp:{Path(self.model_path).name}"

    def _model(self, role: str = "answer"):
        return load_llama(self.model_path, self.threads, self.n_ctx, role)

    def warm_up(self) -> None:
        self._model()
        self._model("utility")

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        llm, lock = self._model("utility" if request.utility else "answer")
        with lock:
            chunks = llm.create_chat_completion(messages=request.messages, stream=True,
                                                max_tokens=request.max_tokens, temperature=0.0, top_k=1,
                                                repeat_penalty=1.0, stop=list(request.stop) or None, seed=0)
            for chunk in chunks:
                choice = chunk["choices"][0]
                if choice.get("finish_reason"):
                    request.info["finish_reason"] = choice["finish_reason"]
                piece = choice["delta"].get("content")
                if piece:
                    yield piece

    def count_tokens(self, text: str) -> int:
        llm, _ = self._model()
        return len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))
