"""The on-disk KV-state files (rag.generation.kv_cache.KVStateStore), without a model: naming,
round trip, eviction, and that anything stale or damaged is ignored and deleted."""

from __future__ import annotations

import os

import pytest

from rag.generation.kv_cache import KVStateStore, common_prefix_length

TOKENS = [151644, 8948, 198, 2610, 4226]
PAYLOAD = bytes(range(256)) * 40


@pytest.fixture
def store(tmp_path) -> KVStateStore:
    return KVStateStore(tmp_path / "kv", "model.gguf|123|456|n_ctx=4096")


def test_round_trip_and_name_depends_on_model_and_tokens(store, tmp_path):
    path = store.save(TOKENS, PAYLOAD)
    assert path == store.path_for(TOKENS) and path.parent == tmp_path / "kv" and path.suffix == ".bin"
    assert store.load(TOKENS) == PAYLOAD
    assert store.path_for(TOKENS[:-1]) != path
    assert KVStateStore(store.directory, "other-model|1|2|n_ctx=4096").path_for(TOKENS) != path
    assert [p.name for p in store.directory.iterdir()] == [path.name]  # no temporary file left behind


def test_missing_file_is_a_miss(store):
    assert store.load(TOKENS) is None


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty", "huge header"])
def test_damaged_file_is_ignored_and_deleted(store, damage):
    path = store.save(TOKENS, PAYLOAD)
    data = path.read_bytes()
    if damage == "truncate":
        data = data[:-100]
    elif damage == "flip":
        data = data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:]
    elif damage == "garbage":
        data = os.urandom(len(data))
    elif damage == "empty":
        data = b""
    else:
        data = data[:15] + (2**31).to_bytes(4, "little") + data[19:]
    path.write_bytes(data)
    assert store.load(TOKENS) is None
    assert not path.exists()


def test_file_of_another_model_or_prefix_under_the_expected_name_is_rejected(store):
    other = KVStateStore(store.directory, "other-model|1|2|n_ctx=4096")
    other.save(TOKENS, PAYLOAD)
    other.path_for(TOKENS).rename(store.path_for(TOKENS))  # e.g. a hash collision or a copied file
    assert store.load(TOKENS) is None and not store.path_for(TOKENS).exists()
    store.save(TOKENS[:-1], PAYLOAD)
    store.path_for(TOKENS[:-1]).rename(store.path_for(TOKENS))
    assert store.load(TOKENS) is None


def test_eviction_keeps_the_most_recently_used_within_count_and_bytes(tmp_path):
    store = KVStateStore(tmp_path, "m", max_files=2, max_bytes=10 * len(PAYLOAD))
    paths = []
    for i in range(3):
        paths.append(store.save([i], PAYLOAD))
        os.utime(paths[-1], ns=(i * 10**9, i * 10**9))  # distinct ages, oldest first
    assert not paths[0].exists() and paths[1].exists() and paths[2].exists()
    store.load([1])  # using a state makes it the newest
    store.save([3], PAYLOAD)
    assert paths[1].exists() and not paths[2].exists()

    capped = KVStateStore(tmp_path / "capped", "m", max_files=10, max_bytes=int(2.5 * len(PAYLOAD)))
    for i in range(4):
        capped.save([i], PAYLOAD)
        os.utime(capped.path_for([i]), ns=(i * 10**9, i * 10**9))
    capped.save([9], PAYLOAD)
    assert sorted(p.name for p in capped.directory.glob("*.bin")) == sorted(capped.path_for(t).name for t in ([3], [9]))


def test_temporary_file_of_a_dead_writer_is_removed_but_not_a_live_one(store):
    store.directory.mkdir(parents=True)
    dead, live = store.directory / ".dead.tmp", store.directory / ".live.tmp"
    dead.write_bytes(b"x")
    live.write_bytes(b"x")
    os.utime(dead, (0, 0))
    store.save(TOKENS, PAYLOAD)
    assert not dead.exists() and live.exists()


def test_file_just_written_is_kept_even_if_over_the_byte_cap(tmp_path):
    store = KVStateStore(tmp_path, "m", max_bytes=10)
    assert store.save(TOKENS, PAYLOAD).exists()
    assert store.load(TOKENS) == PAYLOAD


def test_unwritable_directory_only_costs_speed(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert KVStateStore(blocker / "kv", "m").save(TOKENS, PAYLOAD) is None


def test_common_prefix_length():
    assert common_prefix_length([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_prefix_length([], [1]) == 0
    assert common_prefix_length([1, 2], [1, 2]) == 2
