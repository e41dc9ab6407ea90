from __future__ import annotations

import os
from pathlib import Path

import pytest

from index.config import Config

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SHARED = ROOT.parent / "shared"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The second embedder (multilingual-e5-small, ~0.2 s a chunk) is on by default for users; tests turn
# it on where they are about it (tests/test_second_embedder.py, the models tests), so the many
# index builds of the logic tests do not each pay for it.
os.environ.setdefault("RAG_SECOND_EMBEDDER", "none")


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """A config whose index lives in the test's temp folder (caches stay shared and read-only)."""
    return Config.from_env(data_dir=tmp_path / "data")


def private_cache(folder: Path) -> Path:
    """A cache folder of its own (for the LLM's saved KV states) sharing the joined model file, so
    a test neither re-joins 1.1 GB nor disturbs the saved states of other runs."""
    shared = Config().cache_dir
    folder.mkdir()
    for name in ("models", "tiktoken"):
        (shared / name).mkdir(parents=True, exist_ok=True)
        (folder / name).symlink_to(shared / name)
    return folder


@pytest.fixture(scope="session")
def real_embedder():
    from index.embedder import Embedder

    return Embedder(Config().embedder)


@pytest.fixture
def seed_text() -> str:
    return next(SEEDS.glob("*.txt")).read_text(encoding="utf-8")
