"""``rag eval``: load a set, run it, write the results with the facts needed to reproduce them
(the command as typed, the date, the git commit)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from eval.report import write_results
from eval.runner import RunSettings, run
from eval.sets import load_set
from eval.summary import by_kind, summarise
from index.config import PROJECT_ROOT, Config


def git_commit(root: Path = PROJECT_ROOT) -> str:
    """HEAD, marked ``-dirty`` when the working tree has uncommitted changes to tracked files."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def read_checkpoint(path: Path) -> dict[str, dict]:
    """Answered items of a stopped run, by id (a line cut short by the stop is skipped)."""
    records: dict[str, dict] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            records[record["id"]] = record
    return records


def evaluate(
    set_path: Path,
    settings: RunSettings,
    out: Path,
    base: Config,
    *,
    command: str,
    docs: Path | None = None,
    progress: bool = True,
    resume: bool = False,
    say=lambda message: print(message, file=sys.stderr),
) -> dict:
    if not progress:
        from index.embedder import quiet_model_libraries

        quiet_model_libraries()
    eval_set = load_set(set_path, docs)
    say(f"{eval_set.name}: {len(eval_set.items)} items ({eval_set.format})")
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    commit = git_commit()
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / "partial.jsonl"  # answered items as they come; removed when the run completes
    resumed = read_checkpoint(checkpoint) if resume else {}
    if resumed:
        say(f"resuming: {len(resumed)} answered items read from {checkpoint}")
    else:
        checkpoint.unlink(missing_ok=True)
    results, facts = run(eval_set, settings, base, progress=progress, say=say, checkpoint=checkpoint, resumed=resumed)
    summary = summarise(results)
    if "://" not in facts["index_dir"]:
        facts["index_dir"] = os.path.relpath(facts["index_dir"])
    record = {
        "command": command,
        "date": date,
        "commit": commit,
        "set": {"name": eval_set.name, "path": str(set_path), "format": eval_set.format, "items": len(eval_set.items)},
        "settings": {**settings.__dict__},
        "index": facts,
    }
    write_results(out, record, summary, by_kind(results), results, eval_set.titles)
    checkpoint.unlink(missing_ok=True)
    return summary
