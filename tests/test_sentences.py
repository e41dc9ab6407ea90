"""The one sentence segmentation (index.sentences): exact offsets, and the cases the old regex got wrong."""

from __future__ import annotations

import pytest

from index.sentences import rules_language, sentence_spans


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Mrs. Chow is married to Michael Chow. She lives here.",
            ["Mrs. Chow is married to Michael Chow.", "She lives here."],
        ),
        (
            "The Presbyterian Church (U.S.A.) has 1.8 million members. It grew.",
            ["The Presbyterian Church (U.S.A.) has 1.8 million members.", "It grew."],
        ),
        ("Mr. Zaro's bakery opened. It closed in 2001.", ["Mr. Zaro's bakery opened.", "It closed in 2001."]),
        (
            "The ball was intercepted by T. J. Ward. Ward fumbled.",
            ["The ball was intercepted by T. J. Ward.", "Ward fumbled."],
        ),
        (
            "Trade is worth US$1.8 million per minute. Wages rose 3.7%.",
            ["Trade is worth US$1.8 million per minute.", "Wages rose 3.7%."],
        ),
        ('"It is not a magic wand." She added more.', ['"It is not a magic wand."', "She added more."]),
        ("Dr. Smith met Prof. Jones at 5 p.m. on Monday.", ["Dr. Smith met Prof. Jones at 5 p.m. on Monday."]),
    ],
)
def test_english_sentences_split_where_a_reader_would(text, expected):
    assert sentences(text) == expected


def test_spanish_text_is_split_by_spanish_rules():
    text = "La Sra. García vive en EE. UU. desde 2010 y trabaja en la biblioteca. ¿Qué pasó? ¡Nada! El Dr. Pérez llegó."
    assert rules_language(text) == "es"
    assert sentences(text) == [
        "La Sra. García vive en EE. UU. desde 2010 y trabaja en la biblioteca.",
        "¿Qué pasó?",
        "¡Nada!",
        "El Dr. Pérez llegó.",
    ]


def test_a_line_break_always_ends_a_sentence_and_lists_stay_whole():
    text = "Opening hours\n1. Monday to Friday, 9 to 5.\n2. Saturday, 10 to 2.\n\n  Closed on Sundays  "
    assert sentences(text) == [
        "Opening hours",
        "1. Monday to Friday, 9 to 5.",
        "2. Saturday, 10 to 2.",
        "Closed on Sundays",
    ]


def test_spans_are_exact_trimmed_offsets_and_repeat_sentences_are_found_in_order():
    text = "  Hi. Hi.  Hi. \nA closing quote ends here.\u201d Next one (in brackets.) Last!  "
    spans = sentence_spans(text)
    assert all(text[s:e] == text[s:e].strip() and text[s:e] for s, e in spans)
    assert spans == sorted(spans) and all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    assert sentences(text)[:3] == ["Hi.", "Hi.", "Hi."]
    assert "\u201d" in sentences(text)[3]  # the closing quote belongs to its sentence (the old regex dropped it)


def test_empty_and_blank_texts_have_no_sentences():
    assert sentence_spans("") == [] and sentence_spans(" \n\t ") == []


def test_remembering_keeps_every_text_for_the_block_only_and_changes_no_result():
    from index import sentences as segmentation

    texts = [f"Sentence {i} of text. Mrs. Chow came {i} times." for i in range(40)]
    plain = [sentence_spans(t) for t in texts]
    with segmentation.remembering():
        with segmentation.remembering():  # blocks nest (a UI upload during another build)
            assert [sentence_spans(t) for t in texts] == plain
        assert len(segmentation._memo) == len(texts)  # still remembered: the outer block is open
        assert [sentence_spans(t) for t in texts] == plain
        spans = sentence_spans(texts[0])
        spans.append((0, 1))  # a caller's list is its own: the memo is not changed through it
        assert sentence_spans(texts[0]) == plain[0]
    assert not segmentation._memo  # forgotten when the last block ends


def test_plain_english_skips_the_language_guess_and_other_text_still_gets_its_rules():
    from index import sentences as segmentation

    english = (
        "The harbour was built in 1820 and it was extended twice. Ships from the north brought timber, "
        "which the town traded for grain that farmers had grown in the valley."
    )
    spanish_without_accents = (
        "El puerto fue construido en 1820 y fue ampliado dos veces por el gobierno de la ciudad. Los barcos "
        "del norte traian madera, que la ciudad cambiaba por el grano de los campesinos del valle."
    )
    assert segmentation._plainly_english(english)
    assert rules_language(english) == "en"
    assert not segmentation._plainly_english(spanish_without_accents)
    assert rules_language(spanish_without_accents) == "es"  # the identifier is asked, as before
    assert not segmentation._plainly_english("The café, which the owners had opened, is closed.")  # é: asked
