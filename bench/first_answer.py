"""The first answer after a fresh install: `make chat`'s two commands on a machine with nothing cached.

With an empty cache folder (no joined model, no tiktoken file, no saved KV states) and an empty data
folder, runs what `make chat` runs after installing — `rag index seeds`, then `rag chat` — and, as
soon as `rag chat` prints its "Chat open" line, asks the first seed question through the official
gradio_client, as a user who opens the page and asks at once would. Prints how long `rag index`
took (it now joins the model and has it read the seed article) and the time from "Chat open" to
the complete answer (goal <= 5 s). Baselines from the same run: another seed question asked right
after, in the same chat (the model warm), and — unless ``--no-second-start`` — a later start of the
chat on the same folders (everything cached), timed the same way; the first answer is printed as a
ratio to both. Timings on a shared machine are noisy: the load average is printed beside them.

    python bench/first_answer.py [--no-second-start]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "How much must auto workers earn per hour under the USMCA?"
NEXT_QUESTION = "Who is Guillermo Malpica?"  # the same-chat baseline: a different question, nothing reused


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chat_first_answer(env: dict) -> dict:
    """Start `rag chat`, wait for "Chat open", ask QUESTION, then NEXT_QUESTION. Returns the seconds
    from the start to that line ("startup", the models load before it), from the line to a connected
    client ("connect") and to the first answer ("first", connecting included), the answer, and the
    seconds of the next question on its own ("next")."""
    from gradio_client import Client

    port = free_port()
    launched = time.perf_counter()
    chat = subprocess.Popen(
        [sys.executable, "-m", "cli", "chat", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log: list[str] = []
    try:
        opened = None
        for line in chat.stdout:
            log.append(line)
            if line.startswith("Chat open"):
                opened = time.perf_counter()
                break
        if opened is None:
            raise SystemExit("rag chat ended before its 'Chat open' line:\n" + "".join(log))
        threading.Thread(target=lambda: [log.append(x) for x in chat.stdout], daemon=True).start()
        while True:  # the server starts listening right after the line
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
                connected = time.perf_counter()
                break
            except Exception:
                if time.perf_counter() - opened > 120:
                    raise
                time.sleep(0.05)
        result = client.predict(message=QUESTION, api_name="/chat")
        seconds = time.perf_counter() - opened
        answer = result["answer"] if isinstance(result, dict) else result[0]["answer"]
        start = time.perf_counter()
        client.predict(message=NEXT_QUESTION, api_name="/chat")
        return {
            "startup": opened - launched,
            "connect": connected - opened,
            "first": seconds,
            "answer": answer,
            "next": time.perf_counter() - start,
        }
    finally:
        chat.terminate()
        try:
            chat.wait(timeout=30)
        except subprocess.TimeoutExpired:
            chat.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-second-start", action="store_true", help="don't time a later start of the chat")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "RAG_CACHE_DIR": str(Path(tmp) / "cache"),
            "RAG_DATA_DIR": str(Path(tmp) / "data"),
            "PYTHONPATH": str(ROOT),
        }
        start = time.perf_counter()
        index = subprocess.run(
            [sys.executable, "-m", "cli", "index", "seeds"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        if index.returncode:
            raise SystemExit(index.stderr)
        print(f"rag index seeds (fresh machine): {time.perf_counter() - start:.1f} s")
        for line in (index.stdout + index.stderr).splitlines():
            if line.strip() and not line.startswith("Loading"):
                print(f"  | {line[-160:]}")
        first = chat_first_answer(env)
        seconds, warm = first["first"], first["next"]
        print(f"rag chat start to 'Chat open' (models load) : {first['startup']:6.2f} s")
        shown = first["answer"][:70]
        print(f"first answer, from 'Chat open' to the answer: {seconds:6.2f} s  (goal <= 5 s; {shown!r})")
        print(f"  of which connecting the client            : {first['connect']:6.2f} s")
        print(f"next question in the same chat (baseline)   : {warm:6.2f} s  -> first answer = {seconds / warm:.2f}x")
        if not args.no_second_start:
            later = chat_first_answer(env)
            print(
                f"later start, 'Chat open' to the answer     : {later['first']:6.2f} s  -> first = "
                f"{seconds / later['first']:.2f}x (start to 'Chat open' {later['startup']:.2f} s)"
            )
        print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (shared machine: timings are noisy)")


if __name__ == "__main__":
    main()
