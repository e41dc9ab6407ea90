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
from rag.generation.base import GenerationRequest, GenerationResult, collect
from rag.generation.kv_cache import KVStateStore, model_identity
from rag.generation.llama import LlamaCppGenerator
from rag.prompt import Prompt, answer_prompt
from rag.weights import packaged_model
from tests.conftest import SEEDS

QUESTION = "How much must auto manufacturing workers earn per hour under the USMCA?"


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    config = Config.load(data_dir=tmp_path_factory.mktemp("seed-data"))
    build_index([SEEDS], config)
    view = FolderStore(config.index_dir).load()
    return config, build_context(view, [], config.context_tokens, token_counter(config.cache_dir))


def fresh_generator(config: Config, kv_dir) -> LlamaCppGenerator:
    """A generator whose llama.cpp contexts have evaluated nothing yet."""
    llama_module._models.clear()
    return LlamaCppGenerator(packaged_model(config.cache_dir), threads=config.threads, kv_dir=kv_dir)


def run(generator: LlamaCppGenerator, request: GenerationRequest) -> tuple[str, list[int], list[int], GenerationResult]:
    """The streamed text, the context's tokens afterwards (prompt + answer), the sizes of the token
    batches llama.cpp was asked to evaluate, and the generation's result."""
    llm, _ = generator._model("utility" if request.utility else "answer")
    evaluated: list[int] = []
    original = llm.eval
    llm.eval = lambda tokens: (evaluated.append(len(tokens)), original(tokens))[1]
    try:
        text, result = collect(generator.stream(request))
    finally:
        del llm.eval
    return text, llm.input_ids[: llm.n_tokens].tolist(), evaluated, result


def test_restored_prefix_answers_exactly_like_a_cold_prompt_and_damage_is_ignored(context, tmp_path):
    config, passages = context
    kv_dir = tmp_path / "kv"
    prompt = answer_prompt(QUESTION, passages, fixed_passages=len(passages))
    messages = prompt.messages

    def request(**kw) -> GenerationRequest:
        return GenerationRequest(prompt, QUESTION, passages, max_tokens=40, **kw)

    generator = fresh_generator(config, kv_dir)
    llm, _ = generator._model()
    prefix = generator.prefix_tokens(llm, messages, prompt.stable_prefix_chars)
    tokens = generator.prompt_tokens(llm, messages)
    assert 1000 < len(prefix) < len(tokens) - 10 and tokens[: len(prefix)] == prefix
    store = KVStateStore(kv_dir, model_identity(generator.model_path, generator.n_ctx))
    store.save(prefix, bytes(5000))  # passes the file's own checks (those are tested in test_kv_cache.py)

    # 1. a state llama.cpp rejects is dropped, not fatal: the prefix is evaluated, then saved properly
    cold_text, cold_tokens, evaluated, result = run(generator, request())
    assert result.prefix_state == "evaluated" and result.prefix_tokens == len(prefix) and result.finish_reason
    assert sum(evaluated) >= len(tokens)
    assert len(store.load(prefix)) > 20_000 * len(prefix)
    assert cold_tokens[: len(tokens)] == tokens  # create_chat_completion saw the tokens the prefix came from

    # 2. a fresh context restores it and evaluates only the question
    generator = fresh_generator(config, kv_dir)
    text, after, evaluated, result = run(generator, request())
    assert result.prefix_state == "restored"
    assert evaluated[0] == len(tokens) - len(prefix)
    assert (text, after) == (cold_text, cold_tokens)
    assert "16" in text

    # 3. the same prompt through llama.cpp alone (no prefix handling, a fresh context) agrees token for token
    whole = Prompt(messages, None)  # no stable part: evaluated in one go (0 would keep the earlier messages)
    plain = GenerationRequest(whole, QUESTION, passages, max_tokens=40, utility=True)
    text, after, _, result = run(generator, plain)
    assert (text, after) == (cold_text, cold_tokens) and result.prefix_state is None
