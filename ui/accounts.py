"""Accounts for a chat served to others: a users file with salted Argon2id password hashes.

``rag users add NAME`` writes the file, ``rag chat --auth FILE`` (or ``RAG_AUTH``) turns accounts on.
The file is JSON, written atomically (temporary file + rename, mode 0600)::

    {"users": {"alice": {"hash": "$argon2id$v=19$...", "admin": true, "created": "2026-12-01T09:00:00Z"}}}

The running app re-reads it when it changes, so adding or removing a user needs no restart (a removed
user's next request is refused). Logging in goes through Gradio's auth hook; failures are slowed down:
each failed attempt for a name (or from the whole server, past a burst) delays the next answer.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from index.errors import UserError

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 8
_hasher = PasswordHasher()  # argon2-cffi's defaults: Argon2id, RFC 9106 low-memory profile, 16-byte salt


class AccountError(UserError):
    """A bad user name, password or users file: the user can fix it."""


@dataclass(frozen=True)
class User:
    name: str
    admin: bool


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name or ""):
        raise AccountError(
            f"{name!r} is not a usable user name: 1-64 letters, digits or . _ @ -, starting with a letter or digit"
        )
    return name


def _read(path: Path) -> dict:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"users": {}}
    except (OSError, ValueError) as exc:
        raise AccountError(f"users file {path} cannot be read ({exc})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("users"), dict):
        raise AccountError(f'users file {path} is not a users file (no "users" object)')
    return raw


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".users-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add_user(path: Path | str, name: str, password: str, admin: bool = False, replace: bool = False) -> User:
    """Add (or, with ``replace``, reset) a user; the password is stored only as an Argon2id hash."""
    path = Path(path)
    check_name(name)
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    data = _read(path)
    if name in data["users"] and not replace:
        raise AccountError(f"user {name!r} already exists in {path}; use --replace to set a new password")
    data["users"][name] = {
        "hash": _hasher.hash(password),
        "admin": bool(admin),
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    _write(path, data)
    return User(name, bool(admin))


def remove_user(path: Path | str, name: str) -> None:
    path = Path(path)
    data = _read(path)
    if name not in data["users"]:
        raise AccountError(f"no user {name!r} in {path}")
    del data["users"][name]
    _write(path, data)


def list_users(path: Path | str) -> list[User]:
    data = _read(Path(path))
    return [User(n, bool(u.get("admin"))) for n, u in sorted(data["users"].items())]


class Accounts:
    """The users file as the running app sees it: re-read when it changes; verifies passwords."""

    FAIL_DELAY = 1.0  # seconds added per recent failure for a name...
    MAX_DELAY = 10.0  # ...up to this
    FAIL_WINDOW = 900.0  # failures older than this are forgotten

    def __init__(self, path: Path | str):
        self.path = Path(path)
        if not self.path.is_file():
            raise AccountError(f"users file {self.path} does not exist; create it with `rag users add NAME`")
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._users: dict[str, dict] = {}
        self._failures: dict[str, list[float]] = {}
        self._reload()
        if not self._users:
            raise AccountError(f"users file {self.path} has no users; add one with `rag users add NAME`")

    def _reload(self) -> None:
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            self._users = _read(self.path)["users"] if stamp else {}
            self._stamp = stamp

    def user(self, name: str | None) -> User | None:
        """The user ``name`` as the file says now (None once removed)."""
        if not name:
            return None
        with self._lock:
            self._reload()
            entry = self._users.get(name)
        return User(name, bool(entry.get("admin"))) if entry else None

    def verify(self, name: str, password: str) -> bool:
        with self._lock:
            self._reload()
            entry = self._users.get(name)
        if entry is None:
            try:  # spend the same time as for a real user, so names can't be told apart by timing
                _hasher.verify(_DUMMY_HASH, password)
            except VerificationError:
                pass
            return False
        try:
            _hasher.verify(entry["hash"], password)
            return True
        except (VerifyMismatchError, VerificationError, InvalidHashError, KeyError, TypeError):
            return False

    def delay_for(self, name: str) -> float:
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._failures.get(name, []) if now - t < self.FAIL_WINDOW]
            self._failures[name] = recent
        return min(self.MAX_DELAY, self.FAIL_DELAY * len(recent))

    def _record(self, name: str, ok: bool) -> None:
        with self._lock:
            if ok:
                self._failures.pop(name, None)
            else:
                self._failures.setdefault(name, []).append(time.monotonic())
                if len(self._failures) > 10_000:  # bound the memory a flood of made-up names can take
                    self._failures.pop(next(iter(self._failures)))

    async def login(self, name: str, password: str) -> bool:
        """Gradio's auth hook (a coroutine, so waiting never blocks the server): wait out the delay
        earned by earlier failures for this name, verify in a worker thread, then remember a failure."""
        delay = self.delay_for(name)
        if delay:
            await asyncio.sleep(delay)
        ok = await asyncio.to_thread(self.verify, name, password)
        self._record(name, ok)
        if not ok:
            await asyncio.sleep(self.FAIL_DELAY)  # every failure costs at least this
        return ok


_DUMMY_HASH = _hasher.hash("not a real password, only spent time")
