"""Typed records the indexing layer produces; every other layer speaks them too."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Document:
    """One source file turned into plain text.

    ``id`` is a hash of the text, so the same content always gets the same id and a
    changed file gets a new one (that is how incremental indexing spots changes).
    """

    id: str
    title: str
    source: str  # absolute path of the file it came from
    text: str
    warnings: tuple[str, ...] = field(default=(), compare=False)
    # (char offset, label): from that offset on the text is on "page 2", "slide 3", "sheet Exports,
    # row 3", in chapter or section "...": see index/locations.py. Sorted by offset; may be empty.
    marks: tuple[tuple[int, str], ...] = field(default=(), compare=False)
    ocr_pages: tuple[int, ...] = field(default=(), compare=False)  # pages (1-based) whose text came from OCR

    def meta(self) -> dict:
        """The document without its text: what the store keeps per document."""
        return {
            "id": self.id,
            "title": self.title,
            "source": self.source,
            "chars": len(self.text),
            "marks": [[offset, label] for offset, label in self.marks],
        }


@dataclass(frozen=True)
class Chunk:
    """A span of a document, small enough for the embedder.

    ``text == document.text[char_start:char_end]`` always holds, so any layer can
    point back into the document (the UI highlights exactly this span).
    """

    id: str  # f"{doc_id}:{ordinal}"
    doc_id: str
    ordinal: int
    char_start: int
    char_end: int
    text: str

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Chunk:
        return cls(**data)
