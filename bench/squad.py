"""SQuAD v1.1 dev for the benchmarks (reads ../shared); the loading itself lives in ``eval.squad``."""

from __future__ import annotations

from pathlib import Path

from eval.squad import Question, write_paragraph_files
from eval.squad import load_squad as _load_squad

SQUAD_DEV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "squad" / "squaddev_v1.1.json"

__all__ = ["SQUAD_DEV", "Question", "load_squad", "write_paragraph_files"]


def load_squad(path: Path = SQUAD_DEV):
    return _load_squad(path)
