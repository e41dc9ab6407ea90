"""The one interface every answer generator implements.

``Generator.stream(request)`` yields the answer's text piece by piece and, as its last item, one
``GenerationResult``: how the generation ended (and, for a local LLM, how the prompt's stable prefix
was made ready). Backends report through what they yield; they never write into the request.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from index.errors import ModelError
from rag.prompt import Prompt
from rag.records import Passage

PREFIX_STATES = ("held", "restored", "evaluated")  # already in the context, read from disk, computed


class GeneratorUnavailable(ModelError):
    """The backend cannot run here (no model installed, server unreachable...)."""


@dataclass(frozen=True)
class GenerationRequest:
    """Everything a backend may need: LLM backends read ``prompt``; extractive reads the rest."""

    prompt: Prompt
    question: str
    passages: list[Passage]
    language: str = "en"
    max_tokens: int = 200
    stop: tuple[str, ...] = field(default=())
    utility: bool = False  # a side task (rewrite, translation): must not disturb the answer prompt's cache
    # The model may open its reply with NO_ANSWER only when that is at least this likely (0..1): the
    # 1.5B model says NO_ANSWER to questions its excerpts do answer, and the probability of its first
    # token tells a sure refusal from a hesitant one (see rag/engine.py). None: no floor. Backends
    # that cannot see token probabilities ignore it.
    no_answer_floor: float | None = None
    # A GBNF grammar the reply must follow (llama.cpp backends); None: free text.
    grammar: str | None = None


@dataclass(frozen=True)
class GenerationResult:
    """What a backend reports at the end of a generation (the last item ``stream`` yields)."""

    finish_reason: str | None = None  # "stop", "length" (the token limit cut it)...; None: not reported
    # how the prompt's stable prefix was made ready (PREFIX_STATES), its size and the seconds it took;
    # None when the request marked no stable prefix or the backend keeps no KV cache of its own
    prefix_state: str | None = None
    prefix_tokens: int = 0
    prefix_seconds: float = 0.0
    # the probability the model gave NO_ANSWER as its first token, when the request set a floor
    no_answer_probability: float | None = None

    @property
    def cut_off(self) -> bool:
        """The token limit ended the answer, maybe mid-sentence."""
        return self.finish_reason == "length"


def collect(stream: Iterable[str | GenerationResult]) -> tuple[str, GenerationResult]:
    """A whole stream: its text, and its result (an empty one if the backend reported none)."""
    pieces: list[str] = []
    result = GenerationResult()
    for item in stream:
        if isinstance(item, GenerationResult):
            result = item
        else:
            pieces.append(item)
    return "".join(pieces), result


class Generator(ABC):
    name: str = "generator"
    uses_llm: bool = True

    @abstractmethod
    def stream(self, request: GenerationRequest) -> Iterator[str | GenerationResult]:
        """Yield the answer text piece by piece, then one ``GenerationResult``."""

    def complete(self, prompt: Prompt, max_tokens: int = 64) -> str:
        """A short non-streamed completion (used for query rewriting). LLM backends only."""
        request = GenerationRequest(prompt=prompt, question="", passages=[], max_tokens=max_tokens, utility=True)
        return collect(self.stream(request))[0]

    def prefill(self, request: GenerationRequest) -> GenerationResult:
        """Read the prompt's stable part into the model's cache ahead of any question (at start-up).
        By default a one-token generation, which any backend with a prompt cache benefits from."""
        return collect(self.stream(replace(request, max_tokens=1)))[1]

    def warm_up(self) -> None:  # noqa: B027 - an optional hook: most backends have nothing to load
        """Load whatever is slow to load, so the first question is not the one that pays."""
