"""The one interface every answer generator implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field

from rag.records import Passage


class GeneratorUnavailable(RuntimeError):
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


class Generator(ABC):
    name: str = "generator"
    uses_llm: bool = True

    @abstractmethod
    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """Yield the answer text piece by piece."""

    def complete(self, messages: list[dict], max_tokens: int = 64) -> str:
        """A short non-streamed completion (used for query rewriting). LLM backends only."""
        request = GenerationRequest(messages=messages, question="", passages=[], max_tokens=max_tokens, utility=True)
        return "".join(self.stream(request))

    def warm_up(self) -> None:
        """Load whatever is slow to load, so the first question is not the one that pays."""
