"""The shipped evaluation set is well-formed and its gold support really is in the document."""

from __future__ import annotations

import json
from collections import Counter

from tests.conftest import ROOT, SEEDS

SET = ROOT / "eval" / "sets" / "seed.jsonl"


def load():
    return [json.loads(line) for line in SET.read_text(encoding="utf-8").splitlines() if line.strip()]


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
    text = (SEEDS / "usmca-revision-synergies-2025-09-17.txt").read_text(encoding="utf-8")
    for item in load():
        if item["answerable"]:
            assert item["support"] in text, item["id"]
            assert (SEEDS / item["document"]).is_file()
