"""``rag feedback export OUT.jsonl``: the chat's thumbs up/down as an evaluation set (eval/README.md).

One item per rated answer, in the order given:

- the question, with the conversation's earlier questions as ``turns`` when it was a follow-up;
- an up-voted answer becomes the reference (``answers``: its text without the [n] markers) and its
  first cited document and supporting text the gold ``document``/``support``; an up-voted
  "not found" answer marks the question unanswerable;
- a down-voted answer has no reference; it carries the user's ``comment`` and, under ``feedback``,
  what was answered (text, citations), the index version and the settings, so the report's failed
  items can be read against what the user saw.

The documents of the current index (and any other cited file still on disk) are copied into
``OUT-docs/`` beside the set, where ``rag eval OUT.jsonl`` finds them: it indexes them in its own
workspace and re-scores the current code on what users actually asked.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from index.config import Config
from index.errors import UserError
from rag import library
from ui.conversations import ConversationStore, database_path

_MARKERS = re.compile(r"\s*\[\d+(?:\s*[,\u2013-]\s*\d+)*\]")


class NothingToExport(UserError):
    """There is no feedback to export."""


@dataclass
class ExportReport:
    items: int = 0
    up: int = 0
    down: int = 0
    documents: int = 0
    docs_folder: Path | None = None
    warnings: list[str] = field(default_factory=list)


def docs_folder_for(out: Path) -> Path:
    return out.with_name(f"{out.stem}-docs")


def _inert_json(data) -> str:
    """One JSON line that stays inert if pasted into HTML: <, > and & escaped as \\u003c etc."""
    text = json.dumps(data, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def export_feedback(config: Config, out: Path | str) -> ExportReport:
    out = Path(out)
    report = ExportReport()
    db = database_path(config.data_dir)
    if not db.is_file():
        raise NothingToExport(f"no chat database at {db}: nothing has been rated yet")
    rows = ConversationStore(db).all_feedback()
    if not rows:
        raise NothingToExport("no feedback yet: rate answers in the chat with the thumbs first")

    folder = docs_folder_for(out)
    folder.mkdir(parents=True, exist_ok=True)
    names: dict[str, str] = {}  # source path -> file name in the docs folder

    def place(source: str) -> str | None:
        if source in names:
            return names[source]
        path = Path(source)
        if not path.is_file():
            report.warnings.append(f"{source} is no longer on disk; items citing it name no document")
            names[source] = None
            return None
        name, n = path.name, 1
        while name in names.values() and not _same(folder / name, path):
            n += 1
            name = f"{path.stem} ({n}){path.suffix}"
        if not _same(folder / name, path):
            shutil.copyfile(path, folder / name)
        names[source] = name
        report.documents += 1
        return name

    for doc in library.status(config).documents:
        place(doc.source)

    lines = []
    for row in rows:
        answer = row["answer"] or {}
        citations = answer.get("citations") or []
        earlier = row["earlier_questions"]
        text = _MARKERS.sub("", answer.get("text", "")).strip()
        up = row["rating"] == "up"
        abstained = bool(answer.get("abstained"))
        item = {"id": f"feedback-{row['id']}", "kind": f"feedback-{row['rating']}"}
        item["turns" if earlier else "question"] = [*earlier, row["question"]] if earlier else row["question"]
        item.update(
            {
                "answers": [text] if up and not abstained and text else [],
                "answerable": not (up and abstained),
                "support": None,
                "document": None,
                "language": answer.get("language", "en"),
            }
        )
        if up and citations and not abstained:
            first = min(citations, key=lambda c: c.get("number", 0))
            item["document"] = place(first.get("source", ""))
            item["support"] = first.get("text") if item["document"] else None
        if row["comment"]:
            item["comment"] = row["comment"]
        item["feedback"] = {
            "rating": row["rating"],
            "answer": answer.get("text", ""),
            "abstained": abstained,
            "citations": [
                {k: c.get(k) for k in ("number", "title", "source", "location", "text", "span_start", "span_end")}
                for c in citations
            ],
            "index_version": row["index_version"],
            "settings": row["settings"],
            "given": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row["created"])),
        }
        lines.append(_inert_json(item))
        report.items += 1
        report.up += up
        report.down += not up
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(out)
    report.docs_folder = folder
    return report


def _same(a: Path, b: Path) -> bool:
    try:
        return a.is_file() and a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()
    except OSError:
        return False
