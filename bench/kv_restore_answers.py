"""Do answers change when the answer prompt's prefix comes from a saved KV state? (They should not:
decoding is greedy and the restored state is the bytes llama.cpp computed.)

The seed evaluation set (eval/sets/seed.jsonl, conversations turn by turn) is answered in three
fresh processes, each one session in file order after the start-up warm-up:
  plain     llama.cpp evaluates every prompt whole, no prefix handling (the code before the KV cache);
  saved     the prefix is evaluated on its own and saved to an empty state directory;
  restored  the prefix is restored from that saved state.
Prints, per mode, the start-up warm-up time and how many of the model's raw replies differ from plain.

    python bench/kv_restore_answers.py
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
from rag.generation.llama import LlamaCppGenerator
from rag.weights import packaged_model

ROOT = Path(__file__).resolve().parents[1]
EVAL_SET = ROOT / "eval" / "sets" / "seed.jsonl"


def session(mode: str, data_dir: str, kv_dir: str) -> None:
    """In a fresh process (``--child``): answer every item; print JSON {warm_up, replies}."""
    if mode == "plain":
        LlamaCppGenerator._ensure_prefix = lambda self, llm, request: None
    config = Config.from_env(data_dir=Path(data_dir))
    engine = RagEngine(config, LlamaCppGenerator(str(packaged_model(config.cache_dir)), threads=config.threads,
                                                 kv_dir=kv_dir))
    start = time.perf_counter()
    engine.warm_up()
    warm_up = time.perf_counter() - start
    replies = {}
    for line in EVAL_SET.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        history: list[dict] = []
        for number, turn in enumerate(item.get("turns") or [item["question"]]):
            answer = engine.answer(turn, history)
            history += [{"role": "user", "content": turn}, {"role": "assistant", "content": answer.text}]
            replies[f"{item['id']}/{number}"] = [answer.rewritten_question, answer.raw_text, answer.text]
    print(json.dumps({"warm_up": warm_up, "replies": replies}))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = Config.from_env(data_dir=Path(tmp))
        build_index([ROOT / "seeds"], config)
        results = {}
        for mode in ("plain", "saved", "restored"):
            start = time.perf_counter()
            output = subprocess.run([sys.executable, __file__, "--child", mode, tmp, str(Path(tmp) / "kv")],
                                    check=True, capture_output=True, text=True).stdout
            results[mode] = json.loads(output.strip().splitlines()[-1])
            results[mode]["seconds"] = time.perf_counter() - start
    plain = results["plain"]["replies"]
    print(f"{len(plain)} turns of {EVAL_SET.name}")
    for mode, result in results.items():
        differ = [key for key, reply in result["replies"].items() if reply != plain[key]]
        print(f"{mode:9s} warm-up {result['warm_up']:6.2f} s, whole session {result['seconds']:6.1f} s; "
              f"replies differing from plain: {len(differ)} {differ}")
        for key in differ:
            print(f"    {key}: plain {plain[key]!r}\n    {' ' * len(key)}  {mode} {result['replies'][key]!r}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        session(*sys.argv[2:5])
    else:
        main()
