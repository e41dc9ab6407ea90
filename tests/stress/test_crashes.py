"""Crashes and concurrent builds with the real embedder and `rag index` subprocesses: a build killed
at any moment, or two at once, never leaves a broken or mixed index (README "Crashes"). ``pytest -s``
prints the figures."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index.config import Config
from index.pipeline import build_index
from index.store import FolderStore
from tests.conftest import ROOT, SEEDS
from tests.test_pipeline import write_docs
from tests.test_reliability import SEED_QUESTION


def kill_corpus(folder: Path) -> Path:
    """seeds/ plus generated reports: a build that embeds ~50 chunks, several seconds on one core."""
    shutil.copytree(SEEDS, folder)
    write_docs(folder / "reports", 8, words=400)
    return folder


def start_rag(log: Path, *args) -> subprocess.Popen:
    """`rag ...` in a subprocess; stdout and stderr go to ``log`` (`say` messages are on stderr)."""
    with open(log, "w") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "cli", *map(str, args)],
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )


def wait_for_text(log: Path, text: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert proc.poll() is None, f"exited before {text!r}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no {text!r} after {timeout} s:\n{log.read_text()}"
        time.sleep(0.05)


def first_to_say(text: str, logs: list[Path], procs: list[subprocess.Popen], timeout: float = 600) -> int:
    """Which of the processes writes ``text`` into its log first."""
    deadline = time.monotonic() + timeout
    while True:
        for i, log in enumerate(logs):
            if text in log.read_text():
                return i
        assert all(p.poll() is None for p in procs), [log.read_text() for log in logs]
        assert time.monotonic() < deadline, f"no {text!r} after {timeout} s"
        time.sleep(0.05)


@contextlib.contextmanager
def paused(proc: subprocess.Popen):
    """``proc`` stopped (SIGSTOP) for the block, keeping what it holds, such as the index lock."""
    proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGCONT)


def answers_the_seed_question(config: Config, embedder) -> bool:
    from rag.engine import RagEngine

    answer = RagEngine(config, "extractive", embedder=embedder).answer(SEED_QUESTION)
    return "US$16 per hour" in answer.text and any("US$16 per hour" in c.text for c in answer.citations)


def leftovers(index_dir: Path, current: Path) -> list[str]:
    """What interrupted builds leave: temporary folders, uncommitted versions, stray links."""
    return sorted(
        p.name
        for p in index_dir.iterdir()
        if p.name.startswith(("tmp-", ".current-")) or (p.name.startswith("v-") and p != current)
    )


@pytest.mark.models
@pytest.mark.timeout(3600)
def test_a_build_killed_at_20_random_moments_always_leaves_the_previous_index(tmp_path, real_embedder):
    docs = kill_corpus(tmp_path / "docs")
    config = Config.load(data_dir=tmp_path / "data")
    store = FolderStore(config.index_dir)
    build_index([docs / "reports"], config, embedder=real_embedder)  # a first, smaller index

    # one full, uninterrupted `rag index --rebuild` (seeds + reports): its duration sets the kill range
    log = tmp_path / "full.log"
    started = time.monotonic()
    proc = start_rag(log, "index", docs, "--rebuild", "--data-dir", config.data_dir)
    wait_for_text(log, "Chunking", proc)
    startup = time.monotonic() - started
    assert proc.wait(timeout=900) == 0, log.read_text()
    full = time.monotonic() - started
    previous = store.load()
    expected_chunks = len(previous.chunks)
    assert len(previous.documents) == 9 and answers_the_seed_question(config, real_embedder)

    # what kills in the short write window leave (test_pipeline kills a paused build there): a half-
    # written temporary folder, a complete but uncommitted version, a stray link. Reads must ignore them.
    shutil.copytree(previous.path, config.index_dir / "tmp-v-20000101T000000-dead01")
    (config.index_dir / "tmp-v-20000101T000000-dead01" / "vectors.npy").write_bytes(b"\x93NUMPY half")
    shutil.copytree(previous.path, config.index_dir / "v-20000101T000000-dead02")
    os.symlink("v-20000101T000000-dead02", config.index_dir / ".current-dead03")
    planted = set(leftovers(config.index_dir, previous.path))
    assert len(planted) == 3 and store.load().path == previous.path

    rng = random.Random(20261129)
    stages: dict[str, int] = {}
    most_leftovers = 0
    for i in range(20):
        delay = rng.uniform(0, full)
        log = tmp_path / f"kill{i:02d}.log"
        earlier = set(leftovers(config.index_dir, previous.path)) | planted  # kept until a build completes
        proc = start_rag(log, "index", docs, "--rebuild", "--data-dir", config.data_dir)
        time.sleep(delay)
        finished = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        said = log.read_text()
        snap = store.load()  # verifies every checksum
        left = leftovers(config.index_dir, snap.path)
        most_leftovers = max(most_leftovers, len(left))
        if finished:
            stage = "finished before the kill"
        elif snap.path != previous.path:
            stage = "after the commit"
        elif set(left) - earlier:
            stage = "writing the new version"
        elif "Embedding" in said:
            stage = "embedding"
        elif "Chunking" in said:
            stage = "loading the embedder, chunking"
        else:
            stage = "starting (imports, scan)"
        stages[stage] = stages.get(stage, 0) + 1
        if snap.path == previous.path:
            assert snap.manifest == previous.manifest, f"kill {i} at {delay:.2f} s"
        else:  # the new version was committed before the kill: it is complete
            assert stage in ("after the commit", "finished before the kill"), (i, delay, stage)
            assert snap.manifest["files"].keys() == previous.manifest["files"].keys()
        assert len(snap.chunks) == len(snap.vectors) == expected_chunks, f"kill {i} at {delay:.2f} s"
        assert answers_the_seed_question(config, real_embedder), f"kill {i} at {delay:.2f} s ({stage})"
        previous = snap

    proc = start_rag(tmp_path / "final.log", "index", docs, "--rebuild", "--data-dir", config.data_dir)
    assert proc.wait(timeout=900) == 0, (tmp_path / "final.log").read_text()
    final = store.load()
    assert len(final.chunks) == expected_chunks and final.path != previous.path
    assert leftovers(config.index_dir, final.path) == []
    assert answers_the_seed_question(config, real_embedder)
    mid_build = sum(
        n for s, n in stages.items() if s in ("loading the embedder, chunking", "embedding", "writing the new version")
    )
    print(
        f"\nSIGKILL: full build {full:.1f} s (start-up {startup:.1f} s, {expected_chunks} chunks); "
        f"20/20 kills left a loadable, answering index; {mid_build} landed mid-build; by stage: "
        + ", ".join(f"{s} {n}" for s, n in sorted(stages.items()))
        + f"; up to {most_leftovers} leftovers at once ({len(planted)} planted), none after the next build"
    )


@pytest.mark.models
@pytest.mark.timeout(1800)
def test_two_rag_index_runs_at_once_one_refuses_or_waits_and_the_index_is_one_version(tmp_path, real_embedder):
    docs = kill_corpus(tmp_path / "docs")
    more = tmp_path / "more"
    more.mkdir()
    (more / "late.txt").write_text(
        "Late report\n\nThe late report says the harbour crane was repaired in May.", encoding="utf-8"
    )
    config = Config.load(data_dir=tmp_path / "data")
    store = FolderStore(config.index_dir)
    busy = f"error: another `rag index` is updating {config.index_dir}; try again when it finishes"

    # started in the same instant: one builds, the other refuses with a message. The one that took the
    # lock is paused while it holds it, so the other meets it there however slowly either starts.
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [start_rag(log, "index", docs, "--data-dir", config.data_dir) for log in logs]
    holder = first_to_say("Chunking", logs, procs)  # said with the lock held
    with paused(procs[holder]):
        assert procs[1 - holder].wait(timeout=900) == 1, logs[1 - holder].read_text()
    assert procs[holder].wait(timeout=900) == 0, logs[holder].read_text()
    refused, built = logs[1 - holder].read_text(), logs[holder].read_text()
    assert busy in refused and "Traceback" not in refused
    assert "Indexed 9 document(s)" in built
    first = store.load()

    # one mid-build (paused, holding the lock): a second run without --wait refuses at once; one with
    # --wait queues behind it and builds on the complete version the first one writes
    log_a, log_b, log_c = tmp_path / "a2.log", tmp_path / "b2.log", tmp_path / "c2.log"
    a = start_rag(log_a, "index", docs, "--rebuild", "--data-dir", config.data_dir)
    wait_for_text(log_a, "Embedding", a)  # holds the lock
    with paused(a):
        b = start_rag(log_b, "index", more, "--data-dir", config.data_dir)
        assert b.wait(timeout=300) == 1
        c = start_rag(log_c, "index", more, "--wait", "600", "--data-dir", config.data_dir)
    assert busy in log_b.read_text() and "Traceback" not in log_b.read_text()
    assert a.wait(timeout=900) == 0 and c.wait(timeout=900) == 0, (log_a.read_text(), log_c.read_text())
    assert (
        "Indexed 10 document(s)" in log_c.read_text()
        and "(1 added, 0 updated, 0 removed, 9 unchanged" in log_c.read_text()
    )  # built on the complete version the first run wrote

    final = store.load()
    sources = sorted(Path(d["source"]).name for d in final.documents.values())
    assert len(sources) == 10 and "late.txt" in sources
    assert len(final.chunks) == len(final.vectors) == final.faiss_index.ntotal == len(first.chunks) + 1
    assert sum(d["chunks"] for d in final.manifest["documents"].values()) == len(final.chunks)
    assert leftovers(config.index_dir, final.path) == []
    assert answers_the_seed_question(config, real_embedder)
    print(
        "\nconcurrent `rag index`: 2 started together -> 1 built, 1 refused with the message; "
        "during a build: no --wait refused, --wait 600 queued and then added its document; one version"
    )
