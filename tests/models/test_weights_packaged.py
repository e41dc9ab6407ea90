"""The packaged model's 22 parts join into Qwen's official GGUF (1.1 GB: slow, so here)."""

from __future__ import annotations


def test_packaged_model_parts_join_into_qwens_official_file(tmp_path):
    from rag.weights import PACKAGED_MODEL_SIZE, packaged_model

    path = packaged_model(tmp_path)
    assert path.stat().st_size == PACKAGED_MODEL_SIZE
    assert path.read_bytes()[:4] == b"GGUF"
