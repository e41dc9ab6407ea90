"""index/terms.py, the one text analysis (BM25 terms and the stems every lexical measure uses),
shared by threads: the index build, questions, and the answer checks (rag/support.py)."""

from __future__ import annotations

import random

from index import terms
from rag.support import content_terms
from tests.conftest import SEEDS
from tests.threads import failures_in_threads


def test_stems_are_right_while_threads_fill_and_clear_the_cache(monkeypatch):
    """Threads analysing texts at once, with a stem cache small enough to be cleared again and again
    while they run, each get the same terms as one thread with a large cache. (The cache used to be
    cleared under the lock while callers read it without one: a word cached when a caller checked was
    gone when it read it, a KeyError.)"""
    article = next(SEEDS.glob("*.txt")).read_text(encoding="utf-8")
    sentences = [s for s in article.split(". ") if s.strip()]
    expected_bm25 = dict(zip(sentences, terms.bm25_tokens_of(sentences)))
    expected_content = {s: content_terms(s) for s in sentences}
    monkeypatch.setattr(terms, "_stems", {})
    monkeypatch.setattr(terms, "_STEM_CACHE_LIMIT", 50)  # a sentence has ~20 words, the article ~700

    def analyse(seed: int) -> None:
        for sentence in random.Random(seed).sample(sentences, len(sentences)):  # one text a call
            assert terms.bm25_tokens_of([sentence]) == [expected_bm25[sentence]], sentence
            assert content_terms(sentence) == expected_content[sentence], sentence

    assert failures_in_threads(analyse, [(seed,) for seed in range(4)]) == []


def test_a_small_number_in_words_is_the_same_term_as_in_digits():
    assert content_terms("no more than nine members") == content_terms("no more than 9 members")
    assert content_terms("twenty years") == content_terms("20 years") != content_terms("21 years")
