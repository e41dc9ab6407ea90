"""Progress of a long ``rag index``: done/total, rate and time left, per stage ("Reading files",
"Embedding"). The pipeline reports ``(stage, done, total, detail)``; ``ProgressPrinter`` turns that
into a line that redraws itself on a terminal, or, in a log (not a terminal), a line every 10 %
or 30 seconds."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

ProgressCallback = Callable[[str, int, int, str], None]  # (stage, done, total, detail such as "412/2,067 files")


def no_progress(stage: str, done: int, total: int, detail: str = "") -> None:
    pass


def duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class ProgressPrinter:
    """A ``ProgressCallback`` printing to ``stream`` (stderr by default)."""

    def __init__(self, stream=None, clock=time.monotonic, interactive: bool | None = None):
        self.stream = stream or sys.stderr
        self.clock = clock
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self._stage = None
        self._started = 0.0
        self._first_done = 0
        self._last_print = -1e9
        self._last_share = -1.0
        self._width = 0

    def __call__(self, stage: str, done: int, total: int, detail: str = "") -> None:
        now = self.clock()
        if stage != self._stage:
            self._finish_line()
            self._stage, self._started, self._first_done = stage, now, done
            self._last_print, self._last_share = -1e9, -1.0
        final = done >= total
        share = done / total if total else 1.0
        if not final:
            if self.interactive and now - self._last_print < 0.25:
                return
            if not self.interactive and share - self._last_share < 0.1 and now - self._last_print < 30:
                return
        self._last_print, self._last_share = now, share
        line = self.line(stage, done, total, detail, now - self._started, done - self._first_done)
        if self.interactive:
            self.stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
            if final:
                self.stream.write("\n")
                self._width = 0
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        if final:
            self._stage = None

    @staticmethod
    def line(stage: str, done: int, total: int, detail: str, elapsed: float, done_here: int) -> str:
        """ "Embedding: 1,203/2,067 chunks (58 %), 412/700 files, 14.2/s, 1m01s left" """
        percent = f" ({100 * done / total:.0f} %)" if total else ""
        parts = [f"{stage}: {done:,}/{total:,}{percent}"]
        if detail:
            parts.append(detail)
        if elapsed > 0.5 and done_here > 0:
            rate = done_here / elapsed
            parts.append(f"{rate:,.1f}/s")
            if done < total:
                parts.append(f"{duration((total - done) / rate)} left")
            else:
                parts.append(f"in {duration(elapsed)}")
        return ", ".join(parts)

    def _finish_line(self) -> None:
        if self.interactive and self._width:
            self.stream.write("\n")
            self._width = 0
