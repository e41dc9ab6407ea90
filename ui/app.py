"""The Gradio chat app behind ``rag chat``: streaming cited answers, sources, uploads, settings.

Per browser session: the conversation (a ``gr.State``) and the settings. Shared: one engine per
generator (index, embedder, LLM), loaded once and warmed at start-up. The in-process LLM answers
one question at a time, so every answering event shares one queue slot (``concurrency_id``);
waiting users see their place in the queue instead of an error. Indexing uploads has its own
slot, so chatting goes on while a document is being embedded.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no phoning home
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402

from index.errors import UserError  # noqa: E402
from rag import library  # noqa: E402
from rag.api import get_engine, prepare_in_background  # noqa: E402
from rag.records import Answer  # noqa: E402
from ui.render import render_answer, render_error, render_pending, render_status  # noqa: E402

log = logging.getLogger("rag.ui")
CSS_PATH = Path(__file__).with_name("style.css")
ANSWER_SLOT = "answer"  # the queue slot all answering events share
UPLOAD_TYPES = sorted(library.SUPPORTED_SUFFIXES)


class ChatApp:
    """Event handlers for one configured app; holds no per-user state (that lives in gr.State)."""

    def __init__(self, config, generator: str, documents: list[str] | None = None):
        self.config = config
        self.generator = generator
        self.documents = list(documents or [])  # `rag chat --document NAME`: the initial scope
        self.generators = list(dict.fromkeys([generator, "llm", "extractive"]))

    def generator_name(self, spec: str | None = None) -> str:
        try:
            return get_engine(self.config, spec or self.generator).generator.name
        except UserError as exc:
            return f"{spec or self.generator} (unavailable: {exc})"
        except Exception as exc:  # a broken generator must not break the status panel; the log has why
            log.exception("generator %s failed to load", spec or self.generator)
            return f"{spec or self.generator} (unavailable: internal error {type(exc).__name__})"

    def warm_up(self) -> None:
        """Load models and pre-read the prompt prefix so the first question is fast."""
        try:
            get_engine(self.config, self.generator).warm_up()
            log.info("warm-up done")
        except UserError as exc:  # no index yet, etc.: the chat says so when asked
            log.info("warm-up skipped: %s", exc)
        except Exception:
            log.exception("warm-up failed")

    # -- answering ----------------------------------------------------------------

    def respond(
        self,
        message: str,
        chat: list,
        history: list,
        top_k: int,
        generator: str,
        show_retrieved: bool,
        scope: list[str] | None = None,
    ) -> Iterator[tuple]:
        """UI: stream the answer into the chat, then replace it with the verified, cited version."""
        message = (message or "").strip()
        if not message:
            gr.Warning("Type a question first.")
            yield chat, history, ""
            return
        chat = [*chat, {"role": "user", "content": message}, {"role": "assistant", "content": render_pending("")}]
        yield chat, history, ""
        streamed = ""
        try:
            engine = get_engine(self.config, generator)
            for item in engine.stream(message, history, top_k=int(top_k), documents=list(scope or []) or None):
                if isinstance(item, Answer):
                    chat[-1] = {"role": "assistant", "content": render_answer(item, show_retrieved)}
                    history = [
                        *history,
                        {"role": "user", "content": message},
                        {"role": "assistant", "content": item.text},
                    ]
                elif isinstance(item, str):
                    streamed += item
                    chat[-1] = {"role": "assistant", "content": render_pending(streamed)}
                yield chat, history, ""
        except UserError as exc:  # an empty question, a missing index or model...
            chat[-1] = {"role": "assistant", "content": render_error(str(exc))}
            yield chat, history, ""
        except Exception as exc:  # keep the session alive; the log has the details
            log.exception("answering failed")
            chat[-1] = {
                "role": "assistant",
                "content": render_error(f"internal error ({type(exc).__name__}); see the server log"),
            }
            yield chat, history, ""

    def chat(self, message: str, history: list, documents: list[str] | None = None) -> tuple[dict, list]:
        """API: answer ``message`` in this client's conversation; returns the answer and its sources.
        ``documents``: answer only from these (file names, paths, globs or titles)."""
        message = (message or "").strip()
        if not message:
            raise gr.Error("message is empty: send a question")
        if isinstance(documents, str):
            documents = [documents]
        try:
            engine = get_engine(self.config, self.generator)
            answer = engine.answer(message, history, documents=[d for d in documents or [] if d] or None)
        except UserError as exc:
            raise gr.Error(str(exc)) from None
        history = [*history, {"role": "user", "content": message}, {"role": "assistant", "content": answer.text}]
        return api_payload(answer), history

    # -- documents ----------------------------------------------------------------

    def status_html(self, generator: str | None = None, status: library.LibraryStatus | None = None) -> str:
        return render_status(status or library.status(self.config), self.generator_name(generator))

    def document_choices(self, status: library.LibraryStatus | None = None) -> list[tuple[str, str]]:
        return [(f"{d.title} ({d.source})", d.source) for d in (status or library.status(self.config)).documents]

    def _panel_updates(self, generator: str) -> tuple:
        """Status panel, removal list and scope choices after a change, from one read of the manifest."""
        status = library.status(self.config)
        choices = self.document_choices(status)
        return self.status_html(generator, status), gr.update(choices=choices, value=None), gr.update(choices=choices)

    def initial_scope(self) -> list[str]:
        """The sources `rag chat --document NAME` picked (an unknown name is refused at start-up)."""
        return library.scope_sources(self.config, self.documents) if self.documents else []

    def add_files(self, files: list | None, generator: str, progress=gr.Progress()) -> tuple:  # noqa: B008 - Gradio's idiom
        if not files:
            return "Choose one or more files first.", gr.update(), gr.update(), gr.update(), None
        pairs = [(Path(f).name, Path(f)) for f in files]
        progress(0, desc="Checking files…")

        def on_progress(done: int, total: int) -> None:
            progress(done / total, desc=f"Embedding chunks {done}/{total}")

        try:
            result = library.add_uploads(pairs, self.config, on_progress=on_progress)
        except UserError as exc:  # e.g. another `rag index` held the index for too long
            return f"⚠ Nothing was added: {exc}", gr.update(), gr.update(), None
        except Exception as exc:
            log.exception("upload failed")
            note = f"⚠ Nothing was added: internal error ({type(exc).__name__}); see the server log"
            return note, gr.update(), gr.update(), gr.update(), None
        lines = []
        if result.report is not None:
            if result.report.wrote:  # the model reads the changed corpus now, not at the next question
                prepare_in_background(self.config, generator)
            lines.append(result.report.summary().splitlines()[0])
            lines += [f"- skipped {s}" for s in result.report.skipped]
        lines += [f"- ⚠ refused {r}" for r in result.rejected]
        return ("\n".join(lines) or "Nothing to add.", *self._panel_updates(generator), None)

    def remove(self, source: str | None, generator: str) -> tuple:
        if not source:
            return "Pick a document to remove.", gr.update(), gr.update(), gr.update()
        try:
            report = library.remove_document(source, self.config)
            note = report.summary().splitlines()[0]
            prepare_in_background(self.config, generator)
        except UserError as exc:
            note = f"⚠ Not removed: {exc}"
        except Exception as exc:
            log.exception("remove failed")
            note = f"⚠ Not removed: internal error ({type(exc).__name__}); see the server log"
        return (note, *self._panel_updates(generator))


def api_payload(answer: Answer) -> dict:
    """What ``/chat`` returns: the verified answer and, per citation, where its support is."""
    return {
        "question": answer.question,  # as answered (a very long one is truncated; see notices)
        "answer": answer.text,
        "abstained": answer.abstained,
        "language": answer.language,
        "searched_for": answer.rewritten_question,
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


def build_app(config, generator: str, documents: list[str] | None = None) -> gr.Blocks:
    handlers = ChatApp(config, generator, documents)
    with gr.Blocks(title="Cited answers from your documents", analytics_enabled=False) as app:
        history = gr.State([])  # the plain-text conversation the engine sees, one per browser session
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Chat",
                    elem_id="chat",
                    height=620,
                    latex_delimiters=[],
                    sanitize_html=True,
                    feedback_options=None,
                    buttons=["copy"],
                    placeholder="Ask a question about your documents. Every answer cites the passages it comes from.",
                )
                with gr.Row():
                    question = gr.Textbox(
                        show_label=False,
                        placeholder="Ask about your documents…",
                        scale=6,
                        elem_id="question",
                        autofocus=True,
                        max_lines=6,
                    )
                    ask = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                new_chat = gr.Button("New chat", elem_id="new-chat", size="sm")
            with gr.Column(scale=2):
                with gr.Accordion("Index", open=True):
                    status = gr.HTML(elem_id="index-status")
                with gr.Accordion("Settings", open=True):
                    top_k = gr.Slider(1, 20, value=config.top_k, step=1, label="Passages to retrieve (top-k)")
                    generator_choice = gr.Dropdown(
                        handlers.generators,
                        value=generator,
                        label="Answer generator",
                        info="llm: local model; extractive: quotes the best sentences",
                    )
                    show_retrieved = gr.Checkbox(False, label="Show all retrieved passages")
                    scope = gr.Dropdown(
                        handlers.document_choices(),
                        value=handlers.initial_scope(),
                        multiselect=True,
                        label="Answer only from",
                        info="empty: all documents",
                        elem_id="scope",
                    )
                with gr.Accordion("Documents", open=True):
                    files = gr.File(
                        label=f"Add documents ({' '.join(UPLOAD_TYPES)}; up to "
                        f"{library.MAX_UPLOAD_BYTES // 2**20} MiB each)",
                        file_count="multiple",
                        file_types=UPLOAD_TYPES,
                        type="filepath",
                        elem_id="upload",
                    )
                    add = gr.Button("Add to index", elem_id="add-docs")
                    documents_note = gr.Markdown(elem_id="documents-note")
                    to_remove = gr.Dropdown(
                        handlers.document_choices(), value=None, label="Remove a document", elem_id="remove-choice"
                    )
                    remove = gr.Button("Remove from index", variant="stop", size="sm")
        # the hidden pieces of the API endpoint `/chat`
        api_message = gr.Textbox(visible=False)
        api_documents = gr.Dropdown([], value=[], multiselect=True, allow_custom_value=True, visible=False)
        api_answer = gr.JSON(visible=False)
        api_button = gr.Button(visible=False)

        answer_inputs = [question, chatbot, history, top_k, generator_choice, show_retrieved, scope]
        answer_outputs = [chatbot, history, question]
        for trigger in (question.submit, ask.click):
            trigger(
                handlers.respond,
                answer_inputs,
                answer_outputs,
                concurrency_id=ANSWER_SLOT,
                concurrency_limit=1,
                api_visibility="undocumented",
                show_progress="minimal",
            )
        api_button.click(
            handlers.chat,
            [api_message, history, api_documents],
            [api_answer, history],
            api_name="chat",
            concurrency_id=ANSWER_SLOT,
            concurrency_limit=1,
        )
        new_chat.click(
            lambda: ([], [], ""), None, [chatbot, history, question], queue=False, api_visibility="undocumented"
        )
        chatbot.clear(lambda: [], None, history, queue=False, api_visibility="undocumented")  # its trash icon
        app.load(handlers.status_html, None, status, api_visibility="undocumented")
        add.click(
            handlers.add_files,
            [files, generator_choice],
            [documents_note, status, to_remove, scope, files],
            concurrency_id="index",
            concurrency_limit=1,
            api_visibility="undocumented",
        )
        remove.click(
            handlers.remove,
            [to_remove, generator_choice],
            [documents_note, status, to_remove, scope],
            concurrency_id="index",
            concurrency_limit=1,
            api_visibility="undocumented",
        )
        generator_choice.change(handlers.status_html, [generator_choice], [status], api_visibility="undocumented")
    app.queue(default_concurrency_limit=1)
    app._rag_handlers = handlers  # for start-up warm-up and tests
    return app


def launch(
    config, generator: str, host: str = "127.0.0.1", port: int = 7860, warm: bool = True, documents=None
) -> None:
    """Start the server (blocks). Models load in the background while the page is already usable."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for noisy in ("httpx", "faiss.loader", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    app = build_app(config, generator, documents)
    if warm:
        threading.Thread(target=app._rag_handlers.warm_up, name="warm-up", daemon=True).start()
    theme = gr.themes.Soft(
        font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]
    )  # system fonts: no web font downloads
    print(
        f"Chat open at http://{host}:{port}  (API: gradio_client.Client(url).predict(message=..., "
        'api_name="/chat"); Ctrl-C stops)',
        flush=True,
    )
    app.launch(
        server_name=host,
        server_port=port,
        theme=theme,
        css_paths=[CSS_PATH],
        ssr_mode=False,
        footer_links=["api"],
        max_file_size=library.MAX_UPLOAD_BYTES,
        show_error=True,
        quiet=True,
    )
