"""Reading evaluation sets into the records of eval/records.py, whatever file format they came in.

Three shapes are read (``load_set`` tells them apart): our JSONL format (``eval/README.md``),
SQuAD-format JSON (v1.1 or v2.0) and BEIR folders (``corpus.jsonl``, ``queries.jsonl``,
``qrels/*.tsv``). Each becomes an ``EvalSet``: the items, plus the documents to index.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from eval.beir import load_beir
from eval.errors import EvalSetError
from eval.records import EvalItem, EvalSet
from eval.squad import load_squad_set


def sample(items: list[EvalItem], limit: int | None, seed: int = 0) -> list[EvalItem]:
    """A fixed random sample of ``limit`` items (same seed, same items), kept in set order."""
    if not limit or limit >= len(items):
        return list(items)
    chosen = set(random.Random(seed).sample(range(len(items)), limit))
    return [item for i, item in enumerate(items) if i in chosen]


def load_set(path: Path | str, docs: Path | None = None) -> EvalSet:
    """Read a JSONL set, a SQuAD JSON file or a BEIR folder, told apart by their shape."""
    path = Path(path)
    if path.is_dir():
        if (path / "corpus.jsonl").is_file() and (path / "queries.jsonl").is_file():
            return load_beir(path)
        raise EvalSetError(f"{path}: a folder set must be in BEIR format (corpus.jsonl, queries.jsonl, qrels/)")
    if not path.is_file():
        raise EvalSetError(f"{path}: no such evaluation set")
    with path.open(encoding="utf-8") as f:
        head = f.read(64).lstrip()
    if path.suffix == ".json" or "".join(head.split()).startswith('{"data"'):
        return load_squad_set(path)
    return load_jsonl(path, docs)


def load_jsonl(path: Path, docs: Path | None = None) -> EvalSet:
    """Our own format; documents are found in ``docs``, else in ``<set name>-docs/`` or ``docs/`` beside the set,
    else beside the set, else in the project's ``seeds/``."""
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            turns = tuple(raw["turns"]) if "turns" in raw else (raw["question"],)
            document = raw.get("document")
            items.append(
                EvalItem(
                    id=str(raw["id"]),
                    turns=turns,
                    answers=tuple(raw.get("answers") or ()),
                    relevant={document: 1} if document else {},
                    support=raw.get("support"),
                    answerable=bool(raw.get("answerable", True)),
                    language=raw.get("language", "en"),
                    kind=raw.get("kind", ""),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise EvalSetError(f"{path}:{number}: not a valid evaluation item ({exc})") from None
    return EvalSet(path.stem, path, "jsonl", items, docs_folder=_docs_folder(path, items, docs))


def _docs_folder(path: Path, items: list[EvalItem], docs: Path | None) -> Path:
    from index.config import PROJECT_ROOT

    if docs is not None:
        if not Path(docs).is_dir():
            raise EvalSetError(f"{docs}: no such documents folder")
        return Path(docs)
    names = {name for item in items for name in item.relevant}
    own = path.with_name(f"{path.stem}-docs")  # what `rag feedback export` writes beside its set
    if own.is_dir() and all((own / n).is_file() for n in names):
        return own
    for folder in (path.parent / "docs", path.parent, PROJECT_ROOT / "seeds"):
        if folder.is_dir() and names and all((folder / n).is_file() for n in names):
            return folder
    raise EvalSetError(
        f"{path}: cannot find the documents it names ({', '.join(sorted(names)[:3])}...); pass --docs FOLDER"
    )
