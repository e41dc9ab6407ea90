"""Shared loader for SQuAD v1.1 dev as a paragraph-retrieval set (benchmarks only; reads ../shared)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SQUAD_DEV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "squad" / "squaddev_v1.1.json"


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    gold_paragraph: int  # index into paragraphs
    answers: tuple[str, ...]


def load_squad(path: Path = SQUAD_DEV) -> tuple[list[tuple[str, str]], list[Question]]:
    """(title, paragraph text) per paragraph, and every question with its gold paragraph."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    paragraphs: list[tuple[str, str]] = []
    questions: list[Question] = []
    for article in data:
        title = article["title"].replace("_", " ")
        for para in article["paragraphs"]:
            pid = len(paragraphs)
            paragraphs.append((title, para["context"]))
            for qa in para["qas"]:
                questions.append(Question(qa["id"], qa["question"], pid, tuple(a["text"] for a in qa["answers"])))
    return paragraphs, questions


def write_paragraph_files(paragraphs: list[tuple[str, str]], folder: Path) -> list[Path]:
    """One .txt per paragraph, named by its index so a document maps back to its paragraph."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (_title, text) in enumerate(paragraphs):
        path = folder / f"p{i:05d}.txt"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
