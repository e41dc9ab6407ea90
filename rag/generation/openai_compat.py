"""Any OpenAI-compatible chat endpoint (llama.cpp server, vLLM, Ollama, ...) by base URL."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

from rag.generation.base import GenerationRequest, GenerationResult, Generator, GeneratorUnavailable


class OpenAICompatibleGenerator(Generator):
    uses_llm = True

    def __init__(self, base_url: str, model: str | None = None, api_key: str | None = None, timeout: float = 300):
        base = base_url.rstrip("/")
        self.base_url = base if base.endswith("/v1") else base + "/v1"
        self.model = model or os.environ.get("RAG_REMOTE_MODEL", "")
        self.api_key = api_key or os.environ.get("RAG_REMOTE_API_KEY") or os.environ.get("OPENAI_API_KEY", "")
        self.timeout = timeout
        self.name = f"openai-compatible:{self.base_url}"

    def _headers(self) -> dict:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def stream(self, request: GenerationRequest) -> Iterator[str | GenerationResult]:
        import httpx

        body = {
            "messages": request.prompt.messages,
            "stream": True,
            "max_tokens": request.max_tokens,
            "temperature": 0.0,
        }
        if self.model:
            body["model"] = self.model
        if request.stop:
            body["stop"] = list(request.stop)
        finish_reason = None
        try:
            with (
                httpx.Client(timeout=self.timeout) as client,
                client.stream(
                    "POST", f"{self.base_url}/chat/completions", json=body, headers=self._headers()
                ) as response,
            ):
                if response.status_code != 200:
                    response.read()
                    raise GeneratorUnavailable(
                        f"{self.base_url} answered HTTP {response.status_code}: {response.text[:300]}"
                    )
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        event = json.loads(data)
                    except ValueError:
                        continue
                    choices = event.get("choices") or []
                    if choices and choices[0].get("finish_reason"):
                        finish_reason = choices[0]["finish_reason"]
                    piece = (choices[0].get("delta") or {}).get("content") if choices else None
                    if piece:
                        yield piece
        except httpx.HTTPError as exc:
            raise GeneratorUnavailable(f"cannot reach the chat endpoint {self.base_url}: {exc}") from None
        yield GenerationResult(finish_reason=finish_reason)
