"""The one interface every answer generator implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from index.errors import ModelError
from rag.records import Passage


class GeneratorUnavailable(ModelError):
    """The backend cannot run here (no model installed, server unreachable...)."""


@dataclass(frozen=True)
class GenerationRequest:
    """Everything a backend may need: LLM backends read ``messages``; extractive reads the rest."""

    messages: list[dict]
    question: str
    passages: list[Passage]
    language: str = "en"
    max_tokens: int = 200
    stop: tuple[str, ...] = field(default=())
    info: dict = field(default_factory=dict, compare=False)  # filled by the backend, e.g. finish_reason
    utility: bool = False  # a side task (rewrite, translation): must not disturb the answer prompt's cache
    # The first ``prefix_chars`` characters of the last message are the same for every question (the
    # system text and a whole small corpus): a local LLM may keep their KV state, on disk too. None: no such part.
    prefix_chars: int | None = None


class Generator(ABC):
    name: str = "generator"
    uses_llm: bool = True

    @abstractmethod
    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """Yield the answer text piece by piece."""

    def complete(self, messages: list[dict], max_tokens: int = 64, prefix_chars: int | None = None) -> str:
        """A short non-streamed completion (used for query rewriting). LLM backends only."""
        request = GenerationRequest(
            messages=messages, question="", passages=[], max_tokens=max_tokens, utility=True, prefix_chars=prefix_chars
        )
        return "".join(self.stream(request))

    def prefill(self, request: GenerationRequest) -> None:
        """Read the prompt's stable part into the model's cache ahead of any question (at start-up).
        By default a one-token generation, which any backend with a prompt cache benefits from."""
        for _ in self.stream(replace(request, max_tokens=1)):
            pass

    def warm_up(self) -> None:  # noqa: B027 - an optional hook: most backends have nothing to load
        """Load whatever is slow to load, so the first question is not the one that pays."""
