"""Uploads and removals behind the UI: checked before they touch the index, incremental after."""

from __future__ import annotations

import pytest

from index.pipeline import build_index
from rag import library
from rag.library import UploadRejected, add_uploads, check_upload, remove_document, safe_upload_name, status
from tests.fakes import HashEmbedder
from tests.pdfs import make_pdf


@pytest.mark.parametrize(
    "name, expected",
    [
        ("notes.txt", "notes.txt"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\windows\\evil.md", "evil.md"),
        ("re<port>|v2.html", "re_port__v2.html"),
        ("  spaced name.pdf ", "spaced name.pdf"),
        (".hidden.txt", "hidden.txt"),  # a hidden file would be skipped by the indexer
    ],
)
def test_upload_names_lose_directories_and_odd_characters(name, expected):
    assert safe_upload_name(name) == expected


@pytest.mark.parametrize("name", ["", "..", "...", "../", "noextension", "a/b/"])
def test_unusable_upload_names_are_refused(name):
    with pytest.raises(UploadRejected):
        safe_upload_name(name)


def test_wrong_type_and_oversize_files_are_refused(tmp_path, monkeypatch):
    exe = tmp_path / "tool.exe"
    exe.write_bytes(b"MZ")
    with pytest.raises(UploadRejected, match="unsupported file type '.exe'"):
        check_upload("tool.exe", exe)
    big = tmp_path / "big.txt"
    big.write_text("x" * 2000)
    monkeypatch.setattr(library, "MAX_UPLOAD_BYTES", 1000)
    with pytest.raises(UploadRejected, match="upload limit"):
        check_upload("big.txt", big)


def test_uploads_are_indexed_incrementally_and_bad_ones_leave_the_index_alone(config, tmp_path):
    emb = HashEmbedder()
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "base.txt").write_text("The base document talks about tariffs and trade rules in North America.")
    build_index([docs], config, embedder=emb)
    before = status(config)

    incoming = tmp_path / "incoming"
    incoming.mkdir()
    good = incoming / "notes.md"
    good.write_text("# Notes\n\nThe committee meets every Tuesday to review rules of origin.")
    empty_pdf = incoming / "scan.pdf"
    make_pdf(empty_pdf, None)  # no text layer
    binary = incoming / "blob.txt"
    binary.write_bytes(bytes(range(256)) * 4)
    seen = []
    result = add_uploads(
        [("notes.md", good), ("scan.pdf", empty_pdf), ("blob.txt", binary), ("../evil.exe", good)],
        config,
        embedder=emb,
        on_progress=lambda d, t: seen.append((d, t)),
    )
    assert result.accepted == ["notes.md"]
    assert len(result.rejected) == 3 and any("scan.pdf" in r for r in result.rejected)
    assert any("evil.exe" in r and "unsupported" in r for r in result.rejected)
    assert seen and seen[-1][0] == seen[-1][1]
    after = status(config)
    assert len(after.documents) == len(before.documents) + 1
    uploaded = [d for d in after.documents if d.uploaded]
    assert [d.title for d in uploaded] == ["Notes"]
    assert sorted(p.name for p in library.uploads_dir(config).iterdir() if not p.name.startswith(".")) == ["notes.md"]
    assert not list((library.uploads_dir(config) / ".incoming").iterdir())  # nothing left staged

    # removing the upload deletes its copy; removing the base document leaves its file alone
    remove_document(uploaded[0].source, config, embedder=emb)
    assert not (library.uploads_dir(config) / "notes.md").exists()
    base = next(d for d in status(config).documents if not d.uploaded)
    remove_document(base.source, config, embedder=emb)
    assert (docs / "base.txt").exists() and status(config).documents == []
    with pytest.raises(UploadRejected, match="not in the index"):
        remove_document("/nowhere.txt", config, embedder=emb)


def test_status_without_an_index_says_how_to_make_one(config):
    assert "rag index" in status(config).problem


def test_uploads_of_the_new_types_pass_the_same_checks_as_rag_index(config, tmp_path):
    from tests import documents as make

    incoming = tmp_path / "incoming"
    incoming.mkdir()
    good = [
        make.make_docx(incoming / "notes.docx"),
        make.make_xlsx(incoming / "figures.xlsx"),
        make.make_pptx(incoming / "deck.pptx"),
        make.make_csv(incoming / "exports.csv"),
        make.make_epub(incoming / "book.epub"),
        make.make_odt(incoming / "atlas.odt"),
    ]
    truncated = incoming / "broken.docx"
    truncated.write_bytes((incoming / "notes.docx").read_bytes()[:500])
    empty = incoming / "empty.xlsx"
    empty.write_bytes(b"")
    files = [(p.name, p) for p in [*good, truncated, empty]]
    result = add_uploads(files, config, embedder=HashEmbedder())
    assert sorted(result.accepted) == sorted(p.name for p in good)
    assert any(r.startswith("broken.docx: ") and "zip container" in r for r in result.rejected)
    assert any(r == "empty.xlsx: the file is empty (0 bytes)" for r in result.rejected)
    names = {d.source.rsplit("/", 1)[-1] for d in status(config).documents}
    assert names == {p.name for p in good}
    assert library.scope_sources(config, ["*.xlsx"]) == [str(library.uploads_dir(config).resolve() / "figures.xlsx")]
