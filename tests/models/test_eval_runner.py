"""`rag eval` end to end on tiny sets with the real embedder and the extractive generator."""

from __future__ import annotations

import json

from cli.main import main
from tests.test_eval_loaders import SQUAD

DOCS = {
    "volcanoes.txt": "Volcanoes of Iceland\n\nHekla is one of Iceland's most active volcanoes. It erupted in 2000. "
    "The eruption of Eyjafjallajökull in 2010 disrupted air travel across Europe for six days.",
    "bees.txt": "Honey bees\n\nA honey bee colony has one queen. Worker bees live for about six weeks in summer. "
    "Bees communicate the direction of flowers with a waggle dance.",
    "bread.txt": "Sourdough\n\nSourdough bread is leavened by wild yeast and lactic acid bacteria. "
    "A starter is fed with flour and water every day.",
}
ITEMS = [
    {
        "id": "t1",
        "question": "How long do worker bees live in summer?",
        "answers": ["about six weeks", "six weeks"],
        "support": "Worker bees live for about six weeks in summer.",
        "document": "bees.txt",
        "answerable": True,
        "language": "en",
        "kind": "fact",
    },
    {
        "id": "t2",
        "question": "Which eruption disrupted air travel across Europe?",
        "answers": ["Eyjafjallajökull", "The eruption of Eyjafjallajökull"],
        "support": "The eruption of Eyjafjallajökull in 2010 disrupted air travel",
        "document": "volcanoes.txt",
        "answerable": True,
        "language": "en",
        "kind": "fact",
    },
    {
        "id": "t3",
        "turns": ["What leavens sourdough bread?", "How often is its starter fed?"],
        "answers": ["every day"],
        "support": "A starter is fed with flour and water every day.",
        "document": "bread.txt",
        "answerable": True,
        "language": "en",
        "kind": "follow-up",
    },
    {
        "id": "t4",
        "question": "Who won the 1998 football World Cup?",
        "answers": [],
        "support": None,
        "document": None,
        "answerable": False,
        "language": "en",
        "kind": "unanswerable",
    },
]


def _tiny_set(tmp_path):
    (tmp_path / "docs").mkdir()
    for name, text in DOCS.items():
        (tmp_path / "docs" / name).write_text(text, encoding="utf-8")
    path = tmp_path / "tiny.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in ITEMS), encoding="utf-8")
    return path


def test_eval_runs_a_tiny_set_end_to_end_and_reuses_its_index(tmp_path, capsys):
    path, out, data = _tiny_set(tmp_path), tmp_path / "out", tmp_path / "data"
    argv = ["eval", str(path), "--generator", "extractive", "--out", str(out), "--data-dir", str(data), "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert "retrieval (3 questions): nDCG@10 1.0000" in printed.out and "report:" in printed.out
    assert "3 chunks embedded" in printed.err

    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["command"].endswith("rag " + " ".join(argv)) and results["commit"] and results["date"]
    assert results["index"]["documents"] == 3 and (data / "eval").is_dir() and not (data / "index").exists()
    s = results["summary"]
    assert s["items"] == 4 and s["retrieval"]["recall@1"] == 1.0 and s["retrieval"]["n"] == 3
    assert s["support_in_chunk"]["recall@1"] == 1.0
    assert s["answers"]["n"] == 3 and s["answers"]["contains"] >= 2 / 3  # the extractive follow-up may miss
    assert 0 <= s["answers"]["exact_match"] <= s["answers"]["f1"] <= 1
    assert s["citations"]["recall"] == 1.0 and s["citations"]["n"] >= 3
    assert s["latency_seconds"]["total"]["p50"] > 0 and s["latency_seconds"]["first_token"]["p95"] > 0
    assert set(s["abstention"]) == {"precision", "recall", "abstained", "unanswerable"}
    items = [json.loads(line) for line in (out / "items.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [i["id"] for i in items] == ["t1", "t2", "t3", "t4"]
    assert items[0]["ranking"][0] == "bees.txt" and items[0]["gold_rank"] == 1 and items[0]["answer"]
    assert items[2]["turns"] == ITEMS[2]["turns"] and items[2]["answer"]
    assert items[3]["abstained"] is True and s["abstention"]["recall"] == 1.0
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Retrieval" in report and "## Answers" in report and "## Failed items" in report
    assert (out / "recall_at_k.png").stat().st_size > 1000 and (out / "latency.png").stat().st_size > 1000

    assert main(argv) == 0  # a second run reuses the set's index
    assert "0 chunks embedded" in capsys.readouterr().err

    # a stopped run resumes from its checkpoint: answered items are not asked again
    first = json.loads((out / "items.jsonl").read_text(encoding="utf-8").splitlines()[0])
    (out / "partial.jsonl").write_text(
        json.dumps({**first, "answer": "Resumed [1].", "f1": 0.25}) + "\n{cut", encoding="utf-8"
    )
    assert main([*argv, "--resume"]) == 0
    assert "resuming: 1 answered items" in capsys.readouterr().err and not (out / "partial.jsonl").exists()
    items = [json.loads(line) for line in (out / "items.jsonl").read_text(encoding="utf-8").splitlines()]
    assert items[0]["answer"] == "Resumed [1]." and items[0]["f1"] == 0.25 and items[1]["answer"] != "Resumed [1]."
    assert json.loads((out / "results.json").read_text(encoding="utf-8"))["index"]["resumed_items"] == 1


def test_retrieval_only_run_on_a_squad_file_with_a_fixed_sample(tmp_path, capsys):
    path = tmp_path / "tiny-squad.json"
    path.write_text(json.dumps(SQUAD), encoding="utf-8")
    out = tmp_path / "out"
    assert (
        main(
            [
                "eval",
                str(path),
                "--generator",
                "none",
                "--limit",
                "3",
                "--out",
                str(out),
                "--data-dir",
                str(tmp_path / "data"),
                "--no-progress",
                "--retrieval",
                "bm25",
            ]
        )
        == 0
    )
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    s = results["summary"]
    assert s["items"] == 3 and "answers" not in s and results["settings"]["limit"] == 3
    assert results["settings"]["retrieval"] == "bm25" and results["index"]["documents"] == 3
    assert (out / "recall_at_k.png").is_file() and not (out / "latency.png").exists()
    assert "Warsaw ¶1" in (out / "report.md").read_text(encoding="utf-8") or s["failed"] == 0


def test_no_progress_draws_no_bar_while_indexing_the_set(tmp_path, capsys):
    """`rag eval --no-progress` on a set big enough for the embedder's own terminal bar (256+ chunks):
    neither the indexing nor the retrieval draws one (the indexing bar used to appear regardless)."""
    paragraphs = [
        {
            "context": f"Paragraph {i} says that item {i} weighs {i} grams.",
            "qas": [{"id": f"q{i}", "question": f"What does item {i} weigh?", "answers": [{"text": f"{i} grams"}]}],
        }
        for i in range(300)
    ]
    path = tmp_path / "items.json"
    path.write_text(json.dumps({"data": [{"title": "Items", "paragraphs": paragraphs}]}), encoding="utf-8")
    argv = ["eval", str(path), "--generator", "none", "--retrieval", "bm25", "--limit", "5", "--no-progress"]
    assert main([*argv, "--out", str(tmp_path / "out"), "--data-dir", str(tmp_path / "data")]) == 0
    err = capsys.readouterr().err
    assert "Embedding 300 chunk(s)" in err  # the indexing did run, and said so
    assert "it/s" not in err and "chunk/s" not in err and "%|" not in err, err
