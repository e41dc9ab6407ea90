"""Servers in subprocesses on free ports (the Gradio app, llama.cpp's server) and a Chromium page."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serving(
    cmd: list[str], ready_url: str, log_path: Path, env: dict | None = None, startup_timeout: float = 180
) -> Iterator[str]:
    """Run a server command until ``ready_url`` answers 200; stop it afterwards.

    Output goes to a file, not a pipe: servers log a lot and would block on a full pipe."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[2:4]} exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{cmd[2:4]} did not start in {startup_timeout} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield ready_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def running_app(
    data_dir: Path, generator: str, log_path: Path, args: tuple = (), port: int | None = None
) -> Iterator[str]:
    """`rag chat` on a free port (or ``port``, to restart on the same one); yields its URL once the
    page is served. ``args``: more `rag chat` options, e.g. ``("--auth", users_file)``."""
    port = port or free_port()
    with serving(
        [sys.executable, "-m", "cli", "chat", "--generator", generator, "--port", str(port), *map(str, args)],
        f"http://127.0.0.1:{port}/",
        log_path,
        env={"RAG_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"},
    ) as url:
        yield url


@contextlib.contextmanager
def running_slow_app(data_dir: Path, log_path: Path, generation_log: Path) -> Iterator[str]:
    """tests/slow_app.py: the real app with a slow, lock-holding generator and a sources-first engine."""
    port = free_port()
    with serving(
        [sys.executable, "-m", "tests.slow_app", "--port", str(port), "--data-dir", str(data_dir)]
        + ["--log", str(generation_log)],
        f"http://127.0.0.1:{port}/",
        log_path,
        env={"HF_HUB_OFFLINE": "1"},
    ) as url:
        yield url


@contextlib.contextmanager
def chromium_page(viewport=(1400, 1000), color_scheme: str = "light", **context_options):
    """A Chromium page; its context (cookies, localStorage) lives as long as the page: reloads and
    an app restarted on the same port see the same browser."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport={"width": viewport[0], "height": viewport[1]}, color_scheme=color_scheme, **context_options
            )
            yield context.new_page()
        finally:
            browser.close()
