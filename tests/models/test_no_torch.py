"""Serving a question needs no torch: both question encoders and the support scorer run on ONNX
Runtime, the LLM on llama.cpp. torch (when installed) is left for models the ONNX graph cannot run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from index.config import Config
from index.pipeline import build_index
from tests.conftest import ROOT, SEEDS

SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from index.config import Config
    from rag.api import get_engine
    import ui.app  # the chat's imports (Gradio) too

    config = Config.load(data_dir=Path({data!r}), second_embedder="multilingual-e5-small")
    engine = get_engine(config, "extractive")
    answer = engine.answer("How much must auto workers earn per hour under the USMCA?")
    from rag.generation.llama import LlamaCppGenerator
    from rag.weights import packaged_model
    LlamaCppGenerator(packaged_model(config.cache_dir), threads=1).warm_up()  # the LLM's imports and load
    heavy = sorted({{m.split(".")[0] for m in sys.modules}} & {{"torch", "transformers", "sentence_transformers"}})
    second = engine.snapshot().second_embedder_name
    print(json.dumps({{"text": answer.text, "cited": len(answer.citations), "second": second, "heavy": heavy}}))
""")


def test_answering_from_a_fresh_process_does_not_import_torch(tmp_path):
    data = tmp_path / "data"
    config = Config.load(data_dir=data, second_embedder="multilingual-e5-small")
    build_index([SEEDS], config)  # both dense signals, as shipped
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(data=str(data))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["heavy"] == [], f"answering imported {out['heavy']}"
    assert out["second"] == "multilingual-e5-small" and out["cited"] and "16" in out["text"]
