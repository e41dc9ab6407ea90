"""`rag index`, `rag ask` and `rag chat --terminal` end to end, in subprocesses, with the real embedder."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT
from tests.test_cli import run_rag


def test_ask_and_chat_end_to_end_with_the_extractive_generator(tmp_path):
    """Real embedder, no LLM: `rag index`, `rag ask --json`, and a two-turn `rag chat` on stdin."""
    data = tmp_path / "data"
    assert run_rag("index", "seeds", env_data=data).returncode == 0
    result = run_rag(
        "ask", "How much must auto workers earn per hour?", "--generator", "extractive", "--json", env_data=data
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert "US$16 per hour" in answer["text"] and answer["citations"] and not answer["abstained"]
    result = run_rag("ask", "   ", "--generator", "extractive", env_data=data)
    assert result.returncode == 1 and "error: the question is empty" in result.stderr
    assert "Traceback" not in result.stderr
    chat = subprocess.run(
        [sys.executable, "-m", "cli", "chat", "--terminal", "--generator", "extractive"],
        cwd=ROOT,
        input="Who is Mariana Campos?\n/new\nWho won the 2018 World Cup?\n",
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "RAG_DATA_DIR": str(data)},
    )
    assert chat.returncode == 0, chat.stderr
    assert "Mariana Campos" in chat.stdout and "Sources:" in chat.stdout and "(new conversation)" in chat.stdout
    assert "The documents don't say" in chat.stdout
