"""The shipped evaluation sets are well-formed and their gold support really is in the documents."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import ROOT, SEEDS, SHARED

SETS = ROOT / "eval" / "sets"
SET = SETS / "seed.jsonl"
SEED_ARTICLE = "usmca-revision-synergies-2025-09-17.txt"
SQUAD_DEV = SHARED / "data" / "squad" / "squaddev_v1.1.json"
SQUAD_SET = SETS / "squad-conversations"

# The development sets: name -> (set file, the folder its documents are in, id prefix)
DEV_SETS = {
    "seed-conversations": (SETS / "seed-conversations.jsonl", SEEDS, "sconv-"),
    "squad-conversations": (SQUAD_SET / "set.jsonl", SQUAD_SET / "docs", "qconv-"),
    "mixed": (SETS / "mixed" / "set.jsonl", SETS / "mixed" / "docs", "mix-"),
}
FIELDS = {"id", "kind", "language", "answers", "support", "document", "answerable"}


def load(path: Path = SET):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_seed_set_is_well_formed_and_covers_what_it_claims():
    items = load()
    assert len(items) >= 40 and len({i["id"] for i in items}) == len(items)
    kinds = Counter(i["kind"] for i in items)
    assert kinds["unanswerable"] >= 5 and kinds["follow-up"] >= 5 and kinds["spanish"] >= 5
    for item in items:
        assert ("question" in item) != ("turns" in item), item["id"]
        assert isinstance(item["answerable"], bool) and item["language"] in {"en", "es"}
        assert bool(item["answers"]) == item["answerable"] == bool(item["support"]), item["id"]
        if "turns" in item:
            assert len(item["turns"]) >= 2 and all(t.strip() for t in item["turns"])


def test_gold_support_is_verbatim_in_the_seed_document():
    text = (SEEDS / SEED_ARTICLE).read_text(encoding="utf-8")
    for item in load():
        if item["answerable"]:
            assert item["support"] in text, item["id"]
            assert (SEEDS / item["document"]).is_file()


@pytest.mark.parametrize("name", sorted(DEV_SETS))
def test_development_set_is_well_formed(name):
    path, docs, prefix = DEV_SETS[name]
    items = load(path)
    assert len({i["id"] for i in items}) == len(items)
    for item in items:
        assert set(item) == FIELDS | ({"turns"} if "turns" in item else {"question"}), item["id"]
        assert item["id"].startswith(prefix) and item["kind"], item["id"]
        assert isinstance(item["answerable"], bool) and item["language"] in {"en", "es"}, item["id"]
        if "turns" in item:
            assert len(item["turns"]) in (2, 3) and all(isinstance(t, str) and t.strip() for t in item["turns"])
        else:
            assert isinstance(item["question"], str) and item["question"].strip(), item["id"]
        if item["answerable"]:
            assert item["answers"] and all(isinstance(a, str) and a.strip() for a in item["answers"]), item["id"]
            assert isinstance(item["support"], str) and (docs / item["document"]).is_file(), item["id"]
        else:
            assert item["answers"] == [] and item["support"] is None and item["document"] is None, item["id"]
            assert "unanswerable" in item["kind"], item["id"]


@pytest.mark.parametrize("name", sorted(DEV_SETS))
def test_development_set_gold_is_verbatim_in_its_document(name):
    path, docs, _ = DEV_SETS[name]
    for item in load(path):
        if not item["answerable"]:
            continue
        text = (docs / item["document"]).read_text(encoding="utf-8")
        assert item["support"] in text, item["id"]
        if item["language"] == "en":  # a Spanish item may give its answer in Spanish for an English text
            for answer in item["answers"]:
                assert answer.lower() in text.lower(), (item["id"], answer)


def test_development_sets_cover_what_they_claim():
    conversations = {name: load(DEV_SETS[name][0]) for name in ("seed-conversations", "squad-conversations")}
    for name, items in conversations.items():
        kinds = Counter(i["kind"] for i in items)
        assert all("turns" in i for i in items), name
        assert set(kinds) == {"follow-up", "follow-up-unanswerable"}, name
        assert kinds["follow-up"] >= 18 and 2 <= kinds["follow-up-unanswerable"] <= 3, name
        assert any(len(i["turns"]) == 3 for i in items), name
    assert any(i["language"] == "es" for i in conversations["seed-conversations"])
    assert len({i["document"] for i in conversations["squad-conversations"]} - {None}) >= 5

    mixed = load(DEV_SETS["mixed"][0])
    kinds = Counter(i["kind"] for i in mixed)
    assert len(mixed) >= 20 and kinds["follow-up"] >= 4 and kinds["unanswerable"] >= 2
    assert sum(i["language"] == "es" for i in mixed) >= 2
    short = {i["document"] for i in mixed if "question" in i} - {None}
    assert SEED_ARTICLE not in short and len(short) >= 4


def test_the_development_sets_find_their_documents_without_docs_option():
    from eval.sets import load_set

    for path, docs, _ in DEV_SETS.values():
        eval_set = load_set(path)
        assert eval_set.docs_folder.resolve() == docs.resolve(), path
        assert len(eval_set.items) == len(load(path))
        assert all(item.turns[-1] for item in eval_set.items)


def test_the_mixed_folder_holds_the_seed_article_unchanged_beside_short_documents():
    docs = DEV_SETS["mixed"][1]
    assert (docs / SEED_ARTICLE).read_bytes() == (SEEDS / SEED_ARTICLE).read_bytes()
    others = sorted(p for p in docs.iterdir() if p.name != SEED_ARTICLE)
    assert len(others) >= 4 and all(p.suffix == ".txt" for p in others)
    for doc in others:
        assert 150 <= len(doc.read_text(encoding="utf-8").split()) <= 400, doc.name
    # the seed set is also run against this folder: every document it names must be there
    assert all((docs / i["document"]).is_file() for i in load() if i["document"])


@pytest.mark.skipif(not SQUAD_DEV.is_file(), reason="SQuAD v1.1 dev file not present")
def test_squad_documents_are_whole_articles_of_the_squad_dev_set():
    articles = {a["title"]: a for a in json.loads(SQUAD_DEV.read_text(encoding="utf-8"))["data"]}
    docs = sorted(DEV_SETS["squad-conversations"][1].glob("*.txt"))
    assert len(docs) >= 5
    for doc in docs:
        article = articles[doc.stem]
        paragraphs = [p["context"] for p in article["paragraphs"]]
        expected = article["title"].replace("_", " ") + "\n\n" + "\n\n".join(paragraphs) + "\n"
        assert doc.read_text(encoding="utf-8") == expected, doc.name
