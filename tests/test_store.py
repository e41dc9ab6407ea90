"""Store round trip, integrity checks and index-type choice, with synthetic vectors (no model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from index.records import Chunk
from index.sentences import sentence_spans
from index.store import FORMAT_VERSION, FolderStore, IndexCorrupt, IndexMissing, _manifest_digest, choose_index_type
from tests.conftest import SEEDS
from tests.fakes import HashEmbedder

TEXTS = [
    "Mexico is the top trade partner of the United States.",
    "The pharmaceutical sector is a key opportunity for manufacturing.",
    "Workers earning at least US$16 per hour build cars under USMCA rules.",
    "Shenzhen was developed with help from Chinese people abroad.",
]


def write_sample(store: FolderStore, texts=TEXTS, ann_threshold=1000):
    emb = HashEmbedder()
    chunks = [
        Chunk(id=f"d{i}:0", doc_id=f"d{i}", ordinal=0, char_start=0, char_end=len(t), text=t)
        for i, t in enumerate(texts)
    ]
    docs = {
        f"d{i}": {"id": f"d{i}", "title": f"Doc {i}", "source": f"/docs/{i}.txt", "chunks": 1}
        for i in range(len(texts))
    }
    vectors, sentences = emb.encode_with_sentences(texts, [sentence_spans(t) for t in texts])
    store.write(
        documents=docs,
        chunks=chunks,
        vectors=vectors,
        sentence_vectors=sentences,
        embedder={"name": emb.name, "dimension": emb.dimension},
        chunker={"chunk_tokens": 200, "chunk_overlap": 40, "tokenizer": "cl100k_base"},
        ann_threshold=ann_threshold,
    )
    return emb, chunks


def as_format_2(version: Path) -> None:
    """Turn an index version into what format 2 wrote: no stored sentence terms."""
    manifest = json.loads((version / "manifest.json").read_text())
    for name in ("sentence_terms.npy", "sentence_term_rows.npy"):
        (version / name).unlink()
        del manifest["files"][name]
    manifest["format_version"] = 2
    manifest.pop("checksum")
    manifest["checksum"] = _manifest_digest(manifest)
    (version / "manifest.json").write_text(json.dumps(manifest))


def test_round_trip_and_search(tmp_path):
    store = FolderStore(tmp_path / "index")
    emb, chunks = write_sample(store)
    snap = store.load()
    assert snap.chunks == chunks
    assert snap.vectors.shape == (4, emb.dimension)
    assert snap.manifest["format_version"] == FORMAT_VERSION and snap.manifest["index_type"] == "flat"
    assert snap.stats()["documents"] == 4 and snap.stats()["chunks"] == 4
    row, score = snap.search_dense(emb.encode_query(TEXTS[2]), 2)[0]
    assert row == 2 and score == pytest.approx(1.0, abs=1e-5)
    lexical = snap.search_lexical("hourly wages of workers per hour", 3)
    assert lexical[0][0] == 2 and lexical[0][1] > 0
    assert snap.search_lexical("the of and", 3) == []  # only stopwords: nothing to match


def test_ivf_is_used_above_threshold_and_finds_what_exact_search_finds(tmp_path):
    texts = [f"Report {i}: shipment {i % 17} of item{i} left port{i % 5} for market{i % 11}." for i in range(400)]
    exact_store, ivf_store = FolderStore(tmp_path / "exact"), FolderStore(tmp_path / "ivf")
    emb, _ = write_sample(exact_store, texts=texts)
    write_sample(ivf_store, texts=texts, ann_threshold=100)
    exact, ivf = exact_store.load(), ivf_store.load()
    assert (exact.manifest["index_type"], ivf.manifest["index_type"]) == ("flat", "ivf")
    assert ivf.faiss_index.nprobe == 32 and ivf.faiss_index.nlist == 10  # sqrt(400) lists, 40 points each
    for i in range(0, len(texts), 37):  # nprobe >= nlist here: IVF scans every list, so it is exact
        query = emb.encode_query(texts[i])
        found, expected = ivf.search_dense(query, 5), exact.search_dense(query, 5)
        assert found[0][0] == expected[0][0] == i
        assert [s for _, s in found] == pytest.approx([s for _, s in expected], abs=1e-5)  # ties may swap rows
    assert choose_index_type(9_999, 10_000) == "flat" and choose_index_type(10_000, 10_000) == "ivf"


def test_new_version_replaces_old_and_leftovers_are_cleaned(tmp_path):
    store = FolderStore(tmp_path / "index")
    write_sample(store)
    first = store.current_path()
    (store.root / "tmp-v-crashed").mkdir()  # what a killed build leaves behind
    write_sample(store, TEXTS[:2])
    assert store.current_path() != first and not first.exists()
    assert not (store.root / "tmp-v-crashed").exists()
    assert len(store.load().chunks) == 2


def test_missing_index_says_how_to_build_one(tmp_path):
    with pytest.raises(IndexMissing, match="rag index"):
        FolderStore(tmp_path / "nothing").load()


@pytest.mark.parametrize("victim", ["chunks.jsonl", "vectors.npy", "faiss.index"])
def test_damaged_files_are_detected_by_checksum(tmp_path, victim):
    store = FolderStore(tmp_path / "index")
    write_sample(store)
    target = store.current_path() / victim
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(IndexCorrupt, match="rebuild"):
        store.load()


def test_unreadable_manifest_is_reported(tmp_path):
    store = FolderStore(tmp_path / "index")
    write_sample(store)
    (store.current_path() / "manifest.json").write_text("{not json")
    with pytest.raises(IndexCorrupt, match="manifest"):
        store.load()
    manifest_path = store.current_path() / "manifest.json"
    manifest_path.write_text(json.dumps({"format_version": 99}))
    with pytest.raises(IndexCorrupt, match="format"):
        store.load()


def test_sentence_vectors_round_trip(tmp_path):
    store = FolderStore(tmp_path / "index")
    texts = ["One sentence here. And a second one.", "Just one.", "Alpha. Beta. Gamma."]
    write_sample(store, texts=texts)
    snap = store.load()
    assert [len(snap.sentences_of(r)) for r in range(3)] == [2, 1, 3]
    assert snap.sentences_of(0).dtype == np.float16
    norms = np.linalg.norm(np.asarray(snap.sentence_vectors, dtype=np.float32), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-2)


def test_older_format_is_refused_with_rebuild_advice(tmp_path):
    store = FolderStore(tmp_path / "index")
    write_sample(store)
    manifest_path = store.current_path() / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "format_version": 1}))
    with pytest.raises(IndexCorrupt, match="rebuild"):
        store.load(verify=False)


def test_fast_bm25_analysis_matches_bm25s_tokenize():
    """bm25_tokens_of re-implements bm25s.tokenize's analysis for speed; they must agree term for term."""
    import bm25s
    import Stemmer

    from index.terms import bm25_tokens_of

    texts = [
        "The new battery plants opened in Monterrey, creating 2,000 jobs.",
        "",
        "the THE and",
        "Ünïcode café naïve — U.S. tariffs' effects (2026) on workers' wages",
        "a b c",
        "Running runs ran",
        next(SEEDS.glob("*.txt")).read_text(encoding="utf-8")[:3000],
    ]
    expected = bm25s.tokenize(
        texts, stopwords="en", stemmer=Stemmer.Stemmer("english"), return_ids=False, show_progress=False
    )
    assert bm25_tokens_of(texts) == [list(t) for t in expected]
    assert bm25_tokens_of(texts[:2]) == bm25_tokens_of(texts)[:2]  # the stem cache changes nothing


def test_sentence_terms_are_stored_and_bm25_is_the_same_as_bm25s_own_analysis(tmp_path):
    """BM25 is built from the concatenated sentence terms: it must score exactly as an index
    built with bm25s.tokenize on the whole texts; the stored terms are each sentence's, in order."""
    import bm25s
    import Stemmer

    from index.terms import bm25_query_tokens, bm25_tokens_of

    texts = TEXTS + [next(SEEDS.glob("*.txt")).read_text(encoding="utf-8")[i : i + 900] for i in range(0, 9000, 900)]
    store = FolderStore(tmp_path / "index")
    write_sample(store, texts=texts)
    snap = store.load()
    reference = bm25s.BM25()
    reference.index(
        bm25s.tokenize(texts, stopwords="en", stemmer=Stemmer.Stemmer("english"), show_progress=False),
        show_progress=False,
    )
    for query in ("tariffs on steel and aluminum", "Mexico trade partner", "workers US$16 hour", "USMCA review 2026"):
        expected = reference.get_scores(bm25_query_tokens(query))
        assert np.allclose(snap.bm25_scores(query), expected)
    vocabulary = {i: t for t, i in snap.bm25.vocab_dict.items()}
    for row in (0, 5, len(texts) - 1):
        text = texts[row]
        expected = bm25_tokens_of([text[s:e] for s, e in sentence_spans(text)])
        first, last = snap.sentence_rows[row], snap.sentence_rows[row + 1]
        got = [
            [
                vocabulary[int(i)]
                for i in snap.sentence_term_ids[snap.sentence_term_rows[s] : snap.sentence_term_rows[s + 1]]
            ]
            for s in range(first, last)
        ]
        assert got == expected


def test_a_format_2_index_still_loads_with_its_terms_analysed_at_load(tmp_path):
    store = FolderStore(tmp_path / "index")
    write_sample(store)
    current = store.load()
    as_format_2(store.current_path())
    older = store.load()
    assert older.manifest["format_version"] == 2
    assert np.array_equal(older.sentence_term_ids, current.sentence_term_ids)
    assert np.array_equal(older.sentence_term_rows, current.sentence_term_rows)


def test_threads_first_using_a_loaded_view_all_see_every_chunk(tmp_path):
    """A loaded view is shared by threads (the chat's warm-up and its first question, any callers of the
    Python API): several asking for documents' chunks at the same moment each get all of them, once,
    in order. (The per-document row map used to be filled lazily, unlocked, by the first caller: the
    others saw it half-built, and lost chunks.)"""
    import sys

    from tests.threads import failures_in_threads

    texts = [f"word{i} and some filler text" for i in range(5000)]
    store = FolderStore(tmp_path / "index")
    write_sample(store, texts)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, as a busy core does

    def ask(view) -> None:
        got = view.chunks_of(list(view.documents))
        assert got == view.chunks, f"{len(got)} chunks of {len(view.chunks)}"

    try:
        for _ in range(5):
            view = store.load(verify=False)  # fresh: nothing asked of it yet
            assert failures_in_threads(ask, [(view,)] * 4) == []
    finally:
        sys.setswitchinterval(interval)
