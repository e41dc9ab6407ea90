"""End to end with the real embedder and the real LLM on the seed article (marker: models).

These check behaviour that depends on the models: a cited fact, an abstention, a follow-up,
a Spanish question answered in Spanish, and the OpenAI-compatible backend against a real
llama.cpp server started here.
"""

from __future__ import annotations

import sys

import pytest

from index.pipeline import build_index
from index.store import FolderStore
from rag.api import get_engine
from rag.engine import RagEngine
from rag.records import Answer
from tests.app_server import free_port, serving
from tests.conftest import SEEDS


@pytest.fixture(scope="module")
def seed_config(tmp_path_factory):
    from index.config import Config

    # the shipped default: the second embedder on (tests/conftest.py turns it off for logic tests)
    config = Config.load(data_dir=tmp_path_factory.mktemp("seed-data"), second_embedder=Config.second_embedder)
    build_index([SEEDS], config)
    assert FolderStore(config.index_dir).load().second_vectors is not None
    return config


@pytest.fixture(scope="module")
def engine(seed_config) -> RagEngine:
    engine = get_engine(seed_config, "llm")
    engine.warm_up()
    return engine


def cited_text(answer: Answer) -> str:
    return " ".join(c.text for c in answer.citations)


def test_fact_question_is_answered_with_a_citation_that_contains_the_fact(engine):
    answer = engine.answer("How much must auto manufacturing workers earn per hour under the USMCA?")
    assert not answer.abstained, answer.raw_text
    assert "16" in answer.text
    assert "US$16 per hour" in cited_text(answer)
    seed = next(SEEDS.glob("*.txt")).read_text(encoding="utf-8").strip()
    for c in answer.citations:
        assert seed[c.span_start : c.span_end] == c.text


def test_question_outside_the_article_abstains(engine):
    answer = engine.answer("Who won the 2018 FIFA World Cup?")
    assert answer.abstained, answer.raw_text
    assert answer.text.startswith("The documents don't say") and answer.citations == []


def test_two_turn_follow_up_is_resolved(engine):
    first = engine.answer("What did Estefanía Cruz say Mexico could do, like China did with Shenzhen?")
    assert not first.abstained, first.raw_text
    history = [{"role": "user", "content": first.question}, {"role": "assistant", "content": first.text}]
    follow = engine.answer("Where does she work?", history)
    assert follow.rewritten_question and "Cruz" in follow.rewritten_question
    assert "Estefanía Cruz" in follow.retrieved[0].text  # retrieval used the resolved question
    assert not follow.abstained and follow.citations
    assert "UNAM" in follow.text or "North America" in follow.text, follow.raw_text


def test_spanish_question_is_answered_in_spanish(engine):
    from rag.language import detect_language

    answer = engine.answer("¿Cuánto deben ganar por hora los trabajadores de la industria automotriz?")
    assert not answer.abstained, (answer.rewritten_question, answer.raw_text)
    assert "16" in answer.text
    assert detect_language(answer.text) == "es", answer.text
    assert "US$16 per hour" in cited_text(answer) or any("US$16" in p.text for p in answer.retrieved)


@pytest.fixture(scope="module")
def llama_server(seed_config, tmp_path_factory):
    from rag.weights import packaged_model

    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(packaged_model(seed_config.cache_dir)),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "4096",
        "--n_threads",
        "2",
    ]
    log_path = tmp_path_factory.mktemp("server") / "llama_server.log"
    with serving(cmd, f"http://127.0.0.1:{port}/v1/models", log_path):
        yield f"http://127.0.0.1:{port}"


def test_openai_compatible_backend_against_a_real_llama_cpp_server(seed_config, llama_server):
    engine = RagEngine(seed_config, llama_server)
    assert engine.generator.name.startswith("openai-compatible")
    pieces, final = [], None
    for item in engine.stream("How much must auto manufacturing workers earn per hour under the USMCA?"):
        if isinstance(item, Answer):
            final = item
        elif isinstance(item, str):
            pieces.append(item)
    assert len(pieces) > 1, "the answer arrives streamed, in pieces"
    assert not final.abstained and "16" in final.text and "US$16 per hour" in cited_text(final)
