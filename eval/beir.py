"""BEIR-format folders: ``corpus.jsonl`` (_id, title, text), ``queries.jsonl`` (_id, text) and
``qrels/<split>.tsv`` (query-id, corpus-id, score; a header line), as published for the BEIR tables.

Documents are written as ``d000042.txt`` (corpus ids can hold characters a file name cannot), with
the title as the first line, which is how BEIR's own dense baselines see them (title + text).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from eval.errors import EvalSetError
from eval.records import EvalItem, EvalSet, SetDocument


def _jsonl(path: Path, *fields: str) -> list[dict]:
    """The file's records; a line that is not a JSON object with ``fields`` is the user's to fix."""
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            missing = [f for f in fields if f not in record]
        except (ValueError, TypeError) as exc:
            raise EvalSetError(f"{path}:{number}: not a JSON object ({exc})") from None
        if missing:
            raise EvalSetError(f"{path}:{number}: no {', '.join(missing)} in this record")
        records.append(record)
    return records


def read_qrels(folder: Path, split: str | None = None) -> dict[str, dict[str, int]]:
    """query id -> {corpus id: grade} from ``qrels/<split>.tsv`` (default: test, else the only file)."""
    files = sorted((folder / "qrels").glob("*.tsv"))
    if split:
        files = [f for f in files if f.stem == split]
    elif len(files) > 1:
        files = [f for f in files if f.stem == "test"] or files[:1]
    if not files:
        raise EvalSetError(f"{folder}: no qrels/{split or '*'}.tsv")
    qrels: dict[str, dict[str, int]] = {}
    with files[0].open(encoding="utf-8", newline="") as f:
        for row in csv.reader(f, delimiter="\t"):
            if len(row) < 3 or not row[2].strip().lstrip("-").isdigit():
                continue  # the header, or a blank line
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    return qrels


def load_beir(folder: Path | str, split: str | None = None) -> EvalSet:
    folder = Path(folder)
    qrels = read_qrels(folder, split)
    documents, name_of = [], {}
    for i, doc in enumerate(_jsonl(folder / "corpus.jsonl", "_id", "text")):
        name = f"d{i:06d}.txt"
        name_of[str(doc["_id"])] = name
        title = doc.get("title") or ""
        text = f"{title}\n\n{doc['text']}" if title else doc["text"]
        documents.append(SetDocument(name, title or str(doc["_id"]), text))
    items = []
    for query in _jsonl(folder / "queries.jsonl", "_id", "text"):
        judged = qrels.get(str(query["_id"]))
        if not judged:
            continue  # BEIR evaluates only the queries of the split's qrels
        relevant = {name_of[d]: grade for d, grade in judged.items() if d in name_of and grade > 0}
        items.append(EvalItem(id=str(query["_id"]), turns=(query["text"],), relevant=relevant, kind="beir"))
    return EvalSet(folder.name, folder, "beir", items, documents=documents)
