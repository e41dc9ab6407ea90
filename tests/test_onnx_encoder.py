"""The question encoder on ONNX Runtime: same vectors as torch, exported once, safe when it cannot be."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from index.config import Config
from index.embedder import Embedder
from index.errors import ConfigError
from index.onnx_encoder import _encoders, onnx_encoder
from tests.conftest import CACHE

QUESTIONS = [
    "When was the USMCA revised?",
    "¿Cuántos empleos creó la planta de baterías en Monterrey?",
    "tariffs",
    "A much longer question about the rules of origin for cars built in Mexico and whether "
    "workers earn at least sixteen dollars an hour under the agreement signed by the three countries?",
]


@pytest.mark.models
def test_onnx_vectors_equal_torch_vectors_and_the_export_is_cached(tmp_path, real_embedder):
    fast = Embedder(real_embedder.name, question_backend="onnx", cache_dir=CACHE)
    assert fast._fast_encoder() is not None, "the export failed; see the log"
    for question in QUESTIONS:
        got, expected = fast.encode_query(question), real_embedder.encode_query(question)
        assert got.dtype == np.float32 and abs(float(np.linalg.norm(got)) - 1) < 1e-5
        assert float(got @ expected) > 0.99999, question
    few = fast.encode(QUESTIONS[:3])  # answer sentences: a small padded batch, also on ONNX
    assert np.allclose(few, real_embedder.encode(QUESTIONS[:3]), atol=1e-5)
    assert len(list((CACHE / "onnx").glob("*.onnx"))) >= 1


@pytest.mark.models
def test_a_damaged_cached_graph_is_exported_again(tmp_path, real_embedder):
    cache = tmp_path / "cache"
    shutil.copytree(CACHE / "onnx", cache / "onnx")
    for graph in (cache / "onnx").glob("*.onnx"):
        graph.write_bytes(b"not an onnx graph")
    fast = Embedder(real_embedder.name, question_backend="onnx", cache_dir=cache)
    assert fast._fast_encoder() is not None
    assert float(fast.encode_query(QUESTIONS[0]) @ real_embedder.encode_query(QUESTIONS[0])) > 0.99999


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
