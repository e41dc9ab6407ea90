"""The real embedder's late-chunking sentence vectors (one forward pass gives chunk and sentences)."""

from __future__ import annotations

import numpy as np

from index.sentences import sentence_spans

TEXT = (
    "The factory in Monterrey builds electric car batteries. It opened in 2024 and employs 3,000 people. "
    "Meanwhile, Brazilian farmers export record amounts of soybeans to China."
)


def test_chunk_vector_is_the_plain_embedding(real_embedder):
    texts = ["Short text.", TEXT, "A middle-sized text. It has two sentences."] * 3  # encoded longest first
    progress = []
    vectors, sentences = real_embedder.encode_with_sentences(
        texts, [sentence_spans(t) for t in texts], on_progress=lambda done, total: progress.append((done, total))
    )
    plain = real_embedder.encode(texts, progress=False)
    assert np.allclose(vectors, plain, atol=1e-4)
    assert [len(s) for s in sentences] == [1, 3, 2] * 3
    assert progress and progress[-1] == (9, 9)


def test_each_sentence_vector_is_closest_to_its_own_sentence(real_embedder):
    spans = sentence_spans(TEXT)
    assert len(spans) == 3
    _, (sentences,) = real_embedder.encode_with_sentences([TEXT], [spans])
    assert sentences.shape == (3, real_embedder.dimension) and sentences.dtype == np.float16
    own = real_embedder.encode([TEXT[s:e] for s, e in spans], progress=False)
    similarity = sentences.astype(np.float32) @ own.T
    assert list(similarity.argmax(axis=1)) == [0, 1, 2]
    # context carries over: "It opened in 2024" knows it is about the battery factory
    question = real_embedder.encode_query("When did the battery factory open?")
    cosines = sentences.astype(np.float32) @ question
    assert cosines.argmax() in (0, 1) and cosines[1] > cosines[2]


def test_sentence_past_the_window_falls_back_to_the_chunk_vector(real_embedder):
    long_text = "word " * 400 + "The last sentence."
    spans = [(0, 10), (len(long_text) - 18, len(long_text))]
    vectors, (sentences,) = real_embedder.encode_with_sentences([long_text], [spans])
    assert np.allclose(sentences[1].astype(np.float32), vectors[0], atol=1e-2)
