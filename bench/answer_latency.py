"""Answer latency on the seed article: time to first token and total, ours vs raw llama.cpp.

1. cold, in fresh processes: the model is loaded (load time reported) and the first question is
   asked — first with no saved KV state (the ~1,450-token prompt prefix is evaluated, then saved
   to disk), then again with the saved state (restored from disk), then a third process runs the
   start-up warm-up first, as the UI does, and asks the question after it;
2. session, in this process: the engine's start-up warm-up runs, then 20 seed questions are asked
   in a row, as a user would in one chat (follow-ups included) — time to first token and total;
3. raw: a second llama.cpp instance with the same settings gets exactly the prompts our pipeline
   sent, in the same order, through llama-cpp-python's own streaming chat API.
Prints p50/p95 for each and the peak memory of the process.

    python bench/answer_latency.py [--cold-only]
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index.config import Config  # noqa: E402
from index.pipeline import build_index  # noqa: E402
from rag.engine import RagEngine  # noqa: E402
from rag.generation.base import GenerationResult  # noqa: E402
from rag.generation.llama import N_CTX, LlamaCppGenerator  # noqa: E402
from rag.records import Answer, Sources  # noqa: E402
from rag.weights import packaged_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# (question, follows the previous one?) — a realistic chat about the seed article
SESSION = [
    ("What is the value of the trade relationship between Mexico and the United States?", False),
    ("Who is Guillermo Malpica?", False),
    ("How many job openings in the US cannot be filled since the pandemic?", False),
    ("What is that figure projected to grow to by 2033?", True),
    ("Which sector did Mariana Campos identify as a key opportunity?", False),
    ("Why might Mexico have to import raw materials?", False),
    ("What internal barriers does Mexico face?", False),
    ("Which resources are scarce and costly?", False),
    ("Who is Verónica Ortiz?", False),
    ("What is the main criticism of NAFTA and USMCA?", False),
    ("How much must auto workers earn per hour under the USMCA?", False),
    ("What modern topics should be added to the treaty review?", False),
    ("What did Ortiz say a trade treaty is not?", False),
    ("What did Donald Trump call non-tariff barriers?", False),
    ("Who is Estefanía Cruz?", False),
    ("What share of Mexican migrants in the US have a regular migratory status?", False),
    ("What did she say Mexico could copy from China?", True),
    ("¿Qué propuso Estefanía Cruz para los migrantes mexicanos?", False),
    ("Who won the 2018 FIFA World Cup?", False),
    ("Where was the AMSOC Fourth Binational Convention mentioned?", False),
]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


SOURCES_SHOWN: list[float] = []  # seconds from the question to the Sources record, per question asked


def ask(engine: RagEngine, question: str, history: list[dict]) -> tuple[Answer, float, float]:
    start = time.perf_counter()
    first = None
    final = None
    for item in engine.stream(question, history):
        if isinstance(item, Answer):
            final = item
        elif isinstance(item, Sources):
            SOURCES_SHOWN.append(time.perf_counter() - start)
        elif isinstance(item, str) and first is None:  # the model's first words (not the Sources record)
            first = time.perf_counter() - start
    total = time.perf_counter() - start
    return final, (first if first is not None else total), total


def cold(data_dir: str, kv_dir: str, warm_up: bool) -> None:
    """In a fresh process (``--cold``): load, optionally warm up, ask the first question; print JSON."""
    config = Config.load(data_dir=Path(data_dir))
    generator = LlamaCppGenerator(str(packaged_model(config.cache_dir)), threads=config.threads, kv_dir=kv_dir)
    engine = RagEngine(config, generator)
    engine.snapshot()
    engine.embedder.encode_query("load the embedder")
    start = time.perf_counter()
    generator.warm_up()
    result = {"load": time.perf_counter() - start}
    if warm_up:
        start = time.perf_counter()
        engine.warm_up()
        result["warm_up"] = time.perf_counter() - start
    results: list[GenerationResult] = []
    original_stream = generator.stream

    def recording_stream(request):  # the answer's GenerationResult: how its prompt prefix was made ready
        for item in original_stream(request):
            if isinstance(item, GenerationResult):
                results.append(item)
            yield item

    generator.stream = recording_stream
    answer, result["first"], result["total"] = ask(engine, SESSION[0][0], [])
    result.update(
        prefix=results[0].prefix_state,
        prefix_tokens=results[0].prefix_tokens,
        prefix_seconds=results[0].prefix_seconds,
        text=answer.raw_text,
    )
    print(json.dumps(result))


def run_cold(data_dir: Path, kv_dir: Path, warm_up: bool = False) -> dict:
    command = [sys.executable, __file__, "--cold", str(data_dir), str(kv_dir)] + (["--warm-up"] if warm_up else [])
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main(cold_only: bool = False) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = Config.load(data_dir=Path(tmp))
        build_index([ROOT / "seeds"], config)
        model_path = str(packaged_model(config.cache_dir))
        kv_dir = Path(tmp) / "kv"  # empty: the first fresh process finds no saved state

        colds = {}
        for label, warm_up in (("no saved state", False), ("saved state", False), ("warm-up, saved state", True)):
            colds[label] = r = run_cold(Path(tmp), kv_dir, warm_up)
            extra = f"; warm-up {r['warm_up']:.2f} s" if warm_up else ""
            print(
                f"fresh process, {label}: model load {r['load']:.1f} s{extra}; first token {r['first']:.2f} s, "
                f"total {r['total']:.2f} s (prefix of {r['prefix_tokens']} tokens {r['prefix']} "
                f"in {r['prefix_seconds']:.2f} s)"
            )
        state_bytes = sum(f.stat().st_size for f in kv_dir.glob("*.bin"))
        same = colds["no saved state"]["text"] == colds["saved state"]["text"] == colds["warm-up, saved state"]["text"]
        print(
            f"saved state: {state_bytes / 2**20:.1f} MiB; the three answers are {'identical' if same else 'DIFFERENT'}"
        )
        if cold_only:
            return

        generator = LlamaCppGenerator(model_path, threads=config.threads, kv_dir=kv_dir)
        engine = RagEngine(config, generator)
        engine.snapshot()
        engine.embedder.encode_query("load the embedder")
        generator.warm_up()
        prompts: list[list[dict]] = []
        original_stream = generator.stream

        def recording_stream(request):
            prompts.append(request.prompt.messages)
            return original_stream(request)

        generator.stream = recording_stream

        start = time.perf_counter()
        engine.warm_up()
        print(f"start-up warm-up (prompt prefix) {time.perf_counter() - start:.1f} s")
        prompts.clear()
        firsts, totals, history = [], [], []
        for question, follows in SESSION:
            answer, first, total = ask(engine, question, history if follows else history[-2:])
            firsts.append(first)
            totals.append(total)
            history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]
            flag = "abstained" if answer.abstained else f"{len(answer.citations)} citation(s)"
            print(f"  {first:5.2f} s / {total:5.2f} s  {question[:60]!r} -> {answer.text[:70]!r} ({flag})")

        peak_ours = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        from llama_cpp import Llama

        raw = Llama(
            model_path=model_path,
            n_ctx=N_CTX,
            n_threads=config.threads,
            n_threads_batch=config.threads,
            n_batch=512,
            verbose=False,
        )
        raw_firsts, raw_totals = [], []
        for messages in prompts:
            start = time.perf_counter()
            first = None
            for chunk in raw.create_chat_completion(
                messages=messages, stream=True, max_tokens=200, temperature=0.0, top_k=1, repeat_penalty=1.05, seed=0
            ):
                if first is None and chunk["choices"][0]["delta"].get("content"):
                    first = time.perf_counter() - start
            raw_totals.append(time.perf_counter() - start)
            raw_firsts.append(first if first is not None else raw_totals[-1])

    print(
        f"\n{len(SESSION)} seed questions in one session ({len(prompts)} LLM calls incl. rewrites), "
        f"{config.threads} threads"
    )
    print(f"{'':34s} {'p50':>7s} {'p95':>7s}")
    shown = SOURCES_SHOWN[-len(SESSION) :]
    print(f"{'ours: sources shown':34s} {statistics.median(shown):7.2f} {pct(shown, 95):7.2f}")
    print(f"{'ours: time to first token':34s} {statistics.median(firsts):7.2f} {pct(firsts, 95):7.2f}")
    print(f"{'ours: total':34s} {statistics.median(totals):7.2f} {pct(totals, 95):7.2f}")
    print(
        f"{'raw llama.cpp: first token':34s} {statistics.median(raw_firsts):7.2f} {pct(raw_firsts, 95):7.2f}"
        "   (per LLM call, same prompts)"
    )
    print(f"{'raw llama.cpp: total':34s} {statistics.median(raw_totals):7.2f} {pct(raw_totals, 95):7.2f}")
    for label, r in colds.items():
        print(f"cold, fresh process, {label}: first token {r['first']:.2f} s, total {r['total']:.2f} s")
    print(
        f"peak RSS with the model loaded (embedder, index, LLM): {peak_ours:.0f} MiB; "
        f"after the raw baseline's second copy: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--cold"]:
        cold(sys.argv[2], sys.argv[3], "--warm-up" in sys.argv)
    else:
        main(cold_only="--cold-only" in sys.argv)
