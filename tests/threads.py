"""Running test code in several threads at once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable


def failures_in_threads(target: Callable[..., None], args: Iterable[tuple]) -> list[str]:
    """Run ``target(*a)`` for each ``a`` in a thread of its own, all started together (a barrier);
    return what they raised, as "Type: message" lines (an empty list when every thread succeeded)."""
    args = list(args)
    start = threading.Barrier(len(args))
    failures: list[str] = []

    def run(*a) -> None:
        start.wait()
        try:
            target(*a)
        except Exception as exc:  # noqa: BLE001 - any failure in a thread is the finding
            failures.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=run, args=a) for a in args]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures
