"""Where in its file a span of a document is: "page 2", "slide 3", "sheet Exports, row 3", a chapter
or section title, or a range of them ("pages 2–3", "sheet Exports, rows 3–9").

A document's *marks* are ``(char_offset, label)`` pairs, sorted by offset, made by its loader
(index/loaders.py, index/formats/): from each offset on, that label is in force. Any span of the
text -- a chunk, or a citation's supporting sentence -- has the label in force at its start, and
when it runs into a later mark of the same kind, a range.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

Marks = Sequence[Sequence]  # [(offset, label), ...] (lists after a JSON round trip)

_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<word>[A-Za-z]+) (?P<number>\d+)$")
_PLURAL = {"page": "pages", "slide": "slides", "row": "rows", "sheet": "sheets"}


def location_of(marks: Marks | None, start: int, end: int | None = None) -> str:
    """The location of text ``[start, end)``: the label in force at ``start`` ("" before any mark),
    widened to a range when the span reaches a later numbered label of the same kind."""
    if not marks:
        return ""
    offsets = [int(m[0]) for m in marks]
    first = bisect.bisect_right(offsets, start) - 1
    if first < 0:
        first = 0 if end is not None and end > offsets[0] else -1
        if first < 0:
            return ""
    label = str(marks[first][1])
    if end is None or end <= start:
        return label
    last = bisect.bisect_left(offsets, end) - 1  # the last mark that starts inside the span
    if last <= first:
        return label
    if not _NUMBERED.match(label):  # "sheet Exports" then its rows: the range of the rows
        inner = next((i for i in range(first + 1, last + 1) if str(marks[i][1]).startswith(label + ", ")), None)
        if inner is not None:
            label = str(marks[inner][1])
    return span_label(label, str(marks[last][1]))


def span_label(first: str, last: str) -> str:
    """ "page 2" + "page 3" -> "pages 2–3"; "sheet X, row 3" + "sheet X, row 9" -> "sheet X, rows 3–9";
    labels of different kinds (chapter titles) -> the first one."""
    a, b = _NUMBERED.match(first), _NUMBERED.match(last)
    if not a or not b or a["prefix"] != b["prefix"] or a["word"] != b["word"]:
        return first
    if a["number"] == b["number"]:
        return first
    word = _PLURAL.get(a["word"], a["word"])
    return f"{a['prefix']}{word} {a['number']}–{b['number']}"


def marks_within(marks: Marks | None, start: int, end: int) -> tuple[tuple[int, str], ...]:
    """The marks that matter for spans inside ``[start, end)``: the one in force at ``start`` and
    those starting before ``end`` (offsets stay document offsets)."""
    if not marks:
        return ()
    offsets = [int(m[0]) for m in marks]
    first = max(bisect.bisect_right(offsets, start) - 1, 0)
    last = bisect.bisect_left(offsets, end)
    return tuple((int(m[0]), str(m[1])) for m in marks[first:last])
