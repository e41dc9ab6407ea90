from __future__ import annotations

import warnings

import pytest

from index.loaders import LoaderError, find_files, load_document
from tests.pdfs import make_pdf


def test_txt_title_and_stable_content_id(tmp_path):
    path = tmp_path / "note.txt"
    path.write_text("A title line\r\n\r\nBody text here.\r\n", encoding="utf-8")
    doc = load_document(path)
    assert doc.title == "A title line"
    assert doc.text == "A title line\n\nBody text here."
    assert doc.source == str(path.resolve())
    copy = tmp_path / "copy.txt"
    copy.write_bytes(path.read_bytes())
    assert load_document(copy).id == doc.id  # id comes from the content
    path.write_text("A title line\n\nOther body.", encoding="utf-8")
    assert load_document(path).id != doc.id


def test_markdown_heading_is_the_title(tmp_path):
    path = tmp_path / "guide.md"
    path.write_text("Some preface\n\n# The Real Title\n\nText with *emphasis*.\n", encoding="utf-8")
    doc = load_document(path)
    assert doc.title == "The Real Title"
    assert "Text with *emphasis*." in doc.text


def test_html_drops_scripts_styles_and_navigation_but_keeps_headings(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(
        """<!doctype html><html><head><title>Trade page</title>
      <style>.x{color:red}</style><script>var secret = "SCRIPT_TEXT";</script></head>
      <body><nav><a href="/">Home</a> | <a href="/menu">MENU_LINK</a></nav>
      <header>SITE_BANNER</header>
      <article><header><h1>USMCA review</h1></header>
        <p>First   paragraph
        about tariffs.</p><h2>Labour</h2><p>Wages of US$16 per hour.</p>
        <!-- a comment --><noscript>NOSCRIPT_TEXT</noscript></article>
      <footer>FOOTER_TEXT</footer></body></html>""",
        encoding="utf-8",
    )
    doc = load_document(path)
    assert doc.title == "Trade page"
    for gone in ("SCRIPT_TEXT", "color:red", "MENU_LINK", "SITE_BANNER", "FOOTER_TEXT", "NOSCRIPT_TEXT", "comment"):
        assert gone not in doc.text
    assert "USMCA review" in doc.text and "Labour" in doc.text
    assert "First paragraph about tariffs." in doc.text
    assert "USMCA review\n\n" in doc.text  # blocks stay separate paragraphs


def test_pdf_text_and_title(tmp_path):
    path = make_pdf(
        tmp_path / "report.pdf", ["Quarterly trade report", "Exports grew by 4 percent."], title="Trade Report Q3"
    )
    doc = load_document(path)
    assert doc.title == "Trade Report Q3"
    assert "Exports grew by 4 percent." in doc.text


def test_pdf_without_text_is_reported_by_name(tmp_path):
    path = make_pdf(tmp_path / "scanned.pdf", None)
    with pytest.raises(LoaderError, match="scanned.pdf: no extractable text"):
        load_document(path)


def test_broken_pdf_is_reported_by_name(tmp_path):
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    with pytest.raises(LoaderError, match="broken.pdf"):
        load_document(path)


def test_non_utf8_text_is_decoded_with_a_warning(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes(
        "Verónica Ortiz dijo que el tratado no es una varita mágica. Señal de éxito, año 2026.".encode("cp1252")
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        doc = load_document(path)
    assert "Verónica Ortiz" in doc.text and "mágica" in doc.text
    assert doc.warnings and "not UTF-8" in doc.warnings[0]
    assert any("not UTF-8" in str(w.message) for w in caught)


def test_binary_and_empty_files_are_refused(tmp_path):
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(LoaderError, match="image.txt: looks like a binary file"):
        load_document(binary)
    empty = tmp_path / "empty.md"
    empty.write_text("   \n\n ", encoding="utf-8")
    with pytest.raises(LoaderError, match="empty.md: no extractable text"):
        load_document(empty)


def test_find_files_filters_types_and_reports_problems(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.PDF").write_bytes(b"%PDF")
    (tmp_path / "c.exe").write_bytes(b"x")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "d.txt").write_text("d")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "e.html").write_text("<p>e</p>")
    files, problems = find_files([tmp_path, tmp_path / "nope", tmp_path / "c.exe"])
    assert [f.name for f in files] == ["a.txt", "b.PDF", "e.html"]
    assert any("nope: no such file" in p for p in problems)
    assert any("c.exe: unsupported file type" in p for p in problems)


def test_a_txt_file_s_first_line_is_its_title_only_when_it_reads_as_a_heading(tmp_path):
    (tmp_path / "notes.txt").write_text("Opening hours\n\nThe library opens at nine.", encoding="utf-8")
    (tmp_path / "p00042.txt").write_text("A single long paragraph. " * 10, encoding="utf-8")
    (tmp_path / "long-first-line.txt").write_text("x " * 100 + "\nmore", encoding="utf-8")
    assert load_document(tmp_path / "notes.txt").title == "Opening hours"
    assert load_document(tmp_path / "p00042.txt").title == "p00042"  # not its opening words cut off
    assert load_document(tmp_path / "long-first-line.txt").title == "long-first-line"
