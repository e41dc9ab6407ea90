"""GGUF assembly: joined in order, size and sha256 checked, nothing left behind on a mismatch."""

from __future__ import annotations

import hashlib
import os

import pytest

from rag.weights import ModelIntegrityError, assemble


def make_parts(tmp_path, n=4, size=1000):
    parts, whole = [], b""
    for i in range(n):
        data = os.urandom(size)
        path = tmp_path / f"part{i:02d}.bin"
        path.write_bytes(data)
        parts.append(path)
        whole += data
    return parts, whole


def test_parts_are_joined_in_order_and_verified(tmp_path):
    parts, whole = make_parts(tmp_path)
    target = tmp_path / "out" / "model.gguf"
    result = assemble(parts, target, len(whole), hashlib.sha256(whole).hexdigest())
    assert result == target and target.read_bytes() == whole
    # the second call trusts the verified stamp and does not rewrite the file
    mtime = target.stat().st_mtime_ns
    assemble(parts, target, len(whole), hashlib.sha256(whole).hexdigest())
    assert target.stat().st_mtime_ns == mtime


def test_corrupted_part_is_rejected_and_nothing_is_written(tmp_path):
    parts, whole = make_parts(tmp_path)
    expected = hashlib.sha256(whole).hexdigest()
    data = bytearray(parts[2].read_bytes())
    data[10] ^= 0xFF  # same size, one flipped byte
    parts[2].write_bytes(bytes(data))
    target = tmp_path / "out" / "model.gguf"
    with pytest.raises(ModelIntegrityError, match="sha256"):
        assemble(parts, target, len(whole), expected)
    assert not target.exists()
    assert [p.name for p in target.parent.iterdir() if "tmp" in p.name] == []


def test_truncated_part_is_rejected_before_joining(tmp_path):
    parts, whole = make_parts(tmp_path)
    parts[1].write_bytes(parts[1].read_bytes()[:-1])
    with pytest.raises(ModelIntegrityError, match="bytes"):
        assemble(parts, tmp_path / "model.gguf", len(whole), hashlib.sha256(whole).hexdigest())


def test_tampered_assembled_file_is_rehashed_and_replaced(tmp_path):
    parts, whole = make_parts(tmp_path)
    expected = hashlib.sha256(whole).hexdigest()
    target = tmp_path / "model.gguf"
    assemble(parts, target, len(whole), expected)
    target.write_bytes(b"x" * len(whole))  # changes mtime, so the stamp no longer matches
    assemble(parts, target, len(whole), expected)
    assert target.read_bytes() == whole
