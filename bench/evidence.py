"""Evidence selection on SQuAD v1.1 dev (or a SQuAD-format set): how often the chosen sentences hold a gold answer.

The real pipeline indexes the 2,067 paragraphs (one file each; ``--data-dir`` keeps the index for the
next run), the real retriever returns the top-k passages, and ``rag.evidence.select_evidence`` picks
the sentences the model reads. For a sample of questions apart from the 300 that `rag eval --limit
300` answers, it prints, per evidence setting: the share whose evidence holds a gold answer (the
ceiling: the share whose retrieved passages do), and the evidence's mean cl100k tokens. Every setting
is scored on the same retrieval in the same run.

    python bench/evidence.py [--data FILE] [--limit 400] [--data-dir DIR] [--termless 1.0 0.5 0.0]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.squad import SQUAD_DEV, load_squad, write_paragraph_files  # noqa: E402
from index.config import Config  # noqa: E402
from index.embedder import Embedder  # noqa: E402
from index.pipeline import build_index  # noqa: E402
from index.store import FolderStore  # noqa: E402
from index.tokens import token_counter  # noqa: E402
from rag.evidence import EvidenceSettings, select_evidence  # noqa: E402
from rag.retriever import HybridRetriever  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=400)
    parser.add_argument("--data", type=Path, default=SQUAD_DEV, help="a SQuAD-format file (e.g. squadshifts-amazon)")
    parser.add_argument("--data-dir", type=Path, default=None, help="keep (and reuse) the index here")
    parser.add_argument("--termless", type=float, nargs="*", default=[1.0, 0.5, 0.0])
    args = parser.parse_args()

    paragraphs, questions = load_squad(args.data)
    reported = set(random.Random(0).sample(range(len(questions)), 300))  # rag eval --limit 300's sample
    rest = [q for i, q in enumerate(questions) if i not in reported]
    sample = random.Random(1).sample(rest, min(args.limit, len(rest)))

    tmp = None
    data_dir = args.data_dir
    if data_dir is None:
        tmp = tempfile.TemporaryDirectory()
        data_dir = Path(tmp.name)
    config = Config.load(data_dir=data_dir)
    embedder = Embedder(config.embedder, config.embed_batch_size, config.question_encoder, config.cache_dir)
    docs = data_dir / "squad-docs"
    if not docs.is_dir():
        write_paragraph_files(paragraphs, docs)
    build_index([docs], config, embedder=embedder)
    snap = FolderStore(config.index_dir).load()
    retriever = HybridRetriever(snap, embedder)
    count = token_counter(config.cache_dir)
    base = EvidenceSettings(budget_tokens=config.evidence_tokens)
    settings = {f"termless_standing={t}": replace(base, termless_standing=t) for t in args.termless}

    held = {name: 0 for name in settings}
    tokens = {name: 0 for name in settings}
    ceiling = 0
    for q in sample:
        passages = retriever.retrieve(q.text, top_k=config.top_k)
        gold = [a.lower() for a in q.answers]
        ceiling += any(g in p.text.lower() for p in passages for g in gold)
        for name, setting in settings.items():
            text = " ".join(e.text for e in select_evidence(q.text, passages, count, setting)).lower()
            held[name] += any(g in text for g in gold)
            tokens[name] += count(text)
    n = len(sample)
    print(
        f"{args.data.name}, {n} questions apart from rag eval's 300, top {config.top_k} passages, "
        f"budget {base.budget_tokens}"
    )
    print(f"retrieved passages hold a gold answer: {ceiling / n:.3f}")
    for name in settings:
        print(f"{name:28s} evidence holds a gold answer: {held[name] / n:.3f}   mean tokens {tokens[name] / n:6.1f}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
