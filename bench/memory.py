"""Memory of a process serving answers: RSS after each piece is loaded, and the peak.

Indexes the seed article in a temporary folder with the default settings (MiniLM, the second
embedder, the local LLM), then loads the engine, warms it up and answers a few questions, as
`rag chat` does. The baseline is the bare interpreter with the project imported.

    python bench/memory.py
"""

from __future__ import annotations

import resource
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scale import rss_mib  # noqa: E402
from index.config import Config  # noqa: E402
from index.pipeline import build_index  # noqa: E402
from rag.api import get_engine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "How much must auto workers earn per hour under the USMCA?",
    "Who is Verónica Ortiz?",
    "¿Qué propuso Estefanía Cruz para los migrantes mexicanos?",
]


def main() -> None:
    print(f"{'stage':44s} {'RSS MiB':>8s}")
    print(f"{'interpreter + project imported (baseline)':44s} {rss_mib():8.0f}")
    with tempfile.TemporaryDirectory() as tmp:
        config = Config.load(data_dir=Path(tmp))
        report = build_index([ROOT / "seeds"], config)
        print(
            f"{'seed article indexed (' + str(report.chunks_total) + ' chunks, both embedders)':44s} {rss_mib():8.0f}"
        )
        engine = get_engine(config, "llm")
        engine.warm_up()
        print(f"{'engine loaded and warmed (LLM in memory)':44s} {rss_mib():8.0f}")
        for question in QUESTIONS:
            engine.answer(question)
        print(f"{'after ' + str(len(QUESTIONS)) + ' answers':44s} {rss_mib():8.0f}")
    print(f"{'peak RSS':44s} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:8.0f}")


if __name__ == "__main__":
    main()
