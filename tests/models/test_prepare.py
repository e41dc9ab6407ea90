"""`rag index` has the local LLM read a changed index's prompt prefix and saves its KV state, so the
first answer in a fresh process (the chat right after `make chat`'s `rag index`) restores it at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from tests.conftest import ROOT, SEEDS, private_cache

FIRST_ANSWER = textwrap.dedent("""
    import json, time
    from index.config import Config
    from rag.engine import RagEngine
    from rag.generation.base import GenerationResult

    engine = RagEngine(Config.load(), "llm")
    results = []
    original = engine.generator.stream

    def recording(request):
        for item in original(request):
            if isinstance(item, GenerationResult):
                results.append(item)
            yield item

    engine.generator.stream = recording
    answer = engine.answer("How much must auto workers earn per hour under the USMCA?")
    print(json.dumps({"prefix": results[0].prefix_state, "tokens": results[0].prefix_tokens, "text": answer.text}))
""")


def test_rag_index_reads_the_new_corpus_into_the_model_and_the_next_process_restores_it(tmp_path):
    cache = private_cache(tmp_path / "cache")  # the joined model shared; KV states of its own
    env = {
        **os.environ,
        "RAG_DATA_DIR": str(tmp_path / "data"),
        "RAG_CACHE_DIR": str(cache),
        "RAG_PREPARE_ON_INDEX": "1",
        "PYTHONPATH": str(ROOT),
    }
    run = dict(cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    indexed = subprocess.run([sys.executable, "-m", "cli", "index", str(SEEDS)], **run)
    assert indexed.returncode == 0, indexed.stderr
    assert "Reading the documents into the model (once per change)" in indexed.stderr
    assert "Model ready for these documents" in indexed.stdout
    states = list((cache / "kv").glob("*.bin"))
    assert len(states) >= 2  # the answer prompt's prefix (the whole seed article) and the rewrite prompt's

    again = subprocess.run([sys.executable, "-m", "cli", "index", str(SEEDS)], **run)
    assert again.returncode == 0 and "up to date" in again.stdout and "Model ready" not in again.stdout

    first = subprocess.run([sys.executable, "-c", FIRST_ANSWER], **run)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout.strip().splitlines()[-1])
    assert result["prefix"] == "restored" and result["tokens"] > 1000 and "16" in result["text"]
