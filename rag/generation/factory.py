"""Generators by name: ``"llm"`` (in-process llama.cpp), ``"extractive"``, or an OpenAI-compatible URL."""

from __future__ import annotations

import warnings
from pathlib import Path

from index.config import Config
from index.errors import ConfigError
from rag.generation.base import Generator
from rag.support import SupportScorer


def make_generator(spec: str, config: Config, scorer: SupportScorer) -> Generator:
    """The generator ``spec`` names; ``scorer`` is the one an extractive generator answers with (also
    the fallback when no local LLM is installed)."""
    spec = (spec or "llm").strip()
    if spec.startswith(("http://", "https://")):
        from rag.generation.openai_compat import OpenAICompatibleGenerator

        return OpenAICompatibleGenerator(spec)
    if spec == "llm":
        from rag.generation.llama import LlamaCppGenerator
        from rag.weights import ModelUnavailable, packaged_model

        try:
            import llama_cpp  # noqa: F401

            path = config.model_path or str(packaged_model(config.cache_dir))
            return LlamaCppGenerator(path, threads=config.threads, kv_dir=Path(config.cache_dir) / "kv")
        except (ImportError, ModelUnavailable) as exc:
            warnings.warn(f"no local LLM available ({exc}); answering extractively", RuntimeWarning, stacklevel=2)
            spec = "extractive"
    if spec == "extractive":
        from rag.generation.extractive import ExtractiveGenerator

        return ExtractiveGenerator(scorer)
    raise ConfigError(f"unknown generator {spec!r}: use 'llm', 'extractive' or an http(s):// URL")
