"""End to end over the PostgreSQL store with the real embedder and the real LLM (marker: models):
`rag index --store URL`, `answer()` from Python, and two app processes answering from one database."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cli.main import main as rag
from index.config import Config, with_schema
from rag.api import answer
from tests.conftest import ROOT, SEEDS


@pytest.fixture(scope="module")
def seed_store(postgres_url, tmp_path_factory) -> Config:
    url = with_schema(postgres_url, "seeds_e2e")
    data = tmp_path_factory.mktemp("pg-data")
    # the shipped default: the second embedder on (tests/conftest.py turns it off for logic tests)
    saved = os.environ.pop("RAG_SECOND_EMBEDDER", None)
    try:
        assert rag(["index", "--store", url, "--data-dir", str(data), str(SEEDS)]) == 0
    finally:
        if saved is not None:
            os.environ["RAG_SECOND_EMBEDDER"] = saved
    return Config.load(data_dir=data, store=url, second_embedder=Config.second_embedder)


def test_answer_from_python_over_postgres_cites_the_fact(seed_store):
    result = answer(
        "How much must auto manufacturing workers earn per hour under the USMCA?", config=seed_store, generator="llm"
    )
    assert result.retrieved and not result.abstained, result.raw_text
    assert "16" in result.text and any("US$16 per hour" in c.text for c in result.citations)
    seed = next(SEEDS.glob("*.txt")).read_text(encoding="utf-8").strip()
    for c in result.citations:
        assert seed[c.span_start : c.span_end] == c.text and c.source.endswith(".txt")
    assert answer("Who won the 2018 FIFA World Cup?", config=seed_store, generator="llm").abstained


def test_two_app_processes_answer_from_one_database_at_once(seed_store, tmp_path):
    questions = [
        "How much must auto manufacturing workers earn per hour under the USMCA?",
        "What did Estefanía Cruz say Mexico could do, like China did with Shenzhen?",
    ]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cli",
                "ask",
                "--store",
                seed_store.store,
                "--data-dir",
                str(tmp_path),
                "--generator",
                "extractive",
                "--json",
                q,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for q in questions
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (_out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err[-2000:]
    first, second = (json.loads(out) for out, _ in outputs)
    assert any("US$16 per hour" in c["text"] for c in first["citations"])
    assert any("Shenzhen" in p["text"] or "Cruz" in p["text"] for p in second["retrieved"])
