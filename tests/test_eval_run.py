"""`rag eval` with the hash embedder (no models): what a broken item does to the run."""

from __future__ import annotations

import json

from cli.main import main
from tests.fakes import HashEmbedder


def test_a_bug_in_one_item_is_recorded_and_shown_with_its_traceback(tmp_path, monkeypatch, capsys):
    """An hour-long run goes on past an item that fails, and the item says why; a failure that is a
    bug (not a UserError) also prints its traceback instead of passing as the item's result."""
    embedder = HashEmbedder()
    monkeypatch.setattr("index.pipeline.Embedder", lambda name, *settings, **kw: embedder)
    monkeypatch.setattr("rag.engine.Embedder", lambda name, *settings, **kw: embedder)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bees.txt").write_text("Honey bees\n\nWorker bees live for about six weeks in summer.\n")
    items = [{"id": f"q{i}", "question": "How long do worker bees live?", "document": "bees.txt"} for i in range(2)]
    path = tmp_path / "bees.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")

    import eval.runner

    real_score = eval.runner.score_answer

    def score_with_a_bug(result, answer, judge):
        if result.id == "q0":
            raise KeyError("a bug in the scoring")
        real_score(result, answer, judge)

    monkeypatch.setattr(eval.runner, "score_answer", score_with_a_bug)
    argv = ["eval", str(path), "--docs", str(docs), "--generator", "extractive", "--no-progress"]
    assert main([*argv, "--out", str(tmp_path / "out"), "--data-dir", str(tmp_path / "data")]) == 0
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError: 'a bug in the scoring'" in err
    records = {r["id"]: r for r in map(json.loads, (tmp_path / "out" / "items.jsonl").read_text().splitlines())}
    assert records["q0"]["error"] == "KeyError: 'a bug in the scoring'" and records["q0"]["failed"]
    assert "error" not in records["q1"] and "six weeks" in records["q1"]["answer"]
