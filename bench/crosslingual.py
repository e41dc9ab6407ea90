"""Spanish questions on the English seed article: does retrieval find the right passage?

Compares, in one run and on the same index (all-MiniLM-L6-v2 chunks of the seed article):
  * the Spanish question as it is (dense, BM25 and hybrid);
  * the English rewrite the engine makes with the local LLM before retrieving (hybrid).
A question counts as found at rank r when the r-th passage contains its gold English phrase.
Chunks here are small (--chunk-tokens, default 64) so that the seed article has enough
passages for ranks to mean something.

    python bench/crosslingual.py [--chunk-tokens 64]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index.config import Config  # noqa: E402
from index.pipeline import build_index  # noqa: E402
from rag.api import get_engine  # noqa: E402
from rag.retriever import HybridRetriever  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

PROBE = [  # (Spanish question, phrase of the English passage that answers it)
    ("¿Cuál es el valor del comercio entre México y Estados Unidos por minuto?", "US$1.8 million per minute"),
    ("¿Quién es el director ejecutivo de Alianza en México?", "Guillermo Malpica"),
    ("¿Cuántas vacantes de empleo no se pueden cubrir en Estados Unidos?", "300,000 to 800,000"),
    ("¿A cuánto crecerá el déficit de empleos para 2033?", "1 million by 2033"),
    ("¿Qué sector es una oportunidad clave para México según Mariana Campos?", "pharmaceutical sector"),
    ("¿Qué barreras internas enfrenta México?", "Low national productivity"),
    ("¿Qué recursos son caros y escasos?", "electricity and water"),
    ("¿Cuál es la principal crítica al TLCAN?", "not solved inequality"),
    ("¿Cuánto deben ganar por hora los trabajadores automotrices?", "US$16 per hour"),
    ("¿Qué temas modernos deben incluirse en la revisión del tratado?", "AI and microchips"),
    ("¿Qué dijo Ortiz que no es un tratado comercial?", "magic wand"),
    ("¿Qué porcentaje de los migrantes mexicanos tiene estatus migratorio regular?", "over 70%"),
    ("¿Qué ciudad china se menciona como ejemplo de desarrollo?", "Shenzhen"),
    ("¿Dónde trabaja Estefanía Cruz?", "Research Center on North America"),
    ("¿Qué cargo tuvo Verónica Ortiz?", "Former CEO"),
    ("¿Quién es la directora general de México Evalúa?", "Mariana Campos"),
]


def rank_of(passages, phrase: str) -> int | None:
    for i, p in enumerate(passages, start=1):
        if phrase in p.text:
            return i
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk-tokens", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Config.load(data_dir=Path(tmp), chunk_tokens=args.chunk_tokens, chunk_overlap=8)
        build_index([ROOT / "seeds"], config)
        engine = get_engine(config, "llm")
        snap = engine.snapshot()
        retriever = HybridRetriever(snap, engine.embedder)
        results = {
            "Spanish as is, dense": [],
            "Spanish as is, BM25": [],
            "Spanish as is, hybrid": [],
            "LLM English rewrite, hybrid": [],
        }
        for question, phrase in PROBE:
            results["Spanish as is, dense"].append(rank_of(retriever.retrieve(question, 10, "dense"), phrase))
            results["Spanish as is, BM25"].append(rank_of(retriever.retrieve(question, 10, "bm25"), phrase))
            results["Spanish as is, hybrid"].append(rank_of(retriever.retrieve(question, 10), phrase))
            rewrite = engine._rewrite(question, [], snap, retriever) or question
            results["LLM English rewrite, hybrid"].append(rank_of(retriever.retrieve(rewrite, 10), phrase))
            print(f"{question[:60]:60s} -> {rewrite}")
        print(
            f"\n{len(PROBE)} Spanish questions, {len(snap.chunks)} chunks of the seed article "
            f"({args.chunk_tokens} tokens), embedder {snap.embedder_name}"
        )
        for name, ranks in results.items():
            top1 = sum(r == 1 for r in ranks)
            top3 = sum(r is not None and r <= 3 for r in ranks)
            print(f"{name:30s} right passage first {top1:2d}/{len(PROBE)}, in top 3 {top3:2d}/{len(PROBE)}")


if __name__ == "__main__":
    main()
