"""In-process llama.cpp generator (the default): the packaged Qwen2.5-Coder-1.5B-Instruct GGUF.

The model is loaded once per process, lazily, and shared. llama.cpp runs one
generation at a time per model, so generations are serialised with a lock; callers
simply wait their turn. A RAM cache of llama.cpp states lets a prompt whose prefix
(system text + passages) was seen before skip re-reading it, even when another
prompt ran in between.
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
STATE_CACHE_BYTES = 1 << 30


def load_llama(model_path: str, threads: int, n_ctx: int = N_CTX):
    key = (str(model_path), threads, n_ctx)
    with _models_lock:
        llm = _models.get(key)
        if llm is None:
            try:
                from llama_cpp import Llama, LlamaRAMCache
            except ImportError:
                raise GeneratorUnavailable("llama-cpp-python is not installed; re-run the install command "
                                           "or use --generator extractive") from None
            if not Path(model_path).is_file():
                raise GeneratorUnavailable(f"model file not found: {model_path}")
            llm = Llama(model_path=str(model_path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                        n_batch=512, verbose=bool(os.environ.get("RAG_LLAMA_VERBOSE")))
            llm.set_cache(LlamaRAMCache(capacity_bytes=STATE_CACHE_BYTES))
            _models[key] = llm
            _generation_locks[key] = threading.Lock()
        return llm, _generation_locks[key]


class LlamaCppGenerator(Generator):
    uses_llm = True

    def __init__(self, model_path: str | Path, threads: int, n_ctx: int = N_CTX):
        self.model_path = str(model_path)
        self.threads = threads
        self.n_ctx = n_ctx
        self.name = f"llama.cpp:{Path(self.model_path).name}"

    def _model(self):
        return load_llama(self.model_path, self.threads, self.n_ctx)

    def warm_up(self) -> None:
        self._model()

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        llm, lock = self._model()
        with lock:
            chunks = llm.create_chat_completion(messages=request.messages, stream=True,
                                                max_tokens=request.max_tokens, temperature=0.0, top_k=1,
                                                repeat_penalty=1.05, stop=list(request.stop) or None, seed=0)
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
