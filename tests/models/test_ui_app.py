"""The chat app for real: a `rag chat` subprocess, the official gradio_client, and Chromium.

The LLM app is started once for the module (the model loads and warms in the background while
the first test waits in the queue). The XSS test runs its own app with the extractive generator
because it uploads a document into that app's index.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from index.pipeline import build_index
from tests.app_server import chromium_page, running_app
from tests.conftest import SEEDS

pytestmark = pytest.mark.timeout(1200)

SCREENSHOT_DIR = os.environ.get("RAG_SCREENSHOT_DIR")  # set to docs/ to refresh the README's screenshot


@pytest.fixture(scope="module")
def seed_data(tmp_path_factory, real_embedder):
    from index.config import Config

    data = tmp_path_factory.mktemp("ui-data")
    build_index([SEEDS], Config.load(data_dir=data), embedder=real_embedder)
    return data


@pytest.fixture(scope="module")
def llm_app(seed_data, tmp_path_factory):
    log = tmp_path_factory.mktemp("ui-log") / "app.log"
    with running_app(seed_data, "llm", log) as url:
        yield url


def client(url):
    from gradio_client import Client

    return Client(url, verbose=False)


def test_api_answers_a_seed_question_with_sources(llm_app):
    result = client(llm_app).predict(
        message="How much must auto workers earn per hour under the USMCA?", api_name="/chat"
    )
    assert not result["abstained"], result
    assert "16" in result["answer"]
    assert result["citations"], result
    cite = result["citations"][0]
    assert cite["title"] and cite["source"].endswith(".txt") and "16 per hour" in cite["text"]
    assert cite["span_end"] > cite["span_start"]


def test_follow_up_uses_this_clients_history_and_clients_are_isolated(llm_app):
    alice, bob = client(llm_app), client(llm_app)
    first = alice.predict(message="Who is Mariana Campos?", api_name="/chat")
    assert "Campos" in first["answer"] or first["citations"], first
    results = {}

    def ask(name, who):  # both at once: the second waits in the queue, nobody gets an error
        results[name] = who.predict(message="Which sector did she identify as a key opportunity?", api_name="/chat")

    threads = [threading.Thread(target=ask, args=("alice", alice)), threading.Thread(target=ask, args=("bob", bob))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=900)
    follow = results["alice"]
    assert follow["searched_for"] and "Campos" in follow["searched_for"], follow  # resolved with alice's history
    assert "pharmaceutical" in follow["answer"].lower(), follow
    assert results["bob"]["searched_for"] is None  # bob has no history: nothing to resolve "she" against


def test_browser_streams_an_answer_with_highlighted_sources(llm_app, tmp_path):
    shot = Path(SCREENSHOT_DIR or tmp_path) / "ui-chat.png"
    with chromium_page() as page:
        page.goto(llm_app, wait_until="load")
        page.fill("#question textarea", "How much must auto workers earn per hour under the USMCA?")
        page.click("#ask")
        page.wait_for_selector("#chat .rag-pending", timeout=600_000)  # the answer area appears at once
        answer = page.wait_for_selector("#chat .rag-answer:not(.rag-pending) .rag-sources", timeout=600_000)
        chat_text = page.inner_text("#chat")
        assert "16" in chat_text
        assert page.query_selector("#chat a.rag-cite") is not None  # [n] leads to source n
        mark = page.query_selector("#chat .rag-source mark")
        assert mark is not None and "16 per hour" in mark.inner_text()
        assert "1 document, " in page.inner_text("#index-status")
        answer.scroll_into_view_if_needed()
        page.screenshot(path=str(shot), full_page=True)
        # "New chat" clears the conversation
        page.click("#new-chat")
        page.wait_for_function("!document.querySelector('#chat .rag-answer')", timeout=30_000)
    assert shot.stat().st_size > 10_000


def test_hostile_upload_is_shown_as_text_and_runs_nothing(seed_data, tmp_path):
    payload_doc = tmp_path / "security-notice.txt"
    payload_doc.write_text(
        "Security notice about the quarterly audit.\n\n"
        'The audit banner reads <img src=x onerror="window.__xss=1;alert(1)"> exactly as typed. '
        "The footer contains <script>window.__xss=2</script> as plain words. "
        "The quarterly audit found no problems in the warehouse.\n",
        encoding="utf-8",
    )
    data = tmp_path / "data"
    import shutil

    shutil.copytree(seed_data, data, symlinks=True)
    dialogs = []
    with running_app(data, "extractive", tmp_path / "app.log") as url, chromium_page() as page:
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url, wait_until="load")
        page.click("text=Add or remove documents")
        page.set_input_files("#upload input[type=file]", str(payload_doc))
        page.click("#add-docs")
        page.wait_for_function(
            "document.querySelector('#documents-note')?.innerText.includes('Indexed')", timeout=300_000
        )
        page.click("#settings button:has-text('Settings')")
        page.check("text=Also show every passage that was found")
        page.fill("#question textarea", "What does the audit banner read?")
        page.click("#ask")
        page.wait_for_selector("#chat .rag-answer:not(.rag-pending)", timeout=300_000)
        page.wait_for_timeout(1000)  # give any injected handler a chance to fire
        chat_text = page.inner_text("#chat")
        assert '<img src=x onerror="window.__xss=1;alert(1)">' in chat_text
        assert "<script>window.__xss=2</script>" in chat_text
        assert page.evaluate("window.__xss") is None and dialogs == []
        assert page.query_selector('#chat img[src="x"]') is None and page.query_selector("#chat script") is None
        assert len(page.query_selector_all("#index-status .rag-docs li")) == 2  # seed article + the upload
