"""The question encoder on ONNX Runtime: same vectors as torch, exported once, safe when it cannot be."""

from __future__ import annotations

import pytest

from index.config import Config
from index.embedder import Embedder
from index.errors import ConfigError
from index.onnx_encoder import _encoders, onnx_encoder


def test_a_model_that_cannot_be_exported_keeps_torch(tmp_path, caplog):
    class NotATransformer:
        def __getitem__(self, i):
            return object()

    assert onnx_encoder(NotATransformer(), "/nowhere/model", tmp_path) is None
    assert "stays on torch" in caplog.text and "not a transformer" in caplog.text
    _encoders.pop(("/nowhere/model", str(tmp_path)), None)


def test_torch_is_used_without_a_cache_folder_and_bad_names_are_refused():
    assert Embedder("x", question_backend="onnx").question_backend == "torch"
    with pytest.raises(ConfigError, match="question encoder 'fast'"):
        Embedder("x", question_backend="fast")
    with pytest.raises(ConfigError, match="RAG_QUESTION_ENCODER"):
        Config(question_encoder="fast")


def test_a_misspelt_question_encoder_is_one_clear_error(tmp_path, monkeypatch, capsys):
    from cli.main import main

    monkeypatch.setenv("RAG_QUESTION_ENCODER", "onxx")
    assert main(["ask", "When?", "--data-dir", str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: question encoder 'onxx' (RAG_QUESTION_ENCODER)") and "Traceback" not in err
