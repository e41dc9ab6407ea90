"""llama.cpp KV states of stable prompt prefixes, kept on disk across processes.

Prompt processing runs at ~50 tokens/s on the machines we target, so reading the ~1,450-token
prefix of an answer prompt (system text + a small corpus) costs ~30 s in a fresh process. That
prefix is the same for every question, so its KV state — what llama.cpp computed for it — is
saved once (~28 KiB a token) and read back in a fresh process in a fraction of a second; only
the question is then evaluated.

A state file is ``<dir>/<sha256 of model identity + prefix tokens>.bin``: a magic line, a JSON
header (model identity, the prefix's token ids, the payload's size and sha256), then the bytes of
``llama_state_seq_get_data``. A file is written to a temporary name and renamed (readers never
see half a file) and checked completely before llama.cpp is handed a byte, so a stale, truncated
or corrupt file is deleted and the prefix is simply evaluated again: the cache can make an answer
faster, never break it. The directory keeps the most recently used files within a count and a
byte cap.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

MAGIC = b"rag-kv-state 1\n"
# The answer prompt's prefixes (the evidence header, a whole small corpus, each document read whole
# in a corpus of up to rag.context.WHOLE_DOCUMENT_MAX_DOCUMENTS = 10), the rewrite's, the
# translation's. A prefix of the 1.5B model costs ~29 KB a token: the seed article's ~1,300 tokens
# are ~37 MB, so a few-document corpus keeps all its documents within MAX_BYTES.
MAX_FILES = 16
MAX_BYTES = 768 * 1024 * 1024
STALE_TMP_SECONDS = 3600
_HEADER_MAX = 1 << 20  # 1 MiB of JSON: ~100,000 token ids, far past any n_ctx we use


class KVStateStore:
    """Files of (prefix tokens -> opaque state bytes) for one model identity. No llama.cpp here."""

    def __init__(self, directory: str | Path, identity: str, max_files: int = MAX_FILES, max_bytes: int = MAX_BYTES):
        self.directory = Path(directory)
        self.identity = identity
        self.max_files = max_files
        self.max_bytes = max_bytes

    def path_for(self, tokens: Sequence[int]) -> Path:
        digest = hashlib.sha256(self.identity.encode("utf-8") + b"\0" + _token_bytes(tokens)).hexdigest()
        return self.directory / f"{digest}.bin"

    def load(self, tokens: Sequence[int]) -> bytes | None:
        """The saved state for exactly ``tokens``, or None; a file that fails any check is deleted."""
        path = self.path_for(tokens)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        payload = _parse(data, self.identity, list(tokens))
        if payload is None:
            self.discard(tokens)
            return None
        try:
            os.utime(path)  # most recently used: the last to be evicted
        except OSError:
            pass
        return payload

    def save(self, tokens: Sequence[int], payload: bytes) -> Path | None:
        """Write atomically, then evict beyond the caps. Failure to write (full disk, read-only
        cache) only costs speed, so it is swallowed."""
        header = json.dumps(
            {
                "identity": self.identity,
                "tokens": list(map(int, tokens)),
                "size": len(payload),
                "sha256": hashlib.sha256(payload).hexdigest(),
            }
        ).encode("utf-8")
        path = self.path_for(tokens)
        tmp = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(MAGIC + len(header).to_bytes(4, "little") + header)
                f.write(payload)
            os.replace(tmp, path)
        except OSError:
            if tmp:
                Path(tmp).unlink(missing_ok=True)
            return None
        self.evict(keep=path)
        return path

    def discard(self, tokens: Sequence[int]) -> None:
        self.path_for(tokens).unlink(missing_ok=True)

    def evict(self, keep: Path | None = None) -> None:
        """Delete the least recently used files beyond ``max_files`` or ``max_bytes`` (any model's:
        the directory is shared, and a state of a model no longer used is the first to go)."""
        files = []
        for path in self.directory.glob("*.bin"):
            try:
                st = path.stat()
            except OSError:
                continue
            files.append((path != keep, -st.st_mtime_ns, st.st_size, path))
        files.sort()  # the file just written first, then the newest
        total = 0
        for index, (_, _, size, path) in enumerate(files):
            total += size
            if index > 0 and (index >= self.max_files or total > self.max_bytes):
                path.unlink(missing_ok=True)
        for path in self.directory.glob(".*.tmp"):  # left by a writer that died; a live one takes seconds
            try:
                if time.time() - path.stat().st_mtime > STALE_TMP_SECONDS:
                    path.unlink()
            except OSError:
                pass


def _token_bytes(tokens: Sequence[int]) -> bytes:
    return b"".join(int(t).to_bytes(4, "little", signed=True) for t in tokens)


def _parse(data: bytes, identity: str, tokens: list[int]) -> bytes | None:
    """The payload if ``data`` is a complete state file for ``identity`` and ``tokens``."""
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        return None
    start = len(MAGIC) + 4
    size = int.from_bytes(data[len(MAGIC) : start], "little")
    if size > _HEADER_MAX:
        return None
    try:
        header = json.loads(data[start : start + size])
        payload = data[start + size :]
        ok = (
            header["identity"] == identity
            and header["tokens"] == tokens
            and header["size"] == len(payload)
            and header["sha256"] == hashlib.sha256(payload).hexdigest()
        )
    except (ValueError, KeyError, TypeError):
        return None
    return payload if ok and payload else None


# -- llama-cpp-python glue ----------------------------------------------------------------


def model_identity(model_path: str | Path, n_ctx: int) -> str:
    """What a saved state depends on: the model file (name, size, modification time — hashing
    a 1 GB file at every start would cost seconds), the context size and the llama.cpp build."""
    import llama_cpp

    st = Path(model_path).stat()
    return f"{Path(model_path).name}|{st.st_size}|{st.st_mtime_ns}|n_ctx={n_ctx}|llama_cpp={llama_cpp.__version__}"


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def ensure_prefix(llm, prefix: Sequence[int], store: KVStateStore | None, on_progress=None) -> str:
    """Make the context hold exactly ``prefix`` at its start, the cheapest way: already there
    ("held"), read from ``store`` ("restored"), or evaluated and then saved ("evaluated").
    Afterwards ``Llama.generate`` finds the prefix by its own prefix match and evaluates only
    the rest of the prompt. The caller holds the context's lock. ``on_progress(done, total)``
    follows an evaluation, batch by batch (the same batches ``Llama.eval`` makes)."""
    prefix = list(prefix)
    held = common_prefix_length(llm.input_ids[: llm.n_tokens].tolist(), prefix)
    if held == len(prefix):
        return "held"
    if store is not None and _restore(llm, prefix, store):
        return "restored"
    llm.n_tokens = held  # eval() drops the KV cells past n_tokens before evaluating
    step = llm.n_batch if on_progress is not None else len(prefix)
    for start in range(held, len(prefix), max(1, step)):
        llm.eval(prefix[start : start + step])
        if on_progress is not None:
            on_progress(min(start + step, len(prefix)) - held, len(prefix) - held)
    llm._requires_eval = True  # sample only after the rest of a prompt is evaluated
    if store is not None:
        _save(llm, prefix, store)
    return "evaluated"


def _restore(llm, prefix: list[int], store: KVStateStore) -> bool:
    import llama_cpp

    payload = store.load(prefix)
    if payload is None:
        return False
    llm._ctx.kv_cache_seq_rm(-1, 0, -1)
    llm.n_tokens = 0
    buffer = (ctypes.c_uint8 * len(payload)).from_buffer_copy(payload)
    if llama_cpp.llama_state_seq_set_data(llm._ctx.ctx, buffer, len(payload), 0) != len(payload):
        llm._ctx.kv_cache_seq_rm(-1, 0, -1)  # llama.cpp rejected it (another build's layout): start clean
        store.discard(prefix)
        return False
    llm.input_ids[: len(prefix)] = prefix
    llm.n_tokens = len(prefix)
    llm._requires_eval = True  # the logits are not restored: generate() must evaluate at least one token
    return True


def _save(llm, prefix: list[int], store: KVStateStore) -> None:
    import llama_cpp

    size = llama_cpp.llama_state_seq_get_size(llm._ctx.ctx, 0)
    buffer = (ctypes.c_uint8 * size)()
    written = llama_cpp.llama_state_seq_get_data(llm._ctx.ctx, buffer, size, 0)
    if 0 < written <= size:
        store.save(prefix, bytes(memoryview(buffer)[:written]))
