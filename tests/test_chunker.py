"""Chunking is pure logic over tiktoken (offline): no embedding model needed."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap

import pytest

from index.chunker import Chunker
from index.errors import ConfigError
from index.loaders import document_id
from index.records import Document
from index.tokens import CL100K_URL, cl100k
from tests.conftest import CACHE, ROOT


def make_doc(text: str) -> Document:
    return Document(id=document_id(text), title="t", source="/tmp/t.txt", text=text)


TRICKY = (
    "Intro line without a full stop\n\n"
    + "This is a normal sentence. " * 30
    + "\n\n"
    + "averyveryverylongwordwithoutanyspaces" * 40
    + "\n\nÚltima oración en español, ¿verdad? ¡Sí! 東京は日本の首都です。" * 5
    + "\n"
    + ("word " * 700)
)


@pytest.mark.parametrize("size,overlap", [(200, 40), (64, 0), (32, 8)])
def test_chunk_offsets_round_trip(seed_text: str, size: int, overlap: int):
    for text in (seed_text, TRICKY):
        doc = make_doc(text)
        chunks = Chunker(size, overlap, cache_dir=CACHE).split(doc)
        assert chunks, "a non-empty document gives chunks"
        for i, chunk in enumerate(chunks):
            assert chunk.text == doc.text[chunk.char_start : chunk.char_end]
            assert chunk.text.strip() == chunk.text and chunk.text
            assert chunk.doc_id == doc.id and chunk.ordinal == i and chunk.id == f"{doc.id}:{i}"
        starts = [c.char_start for c in chunks]
        assert starts == sorted(starts) and len(set(starts)) == len(starts)


def test_every_word_is_in_some_chunk(seed_text: str):
    doc = make_doc(TRICKY + "\n\n" + seed_text)
    covered = bytearray(len(doc.text))
    for chunk in Chunker(64, 8, cache_dir=CACHE).split(doc):
        covered[chunk.char_start : chunk.char_end] = b"\x01" * (chunk.char_end - chunk.char_start)
    missing = [i for i, ch in enumerate(doc.text) if not ch.isspace() and not covered[i]]
    assert missing == []


def test_chunks_respect_token_budget_and_overlap(seed_text: str):
    enc = cl100k(CACHE)
    chunks = Chunker(100, 20, cache_dir=CACHE).split(make_doc(seed_text))
    assert len(chunks) > 5
    for chunk in chunks:
        assert len(enc.encode_ordinary(chunk.text)) <= 100 * 1.05
    # each chunk moves forward; overlap is whole sentences, so it happens where the previous
    # chunk ends with a sentence shorter than the overlap budget
    pairs = list(zip(chunks, chunks[1:]))
    assert all(nxt.char_start > prev.char_start and nxt.char_end > prev.char_end for prev, nxt in pairs)
    short_sentences = make_doc(" ".join(f"Fact number {i} is short." for i in range(200)))
    chunks = Chunker(100, 20, cache_dir=CACHE).split(short_sentences)
    assert all(nxt.char_start < prev.char_end for prev, nxt in zip(chunks, chunks[1:]))
    no_overlap = Chunker(100, 0, cache_dir=CACHE).split(make_doc(seed_text))
    assert all(nxt.char_start >= prev.char_end for prev, nxt in zip(no_overlap, no_overlap[1:]))


def test_sentences_are_not_cut_when_they_fit(seed_text: str):
    chunks = Chunker(120, 0, cache_dir=CACHE).split(make_doc(seed_text))
    for chunk in chunks[:-1]:
        assert chunk.text[-1] in ".!?”\"'’:" or "\n" in seed_text[chunk.char_end : chunk.char_end + 2], chunk.text[-40:]


def test_length_guard_resplits_chunks_the_embedder_rejects(seed_text: str):
    limit = 150  # characters, standing in for the embedder's word-piece limit
    chunker = Chunker(200, 40, cache_dir=CACHE, fits=lambda texts: [len(t) <= limit for t in texts])
    doc = make_doc(seed_text)
    chunks = chunker.split(doc)
    assert all(len(c.text) <= limit for c in chunks)
    assert all(c.text == doc.text[c.char_start : c.char_end] for c in chunks)


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="chunk size 8 .* at least 16"):
        Chunker(8, 0, cache_dir=CACHE)
    with pytest.raises(ConfigError, match=r"chunk overlap 60 .* half the chunk size \(100\)"):
        Chunker(100, 60, cache_dir=CACHE)


def test_tiktoken_works_offline_with_checked_file(tmp_path, monkeypatch):
    from index import tokens

    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    cache = tokens.seed_tiktoken_cache(tmp_path / "tk")
    files = list(cache.iterdir())
    assert len(files) == 1
    import hashlib

    assert hashlib.sha256(files[0].read_bytes()).hexdigest() == tokens.CL100K_SHA256
    # a damaged cached copy is replaced by a checked one
    files[0].write_bytes(b"garbage")
    tokens.seed_tiktoken_cache(tmp_path / "tk")
    assert hashlib.sha256(files[0].read_bytes()).hexdigest() == tokens.CL100K_SHA256
    assert cl100k(CACHE).encode("hello world") == [15339, 1917]


CACHE_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from pathlib import Path
    from index.config import Config
    from index.pipeline import build_index
    from rag.engine import RagEngine
    from tests.fakes import HashEmbedder

    config = {config}
    build_index([Path({docs!r})], config, embedder=HashEmbedder())
    RagEngine(config, "extractive", embedder=HashEmbedder()).answer("Who keeps the lighthouse?")
""")


@pytest.mark.parametrize("how", ["RAG_CACHE_DIR", "Config(cache_dir=...)"])
def test_the_tiktoken_file_goes_to_the_configured_cache_folder(tmp_path, how):
    """Indexing (the chunker) and answering (the context budget) seed tiktoken's file into the cache
    folder the user configured, by environment or in the Python API, never into the default ~/.cache
    (it used to: index/tokens.py read a Config() that ignores the environment)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "keeper.txt").write_text("The lighthouse keeper is Marta Quill. She lives on the island.\n")
    configured = tmp_path / "configured-cache"
    env = {k: v for k, v in os.environ.items() if k not in ("RAG_CACHE_DIR", "TIKTOKEN_CACHE_DIR")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "default-cache")
    if how == "RAG_CACHE_DIR":
        env["RAG_CACHE_DIR"] = str(configured)
        config = f"Config.load(data_dir=Path({str(tmp_path / 'data')!r}))"
    else:
        config = f"Config(data_dir=Path({str(tmp_path / 'data')!r}), cache_dir=Path({str(configured)!r}))"
    script = CACHE_SCRIPT.format(root=str(ROOT), config=config, docs=str(docs))
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    name = hashlib.sha1(CL100K_URL.encode()).hexdigest()  # what tiktoken looks for
    assert (configured / "tiktoken" / name).is_file()
    assert not (tmp_path / "default-cache").exists()
