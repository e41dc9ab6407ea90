"""The saved KV state of the answer prompt's prefix with the real LLM (marker: models).

Each step starts from fresh llama.cpp contexts (the process-wide model cache is emptied), as a
new process would: a state file llama.cpp cannot read is ignored and replaced, a restored state gives the same
greedy tokens as evaluating the whole prompt, and only the question is evaluated after a restore.
"""

from __future__ import annotations

import pytest

from index.config import Config
from index.pipeline import build_index
from index.store import FolderStore
from index.tokens import token_counter
from rag.context import build_context
from rag.generation import llama as llama_module
from rag.generation.base import GenerationRequest
from rag.generation.kv_cache import KVStateStore, model_identity
from rag.generation.llama import LlamaCppGenerator
from rag.prompt import answer_messages, stable_prefix_chars
from rag.weights import packaged_model
from tests.conftest import SEEDS

pytestmark = pytest.mark.models

QUESTION = "How much must auto manufacturing workers earn per hour under the USMCA?"


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    config = Config.from_env(data_dir=tmp_path_factory.mktemp("seed-data"))
    build_index([SEEDS], config)
    return config, build_context(FolderStore(config.index_dir).load(), [], 1200, token_counter(config.cache_dir))


def fresh_generator(config: Config, kv_dir) -> LlamaCppGenerator:
    """A generator whose llama.cpp contexts have evaluated nothing yet."""
    llama_module._models.clear()
    return LlamaCppGenerator(packaged_model(config.cache_dir), threads=config.threads, kv_dir=kv_dir)


def run(generator: LlamaCppGenerator, request: GenerationRequest) -> tuple[str, list[int], list[int]]:
    """The streamed text, the context's tokens afterwards (prompt + answer) and the sizes of the
    token batches llama.cpp was asked to evaluate."""
    llm, _ = generator._model("utility" if request.utility else "answer")
    evaluated: list[int] = []
    original = llm.eval
    llm.eval = lambda tokens: (evaluated.append(len(tokens)), original(tokens))[1]
    try:
        text = "".join(generator.stream(request))
    finally:
        del llm.eval
    return text, llm.input_ids[: llm.n_tokens].tolist(), evaluated


def test_restored_prefix_answers_exactly_like_a_cold_prompt_and_damage_is_ignored(context, tmp_path):
    config, passages = context
    kv_dir = tmp_path / "kv"
    messages = answer_messages(QUESTION, passages)

    def request(**kw) -> GenerationRequest:
        return GenerationRequest(
            messages, QUESTION, passages, max_tokens=40, prefix_chars=stable_prefix_chars(passages), **kw
        )

    generator = fresh_generator(config, kv_dir)
    llm, _ = generator._model()
    prefix = generator.prefix_tokens(llm, messages, stable_prefix_chars(passages))
    prompt = generator.prompt_tokens(llm, messages)
    assert 1000 < len(prefix) < len(prompt) - 10 and prompt[: len(prefix)] == prefix
    store = KVStateStore(kv_dir, model_identity(generator.model_path, generator.n_ctx))
    store.save(prefix, bytes(5000))  # passes the file's own checks (those are tested in test_kv_cache.py)

    # 1. a state llama.cpp rejects is dropped, not fatal: the prefix is evaluated, then saved properly
    first = request()
    cold_text, cold_tokens, evaluated = run(generator, first)
    assert first.info["prefix"] == "evaluated" and sum(evaluated) >= len(prompt)
    assert len(store.load(prefix)) > 20_000 * len(prefix)
    assert cold_tokens[: len(prompt)] == prompt  # create_chat_completion saw the tokens the prefix came from

    # 2. a fresh context restores it and evaluates only the question
    generator = fresh_generator(config, kv_dir)
    second = request()
    text, tokens, evaluated = run(generator, second)
    assert second.info["prefix"] == "restored"
    assert evaluated[0] == len(prompt) - len(prefix)
    assert (text, tokens) == (cold_text, cold_tokens)
    assert "16" in text

    # 3. the same prompt through llama.cpp alone (no prefix handling, a fresh context) agrees token for token
    plain = GenerationRequest(messages, QUESTION, passages, max_tokens=40, utility=True)
    assert run(generator, plain)[:2] == (cold_text, cold_tokens)
