"""The generator interface: backends stream text, then report how the generation ended in a
``GenerationResult`` (they never write into the request). No models: a local fake chat server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rag.generation.base import GenerationRequest, GenerationResult, collect
from rag.generation.extractive import ExtractiveGenerator
from rag.generation.openai_compat import OpenAICompatibleGenerator
from rag.prompt import EXCERPTS_HEADER, answer_prompt
from rag.support import SupportScorer
from tests.fakes import HashEmbedder
from tests.test_citations import passages


class FakeChatServer(BaseHTTPRequestHandler):
    """An OpenAI-compatible /v1/chat/completions that streams two pieces, cut by the token limit."""

    bodies: list[dict] = []

    def do_POST(self):  # noqa: N802 - the name http.server calls
        length = int(self.headers["Content-Length"])
        FakeChatServer.bodies.append(json.loads(self.rfile.read(length)))
        events = [
            {"choices": [{"delta": {"content": "Workers earn "}, "finish_reason": None}]},
            {"choices": [{"delta": {"content": "US$16"}, "finish_reason": None}]},
            {"choices": [{"delta": {}, "finish_reason": "length"}]},
        ]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for event in events:
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args):
        pass


@pytest.fixture
def chat_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeChatServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_an_openai_compatible_server_reports_its_finish_reason_in_the_result(chat_server):
    context = passages()
    prompt = answer_prompt("How much must auto workers earn?", context)
    request = GenerationRequest(prompt, "How much must auto workers earn?", context, max_tokens=7)
    items = list(OpenAICompatibleGenerator(chat_server).stream(request))
    assert items[:-1] == ["Workers earn ", "US$16"]
    assert items[-1] == GenerationResult(finish_reason="length") and items[-1].cut_off
    assert FakeChatServer.bodies[-1]["messages"] == prompt.messages and FakeChatServer.bodies[-1]["max_tokens"] == 7


def test_the_extractive_generator_answers_with_the_scorer_it_was_made_with():
    context = passages()
    question = "How much must auto workers earn per hour?"
    generator = ExtractiveGenerator(SupportScorer(HashEmbedder()))
    text, result = collect(generator.stream(GenerationRequest(answer_prompt(question, context), question, context)))
    assert text == "Auto workers must earn at least US$16 per hour under the USMCA [2]."
    assert result == GenerationResult(finish_reason="stop") and not result.cut_off


def test_a_prompt_marks_its_stable_prefix_only_when_the_passages_are_fixed():
    context = passages()
    fixed = answer_prompt("Who?", context, fixed_passages=len(context))
    last = fixed.messages[-1]["content"]
    stable = last[: fixed.stable_prefix_chars]
    assert stable.endswith(context[-1].text) and "Who?" in last[fixed.stable_prefix_chars :]
    unfixed = answer_prompt("Who?", context)  # only the system text, the examples and the excerpts' header
    assert unfixed.messages[-1]["content"][: unfixed.stable_prefix_chars] == EXCERPTS_HEADER + "\n"
    assert answer_prompt("Who?", context).messages == fixed.messages  # the text itself is the same
    # a document read whole, then another document's evidence: only the document is stable
    part = answer_prompt("Who?", context, fixed_passages=len(context) - 1)
    stable = part.messages[-1]["content"][: part.stable_prefix_chars]
    assert stable.endswith(context[-2].text) and context[-1].text not in stable
    assert part.messages == fixed.messages
