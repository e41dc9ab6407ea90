"""Citation parsing and verification on malformed model output; no models (a fake embedder scores)."""

from __future__ import annotations

import pytest

from index.records import Chunk
from rag.citations import is_only_markers, parse_answer, strip_markers, verify, with_markers
from rag.records import Passage
from rag.support import SupportScorer
from tests.fakes import HashEmbedder
from tests.threads import failures_in_threads

DOC = (
    "Mexico is the top trade partner of the United States. The trade relationship is valued at US$1.8 "
    "million per minute.\n\nAuto workers must earn at least US$16 per hour under the USMCA. "
    "This rule aims at better-paid jobs.\n\nShenzhen grew with help from Chinese people abroad."
)


def passages() -> list[Passage]:
    cuts = [(0, DOC.index("Auto")), (DOC.index("Auto"), DOC.index("Shenzhen")), (DOC.index("Shenzhen"), len(DOC))]
    out = []
    for i, (s, e) in enumerate(cuts):
        text = DOC[s:e].strip()
        start = DOC.index(text, s)
        out.append(
            Passage(
                chunk=Chunk(f"d:{i}", "d", i, start, start + len(text), text),
                title="Trade",
                source="/docs/trade.txt",
                rank=i + 1,
                fused_score=1.0,
            )
        )
    return out


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Workers earn US$16 per hour [2].", [[2]]),
        ("Workers earn US$16 per hour [1,2].", [[1, 2]]),
        ("Workers earn US$16 per hour [1][2].", [[1, 2]]),
        ("Workers earn US$16 per hour [1-3].", [[1, 2, 3]]),
        ("Workers earn US$16 per hour [1–2].", [[1, 2]]),
        ("Workers earn US$16 per hour (Source 2).", [[2]]),
        ("Workers earn US$16 per hour, per Passage 2.", [[2]]),
        ("Workers earn US$16 per hour 【2】.", [[2]]),
        ("Workers earn US$16 per hour [7].", [[]]),  # no passage 7: dropped
        ("Workers earn US$16 per hour [0].", [[]]),
        ("Workers earn US$16 per hour. [2]", [[2]]),  # marker after the full stop belongs to that sentence
        ("Mexico trades a lot [1]. Workers earn US$16 [2][2].", [[1], [2]]),
        ("Los trabajadores ganan 16 dólares (Fuente 2).", [[2]]),
    ],
)
def test_marker_formats(text, expected):
    parsed = parse_answer(text, passage_count=3)
    assert [s.cited for s in parsed] == expected
    assert all("[" not in s.text and "Source" not in s.text for s in parsed)


def test_marker_only_and_empty_replies_are_detected():
    for reply in ("[2]", " [1][2] ", "[1, 3].", "(Source 2)", ""):
        assert is_only_markers(reply), reply
    assert not is_only_markers("US$16 per hour [2].")
    assert strip_markers("Fact [1] and more [2, 3].") == "Fact and more."
    assert with_markers("Fact.", [1, 3]) == "Fact [1][3]." and with_markers("Fact", []) == "Fact"


@pytest.fixture(scope="module")
def scorer():
    return SupportScorer(HashEmbedder())


def test_correct_citation_is_kept_with_its_supporting_span(scorer):
    ps = passages()
    result = verify(parse_answer("Auto workers must earn at least US$16 per hour [2].", 3), ps, scorer)
    assert result.unsupported == [] and len(result.citations) == 1
    citation = result.citations[0]
    assert citation.number == 2 and not citation.reattached
    assert DOC[citation.span_start : citation.span_end] == citation.text
    assert "US$16 per hour" in citation.text
    assert result.text == "Auto workers must earn at least US$16 per hour [2]."


def test_wrong_or_missing_citation_is_reattached(scorer):
    ps = passages()
    for reply in (
        "Auto workers must earn at least US$16 per hour [3].",
        "Auto workers must earn at least US$16 per hour.",
    ):
        result = verify(parse_answer(reply, 3), ps, scorer)
        assert [c.number for c in result.citations] == [2]
        assert result.citations[0].reattached
        assert result.text.endswith("[2].")


def test_unsupported_sentence_is_flagged(scorer):
    result = verify(
        parse_answer(
            "Mexico is the top trade partner of the United States [1]. Paris hosted the Olympic Games in 2024 [1].", 3
        ),
        passages(),
        scorer,
    )
    assert result.unsupported == ["Paris hosted the Olympic Games in 2024."]
    assert [c.number for c in result.citations] == [1]
    assert result.supported_sentences == 1


def test_a_full_vector_cache_shared_by_threads_never_loses_a_vector():
    """The scorer's vector cache is shared by every question's checks and evicts when full: a call
    gets all its vectors even when they are evicted (by itself or another thread) before it is done.
    (It used to read them back from the cache at the end: a KeyError.)"""
    from rag.support import Evidence

    def case(seed: int, i: int) -> tuple[list[str], list[Evidence]]:
        texts = [f"workers {seed} earn {i} dollars {j} per hour" for j in range(4)]
        return texts[:1], [Evidence(0, 0, len(t), t) for t in texts[1:]]

    reference = SupportScorer(HashEmbedder())
    assert SupportScorer(HashEmbedder(), cache_size=2).score(*case(9, 9)).tolist() == (
        reference.score(*case(9, 9)).tolist()
    )  # one call needs more vectors than the cache holds
    shared = SupportScorer(HashEmbedder(), cache_size=6)

    def score(seed: int) -> None:
        for i in range(200):
            assert shared.score(*case(seed, i)).tolist() == reference.score(*case(seed, i)).tolist(), (seed, i)

    assert failures_in_threads(score, [(seed,) for seed in range(4)]) == []
