"""The Gradio chat app behind ``rag chat``: streaming cited answers, saved conversations, accounts,
answer scope, feedback, uploads and settings.

Per browser session: the open conversation (``gr.State``) and the settings; which saved
conversations are this browser's is known from a random key kept in its localStorage or, with
accounts (``rag chat --auth FILE``), from the logged-in user. Conversations and feedback live in
SQLite (ui/conversations.py). Shared: one engine per generator (index, embedder, LLM), loaded once
and warmed at start-up. The in-process LLM answers one question at a time, so every answering event
shares one queue slot (``concurrency_id``); waiting users see their place in the queue.
Indexing uploads has its own slot, so chatting goes on while a document is being embedded.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no phoning home
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402

from index.errors import UserError  # noqa: E402
from index.scope import UnknownDocument  # noqa: E402
from rag import library  # noqa: E402
from rag.api import get_engine  # noqa: E402
from rag.records import Answer, Sources  # noqa: E402
from ui.accounts import Accounts, User  # noqa: E402
from ui.conversations import ConversationStore, NotFound, answer_from_dict, database_path  # noqa: E402
from ui.render import (  # noqa: E402
    conversation_markdown,
    inert,
    render_answer,
    render_conversation_list_label,
    render_error,
    render_pending,
    render_question,
    render_status,
    render_stopped,
)

log = logging.getLogger("rag.ui")
CSS_PATH = Path(__file__).with_name("style.css")
JS_PATH = Path(__file__).with_name("chat.js")
ANSWER_SLOT = "answer"  # the queue slot all answering events share
UPLOAD_TYPES = sorted(library.SUPPORTED_SUFFIXES)
ALL_DOCUMENTS = "*"  # the "Answer from" choice meaning every document
KEEP_SCOPE = object()  # (after an upload) the "Answer from" value stays as the page has it
CLIENT_KEY = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
# Which saved conversations are this browser's, without accounts: a random key it keeps in localStorage
# (made on its first visit; survives reloads and server restarts), read before the page's load event.
BROWSER_KEY_JS = """(key) => {
  const name = "rag-chat-browser-key";
  let value = localStorage.getItem(name);
  if (!value || !/^[A-Za-z0-9_-]{16,128}$/.test(value)) {
    const bytes = new Uint8Array(18);
    crypto.getRandomValues(bytes);
    value = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    localStorage.setItem(name, value);
  }
  return [value];
}"""
GENERATOR_LABELS = {
    "llm": "Local AI model: writes the answer (slower)",
    "extractive": "Quotes only: the best sentences, no AI model (fast)",
}


class ChatApp:
    """Event handlers for one configured app; per-user state lives in gr.State and the database."""

    def __init__(
        self,
        config,
        generator: str,
        accounts: Accounts | None = None,
        store: ConversationStore | None = None,
        documents: list[str] | None = None,
    ):
        self.config = config
        self.generator = generator
        self.documents = list(documents or [])  # `rag chat --document NAME`: the initial "Answer from"
        self.generators = list(dict.fromkeys([generator, "llm", "extractive"]))
        self.accounts = accounts
        self.store = store or ConversationStore(database_path(config.data_dir))
        self.inflight: dict[str, dict] = {}  # session -> the answer being streamed (for Stop)
        self.preparing = threading.Event()  # set while the model re-reads changed documents
        self._examples: tuple[str | None, list[str]] = (None, [])

    def engine(self, spec: str | None = None):
        return get_engine(self.config, spec or self.generator)

    def generator_name(self, spec: str | None = None) -> str:
        try:
            return self.engine(spec).generator.name
        except UserError as exc:
            return f"{spec or self.generator} (unavailable: {exc})"
        except Exception as exc:  # a broken generator must not break the status panel; the log has why
            log.exception("generator %s failed to load", spec or self.generator)
            return f"{spec or self.generator} (unavailable: internal error {type(exc).__name__})"

    def warm_up(self, generator: str | None = None) -> bool:
        """Load models and pre-read the prompt prefix so the first question is fast; False when that
        could not be done (no index yet, etc.: the chat says so when asked)."""
        self.preparing.set()
        try:
            self.engine(generator).warm_up()
            log.info("warm-up done")
            return True
        except UserError as exc:
            log.info("warm-up skipped: %s", exc)
        except Exception:
            log.exception("warm-up failed")
        finally:
            self.preparing.clear()
        return False

    # -- who is asking ------------------------------------------------------------------

    def user(self, request: gr.Request | None) -> User | None:
        return self.accounts.user(getattr(request, "username", None)) if self.accounts else None

    def owner(self, request: gr.Request | None, client_key: str | None) -> str:
        """Whose conversations these are: the logged-in user, else this browser's (or API client's) key."""
        if self.accounts:
            user = self.user(request)
            if user is None:
                raise gr.Error("Your account is no longer valid; log in again.")
            return f"user:{user.name}"
        if client_key and CLIENT_KEY.match(client_key):
            return f"browser:{client_key}"
        session = getattr(request, "session_hash", None) or "local"
        return f"session:{session}"

    def may_change_documents(self, request: gr.Request | None) -> bool:
        if not self.accounts:
            return True
        user = self.user(request)
        return bool(user and user.admin)

    def _require_admin(self, request) -> None:
        if not self.may_change_documents(request):
            raise gr.Error("Only an administrator can add or remove documents.")

    # -- page load ----------------------------------------------------------------------

    def on_load(self, client_key: str, request: gr.Request = None) -> tuple:
        if not (client_key and CLIENT_KEY.match(client_key)):
            client_key = uuid.uuid4().hex + uuid.uuid4().hex[:8]
        user = self.user(request)
        if user:
            who = f"Signed in as **{inert(user.name)}**{' (administrator)' if user.admin else ''}"
        else:
            who = "Conversations are kept in this browser" if not self.accounts else ""
        status = library.status(self.config)
        return (
            client_key,
            gr.update(value=who),
            gr.update(visible=self.may_change_documents(request)),
            self._conversation_choices(self.owner(request, client_key)),
            gr.update(examples=self.example_messages(status)),
            self.status_html(None, status),
            self._scope_update(status),
            self.document_choices(status),
        )

    def example_messages(self, status: library.LibraryStatus | None = None) -> list[dict] | None:
        return [{"text": q} for q in self.examples(status)] or None

    def examples(self, status: library.LibraryStatus | None = None) -> list[str]:
        """Three example questions drawn from the indexed documents (no LLM), cached per index version."""
        status = status or library.status(self.config)
        if status.problem:
            return []
        if self._examples[0] == status.built_at:
            return self._examples[1]
        questions: list[str] = []
        try:
            view = self.engine().snapshot()
            chunks = view.chunks_of([d.doc_id for d in status.documents])[:3000]
            questions = library.example_questions(chunks, len(status.documents) > 1)
        except UserError as exc:
            log.info("no example questions: %s", exc)
        except Exception:
            log.exception("no example questions")
        for doc in status.documents:
            if len(questions) >= 3:
                break
            questions.append(f"What is “{doc.title}” about?")
        self._examples = (status.built_at, questions[:3])
        return self._examples[1]

    # -- answering ----------------------------------------------------------------------

    def start(self, message: str, chat: list, busy: bool, cid: str | None, client_key: str, request: gr.Request = None):
        """Instant part of sending (no queue): show the question, clear the box, open the conversation."""
        message = (message or "").strip()
        if busy:
            gr.Warning("Still answering: your text stays in the box. Send it when this answer ends, or press Stop.")
            raise gr.Error("busy", visible=False, print_exception=False)
        if not message:
            gr.Warning("Type a question first.")
            raise gr.Error("empty", visible=False, print_exception=False)
        owner = self.owner(request, client_key)
        title = None
        if cid:
            try:
                title = self.store.get(owner, cid).info.title
            except NotFound:
                cid = None
        if not cid:
            cid = self.store.create(owner, message)
            title = self.store.get(owner, cid).info.title
        phase = "preparing" if self.preparing.is_set() else None
        chat = [
            *chat,
            {"role": "user", "content": render_question(message)},
            {"role": "assistant", "content": render_pending("", phase=phase)},
        ]
        listed = self._conversation_choices(owner, cid)
        return chat, "", message, cid, title, listed, True, gr.update(interactive=False), gr.update(visible=True)

    def respond(
        self,
        message: str,
        chat: list,
        history: list,
        cid: str,
        client_key: str,
        top_k: int,
        generator: str,
        show_retrieved: bool,
        scope: list | None,
        request: gr.Request = None,
    ) -> Iterator[tuple]:
        """Stream the answer: the evidence first (the engine's ``Sources``), then the text as it
        is written above it, then the verified, cited answer replacing both. The turn is saved at the
        end, also when it is stopped or fails."""
        owner = self.owner(request, client_key)
        documents = self._scope(scope)
        settings = {"generator": generator, "top_k": int(top_k), "documents": documents or "all"}
        session = getattr(request, "session_hash", None) or "local"
        flight = {"question": message, "partial": "", "done": False, "stopped": False}
        self.inflight[session] = flight
        key = uuid.uuid4().hex[:8]
        sources: Sources | None = None
        streamed = ""
        no_change = gr.update()
        stream = None
        try:
            stream = self.engine(generator).stream(message, history, top_k=int(top_k), documents=documents)
            for item in stream:
                if flight["stopped"]:  # Stop was pressed and its cancellation has not reached us yet
                    break
                if isinstance(item, Answer):
                    flight["done"] = True
                    self.store.add_turn(owner, cid, message, "answered", settings, answer=item)
                    chat[-1] = {"role": "assistant", "content": render_answer(item, show_retrieved, key)}
                    history = [
                        *history,
                        {"role": "user", "content": message},
                        {"role": "assistant", "content": item.text},
                    ]
                    yield chat, history, self._conversation_choices(owner, cid)
                    continue
                if isinstance(item, Sources):
                    sources = item
                elif isinstance(item, str):
                    streamed += item
                    flight["partial"] = streamed
                chat[-1] = {"role": "assistant", "content": render_pending(streamed, sources, key=key)}
                yield chat, history, no_change
            if flight["stopped"] and not flight["done"]:
                # a late update must agree with what Stop showed, never bring the pending bubble back
                flight["done"] = True
                self._save_quietly(owner, cid, message, "stopped", settings, streamed)
                chat[-1] = {"role": "assistant", "content": render_stopped(streamed)}
                yield chat, history, self._conversation_choices(owner, cid)
        except GeneratorExit:  # Stop (or the page went away): keep the question and what was written
            if not flight["done"]:
                flight["done"] = True
                self._save_quietly(owner, cid, message, "stopped", settings, streamed)
            raise
        except UserError as exc:  # a missing index or model...
            flight["done"] = True
            self._save_quietly(owner, cid, message, "error", settings, str(exc))
            chat[-1] = {"role": "assistant", "content": render_error(str(exc))}
            yield chat, history, self._conversation_choices(owner, cid)
        except Exception as exc:  # keep the session alive; the log has the details
            log.exception("answering failed")
            flight["done"] = True
            note = f"internal error ({type(exc).__name__}); see the server log"
            self._save_quietly(owner, cid, message, "error", settings, note)
            chat[-1] = {"role": "assistant", "content": render_error(note)}
            yield chat, history, self._conversation_choices(owner, cid)
        finally:
            if stream is not None:
                stream.close()  # ends the generation now, so the LLM is free for the next question
            if self.inflight.get(session) is flight:
                del self.inflight[session]

    def _save_quietly(self, owner, cid, question, status, settings, partial) -> None:
        try:
            self.store.add_turn(owner, cid, question, status, settings, partial=partial)
        except Exception:
            log.exception("could not save a %s turn", status)

    @staticmethod
    def finish() -> tuple:
        return False, gr.update(interactive=True), gr.update(visible=False)

    def stop(self, chat: list, question: str, cid: str | None, client_key: str, request: gr.Request = None) -> tuple:
        """Stop: the answering event is cancelled (its generator closed, which ends the LLM's generation);
        the bubble says it was stopped, with what had been written. A question still waiting in the
        queue never started: it is saved as stopped here."""
        session = getattr(request, "session_hash", None) or "local"
        flight = self.inflight.get(session)
        waiting = bool(chat) and chat[-1].get("role") == "assistant" and "rag-pending" in str(chat[-1].get("content"))
        if flight is None and waiting and cid:
            self._save_quietly(self.owner(request, client_key), cid, question, "stopped", {}, "")
        if flight is not None:
            flight["stopped"] = True  # whatever the answer stream still sends shows it stopped
        if flight is not None or waiting:
            partial = flight["partial"] if flight is not None else ""
            chat = [*chat[:-1], {"role": "assistant", "content": render_stopped(partial)}]
        return (chat, *self.finish())

    def chat(
        self,
        message: str,
        state,
        conversation_id: str = "",
        client_key: str = "",
        documents: list[str] | None = None,
        request: gr.Request = None,
    ) -> tuple[dict, dict]:
        """API: answer ``message`` in a saved conversation (``conversation_id``, else this client's current
        one, else a new one); returns the answer, its sources and the conversation's id.
        ``documents``: answer only from these (file names, paths, globs or titles)."""
        message = (message or "").strip()
        if not message:
            raise gr.Error("message is empty: send a question")
        if isinstance(documents, str):
            documents = [documents]
        documents = [d for d in documents or [] if d] or None
        owner = self.owner(request, client_key)
        cid = conversation_id or (state.get("conversation_id") if isinstance(state, dict) else None)
        history: list[dict] = []
        if cid:
            try:
                history = self.store.get(owner, cid).history()
            except NotFound:
                if conversation_id:
                    raise gr.Error(f"no conversation {conversation_id!r} for you") from None
                cid = None
        try:
            answer = self.engine().answer(message, history, documents=documents)
        except UserError as exc:
            raise gr.Error(str(exc)) from None
        if not cid:
            cid = self.store.create(owner, message)
        settings = {"generator": self.generator, "top_k": self.config.top_k, "documents": documents or "all"}
        turn = self.store.add_turn(owner, cid, message, "answered", settings, answer=answer)
        return {**api_payload(answer), "conversation_id": cid, "turn": turn}, {"conversation_id": cid}

    # -- conversations -------------------------------------------------------------------

    def _conversation_choices(self, owner: str, value: str | None = None):
        items = self.store.list(owner)
        choices = [(render_conversation_list_label(c.title, c.updated, c.turns), c.id) for c in items]
        return gr.update(choices=choices, value=value if value in {c.id for c in items} else None)

    def new_chat(self, busy: bool, client_key: str, request: gr.Request = None) -> tuple:
        if busy:
            gr.Warning("Wait for the answer to finish (or Stop it) before starting a new chat.")
            return (gr.update(),) * 6
        return [], [], None, self._conversation_choices(self.owner(request, client_key)), "", gr.update(visible=False)

    def open_conversation(self, cid: str | None, busy: bool, client_key: str, request: gr.Request = None) -> tuple:
        owner = self.owner(request, client_key)
        if busy:
            gr.Warning("Wait for the answer to finish (or Stop it) before opening another conversation.")
            return gr.update(), gr.update(), gr.update(), gr.update(), gr.update()
        if not cid:
            return gr.update(), gr.update(), gr.update(), gr.update(), gr.update()
        try:
            conversation = self.store.get(owner, cid)
        except NotFound as exc:
            gr.Warning(str(exc))
            return gr.update(), gr.update(), gr.update(), self._conversation_choices(owner), gr.update()
        return (
            conversation_chat(conversation),
            conversation.history(),
            cid,
            self._conversation_choices(owner, cid),
            conversation.info.title,
        )

    def rename(self, cid: str | None, title: str, client_key: str, request: gr.Request = None) -> tuple:
        owner = self.owner(request, client_key)
        if not cid:
            gr.Warning("Open a conversation first.")
            return gr.update(), gr.update()
        try:
            title = self.store.rename(owner, cid, title)
        except UserError as exc:
            gr.Warning(str(exc))
            return gr.update(), gr.update()
        return self._conversation_choices(owner, cid), title

    def delete(self, cid: str | None, busy: bool, client_key: str, request: gr.Request = None) -> tuple:
        owner = self.owner(request, client_key)
        if busy:
            gr.Warning("Wait for the answer to finish (or Stop it) before deleting the conversation.")
            return (*(gr.update(),) * 5, gr.update(visible=False))
        if cid:
            try:
                self.store.delete(owner, cid)
            except NotFound as exc:
                gr.Warning(str(exc))
        return [], [], None, self._conversation_choices(owner), "", gr.update(visible=False)

    def export(self, cid: str | None, client_key: str, request: gr.Request = None):
        owner = self.owner(request, client_key)
        if not cid:
            gr.Warning("Open a conversation first.")
            return gr.update(visible=False)
        try:
            conversation = self.store.get(owner, cid)
        except NotFound as exc:
            gr.Warning(str(exc))
            return gr.update(visible=False)
        text = conversation_markdown(conversation.info.title, conversation.info.created, conversation.turns)
        folder = Path(tempfile.mkdtemp(prefix="rag-export-"))
        name = re.sub(r"[^\w\- ]+", "", conversation.info.title).strip()[:60] or "conversation"
        path = folder / f"{name}.md"
        path.write_text(text, encoding="utf-8")
        return gr.update(value=str(path), visible=True)

    # -- feedback -----------------------------------------------------------------------

    def on_like(self, cid: str | None, client_key: str, data: gr.LikeData, request: gr.Request = None) -> tuple:
        owner = self.owner(request, client_key)
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        if not cid or data.liked is None or data.liked == "" or not isinstance(index, int):
            return gr.update(), None, gr.update()
        rating = "up" if data.liked is True or data.liked == "Like" else "down"
        position = index // 2
        try:
            self.store.set_feedback(owner, cid, position, rating, None, self.index_version())
        except UserError as exc:
            gr.Warning(str(exc))
            return gr.update(), None, gr.update()
        prompt = "What was good about it? (optional)" if rating == "up" else "What was wrong? (optional)"
        return (
            gr.update(visible=True),
            {"turn": position, "rating": rating},
            gr.update(value="", label=f"Thanks. {prompt}"),
        )

    def send_comment(self, comment: str, pending: dict | None, cid: str | None, client_key: str, request=None):
        owner = self.owner(request, client_key)
        if not pending or not cid:
            return gr.update(visible=False), ""
        try:
            self.store.set_feedback(owner, cid, pending["turn"], pending["rating"], comment or "", self.index_version())
            gr.Info("Thank you: your feedback is saved.")
        except UserError as exc:
            gr.Warning(str(exc))
        return gr.update(visible=False), ""

    def index_version(self) -> str:
        return library.index_version(self.config)

    # -- documents ----------------------------------------------------------------------

    def status_html(self, generator: str | None = None, status: library.LibraryStatus | None = None) -> str:
        return render_status(status or library.status(self.config), self.generator_name(generator))

    def document_choices(self, status: library.LibraryStatus | None = None):
        docs = (status or library.status(self.config)).documents
        return gr.update(choices=[(f"{d.title} ({Path(d.source).name})", d.source) for d in docs], value=None)

    def initial_scope(self, status: library.LibraryStatus | None = None) -> list[str]:
        """The sources `rag chat --document NAME` picks among the documents indexed now ([] without
        names; a name that picks none any more is left out: start-up refused it if it never did)."""
        chosen: set[str] = set()
        for name in self.documents:
            try:
                chosen.update(library.scope_sources(self.config, [name], status))
            except UnknownDocument:
                pass
        return sorted(chosen)

    def _scope_update(self, status: library.LibraryStatus, keep=None):
        """The "Answer from" choices for ``status``; its value: the initial scope (else all documents)
        on page load; after a removal ``keep``, the page's choice, less what is gone; after an upload
        (``keep=KEEP_SCOPE``) left as the page has it (an upload only adds choices)."""
        choices = [("All documents", ALL_DOCUMENTS)]
        choices += [(f"{d.title} ({Path(d.source).name})", d.source) for d in status.documents]
        update = gr.update(choices=choices)
        if keep is KEEP_SCOPE:
            return update
        known = {value for _, value in choices}
        value = [v for v in keep if v in known] if keep is not None else self.initial_scope(status)
        return {**update, "value": value or [ALL_DOCUMENTS]}

    @staticmethod
    def _scope(scope: list | None) -> list[str] | None:
        chosen = [s for s in (scope or []) if s and s != ALL_DOCUMENTS]
        return chosen if chosen and ALL_DOCUMENTS not in (scope or []) else None

    def _after_change(self, generator: str, scope=KEEP_SCOPE) -> tuple:
        """Panels after documents changed (the page's scope kept, less what is gone), and the model
        re-reading them in the background (the warm-up saves the new prefix's KV state, as
        rag.api.prepare_answers does after `rag index`), so the next question does not wait for it."""
        threading.Thread(target=self.warm_up, args=(generator,), name="re-warm", daemon=True).start()
        status = library.status(self.config)
        return (
            self.status_html(generator, status),
            self.document_choices(status),
            self._scope_update(status, keep=scope if scope is KEEP_SCOPE else list(scope or [])),
            gr.update(examples=self.example_messages(status)),
        )

    def add_files(self, files: list | None, generator: str, progress=gr.Progress(), request: gr.Request = None):  # noqa: B008
        if not self.may_change_documents(request):
            return "Only an administrator can add documents.", gr.update(), gr.update(), None, gr.update(), gr.update()
        if not files:
            return "Choose one or more files first.", gr.update(), gr.update(), None, gr.update(), gr.update()
        pairs = [(Path(f).name, Path(f)) for f in files]
        progress(0, desc="Checking files…")

        def on_progress(done: int, total: int) -> None:
            progress(done / total, desc=f"Reading the documents: passage {done} of {total}")

        try:
            result = library.add_uploads(pairs, self.config, on_progress=on_progress)
        except UserError as exc:  # e.g. another `rag index` held the index for too long
            return f"Nothing was added: {exc}", gr.update(), gr.update(), None, gr.update(), gr.update()
        except Exception as exc:
            log.exception("upload failed")
            note = f"Nothing was added: internal error ({type(exc).__name__}); see the server log"
            return note, gr.update(), gr.update(), None, gr.update(), gr.update()
        lines = []
        if result.report is not None:
            lines.append(result.report.summary().splitlines()[0])
            lines += [f"- skipped {s}" for s in result.report.skipped]
        lines += [f"- refused {r}" for r in result.rejected]
        note = "\n".join(lines) or "Nothing to add."
        if result.report is None:
            return note, gr.update(), gr.update(), None, gr.update(), gr.update()
        status, removal, scope, examples = self._after_change(generator)
        return note, status, removal, None, scope, examples

    def remove(self, source: str | None, generator: str, scope: list | None = None, request: gr.Request = None):
        if not self.may_change_documents(request):
            return "Only an administrator can remove documents.", gr.update(), gr.update(), gr.update(), gr.update()
        if not source:
            return "Pick a document to remove.", gr.update(), gr.update(), gr.update(), gr.update()
        try:
            report = library.remove_document(source, self.config)
            note = report.summary().splitlines()[0]
        except UserError as exc:
            return f"Not removed: {exc}", gr.update(), gr.update(), gr.update(), gr.update()
        except Exception as exc:
            log.exception("remove failed")
            note = f"Not removed: internal error ({type(exc).__name__}); see the server log"
            return note, gr.update(), gr.update(), gr.update(), gr.update()
        return (note, *self._after_change(generator, scope))

    # -- API for saved conversations ------------------------------------------------------

    def api_conversations(self, client_key: str = "", request: gr.Request = None) -> list[dict]:
        """This client's (or user's) saved conversations, newest first."""
        owner = self.owner(request, client_key)
        return [
            {"id": c.id, "title": c.title, "created": c.created, "updated": c.updated, "turns": c.turns}
            for c in self.store.list(owner)
        ]

    def api_conversation(self, conversation_id: str, client_key: str = "", request: gr.Request = None) -> dict:
        """One saved conversation: its turns with the verified answers and their citations."""
        conversation = self._get(conversation_id, client_key, request)
        return {
            "id": conversation.info.id,
            "title": conversation.info.title,
            "created": conversation.info.created,
            "turns": [
                {
                    "question": t.question,
                    "status": t.status,
                    "settings": t.settings,
                    "rating": t.rating,
                    "comment": t.comment,
                    **(api_payload(answer_from_dict(t.answer)) if t.answer else {"answer": t.partial}),
                }
                for t in conversation.turns
            ],
        }

    def api_rename(self, conversation_id: str, title: str, client_key: str = "", request: gr.Request = None) -> str:
        try:
            return self.store.rename(self.owner(request, client_key), conversation_id, title)
        except UserError as exc:
            raise gr.Error(str(exc)) from None

    def api_delete(self, conversation_id: str, client_key: str = "", request: gr.Request = None) -> str:
        try:
            self.store.delete(self.owner(request, client_key), conversation_id)
        except NotFound as exc:
            raise gr.Error(str(exc)) from None
        return "deleted"

    def api_export(self, conversation_id: str, client_key: str = "", request: gr.Request = None) -> str:
        """The conversation as Markdown, with numbered sources."""
        c = self._get(conversation_id, client_key, request)
        return conversation_markdown(c.info.title, c.info.created, c.turns)

    def api_feedback(
        self,
        conversation_id: str,
        turn: int,
        rating: str,
        comment: str = "",
        client_key: str = "",
        request: gr.Request = None,
    ) -> str:
        """Rate answer ``turn`` (0-based) of a conversation "up" or "down", with an optional comment."""
        try:
            self.store.set_feedback(
                self.owner(request, client_key), conversation_id, int(turn), rating, comment, self.index_version()
            )
        except UserError as exc:
            raise gr.Error(str(exc)) from None
        return "saved"

    def _get(self, conversation_id: str, client_key: str, request):
        try:
            return self.store.get(self.owner(request, client_key), conversation_id)
        except NotFound as exc:
            raise gr.Error(str(exc)) from None


def _example_text(data: gr.SelectData) -> str:
    """The text of the example question that was clicked."""
    return data.value["text"] if isinstance(data.value, dict) else str(data.value)


def conversation_chat(conversation) -> list[dict]:
    """A saved conversation as chat messages, each answer rendered as it was shown."""
    chat = []
    for turn in conversation.turns:
        chat.append({"role": "user", "content": render_question(turn.question)})
        if turn.status == "answered" and turn.answer:
            content = render_answer(answer_from_dict(turn.answer))
        elif turn.status == "stopped":
            content = render_stopped(turn.partial)
        else:
            content = render_error(turn.partial or "not answered")
        chat.append({"role": "assistant", "content": content})
    return chat


def api_payload(answer: Answer) -> dict:
    """What ``/chat`` returns: the verified answer and, per citation, where its support is."""
    return {
        "question": answer.question,  # as answered (a very long one is truncated; see notices)
        "answer": answer.text,
        "abstained": answer.abstained,
        "abstention_reason": answer.fallback_reason if answer.abstained else "",
        "language": answer.language,
        "searched_for": answer.searched_for,
        "unsupported_sentences": answer.unsupported_sentences,
        "notices": answer.notices,
        "citations": [
            {
                "number": c.number,
                "title": c.title,
                "source": c.source,
                "location": c.location,  # "page 2", "slide 3", "sheet Exports, row 3", a chapter...
                "text": c.text,
                "span_start": c.span_start,
                "span_end": c.span_end,
                "support": round(c.support, 3),
            }
            for c in answer.citations
        ],
        "timings": {k: round(v, 3) for k, v in answer.timings.items()},
    }


def build_app(
    config, generator: str, accounts: Accounts | None = None, documents: list[str] | None = None
) -> gr.Blocks:
    """The app; ``documents`` (`rag chat --document NAME`): what "Answer from" starts with (a name that
    picks no indexed document is refused here, at start-up)."""
    if documents:
        library.scope_sources(config, documents)  # UnknownDocument, with the close matches
    handlers = ChatApp(config, generator, accounts, documents=documents)
    generator_choices = [(GENERATOR_LABELS.get(g, f"Model server at {g}"), g) for g in handlers.generators]
    with gr.Blocks(title="Ask your documents", analytics_enabled=False) as app:
        history = gr.State([])  # the plain-text conversation the engine sees, one per browser session
        conversation = gr.State(None)  # id of the open saved conversation
        busy = gr.State(False)  # an answer is being made in this session
        pending_question = gr.State("")
        pending_feedback = gr.State(None)
        client_key = gr.Textbox("", visible=False, elem_id="client-key")  # this browser's key (page load)
        with gr.Row(elem_id="header"):
            gr.Markdown("# Ask your documents", elem_id="page-title")
            who = gr.Markdown(elem_id="who")
            if accounts:
                gr.Button("Log out", link="/logout", size="sm", scale=0, elem_id="logout")
        with gr.Row(equal_height=False, elem_id="layout"):
            with gr.Column(scale=3, min_width=320):
                chatbot = gr.Chatbot(
                    show_label=False,
                    elem_id="chat",
                    height="68vh",
                    latex_delimiters=[],
                    sanitize_html=True,
                    feedback_options=("Like", "Dislike"),
                    buttons=[],
                    placeholder="Ask a question about your documents. Every answer cites the passages it comes from.",
                )
                with gr.Row(visible=False, elem_id="feedback-row") as feedback_row:
                    comment = gr.Textbox(label="Comment (optional)", scale=5, max_lines=4, elem_id="feedback-comment")
                    send_comment = gr.Button("Send", scale=1, size="sm", elem_id="feedback-send")
                with gr.Row(elem_id="ask-row"):
                    question = gr.Textbox(
                        show_label=False,
                        placeholder="Ask about your documents… (Enter sends, Shift+Enter adds a line)",
                        scale=6,
                        elem_id="question",
                        autofocus=True,
                        lines=1,
                        max_lines=6,
                    )
                    ask = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="ask")
                    stop = gr.Button("Stop", variant="stop", scale=1, min_width=80, visible=False, elem_id="stop")
                new_chat = gr.Button("New chat", elem_id="new-chat", size="sm")
            with gr.Column(scale=2, min_width=300, elem_id="side"):
                with gr.Accordion("Conversations", open=True, elem_id="conversations"):
                    conversation_pick = gr.Dropdown(
                        [], value=None, label="Saved conversations (newest first)", elem_id="conversation-pick"
                    )
                    with gr.Row():
                        title = gr.Textbox(label="Title", scale=4, max_lines=1, elem_id="conversation-title")
                        rename = gr.Button("Rename", size="sm", scale=1, elem_id="rename")
                    with gr.Row():
                        export = gr.Button("Export as Markdown", size="sm", elem_id="export")
                        delete = gr.Button("Delete…", size="sm", variant="stop", elem_id="delete")
                    with gr.Row(visible=False, elem_id="delete-confirm") as delete_confirm:
                        gr.Markdown("Delete this conversation for good?")
                        delete_yes = gr.Button("Yes, delete", size="sm", variant="stop", elem_id="delete-yes")
                        delete_no = gr.Button("Cancel", size="sm", elem_id="delete-no")
                    exported = gr.File(label="Exported conversation", visible=False, elem_id="exported")
                with gr.Accordion("Answer from", open=True, elem_id="scope-box"):
                    scope = gr.Dropdown(
                        [("All documents", ALL_DOCUMENTS)],
                        value=[ALL_DOCUMENTS],
                        multiselect=True,
                        show_label=False,
                        elem_id="scope",
                    )
                with gr.Accordion("Documents", open=True, elem_id="documents"):
                    status = gr.HTML(elem_id="index-status")
                    with gr.Accordion("Add or remove documents", open=False, visible=not accounts) as manage:
                        files = gr.File(
                            label=f"1. Choose files ({' '.join(UPLOAD_TYPES)}; up to "
                            f"{library.MAX_UPLOAD_BYTES // 2**20} MiB each)",
                            file_count="multiple",
                            file_types=UPLOAD_TYPES,
                            type="filepath",
                            elem_id="upload",
                        )
                        add = gr.Button(
                            "2. Add to the documents", variant="primary", interactive=False, elem_id="add-docs"
                        )
                        documents_note = gr.Markdown(elem_id="documents-note")
                        to_remove = gr.Dropdown([], value=None, label="Remove a document", elem_id="remove-choice")
                        remove = gr.Button("Remove…", variant="stop", size="sm", elem_id="remove")
                        with gr.Row(visible=False, elem_id="remove-confirm") as remove_confirm:
                            remove_question = gr.Markdown()
                            remove_yes = gr.Button("Yes, remove", size="sm", variant="stop", elem_id="remove-yes")
                            remove_no = gr.Button("Cancel", size="sm", elem_id="remove-no")
                with gr.Accordion("Settings", open=False, elem_id="settings"):
                    top_k = gr.Slider(
                        1,
                        20,
                        value=config.top_k,
                        step=1,
                        label="Passages per answer",
                        info="How many passages of your documents an answer may draw on",
                    )
                    generator_choice = gr.Dropdown(
                        generator_choices, value=generator, label="How answers are written", elem_id="generator"
                    )
                    show_retrieved = gr.Checkbox(False, label="Also show every passage that was found, with scores")
        # the hidden pieces of the API endpoint `/chat`
        api_state = gr.State(None)
        api_message = gr.Textbox(visible=False)
        api_conversation = gr.Textbox("", visible=False)
        api_key = gr.Textbox("", visible=False)
        api_documents = gr.Dropdown([], value=[], multiselect=True, allow_custom_value=True, visible=False)
        api_answer = gr.JSON(visible=False)
        api_button = gr.Button(visible=False)

        hidden = {"api_visibility": "undocumented"}
        # handlers that read or write the database and may warn: queued (Gradio delivers gr.Warning only
        # through the queue), each on its own unlimited slot, so they never wait behind an answer
        quick = {"api_visibility": "undocumented", "concurrency_limit": None}
        answering = []
        start_outputs = [chatbot, question, pending_question, conversation, title, conversation_pick, busy, ask, stop]
        respond_inputs = [
            pending_question,
            chatbot,
            history,
            conversation,
            client_key,
            top_k,
            generator_choice,
            show_retrieved,
            scope,
        ]
        start_inputs = [question, chatbot, busy, conversation, client_key]
        example = chatbot.example_select(_example_text, None, question, queue=False, **hidden)
        for trigger in (question.submit, ask.click, example.then):  # Enter, the button, an example question
            # show the question at once (own slot), then answer in the shared LLM slot, then re-enable Ask
            started = trigger(
                handlers.start,
                start_inputs,
                start_outputs,
                trigger_mode="multiple",  # a second Enter while answering gets a reply, not silence
                show_progress="hidden",
                **quick,
            )
            event = started.success(
                handlers.respond,
                respond_inputs,
                [chatbot, history, conversation_pick],
                concurrency_id=ANSWER_SLOT,
                concurrency_limit=1,
                show_progress="minimal",
                **hidden,
            )
            event.then(handlers.finish, None, [busy, ask, stop], queue=False, **hidden)
            answering.append(event)
        # Stop is queued (on its own unlimited slot) so that its bubble travels the same stream as the
        # answer's updates, after them: run outside the queue, it raced them, and an update sent just
        # before Stop could land after it and bring the pending bubble back (2 runs in 7 on a loaded
        # machine, 0 in 8 after). What the answer still sends after Stop shows it stopped (``flight["stopped"]``).
        stop.click(
            handlers.stop,
            [chatbot, pending_question, conversation, client_key],
            [chatbot, busy, ask, stop],
            cancels=answering,
            show_progress="hidden",
            **quick,
        )

        api_button.click(
            handlers.chat,
            [api_message, api_state, api_conversation, api_key, api_documents],
            [api_answer, api_state],
            api_name="chat",
            concurrency_id=ANSWER_SLOT,
            concurrency_limit=1,
        )
        for fn, name in (
            (handlers.api_conversations, "conversations"),
            (handlers.api_conversation, "conversation"),
            (handlers.api_rename, "rename_conversation"),
            (handlers.api_delete, "delete_conversation"),
            (handlers.api_export, "export_conversation"),
            (handlers.api_feedback, "feedback"),
        ):
            gr.api(fn, api_name=name, concurrency_limit=None)

        new_chat.click(
            handlers.new_chat,
            [busy, client_key],
            [chatbot, history, conversation, conversation_pick, title, feedback_row],
            **quick,
        )
        chatbot.clear(lambda: ([], None), None, [history, conversation], queue=False, **hidden)  # its trash icon
        conversation_pick.input(
            handlers.open_conversation,
            [conversation_pick, busy, client_key],
            [chatbot, history, conversation, conversation_pick, title],
            **quick,
        )
        rename.click(handlers.rename, [conversation, title, client_key], [conversation_pick, title], **quick)
        title.submit(handlers.rename, [conversation, title, client_key], [conversation_pick, title], **quick)
        delete.click(lambda: gr.update(visible=True), None, delete_confirm, queue=False, **hidden)
        delete_no.click(lambda: gr.update(visible=False), None, delete_confirm, queue=False, **hidden)
        delete_yes.click(
            handlers.delete,
            [conversation, busy, client_key],
            [chatbot, history, conversation, conversation_pick, title, delete_confirm],
            **quick,
        )
        export.click(handlers.export, [conversation, client_key], [exported], **quick)
        chatbot.like(
            handlers.on_like,
            [conversation, client_key],
            [feedback_row, pending_feedback, comment],
            **quick,
        )
        for trigger in (send_comment.click, comment.submit):
            trigger(
                handlers.send_comment,
                [comment, pending_feedback, conversation, client_key],
                [feedback_row, comment],
                **quick,
            )

        app.load(
            handlers.on_load,
            [client_key],
            [client_key, who, manage, conversation_pick, chatbot, status, scope, to_remove],
            js=BROWSER_KEY_JS,
            **hidden,
        )
        files.change(
            lambda f: (
                gr.update(
                    interactive=bool(f),
                    value=f"2. Add {len(f)} file{'s' * (len(f) != 1)} to the documents" if f else None,
                )
                if f
                else gr.update(interactive=False, value="2. Add to the documents")
            ),
            [files],
            [add],
            queue=False,
            **hidden,
        )
        add.click(
            handlers.add_files,
            [files, generator_choice],
            [documents_note, status, to_remove, files, scope, chatbot],
            concurrency_id="index",
            concurrency_limit=1,
            api_name="add_files",
            api_visibility="undocumented",
        )
        remove.click(
            lambda source: (
                (
                    gr.update(visible=bool(source)),
                    f"Remove **{inert(Path(source).name)}** from the documents?" if source else "",
                )
                if source
                else (gr.update(visible=False), "")
            ),
            [to_remove],
            [remove_confirm, remove_question],
            queue=False,
            **hidden,
        )
        remove_no.click(lambda: gr.update(visible=False), None, remove_confirm, queue=False, **hidden)
        remove_yes.click(lambda: gr.update(visible=False), None, remove_confirm, queue=False, **hidden).then(
            handlers.remove,
            [to_remove, generator_choice, scope],
            [documents_note, status, to_remove, scope, chatbot],
            concurrency_id="index",
            concurrency_limit=1,
            **hidden,
        )
        generator_choice.change(handlers.status_html, [generator_choice], [status], **hidden)
    app.queue(default_concurrency_limit=1)
    app._rag_handlers = handlers  # for start-up warm-up and tests
    return app


def launch(
    config,
    generator: str,
    host: str = "127.0.0.1",
    port: int = 7860,
    warm: bool = True,
    auth_file: str | Path | None = None,
    documents: list[str] | None = None,
) -> None:
    """Start the server (blocks). With ``warm``, the models load and the documents' saved prompt
    state is restored *before* the page opens, so "Chat open" means the first question is answered
    as fast as the tenth (bench/first_answer.py: 7.5 s from that line to the first answer when the
    loading ran behind an open page, the next question 2.0 s)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for noisy in ("httpx", "faiss.loader", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    accounts = Accounts(auth_file) if auth_file else None
    if accounts is None and host not in LOCAL_HOSTS:
        print(
            f"warning: serving on {host} without accounts: anyone who can reach port {port} can use the chat, "
            "read every conversation kept in their own browser, and add or remove documents. "
            "Turn accounts on with `rag users add NAME --admin` and `rag chat --auth FILE`.",
            file=sys.stderr,
            flush=True,
        )
    app = build_app(config, generator, accounts, documents)
    if warm:
        started = time.perf_counter()
        print("Loading the models and the documents' saved state…", file=sys.stderr, flush=True)
        if app._rag_handlers.warm_up():
            print(f"Models ready ({time.perf_counter() - started:.1f} s).", file=sys.stderr, flush=True)
    print(
        f"Chat open at http://{host}:{port}  (API: gradio_client.Client(url).predict(message=..., "
        f'api_name="/chat"); accounts {"on: " + str(auth_file) if accounts else "off"}; Ctrl-C stops)',
        flush=True,
    )
    serve(app, host, port)


def serve(app: gr.Blocks, host: str, port: int) -> None:
    """Serve a built app (blocks): theme, styles, the page script, upload limit, the login hook."""
    accounts = app._rag_handlers.accounts
    theme = gr.themes.Soft(
        font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]
    )  # system fonts: no web font downloads
    app.launch(
        server_name=host,
        server_port=port,
        theme=theme,
        css_paths=[CSS_PATH],
        js=JS_PATH.read_text(encoding="utf-8"),
        ssr_mode=False,
        footer_links=["api"],
        max_file_size=library.MAX_UPLOAD_BYTES,
        show_error=True,
        quiet=True,
        auth=accounts.login if accounts else None,
        auth_message="Log in to ask the documents. An administrator creates accounts with `rag users add NAME`.",
    )
