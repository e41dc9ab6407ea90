"""Each evaluation set gets its own index, so the user's index is never touched and a re-run
reuses the previous build (the index pipeline is incremental: unchanged files embed nothing).

The workspace is ``<data_dir>/eval/<set name>-<hash>/`` (``data/`` is git-ignored in a checkout):
``docs/`` holds the set's inline documents as .txt files, ``index/`` the index built from them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from eval.records import EvalSet
from index.config import Config
from index.pipeline import build_index


def set_fingerprint(eval_set: EvalSet) -> str:
    """Changes whenever the set's documents could: its file (or corpus), or its documents folder."""
    digest = hashlib.sha256(eval_set.format.encode())
    source = eval_set.path / "corpus.jsonl" if eval_set.path.is_dir() else eval_set.path
    with source.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if eval_set.docs_folder is not None:
        digest.update(str(eval_set.docs_folder.resolve()).encode())
    return digest.hexdigest()[:12]


def workspace_for(eval_set: EvalSet, base: Config) -> Path:
    return Path(base.data_dir) / "eval" / f"{eval_set.name}-{set_fingerprint(eval_set)}"


def write_documents(eval_set: EvalSet, folder: Path) -> Path:
    """The set's inline documents as files; an unchanged file is not rewritten (keeps its mtime)."""
    folder.mkdir(parents=True, exist_ok=True)
    for doc in eval_set.documents:
        path = folder / doc.name
        if not path.is_file() or path.read_text(encoding="utf-8") != doc.text:
            path.write_text(doc.text, encoding="utf-8")
    return folder


def prepare_index(eval_set: EvalSet, base: Config, say=lambda message: None, progress: bool = True) -> Config:
    """Build (or bring up to date) the set's own index; returns the config that points at it."""
    root = workspace_for(eval_set, base)
    config = base.with_(data_dir=root)
    if base.store:  # a database store: the set's index goes into its own schema of the same database
        from index.config import with_schema

        config = config.with_(store=with_schema(base.store, f"eval_{root.name}"))
    folder = eval_set.docs_folder or write_documents(eval_set, root / "docs")
    report = build_index([folder], config, say=say, progress=None if progress else False)
    say(report.summary())
    return config
