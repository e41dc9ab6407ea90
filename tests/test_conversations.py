"""Saved conversations and feedback (ui/conversations.py), the Markdown export and the feedback set,
without a server: owners kept apart, answers stored exactly, WAL surviving kill -9."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from index.config import Config
from tests.conftest import ROOT
from tests.test_ui_render import cited_answer
from ui.conversations import ConversationError, ConversationStore, NotFound, answer_from_dict, database_path
from ui.feedback import NothingToExport, export_feedback
from ui.render import conversation_markdown, render_answer

SETTINGS = {"generator": "extractive", "top_k": 5, "documents": "all"}


@pytest.fixture
def store(tmp_path) -> ConversationStore:
    return ConversationStore(database_path(tmp_path))


def test_the_database_is_one_sqlite_file_in_wal_mode(store):
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"conversations", "turns", "feedback"} <= tables


def test_a_conversation_keeps_its_turns_answers_citations_and_settings(store):
    cid = store.create("user:alice", "  How much must   workers earn?  ")
    answer = cited_answer()
    answer.timings = {"first_token": 0.5, "total": 1.25}
    store.add_turn("user:alice", cid, "How much must workers earn?", "answered", SETTINGS, answer=answer)
    store.add_turn("user:alice", cid, "And who said it?", "stopped", {**SETTINGS, "top_k": 3}, partial="It was")
    store.add_turn("user:alice", cid, "Third?", "error", SETTINGS, partial="no index at /x")
    conv = store.get("user:alice", cid)
    assert conv.info.title == "How much must workers earn?" and conv.info.turns == 3
    first, second, third = conv.turns
    assert (first.position, first.status, first.settings) == (0, "answered", SETTINGS)
    assert (second.status, second.partial, second.settings["top_k"]) == ("stopped", "It was", 3)
    assert third.status == "error" and third.partial == "no index at /x"
    rebuilt = answer_from_dict(first.answer)
    assert render_answer(rebuilt, key="k") == render_answer(answer, key="k")  # shown exactly as it was
    assert rebuilt.citations[0].passage.text == answer.citations[0].passage.text
    # the engine's history: answered turns only
    assert conv.history() == [
        {"role": "user", "content": "How much must workers earn?"},
        {"role": "assistant", "content": answer.text},
    ]


def test_owners_cannot_see_rename_delete_extend_or_rate_each_others_conversations(store):
    mine = store.create("user:alice", "alice's question")
    store.add_turn("user:alice", mine, "alice's question", "answered", SETTINGS, answer=cited_answer())
    theirs = store.create("browser:" + "b" * 20, "bob's question")
    assert [c.id for c in store.list("user:alice")] == [mine]
    assert [c.id for c in store.list("browser:" + "b" * 20)] == [theirs]
    for attempt in (
        lambda: store.get("user:mallory", mine),
        lambda: store.rename("user:mallory", mine, "pwned"),
        lambda: store.delete("user:mallory", mine),
        lambda: store.add_turn("user:mallory", mine, "q", "answered", SETTINGS, answer=cited_answer()),
        lambda: store.set_feedback("user:mallory", mine, 0, "down", "bad", "v1"),
        lambda: store.get("user:alice", "' OR 1=1 --"),
        lambda: store.get("user:alice", ""),
    ):
        with pytest.raises(NotFound):
            attempt()
    conv = store.get("user:alice", mine)
    assert conv.info.title == "alice's question" and len(conv.turns) == 1 and conv.turns[0].rating is None


def test_newest_first_rename_and_delete(store):
    a = store.create("o", "first")
    time.sleep(0.01)
    b = store.create("o", "second")
    assert [c.id for c in store.list("o")] == [b, a]
    store.add_turn("o", a, "more", "answered", SETTINGS, answer=cited_answer())  # a is updated: it moves up
    assert [c.id for c in store.list("o")] == [a, b]
    assert store.rename("o", a, "  <img src=x onerror=alert(1)>\n  title ") == "<img src=x onerror=alert(1)> title"
    with pytest.raises(ConversationError, match="cannot be empty"):
        store.rename("o", a, "   ")
    store.delete("o", a)
    assert [c.id for c in store.list("o")] == [b]
    with pytest.raises(NotFound):
        store.get("o", a)


def test_feedback_is_one_vote_per_answer_keeps_its_comment_and_outlives_the_conversation(store):
    cid = store.create("o", "q")
    store.add_turn("o", cid, "q", "answered", SETTINGS, answer=cited_answer())
    store.add_turn("o", cid, "follow-up?", "answered", SETTINGS, answer=cited_answer())
    store.add_turn("o", cid, "stopped one", "stopped", SETTINGS, partial="half")
    store.set_feedback("o", cid, 1, "up", None, "v-1")
    store.set_feedback("o", cid, 1, "down", "The number is wrong.", "v-1")
    store.set_feedback("o", cid, 1, "down", None, "v-2")  # a new vote without a comment keeps the comment
    with pytest.raises(ConversationError, match="only a complete answer"):
        store.set_feedback("o", cid, 2, "up", None, "v-2")
    with pytest.raises(NotFound):
        store.set_feedback("o", cid, 9, "up", None, "v-2")
    with pytest.raises(ConversationError, match="rating"):
        store.set_feedback("o", cid, 0, "meh", None, "v-2")
    assert [(t.rating, t.comment) for t in store.get("o", cid).turns] == [
        (None, ""),
        ("down", "The number is wrong."),
        (None, ""),
    ]
    store.delete("o", cid)
    (row,) = store.all_feedback()
    assert row["rating"] == "down" and row["comment"] == "The number is wrong." and row["index_version"] == "v-2"
    assert row["question"] == "follow-up?" and row["earlier_questions"] == ["q"]
    assert row["answer"]["citations"][0]["text"].startswith("Workers must earn")


def test_markdown_export_numbers_the_sources_and_keeps_user_text_inert(store):
    cid = store.create("o", "q")
    answer = cited_answer("They must earn at least US$16 per hour [1].")
    store.add_turn("o", cid, "How much? <img src=x onerror=alert(1)> **bold**", "answered", SETTINGS, answer=answer)
    store.add_turn("o", cid, "Next [evil](javascript:alert(1))", "stopped", SETTINGS, partial="Half <b>done")
    store.rename("o", cid, "<script>alert(1)</script> Wages")
    conv = store.get("o", cid)
    text = conversation_markdown(conv.info.title, conv.info.created, conv.turns)
    assert text.startswith("# &lt;script&gt;alert\\(1\\)&lt;/script&gt; Wages\n")
    assert "<img" not in text and "<script" not in text and "<b>" not in text and "](javascript" not in text
    assert "> How much? &lt;img src=x onerror=alert\\(1\\)&gt; \\*\\*bold\\*\\*" in text
    assert "They must earn at least US\\$16 per hour \\[1\\]." in text
    assert "1\\. **Article** (a.txt)" in text and "Workers must earn at least US\\$16 per hour." in text
    assert "*Stopped before the answer was finished.*" in text and "Half &lt;b&gt;done" in text


WRITER = """
import sys, time
sys.path.insert(0, {root!r})
from tests.test_ui_render import cited_answer
from ui.conversations import ConversationStore
store = ConversationStore({db!r})
answer = cited_answer()
print("ready", flush=True)
n = 0
while True:
    cid = store.create("writer", f"question {{n}}")
    for i in range(3):
        store.add_turn("writer", cid, f"q{{i}}", "answered", {{}}, answer=answer)
    store.set_feedback("writer", cid, 0, "up", "fine", "v")
    n += 1
"""


@pytest.mark.timeout(300)
def test_the_database_survives_kill_9_in_the_middle_of_writes(tmp_path):
    db = database_path(tmp_path)
    ConversationStore(db)
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=str(ROOT), db=str(db)))
    seen = 0
    for delay in (0.3, 0.7, 1.1, 1.6, 2.2):
        proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        with sqlite3.connect(db) as con:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        store = ConversationStore(db)
        conversations = store.list("writer")
        assert len(conversations) > seen  # every run committed some, and nothing committed was lost
        seen = len(conversations)
        for info in conversations:  # each one whole: its turns complete records, positions 0..n-1
            conv = store.get("writer", info.id)
            assert [t.position for t in conv.turns] == list(range(len(conv.turns)))
            assert all(answer_from_dict(t.answer).citations for t in conv.turns)
        store.add_turn("writer", conversations[0].id, "after the kill", "answered", {}, answer=cited_answer())
    print(f"\nkill -9 during writes: 5/5 survived, {seen} conversations intact")


def test_feedback_export_is_an_eval_set_with_its_documents(tmp_path):
    config = Config.load(data_dir=tmp_path / "data")
    doc = tmp_path / "docs-src" / "a.txt"
    doc.parent.mkdir()
    doc.write_text("Intro sentence. Workers must earn at least US$16 per hour. Closing words.", encoding="utf-8")
    store = ConversationStore(database_path(config.data_dir))
    answer = cited_answer()
    for citation in answer.citations:  # the answer cites the file written above
        object.__setattr__(citation.passage, "source", str(doc))
    cid = store.create("o", "How much?")
    store.add_turn("o", cid, "How much must workers earn?", "answered", SETTINGS, answer=answer)
    store.add_turn("o", cid, "Who pays <them>?", "answered", SETTINGS, answer=cited_answer("Nobody [1]."))
    store.set_feedback("o", cid, 0, "up", None, "v-1")
    store.set_feedback("o", cid, 1, "down", "Wrong: <b>the employer</b> pays.", "v-1")
    out = tmp_path / "out" / "fb.jsonl"
    report = export_feedback(config, out)
    assert (report.items, report.up, report.down) == (2, 1, 1)
    raw = out.read_text(encoding="utf-8")
    assert "<" not in raw and ">" not in raw  # inert if pasted into a page
    up, down = [json.loads(line) for line in raw.splitlines()]
    assert up["question"] == "How much must workers earn?" and up["kind"] == "feedback-up"
    assert up["answers"] == ["They must earn at least US$16 per hour."] and up["answerable"] is True
    assert up["document"] == "a.txt" and up["support"] == "Workers must earn at least US$16 per hour."
    assert (tmp_path / "out" / "fb-docs" / "a.txt").read_text(encoding="utf-8") == doc.read_text(encoding="utf-8")
    assert down["turns"] == ["How much must workers earn?", "Who pays <them>?"] and down["answers"] == []
    assert down["comment"] == "Wrong: <b>the employer</b> pays." and down["feedback"]["answer"] == "Nobody [1]."
    assert down["feedback"]["index_version"] == "v-1" and down["document"] is None
    assert "location" in up["feedback"]["citations"][0]  # where in the file ("page 2"; none for a .txt)

    from eval.sets import load_set

    loaded = load_set(out)
    assert loaded.docs_folder == tmp_path / "out" / "fb-docs"
    assert [i.turns for i in loaded.items] == [("How much must workers earn?",), tuple(down["turns"])]
    assert loaded.items[0].relevant == {"a.txt": 1} and loaded.items[0].answers == (up["answers"][0],)


def test_feedback_export_says_when_there_is_nothing_to_export(tmp_path):
    with pytest.raises(NothingToExport, match="no chat database"):
        export_feedback(Config.load(data_dir=tmp_path / "none"), tmp_path / "x.jsonl")
    ConversationStore(database_path(tmp_path / "empty"))
    with pytest.raises(NothingToExport, match="no feedback yet"):
        export_feedback(Config.load(data_dir=tmp_path / "empty"), tmp_path / "x.jsonl")
