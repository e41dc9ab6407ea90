"""SQuAD-format files (v1.1, or v2.0 with unanswerable questions) as paragraph-retrieval sets.

Every paragraph is one document, ``p00042.txt`` (its index in file order), titled with its
article's title and paragraph number; each question's relevant document is its paragraph.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from eval.errors import EvalSetError
from eval.records import EvalItem, EvalSet, SetDocument


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    gold_paragraph: int  # index into paragraphs
    answers: tuple[str, ...]
    answerable: bool = True


def paragraph_name(index: int) -> str:
    return f"p{index:05d}.txt"


def load_squad(path: Path | str) -> tuple[list[tuple[str, str]], list[Question]]:
    """(title, paragraph text) per paragraph, and every question with its gold paragraph."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise EvalSetError(f"{path}: not a SQuAD-format file ({exc})") from None
    paragraphs: list[tuple[str, str]] = []
    questions: list[Question] = []
    for article in data:
        title = article["title"].replace("_", " ")
        for para in article["paragraphs"]:
            pid = len(paragraphs)
            paragraphs.append((title, para["context"]))
            for qa in para["qas"]:
                impossible = bool(qa.get("is_impossible", False))
                answers = () if impossible else tuple(dict.fromkeys(a["text"] for a in qa["answers"]))
                questions.append(Question(qa["id"], qa["question"], pid, answers, not impossible))
    return paragraphs, questions


def write_paragraph_files(paragraphs: list[tuple[str, str]], folder: Path) -> list[Path]:
    """One .txt per paragraph, named by its index so a document maps back to its paragraph."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (_title, text) in enumerate(paragraphs):
        path = folder / paragraph_name(i)
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def load_squad_set(path: Path | str) -> EvalSet:
    path = Path(path)
    paragraphs, questions = load_squad(path)
    numbers: dict[str, int] = {}
    documents = []
    for i, (title, text) in enumerate(paragraphs):
        numbers[title] = numbers.get(title, 0) + 1
        documents.append(SetDocument(paragraph_name(i), f"{title} ¶{numbers[title]}", text))
    items = [
        EvalItem(
            id=q.id,
            turns=(q.text,),
            answers=q.answers,
            relevant={paragraph_name(q.gold_paragraph): 1} if q.answerable else {},
            answerable=q.answerable,
            kind="squad" if q.answerable else "unanswerable",
        )
        for q in questions
    ]
    return EvalSet(path.stem, path, "squad", items, documents=documents)
