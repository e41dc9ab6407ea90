"""Accounts (ui/accounts.py) and `rag users`: salted Argon2id hashes, a file only its owner reads,
slowed-down failures, changes picked up without a restart."""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from ui.accounts import AccountError, Accounts, add_user, list_users, remove_user


def test_users_file_keeps_only_salted_argon2id_hashes_and_only_its_owner_reads_it(tmp_path):
    path = tmp_path / "users.json"
    add_user(path, "alice", "correct horse battery", admin=True)
    add_user(path, "bob", "correct horse battery")
    raw = path.read_text()
    assert "correct horse" not in raw
    users = json.loads(raw)["users"]
    assert users["alice"]["hash"].startswith("$argon2id$") and users["alice"]["admin"] is True
    assert users["alice"]["hash"] != users["bob"]["hash"]  # same password, different salt
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [(u.name, u.admin) for u in list_users(path)] == [("alice", True), ("bob", False)]


def test_bad_names_short_passwords_and_duplicates_are_refused_with_a_reason(tmp_path):
    path = tmp_path / "users.json"
    with pytest.raises(AccountError, match="not a usable user name"):
        add_user(path, "<script>", "long enough password")
    with pytest.raises(AccountError, match="at least 8"):
        add_user(path, "carol", "short")
    add_user(path, "carol", "long enough password")
    with pytest.raises(AccountError, match="already exists"):
        add_user(path, "carol", "another password")
    add_user(path, "carol", "another password", replace=True)
    accounts = Accounts(path)
    assert accounts.verify("carol", "another password") and not accounts.verify("carol", "long enough password")
    with pytest.raises(AccountError, match="no user"):
        remove_user(path, "dave")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(AccountError, match="cannot be read"):
        Accounts(tmp_path / "broken.json")
    with pytest.raises(AccountError, match="does not exist"):
        Accounts(tmp_path / "missing.json")


def test_login_checks_the_hash_and_slows_down_repeated_failures(tmp_path):
    path = tmp_path / "users.json"
    add_user(path, "alice", "correct horse battery")
    accounts = Accounts(path)
    accounts.FAIL_DELAY = 0.2
    assert asyncio.run(accounts.login("alice", "correct horse battery"))
    took = []
    for _ in range(3):
        t = time.perf_counter()
        assert not asyncio.run(accounts.login("alice", "wrong password"))
        took.append(time.perf_counter() - t)
    assert took[0] >= 0.2 and took[2] >= took[0] + 0.25  # the third waits 0.4 s more than the first
    assert not asyncio.run(accounts.login("nobody", "wrong password"))
    assert accounts.delay_for("alice") == pytest.approx(0.6)
    assert asyncio.run(accounts.login("alice", "correct horse battery"))  # waits its turn, then succeeds
    assert accounts.delay_for("alice") == 0


def test_the_running_app_sees_added_and_removed_users_without_a_restart(tmp_path):
    path = tmp_path / "users.json"
    add_user(path, "alice", "correct horse battery", admin=True)
    accounts = Accounts(path)
    assert accounts.user("bob") is None
    add_user(path, "bob", "correct horse battery")
    assert accounts.user("bob").admin is False
    remove_user(path, "alice")
    assert accounts.user("alice") is None and not accounts.verify("alice", "correct horse battery")


def rag(*args, stdin: str = "", data_dir=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli", *map(str, args)],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "RAG_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)},
    )


def test_rag_users_add_list_remove(tmp_path):
    done = rag(
        "users", "add", "alice", "--admin", "--password-stdin", stdin="correct horse battery\n", data_dir=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert f"added alice (administrator) in {tmp_path / 'users.json'}" in done.stdout
    assert f"rag chat --auth {tmp_path / 'users.json'}" in done.stdout
    assert Accounts(tmp_path / "users.json").verify("alice", "correct horse battery")
    again = rag("users", "add", "alice", "--password-stdin", stdin="whatever password\n", data_dir=tmp_path)
    assert again.returncode == 1 and again.stderr.startswith("error: user 'alice' already exists")
    assert "Traceback" not in again.stderr
    short = rag("users", "add", "bob", stdin="short\n", data_dir=tmp_path)  # no terminal: read from stdin
    assert short.returncode == 1 and "at least 8" in short.stderr
    other = tmp_path / "elsewhere.json"
    assert rag("users", "add", "bob", "--auth", other, stdin="long enough pw\n", data_dir=tmp_path).returncode == 0
    listed = rag("users", "list", data_dir=tmp_path)
    assert listed.stdout.splitlines() == ["alice  (administrator)"]
    assert rag("users", "remove", "alice", data_dir=tmp_path).returncode == 0
    assert rag("users", "list", data_dir=tmp_path).stdout.startswith("no users")
    assert rag("users", "list", "--auth", other, data_dir=tmp_path).stdout.splitlines() == ["bob"]
