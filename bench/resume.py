"""Kill `rag index` half-way through a big folder, run it again, and count the work done twice.

The folder: SQuAD v1.1 dev, one .txt file per paragraph (2,067 files; ../shared/data/squad/), in a
temp dir. Run 1 is `rag index FOLDER` with the real embedders (MiniLM, and multilingual-e5-small:
the corpus is under its 5,000-chunk limit), killed with SIGKILL at a random moment once half the
work is done. Run 2 is the same command to the end. Both runs log every
encoder call (start, end, chunk count) through a thin wrapper, so the bench sees exactly which work
was completed by run 1 and which run 2 did (killed once half of the chunk-embeddings, both models,
were done):

* embedded twice = chunks whose embedding run 1 completed and run 2 computed again (per model);
* in flight = chunks of the encoder call run 1 was inside when it was killed (partial work lost);
* the figure: (embedded twice + in flight) / all chunk-embeddings (both models), beyond the part
  left at the kill (the goal is at most 10 %).

    python bench/resume.py               # the whole SQuAD dev folder
    python bench/resume.py --limit 400   # a quicker look
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.squad import load_squad, write_paragraph_files  # noqa: E402

# run `rag index` with every encoder call logged as JSON lines to $RESUME_LOG
RUNNER = r"""
import json, os, sys, time
import index.embedder as embedder
import index.second_embedder as second

log = open(os.environ["RESUME_LOG"], "a", buffering=1)

def logged(model, function):
    def wrapper(self, texts, *args, **kwargs):
        log.write(json.dumps({"event": "start", "model": model, "n": len(texts), "t": time.time()}) + "\n")
        out = function(self, texts, *args, **kwargs)
        log.write(json.dumps({"event": "end", "model": model, "n": len(texts), "t": time.time()}) + "\n")
        return out
    return wrapper

embedder.Embedder.encode_with_sentences = logged("minilm", embedder.Embedder.encode_with_sentences)
second.E5Embedder.encode_passages = logged("e5", second.E5Embedder.encode_passages)
from cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def read_log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            pass  # the line the kill cut
    return events


def completed(events: list[dict], model: str) -> int:
    return sum(e["n"] for e in events if e["event"] == "end" and e["model"] == model)


def in_flight(events: list[dict]) -> dict[str, int]:
    open_calls: dict[str, int] = {}
    for e in events:
        if e["event"] == "start":
            open_calls[e["model"]] = e["n"]
        else:
            open_calls.pop(e["model"], None)
    return open_calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, help="only the first N paragraphs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moment")
    args = parser.parse_args()
    paragraphs, _ = load_squad()
    paragraphs = paragraphs[: args.limit] if args.limit else paragraphs
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="rag-resume-") as tmp:
        tmp = Path(tmp)
        docs, data = tmp / "docs", tmp / "data"
        write_paragraph_files(paragraphs, docs)
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        command = [sys.executable, "-c", RUNNER, "index", str(docs), "--data-dir", str(data)]

        log1 = tmp / "run1.jsonl"
        started = time.time()
        proc = subprocess.Popen(
            command, env={**env, "RESUME_LOG": str(log1)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        killed_at = None
        while proc.poll() is None:
            time.sleep(0.2)
            events = read_log(log1)
            done = completed(events, "minilm") + completed(events, "e5")
            # about half of the work: most paragraphs are one chunk, and each chunk goes through both models
            models = 1 if os.environ.get("RAG_SECOND_EMBEDDER", "").lower() in ("none", "off") else 2
            if done >= len(paragraphs) * models / 2:
                # a random moment inside the next encoder call, not right at a save
                calls = [e for e in events if e["event"] == "end"]
                typical = (calls[-1]["t"] - calls[0]["t"]) / max(1, len(calls) - 1) if len(calls) > 1 else 1.0
                time.sleep(rng.uniform(0, typical))
                proc.send_signal(signal.SIGKILL)
                killed_at = time.time() - started
                break
        proc.wait()
        events1 = read_log(log1)
        if killed_at is None:
            raise SystemExit("run 1 finished before it could be killed; use a bigger folder")
        current = data / "index" / "current"
        print(f"run 1: killed with SIGKILL after {killed_at:.0f} s; index committed: {current.exists()}")

        log2 = tmp / "run2.jsonl"
        t = time.time()
        run2 = subprocess.run(command, env={**env, "RESUME_LOG": str(log2)}, capture_output=True, text=True)
        seconds2 = time.time() - t
        if run2.returncode != 0:
            raise SystemExit(f"run 2 failed:\n{run2.stderr}")
        events2 = read_log(log2)
        summary = run2.stdout.strip().splitlines()[0]
        print(f"run 2: {seconds2:.0f} s: {summary}")

        from index.store import FolderStore

        snapshot = FolderStore(data / "index").load()
        chunks = len(snapshot.chunks)
        models = ["minilm"] + (["e5"] if snapshot.second_embedder_name else [])
        work = chunks * len(models)
        flight = in_flight(events1)
        print(f"\n{len(paragraphs)} files, {chunks} chunks, models: {', '.join(models)} ({work} chunk-embeddings)")
        twice_total, done1_total = 0, 0
        for model in models:
            done1, done2 = completed(events1, model), completed(events2, model)
            twice = done1 + done2 - chunks  # completed by run 1 and computed again by run 2
            twice_total += twice
            done1_total += done1
            print(
                f"  {model:6s}: run 1 completed {done1:5d}, run 2 embedded {done2:5d}, embedded twice {twice:4d}, "
                f"in flight at the kill {flight.get(model, 0):4d}"
            )
        lost = twice_total + sum(flight.values())
        left = work - done1_total
        print(
            f"\nat the kill {done1_total / work:.1%} of the work was done, {left / work:.1%} left; run 2 did "
            f"{(completed(events2, 'minilm') + completed(events2, 'e5')) / work:.1%}"
        )
        print(
            f"embedded again beyond what was left: {twice_total} chunk-embeddings ({twice_total / work:.1%}); "
            f"with the call in flight at the kill counted as wholly lost: {lost} ({lost / work:.1%}; goal <= 10 %)"
        )


if __name__ == "__main__":
    main()
