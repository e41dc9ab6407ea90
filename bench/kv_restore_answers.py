"""Do answers change when the answer prompt's prefix comes from a saved KV state? (They should not:
decoding is greedy and the restored state is the bytes llama.cpp computed.)

The seed evaluation set (eval/sets/seed.jsonl, conversations turn by turn) is answered in two
fresh processes, each one session in file order after the start-up warm-up:
  restored  the prefix is restored from a state saved by an earlier process (which only warmed up);
  plain     llama.cpp evaluates every prompt whole, no prefix handling (the code before the KV cache).
Each process writes its replies to <out>/<mode>.jsonl as it goes; the replies both have are compared.

    python bench/kv_restore_answers.py [out-dir]     # default: <tmp>/kv_restore_answers
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index.config import Config
from index.pipeline import build_index
from rag.engine import RagEngine
from rag.generation.base import GenerationResult
from rag.generation.llama import LlamaCppGenerator
from rag.weights import packaged_model

ROOT = Path(__file__).resolve().parents[1]
EVAL_SET = ROOT / "eval" / "sets" / "seed.jsonl"


def session(mode: str, data_dir: str, kv_dir: str, out: str) -> None:
    """In a fresh process (``--child``): warm up, then (unless ``prefill``) answer every item."""
    if mode == "plain":
        LlamaCppGenerator._ensure_prefix = lambda self, llm, request: GenerationResult()
    config = Config.load(data_dir=Path(data_dir))
    engine = RagEngine(
        config, LlamaCppGenerator(str(packaged_model(config.cache_dir)), threads=config.threads, kv_dir=kv_dir)
    )
    start = time.perf_counter()
    engine.warm_up()
    with open(out, "w", encoding="utf-8") as f:
        f.write(json.dumps({"warm_up": time.perf_counter() - start}) + "\n")
        f.flush()
        if mode == "prefill":
            return
        for line in EVAL_SET.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            history: list[dict] = []
            for number, turn in enumerate(item.get("turns") or [item["question"]]):
                answer = engine.answer(turn, history)
                history += [{"role": "user", "content": turn}, {"role": "assistant", "content": answer.text}]
                reply = [answer.rewritten_question, answer.raw_text, answer.text]
                f.write(json.dumps({"turn": f"{item['id']}/{number}", "reply": reply}, ensure_ascii=False) + "\n")
                f.flush()


def read(path: Path) -> tuple[float, dict]:
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return lines[0]["warm_up"], {line["turn"]: line["reply"] for line in lines[1:]}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        config = Config.load(data_dir=Path(tmp))
        build_index([ROOT / "seeds"], config)
        for mode in ("prefill", "restored", "plain"):
            subprocess.run(
                [sys.executable, __file__, "--child", mode, tmp, str(Path(tmp) / "kv"), str(out / f"{mode}.jsonl")],
                check=True,
                capture_output=True,
            )
    report(out)


def report(out: Path) -> None:
    for mode in ("prefill", "restored", "plain"):
        print(f"{mode:9s} start-up warm-up {read(out / f'{mode}.jsonl')[0]:7.2f} s")
    restored, plain = read(out / "restored.jsonl")[1], read(out / "plain.jsonl")[1]
    both = [turn for turn in restored if turn in plain]
    differ = [turn for turn in both if restored[turn] != plain[turn]]
    print(f"{len(both)} turns of {EVAL_SET.name} answered both ways; replies differing: {len(differ)}")
    for turn in differ:
        print(f"  {turn}: plain    {plain[turn]!r}\n  {' ' * len(turn)}  restored {restored[turn]!r}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        session(*sys.argv[2:6])
    elif sys.argv[1:2] == ["--report"]:
        report(Path(sys.argv[2]))
    else:
        main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.gettempdir()) / "kv_restore_answers")
