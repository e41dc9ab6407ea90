"""The chat people expect (issue 19), on the real app: `rag chat` subprocesses (the extractive
generator, or tests/slow_app.py's slow one), the official gradio_client and Debian's Chromium.

Saved conversations across a reload and a restart, their export, accounts with per-user isolation
and admin-only uploads, feedback exported and re-scored by `rag eval`, Stop freeing the answer
slot, the sources-first display, inert user text, both themes at 400 px, ten clients at once.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from index.pipeline import build_index
from tests.app_server import chromium_page, free_port, running_app, running_slow_app
from tests.conftest import ROOT, SEEDS
from ui.accounts import add_user

pytestmark = pytest.mark.timeout(900)

QUESTION = "How much must auto workers earn per hour under the USMCA?"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def seed_data(tmp_path_factory, real_embedder):
    from index.config import Config

    data = tmp_path_factory.mktemp("chat-data")
    build_index([SEEDS], Config.load(data_dir=data), embedder=real_embedder)
    return data


@pytest.fixture
def data(seed_data, tmp_path) -> Path:
    """A fresh copy of the seed index (each test has its own conversations database)."""
    copy = tmp_path / "data"
    shutil.copytree(seed_data, copy, symlinks=True)
    return copy


@pytest.fixture(scope="module")
def shared_app(seed_data, tmp_path_factory):
    """One extractive app for the API tests that only add conversations."""
    data = tmp_path_factory.mktemp("shared") / "data"
    shutil.copytree(seed_data, data, symlinks=True)
    with running_app(data, "extractive", data.parent / "app.log") as url:
        yield url


def client(url, **kw):
    from gradio_client import Client

    return Client(url, verbose=False, **kw)


def ask_in_browser(page, question: str, answers_before: int | None = None) -> None:
    finals = page.locator("#chat .rag-final").count() if answers_before is None else answers_before
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    page.wait_for_function(
        f"document.querySelectorAll('#chat .rag-final').length > {finals}"
        " && !document.querySelector('#chat .rag-pending')",
        timeout=120_000,
    )


def pick(page, dropdown: str, text: str) -> None:
    """Choose the option containing ``text`` in a Gradio dropdown."""
    page.click(f"{dropdown} input")
    page.locator("li[data-testid=dropdown-option]", has_text=text).first.click()


def log_in(page, url: str, name: str) -> None:
    """Gradio's login page, then the chat."""
    page.goto(url, wait_until="load")
    page.fill("input[data-testid=textbox]", name)
    page.fill("input[type=password]", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_selector("#index-status .rag-status", timeout=60_000)


def turns_in_db(data: Path) -> list[tuple]:
    with sqlite3.connect(data / "chat.sqlite3") as db:
        return db.execute(
            "SELECT c.title, t.position, t.question, t.status FROM turns t "
            "JOIN conversations c ON c.id = t.conversation_id ORDER BY c.created, t.position"
        ).fetchall()


# -- saved conversations -------------------------------------------------------------------------


def test_a_conversation_survives_a_reload_and_a_server_restart(data, tmp_path):
    port = free_port()
    with chromium_page() as page:
        with running_app(data, "extractive", tmp_path / "app1.log", port=port) as url:
            page.goto(url, wait_until="load")
            page.wait_for_selector("#index-status .rag-status")
            ask_in_browser(page, QUESTION)
            assert "16 per hour" in page.inner_text("#chat .rag-final mark")
            page.reload(wait_until="load")
            page.wait_for_selector("#index-status .rag-status")
            assert page.locator("#chat .rag-final").count() == 0  # a fresh page...
            pick(page, "#conversation-pick", "How much must auto workers")  # ...lists the conversation
            page.wait_for_selector("#chat .rag-final mark")
            assert page.input_value("#conversation-title textarea, #conversation-title input") == QUESTION
        with running_app(data, "extractive", tmp_path / "app2.log", port=port) as url:  # restarted
            page.goto(url, wait_until="load")
            page.wait_for_selector("#index-status .rag-status")
            pick(page, "#conversation-pick", "How much must auto workers")
            page.wait_for_selector("#chat .rag-final mark")
            assert "16 per hour" in page.inner_text("#chat .rag-final mark")
            ask_in_browser(page, "Who said that?", answers_before=1)  # continues the same conversation
            page.wait_for_function("document.querySelector('#conversation-pick input').value.includes('2 questions')")
    assert [(pos, q, s) for _, pos, q, s in turns_in_db(data)] == [
        (0, QUESTION, "answered"),
        (1, "Who said that?", "answered"),
    ]


def test_conversations_belong_to_their_browser_key_and_export_as_markdown(shared_app):
    mine, other = client(shared_app), client(shared_app)
    key, other_key = "a" * 24, "b" * 24
    first = mine.predict(message=QUESTION, client_key=key, api_name="/chat")
    cid = first["conversation_id"]
    follow = mine.predict(message="Who said that?", client_key=key, api_name="/chat")
    assert follow["conversation_id"] == cid and follow["turn"] == 1
    # the conversation reached the engine: with none, "Who said that?" is asked back about
    # (without an LLM a follow-up is searched with the last exchange, not rewritten: no searched_for)
    assert "nothing before it" not in follow["abstention_reason"], follow
    listed = mine.predict(client_key=key, api_name="/conversations")
    assert [(c["id"], c["turns"]) for c in listed] == [(cid, 2)]
    assert other.predict(client_key=other_key, api_name="/conversations") == []
    for api_name, args in (
        ("/conversation", (cid, other_key)),
        ("/export_conversation", (cid, other_key)),
        ("/rename_conversation", (cid, "stolen", other_key)),
        ("/delete_conversation", (cid, other_key)),
        ("/feedback", (cid, 0, "down", "bad", other_key)),
    ):
        with pytest.raises(Exception, match="no such conversation"):
            other.predict(*args, api_name=api_name)
    with pytest.raises(Exception, match="no conversation"):  # nor can it continue someone else's
        other.predict(message="And then?", conversation_id=cid, client_key=other_key, api_name="/chat")
    assert mine.predict(cid, "Auto wages", key, api_name="/rename_conversation") == "Auto wages"
    saved = mine.predict(cid, key, api_name="/conversation")
    assert [t["question"] for t in saved["turns"]] == [QUESTION, "Who said that?"]
    assert saved["turns"][0]["citations"][0]["text"] == first["citations"][0]["text"]
    markdown = mine.predict(cid, key, api_name="/export_conversation")
    assert markdown.startswith("# Auto wages\n")
    assert "## Question 1\n\n> How much must auto workers earn per hour under the USMCA?" in markdown
    assert "Sources:" in markdown
    assert "1\\. **USMCA Revision to Prove US-Mexico Synergies: Experts** (usmca-revision-synergies" in markdown
    assert "16 per hour" in markdown and "\\[1\\]" in markdown
    assert mine.predict(cid, key, api_name="/delete_conversation") == "deleted"
    assert mine.predict(client_key=key, api_name="/conversations") == []


@pytest.mark.timeout(1200)
def test_ten_clients_chatting_saving_and_exporting_at_once(shared_app):
    errors, results = [], {}

    def work(i: int) -> None:
        key = f"client{i:02d}" + "x" * 16
        me = client(shared_app)
        try:
            a = me.predict(message=f"Who is Mariana Campos? (client {i})", client_key=key, api_name="/chat")
            b = me.predict(message=f"What did she say about China? (client {i})", client_key=key, api_name="/chat")
            me.predict(a["conversation_id"], f"Client {i}", key, api_name="/rename_conversation")
            listed = me.predict(client_key=key, api_name="/conversations")
            markdown = me.predict(a["conversation_id"], key, api_name="/export_conversation")
            results[i] = (a, b, listed, markdown)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(f"client {i}: {exc!r}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=1000)
    assert errors == [] and len(results) == 10
    for i, (a, b, listed, markdown) in results.items():
        assert a["conversation_id"] == b["conversation_id"] and b["turn"] == 1
        assert [(c["title"], c["turns"]) for c in listed] == [(f"Client {i}", 2)]
        mark = f"\\(client {i}\\)"  # as the Markdown export escapes it
        assert mark in markdown and all(f"\\(client {j}\\)" not in markdown for j in range(10) if j != i)
        assert markdown.startswith(f"# Client {i}\n")


# -- accounts ------------------------------------------------------------------------------------


def test_accounts_keep_users_apart_and_only_admins_change_documents(data, tmp_path):
    users = tmp_path / "users.json"
    add_user(users, "alice", PASSWORD, admin=True)
    add_user(users, "bob", PASSWORD)
    note = tmp_path / "notice.txt"
    note.write_text("Notice\n\nThe canteen opens at seven.", encoding="utf-8")
    from gradio_client import handle_file

    with running_app(data, "extractive", tmp_path / "app.log", args=("--auth", users)) as url:
        t = time.perf_counter()
        with pytest.raises(Exception):  # noqa: B017 - gradio_client's own error for a refused login
            client(url, auth=("bob", "wrong password"))
        assert time.perf_counter() - t >= 1.0  # a failed login costs time
        alice, bob = client(url, auth=("alice", PASSWORD)), client(url, auth=("bob", PASSWORD))
        asked = bob.predict(message=QUESTION, api_name="/chat")
        cid = asked["conversation_id"]
        assert [c["id"] for c in bob.predict(api_name="/conversations")] == [cid]
        assert alice.predict(api_name="/conversations") == []
        for attempt in (  # alice knows bob's id: it still finds nothing, with a client key or without
            lambda: alice.predict(cid, api_name="/conversation"),
            lambda: alice.predict(cid, "x" * 20, api_name="/conversation"),
            lambda: alice.predict(cid, api_name="/delete_conversation"),
            lambda: alice.predict(message="more", conversation_id=cid, api_name="/chat"),
        ):
            with pytest.raises(Exception, match="no (such )?conversation"):
                attempt()
        refused = bob.predict([handle_file(str(note))], "extractive", api_name="/add_files")[0]
        assert refused == "Only an administrator can add documents."
        not_added = bob.predict(message="When does the canteen open?", api_name="/chat")
        assert not_added["abstained"] and "seven" not in not_added["answer"]
        added = alice.predict([handle_file(str(note))], "extractive", api_name="/add_files")[0]
        assert "1 added" in added, added
        with chromium_page() as page:
            log_in(page, url, "bob")
            assert "Signed in as bob" in page.inner_text("#who")
            assert not page.is_visible("text=Add or remove documents")
            pick(page, "#conversation-pick", "How much must auto workers")
            page.wait_for_selector("#chat .rag-final mark")
            page.goto(url.rstrip("/") + "/logout", wait_until="load")
            log_in(page, url, "alice")
            assert "Signed in as alice (administrator)" in page.inner_text("#who")
            assert page.is_visible("text=Add or remove documents")
            page.click("#conversation-pick input")
            assert page.locator("li[data-testid=dropdown-option]", has_text="How much must auto workers").count() == 0


def test_serving_beyond_this_machine_without_accounts_warns(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "chat", "--host", "0.0.0.0", "--port", str(port), "--no-warm-up"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "RAG_DATA_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1"},
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stderr.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert line.startswith("warning: serving on 0.0.0.0 without accounts: anyone who can reach port")
    assert "add or remove documents" in line


# -- feedback --------------------------------------------------------------------------------------


def test_feedback_is_saved_exported_and_re_scored_by_rag_eval(data, tmp_path):
    with running_app(data, "extractive", tmp_path / "app.log") as url:
        me, key = client(url), "f" * 24
        first = me.predict(message=QUESTION, client_key=key, api_name="/chat")
        cid = first["conversation_id"]
        me.predict(message="Which sector did Campos call a key opportunity?", client_key=key, api_name="/chat")
        assert me.predict(cid, 0, "up", "", key, api_name="/feedback") == "saved"
        with pytest.raises(Exception, match="rating must be"):
            me.predict(cid, 1, "sideways", "", key, api_name="/feedback")
        with chromium_page() as page:  # the thumbs in the page, with a comment
            page.goto(url, wait_until="load")
            page.evaluate(f"localStorage.setItem('rag-chat-browser-key', '{key}')")
            page.reload(wait_until="load")
            pick(page, "#conversation-pick", "How much must auto workers")
            page.wait_for_selector("#chat .rag-final")
            page.locator("#chat button[aria-label='Dislike']").nth(1).click()
            page.wait_for_selector("#feedback-row textarea", state="visible")
            page.fill("#feedback-row textarea", "It should name <b>pharmaceuticals</b>.")
            page.click("#feedback-send")
            page.wait_for_selector("#feedback-row", state="hidden")
    with sqlite3.connect(data / "chat.sqlite3") as db:
        rows = db.execute("SELECT rating, comment, question, index_version FROM feedback ORDER BY id").fetchall()
    assert [r[:2] for r in rows] == [("up", ""), ("down", "It should name <b>pharmaceuticals</b>.")]
    assert rows[0][3]  # the index version it was given on

    out = tmp_path / "sets" / "feedback.jsonl"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "RAG_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1"}
    env["RAG_SECOND_EMBEDDER"] = "none"
    done = subprocess.run(
        [sys.executable, "-m", "cli", "feedback", "export", str(out)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "wrote 2 items (1 up-voted, 1 down-voted)" in done.stdout
    up, down = [json.loads(line) for line in out.read_text().splitlines()]
    assert up["answers"] == [re.sub(r"\s*\[\d+\]", "", first["answer"]).strip()]
    assert up["document"] == "usmca-revision-synergies-2025-09-17.txt" and up["support"]
    assert down["comment"] == "It should name <b>pharmaceuticals</b>." and down["turns"][0] == QUESTION
    assert (out.parent / "feedback-docs" / up["document"]).is_file()
    scored = subprocess.run(
        [sys.executable, "-m", "cli", "eval", str(out), "--generator", "extractive", "--out", str(tmp_path / "ev")]
        + ["--no-progress"],
        cwd=ROOT,
        env={**env, "RAG_DATA_DIR": str(tmp_path / "eval-data")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert scored.returncode == 0, scored.stderr[-2000:]
    results = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert results["set"]["items"] == 2
    items = [json.loads(line) for line in (tmp_path / "ev" / "items.jsonl").read_text().splitlines()]
    assert [i["id"] for i in items] == [up["id"], down["id"]]
    assert "answers (1 answerable)" in scored.stdout  # the up-voted answer is the reference


# -- answering: sources first, Stop, the draft ---------------------------------------------------------


def test_sources_first_stop_frees_the_slot_and_the_draft_is_kept(data, tmp_path):
    generations = tmp_path / "generations.log"
    with running_slow_app(data, tmp_path / "app.log", generations) as url, chromium_page() as page:
        page.goto(url, wait_until="load")
        page.wait_for_selector("#index-status .rag-status")
        page.fill("#question textarea", QUESTION)
        page.press("#question textarea", "Enter")
        # the evidence first: sources with the sentence marked, before the model's first word
        page.wait_for_selector("#chat .rag-pending .rag-sources mark", timeout=60_000)
        assert page.locator("#chat .rag-pending .rag-text").count() == 0
        assert "Writing the answer" in page.inner_text("#chat .rag-pending .rag-phase")
        page.wait_for_selector("#chat .rag-pending .rag-text", timeout=60_000)  # then the text, above them
        assert page.is_disabled("#ask") and page.is_visible("#stop")
        page.fill("#question textarea", "my next question, still a draft")
        page.wait_for_timeout(1500)  # several streamed updates later...
        assert page.input_value("#question textarea") == "my next question, still a draft"  # ...the draft is kept
        page.press("#question textarea", "Enter")  # sending now is refused, visibly, and nothing is lost
        page.wait_for_selector("text=Still answering", timeout=10_000)
        assert page.input_value("#question textarea") == "my next question, still a draft"
        clicked = time.time()
        page.click("#stop")
        page.wait_for_selector("#chat .rag-stopped", timeout=10_000)
        assert not page.is_disabled("#ask") and not page.is_visible("#stop")
        deadline = time.time() + 10
        while "closed" not in generations.read_text() and time.time() < deadline:
            time.sleep(0.1)
        closed = float(generations.read_text().split("closed ")[1].split()[0])
        assert closed - clicked < 2.0  # the generation ended at once, not after its remaining ~10 s
        page.fill("#question textarea", "Who is Mariana Campos?")
        started = time.time()
        page.press("#question textarea", "Enter")
        page.wait_for_selector("#chat .rag-pending .rag-text", timeout=30_000)
        assert time.time() - started < 6.0  # the slot was free: the next answer streams at once
        page.wait_for_selector("#chat .rag-final", timeout=60_000)
    assert [(q, s) for _, _, q, s in turns_in_db(data)] == [
        (QUESTION, "stopped"),
        ("Who is Mariana Campos?", "answered"),
    ]


# -- what the page shows -------------------------------------------------------------------------------

CONTRAST = """(sel) => {
  const lum = (c) => {
    const [r, g, b] = c.match(/\\d+/g).slice(0, 3).map(Number).map(v => v / 255)
      .map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const s = getComputedStyle(document.querySelector(sel));
  const [a, b] = [lum(s.color), lum(s.backgroundColor)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""
IN_VIEW = """() => {
  const all = document.querySelectorAll('#chat .rag-final .rag-text');
  const t = all[all.length - 1].getBoundingClientRect();
  const box = document.querySelector('#chat .bubble-wrap').getBoundingClientRect();
  return t.top >= box.top - 1 && t.top < box.bottom - 20 && t.top >= 0 && t.top < window.innerHeight;
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_at_400_px_in_both_themes_the_answer_stays_in_view_and_the_highlight_is_readable(shared_app, scheme):
    with chromium_page(viewport=(400, 800), color_scheme=scheme) as page:
        page.goto(shared_app, wait_until="load")
        page.wait_for_selector("#index-status .rag-status")
        assert page.inner_text("h1") == "Ask your documents"
        assert page.evaluate("document.body.classList.contains('dark') || !!document.querySelector('.dark')") == (
            scheme == "dark"
        )
        ask_in_browser(page, QUESTION)
        ask_in_browser(page, "What did Ortiz say about the USMCA and labor rights?")
        page.wait_for_timeout(1500)  # past Gradio's own scrolling
        assert page.evaluate(IN_VIEW), "the answer's first line is out of view"
        assert page.evaluate("document.documentElement.scrollWidth") <= 401  # no sideways scrolling
        assert page.evaluate(CONTRAST, "#chat .rag-final mark") >= 7.0
        assert page.locator("#chat label", has_text="Chat").count() == 0  # no label over the messages


def test_copy_labels_and_the_users_own_text_are_plain(shared_app):
    with chromium_page(permissions=["clipboard-read", "clipboard-write"]) as page:
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(shared_app, wait_until="load")
        page.wait_for_selector("#index-status .rag-status")
        typed = 'How much **must** auto workers earn? <img src=x onerror="window.__xss=1">'
        ask_in_browser(page, typed)
        assert page.inner_text("#chat .rag-question") == typed
        assert page.query_selector("#chat img[src=x]") is None and page.query_selector("#chat .rag-question b") is None
        page.click("#chat .rag-final button.rag-copy")
        page.wait_for_selector("#chat .rag-final button.rag-copy:has-text('Copied')")
        copied = page.evaluate("navigator.clipboard.readText()")
        assert "<" not in copied and "class=" not in copied
        assert "[1]" in copied and "\n\nSources:\n[1] USMCA Revision" in copied and "16 per hour" in copied
        labels = page.evaluate("[...document.querySelectorAll('#chat [aria-label*=message]')].map(e => e.ariaLabel)")
        assert labels and all("<div" not in label and "class=" not in label for label in labels), labels
        assert any(label.endswith(copied) for label in labels)  # the bot's label is the plain answer
        # a conversation title is user text too
        page.fill("#conversation-title textarea, #conversation-title input", '<img src=x onerror="window.__xss=2">')
        page.click("#rename")
        page.wait_for_function("document.querySelector('#conversation-pick input').value.includes('<img')")
        page.click("#conversation-pick input")
        page.wait_for_selector("li[data-testid=dropdown-option]")
        assert page.query_selector("#conversations img, li[data-testid=dropdown-option] img") is None
        assert page.evaluate("window.__xss") is None and dialogs == []
        page.keyboard.press("Escape")
        page.click("#export")
        page.wait_for_selector("#exported a", timeout=30_000)
        exported = page.evaluate("fetch(document.querySelector('#exported a').href).then(r => r.text())")
        assert exported.startswith('# &lt;img src=x onerror="window.\\_\\_xss=2"&gt;\n') and "<img" not in exported


def test_examples_from_the_documents_enter_sends_and_removal_asks_first(data, tmp_path):
    with running_app(data, "extractive", tmp_path / "app.log") as url, chromium_page() as page:
        page.goto(url, wait_until="load")
        page.wait_for_selector("#index-status .rag-status")
        examples = page.locator("#chat button.example")
        assert examples.count() == 3
        assert [examples.nth(i).inner_text() for i in range(3)] == [
            "Who is Guillermo Malpica?",
            "What is USMCA?",
            "Who is Mariana Campos?",
        ]
        examples.nth(2).click()  # an example is asked at once
        page.wait_for_selector("#chat .rag-final", timeout=60_000)
        assert "Mariana Campos" in page.inner_text("#chat .rag-question")
        page.fill("#question textarea", "Who is")
        page.press("#question textarea", "Shift+Enter")  # a new line, not a send
        page.type("#question textarea", "Estefanía Cruz?")
        assert page.input_value("#question textarea") == "Who is\nEstefanía Cruz?"
        assert page.locator("#chat .rag-final").count() == 1
        page.press("#question textarea", "Enter")
        page.wait_for_function("document.querySelectorAll('#chat .rag-final').length == 2", timeout=60_000)
        page.click("text=Add or remove documents")
        assert page.is_disabled("#add-docs")  # step 2 waits for step 1
        pick(page, "#remove-choice", "USMCA Revision")
        page.click("#remove")
        page.wait_for_selector("#remove-confirm", state="visible")
        assert "Remove usmca-revision-synergies-2025-09-17.txt from the documents?" in page.inner_text(
            "#remove-confirm"
        )
        page.click("#remove-no")
        page.wait_for_selector("#remove-confirm", state="hidden")
        assert "1 document" in page.inner_text("#index-status")
