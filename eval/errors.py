"""The evaluation layer's error: a set the user gave that cannot be read (a ``UserError``, so the
CLI prints it as one ``error:`` line)."""

from __future__ import annotations

from index.errors import UserError


class EvalSetError(UserError):
    """An evaluation set (or its documents folder) cannot be read; the message names the file."""
