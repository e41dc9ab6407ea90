"""Located citations and scoped answers, on both stores (the folder and PostgreSQL)."""

from __future__ import annotations

import json

import pytest

from index.pipeline import build_index
from index.scope import UnknownDocument, resolve_documents, scoped
from index.store_factory import open_store
from rag.engine import EngineOptions, RagEngine
from rag.retriever import HybridRetriever
from tests import documents as make
from tests.fakes import HashEmbedder

TEXTS = {
    "ports.txt": "The port of Valparaiso handles copper and fruit exports. Cranes were renewed in 2025.",
    "batteries.txt": "A battery plant opened in Monterrey in March 2026. It employs 2,000 workers.",
    "weather.txt": "Rainfall in the Andes was below average. Farmers reported smaller harvests of grapes.",
}


def _library(tmp_path, config):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in TEXTS.items():
        (docs / name).write_text(text, encoding="utf-8")
    for i in range(12):  # documents that also talk about batteries, so a corpus-wide top-k has no room left
        (docs / f"battery-news-{i:02d}.txt").write_text(
            f"Battery plant news {i}: the battery plant in Monterrey hired workers again in 2026.", encoding="utf-8"
        )
    make.make_xlsx(docs / "figures.xlsx", extra_rows=40)
    make.make_pptx(docs / "review.pptx")
    embedder = HashEmbedder()
    build_index([docs], config, embedder=embedder)
    return docs, config, embedder


@pytest.fixture
def library(tmp_path, store_config):
    """The library on each store (folder and PostgreSQL)."""
    return _library(tmp_path, store_config)


@pytest.fixture
def folder_library(tmp_path, config):
    """The library on the folder store only: for the CLI, whose path does not depend on the store."""
    return _library(tmp_path, config)


def retrieve(view, embedder, query, k=5, mode="hybrid"):
    return HybridRetriever(view, embedder).retrieve(query, top_k=k, mode=mode)


def test_passages_say_where_in_the_file_they_are(library):
    docs, config, embedder = library
    view = open_store(config).load()
    top = retrieve(view, embedder, "Avocados 2026 Value (billion USD)", k=3)[0]
    assert top.source.endswith("figures.xlsx") and top.location.startswith("sheet Exports, row")
    assert "Avocados" in top.text and top.to_dict()["location"] == top.location
    slide = retrieve(view, embedder, "speaker note port of Veracruz slide 3", k=3)[0]
    assert slide.source.endswith("review.pptx") and slide.location.startswith("slide")
    plain = retrieve(view, embedder, "copper exports Valparaiso", k=1)[0]
    assert plain.source.endswith("ports.txt") and plain.location == ""  # plain text has no sections


def test_citations_carry_the_location_into_the_answer_json_and_the_api(library):
    from ui.app import api_payload

    docs, config, embedder = library
    engine = RagEngine(config, "extractive", EngineOptions(), embedder=embedder)
    answer = engine.answer("What is the Value (billion USD) of Tomatoes in 2026?")
    assert not answer.abstained and answer.citations
    cited = [c for c in answer.citations if c.source.endswith("figures.xlsx")]
    assert cited and all(c.location.startswith("sheet Exports, row") for c in cited)
    tomato = next(c for c in cited if "Tomatoes" in c.text)
    assert tomato.location == "sheet Exports, row 3"  # the supporting row itself, not the chunk's first row
    data = json.loads(json.dumps(answer.to_dict()))
    assert data["citations"][0]["location"] == answer.citations[0].location
    assert all("location" in p for p in data["passages"])
    assert api_payload(answer)["citations"][0]["location"] == answer.citations[0].location


def test_scoped_retrieval_searches_only_the_chosen_documents(library):
    docs, config, embedder = library
    view = open_store(config).load()
    query = "battery plant Monterrey workers 2026"
    weather = scoped(view, ["weather.txt"])
    for mode in ("hybrid", "dense"):
        unscoped = retrieve(view, embedder, query, k=5, mode=mode)
        assert all("battery" in p.source for p in unscoped), mode  # the batteries documents fill the top-k...
        only = retrieve(weather, embedder, query, k=5, mode=mode)
        # ... and a scope still finds its own document: the filter is inside the search
        assert only and {p.source for p in only} == {str(docs / "weather.txt")}, mode
    assert retrieve(weather, embedder, query, k=5, mode="bm25") == []  # no word in common: nothing to match
    lexical = retrieve(weather, embedder, query + " harvests", k=5, mode="bm25")
    assert [p.source for p in lexical] == [str(docs / "weather.txt")]
    two = retrieve(scoped(view, ["weather.txt", str(docs / "ports.txt")]), embedder, "exports harvests", k=5)
    assert {p.source.rsplit("/", 1)[-1] for p in two} == {"weather.txt", "ports.txt"}
    globbed = retrieve(scoped(view, ["battery-news-0*"]), embedder, query, k=20)
    assert globbed and {p.source.rsplit("/", 1)[-1] for p in globbed} <= {
        f"battery-news-{i:02d}.txt" for i in range(10)
    }


def test_names_resolve_by_file_name_path_glob_or_title_and_unknown_ones_list_close_matches(library):
    docs, config, _ = library
    documents = open_store(config).load().documents
    by_source = {meta["source"]: doc_id for doc_id, meta in documents.items()}
    assert resolve_documents(documents, ["ports.txt"]) == {by_source[str(docs / "ports.txt")]}
    assert resolve_documents(documents, ["PORTS.TXT"]) == {by_source[str(docs / "ports.txt")]}
    assert resolve_documents(documents, [str(docs / "review.pptx")]) == {by_source[str(docs / "review.pptx")]}
    assert resolve_documents(documents, ["Quarterly Review"]) == {by_source[str(docs / "review.pptx")]}  # title
    assert len(resolve_documents(documents, ["*.txt"])) == 15
    assert len(resolve_documents(documents, [f"{docs}/battery-news-1*"])) == 2
    with pytest.raises(UnknownDocument, match=r"no indexed document matches 'prots.txt'; close matches: ports.txt"):
        resolve_documents(documents, ["prots.txt"])
    with pytest.raises(UnknownDocument):
        resolve_documents(documents, ["*.docx"])


def test_answers_and_sessions_keep_to_their_documents(library):
    docs, config, embedder = library
    engine = RagEngine(config, "extractive", EngineOptions(), embedder=embedder)
    answer = engine.answer("Where did a battery plant open?", documents=["batteries.txt"])
    assert answer.retrieved and {p.source for p in answer.retrieved} == {str(docs / "batteries.txt")}
    assert {c.source for c in answer.citations} == {str(docs / "batteries.txt")}
    assert any(n.startswith("searched 1 of 17 document(s): batteries.txt") for n in answer.notices)
    grapes = engine.answer("What did farmers report?", documents=["weather.txt"])
    assert {p.source for p in grapes.passages} == {str(docs / "weather.txt")}  # the prompt holds the scope only
    with pytest.raises(UnknownDocument):
        engine.answer("Where did a battery plant open?", documents=["nothing-like-it.pdf"])


def test_rag_ask_prints_locations_and_takes_document_names(folder_library, capsys, monkeypatch):
    import rag.api
    from cli import main

    docs, config, embedder = folder_library
    engine = RagEngine(config, "extractive", EngineOptions(), embedder=embedder)
    monkeypatch.setattr(rag.api, "get_engine", lambda *a, **k: engine)
    args = ["ask", "What is the Value (billion USD) of Tomatoes?", "--data-dir", str(config.data_dir)]
    assert main([*args, "--document", "figures.xlsx", "--generator", "extractive"]) == 0
    out = capsys.readouterr().out
    assert "figures.xlsx" in out and "(sheet Exports, row 3, chars " in out
    assert main([*args, "--document", "figurs.xlsx"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no indexed document matches 'figurs.xlsx'; close matches: figures.xlsx")
    assert main([*args, "--json", "--document", "*.xlsx"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {c["location"] for c in data["citations"]} >= {"sheet Exports, row 3"}
