"""The question encoder on ONNX Runtime with the real embedder: the same vectors as torch, exported once."""

from __future__ import annotations

import shutil

import numpy as np

from index.embedder import Embedder
from tests.conftest import CACHE

QUESTIONS = [
    "When was the USMCA revised?",
    "¿Cuántos empleos creó la planta de baterías en Monterrey?",
    "tariffs",
    "A much longer question about the rules of origin for cars built in Mexico and whether "
    "workers earn at least sixteen dollars an hour under the agreement signed by the three countries?",
]


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


def test_a_damaged_cached_graph_is_exported_again(tmp_path, real_embedder):
    cache = tmp_path / "cache"
    shutil.copytree(CACHE / "onnx", cache / "onnx")
    for graph in (cache / "onnx").glob("*.onnx"):
        graph.write_bytes(b"not an onnx graph")
    fast = Embedder(real_embedder.name, question_backend="onnx", cache_dir=cache)
    assert fast._fast_encoder() is not None
    assert float(fast.encode_query(QUESTIONS[0]) @ real_embedder.encode_query(QUESTIONS[0])) > 0.99999


def test_the_torch_free_encoder_gives_torchs_chunk_and_sentence_vectors(real_embedder):
    from index.sentences import sentence_spans

    fast = Embedder(real_embedder.name, question_backend="onnx")
    assert fast.bert is not None and real_embedder.bert is None
    texts = QUESTIONS + ["The plant opened in 2025. It employs 3,000 people. Its batteries go to Texas."]
    assert np.allclose(fast.encode(texts), real_embedder.encode(texts), atol=1e-5)
    assert fast.fits(texts) == real_embedder.fits(texts) and fast.max_tokens == real_embedder.max_tokens == 256
    spans = [sentence_spans(t) for t in texts]
    (vectors, sentences), (expected, expected_sentences) = (
        fast.encode_with_sentences(texts, spans),
        real_embedder.encode_with_sentences(texts, spans),
    )
    assert np.allclose(vectors, expected, atol=1e-5)
    for got, want in zip(sentences, expected_sentences):
        assert got.dtype == np.float16 and np.allclose(got.astype(np.float32), want.astype(np.float32), atol=2e-3)
