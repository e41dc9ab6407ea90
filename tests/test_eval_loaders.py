"""Evaluation sets: our JSONL, SQuAD-format files and BEIR folders become the same records."""

from __future__ import annotations

import json

import pytest

from eval.errors import EvalSetError
from eval.sets import load_set, sample
from tests.conftest import ROOT

SQUAD = {
    "version": "1.1",
    "data": [
        {
            "title": "Super_Bowl_50",
            "paragraphs": [
                {
                    "context": "Super Bowl 50 was won by the Denver Broncos.",
                    "qas": [
                        {
                            "id": "q1",
                            "question": "Who won Super Bowl 50?",
                            "answers": [
                                {"text": "Denver Broncos", "answer_start": 29},
                                {"text": "Denver Broncos", "answer_start": 29},
                                {"text": "the Denver Broncos", "answer_start": 25},
                            ],
                        }
                    ],
                },
                {
                    "context": "The game was played in Santa Clara.",
                    "qas": [
                        {
                            "id": "q2",
                            "question": "Where was it played?",
                            "answers": [{"text": "Santa Clara", "answer_start": 23}],
                        },
                        {"id": "q3", "question": "Who sang the anthem?", "answers": [], "is_impossible": True},
                    ],
                },
            ],
        },
        {
            "title": "Warsaw",
            "paragraphs": [
                {
                    "context": "Warsaw is the capital of Poland.",
                    "qas": [
                        {
                            "id": "q4",
                            "question": "What is the capital of Poland?",
                            "answers": [{"text": "Warsaw", "answer_start": 0}],
                        }
                    ],
                }
            ],
        },
    ],
}


def test_squad_file_paragraphs_are_documents_and_questions_point_at_them(tmp_path):
    path = tmp_path / "tiny-squad.json"
    path.write_text(json.dumps(SQUAD), encoding="utf-8")
    s = load_set(path)
    assert s.format == "squad" and s.name == "tiny-squad" and s.docs_folder is None
    assert [d.name for d in s.documents] == ["p00000.txt", "p00001.txt", "p00002.txt"]
    assert [d.title for d in s.documents] == ["Super Bowl 50 ¶1", "Super Bowl 50 ¶2", "Warsaw ¶1"]
    assert s.documents[2].text == "Warsaw is the capital of Poland."
    q1, q2, q3, q4 = s.items
    assert q1.question == "Who won Super Bowl 50?" and q1.answers == ("Denver Broncos", "the Denver Broncos")
    assert q1.relevant == {"p00000.txt": 1} and q2.relevant == {"p00001.txt": 1} and q4.relevant == {"p00002.txt": 1}
    assert not q3.answerable and q3.answers == () and q3.relevant == {}  # SQuAD 2.0 unanswerable


def test_beir_folder_with_graded_qrels(tmp_path):
    folder = tmp_path / "scifact-mini"
    (folder / "qrels").mkdir(parents=True)
    corpus = [
        {"_id": "doc/1", "title": "Aspirin", "text": "Aspirin thins the blood."},
        {"_id": "doc/2", "title": "", "text": "Coffee contains caffeine."},
        {"_id": "doc/3", "title": "Tea", "text": "Tea contains caffeine too."},
    ]
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in corpus) + "\n", encoding="utf-8")
    queries = [
        {"_id": "1", "text": "What thins blood?"},
        {"_id": "2", "text": "Which drinks have caffeine?"},
        {"_id": "3", "text": "Not judged in this split"},
    ]
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries), encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n1\tdoc/1\t1\n2\tdoc/2\t2\n2\tdoc/3\t1\n2\tdoc/1\t0\n", encoding="utf-8"
    )
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n3\tdoc/2\t1\n", encoding="utf-8")
    s = load_set(folder)
    assert s.format == "beir" and [d.name for d in s.documents] == ["d000000.txt", "d000001.txt", "d000002.txt"]
    assert s.documents[0].text == "Aspirin\n\nAspirin thins the blood." and s.documents[1].title == "doc/2"
    assert [i.id for i in s.items] == ["1", "2"]  # the test split's queries only
    assert s.items[1].relevant == {"d000001.txt": 2, "d000002.txt": 1}  # grade 0 is not relevant
    assert all(i.answerable and i.answers == () for i in s.items)


def test_jsonl_set_finds_its_documents_and_reads_conversations(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("Alpha.", encoding="utf-8")
    path = tmp_path / "mini.jsonl"
    rows = [
        {
            "id": "1",
            "question": "Q?",
            "answers": ["A"],
            "support": "Alpha.",
            "document": "a.txt",
            "answerable": True,
            "language": "en",
            "kind": "fact",
        },
        {
            "id": "2",
            "turns": ["Who?", "And then?"],
            "answers": [],
            "support": None,
            "document": None,
            "answerable": False,
            "language": "en",
            "kind": "follow-up",
        },
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    s = load_set(path)
    assert s.format == "jsonl" and s.docs_folder == tmp_path / "docs"
    assert s.items[0].relevant == {"a.txt": 1} and s.items[0].support == "Alpha."
    assert s.items[1].question == "And then?" and s.items[1].retrieval_query == "Who? And then?"
    assert not s.items[1].answerable and s.items[1].relevant == {}


def test_the_seed_set_uses_the_seed_folder():
    s = load_set(ROOT / "eval" / "sets" / "seed.jsonl")
    assert s.docs_folder == ROOT / "seeds" and len(s.items) == 48


def test_bad_sets_are_clear_errors(tmp_path):
    with pytest.raises(EvalSetError, match="no such evaluation set"):
        load_set(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1"}\n', encoding="utf-8")
    with pytest.raises(EvalSetError, match="bad.jsonl:1"):
        load_set(bad)
    with pytest.raises(EvalSetError, match="BEIR"):
        load_set(tmp_path)
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\td1\t1\n", encoding="utf-8")
    (beir / "queries.jsonl").write_text('{"_id": "1", "text": "What?"}\n', encoding="utf-8")
    (beir / "corpus.jsonl").write_text(
        '{"_id": "d1", "text": "Fine."}\n{"_id": "d2", "text": "cut sh\n', encoding="utf-8"
    )
    with pytest.raises(EvalSetError, match=r"corpus.jsonl:2: not a JSON object"):
        load_set(beir)
    (beir / "corpus.jsonl").write_text('{"_id": "d1", "body": "Fine."}\n', encoding="utf-8")
    with pytest.raises(EvalSetError, match=r"corpus.jsonl:1: no text in this record"):
        load_set(beir)


def test_limit_takes_the_same_random_sample_every_time_in_set_order():
    items = load_set(ROOT / "eval" / "sets" / "seed.jsonl").items
    first, again = sample(items, 10, seed=0), sample(items, 10, seed=0)
    assert [i.id for i in first] == [i.id for i in again] and len(first) == 10
    assert [i.id for i in first] != [i.id for i in items[:10]]
    assert [i.id for i in first] == sorted(i.id for i in first)
    assert [i.id for i in sample(items, 10, seed=1)] != [i.id for i in first]
    assert sample(items, None) == items and sample(items, 1000) == items
