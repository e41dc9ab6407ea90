"""Evidence selection (rag.evidence) and what a question asks for (rag.question): pure logic, no models."""

from __future__ import annotations

import pytest

from index.records import Chunk
from index.sentences import sentence_spans
from rag.evidence import EvidenceSettings, leans_back, select_evidence
from rag.question import DATE, DURATION, NAME, NUMBER, expected_kind, holds_kind, kind_mentions
from rag.records import Passage, ScoredSentence


def passage(
    text: str, scores: list[tuple[float, float]], rank: int = 1, fused: float = 1.0, doc: str = "d1", start: int = 0
) -> Passage:
    spans = sentence_spans(text)
    assert len(spans) == len(scores)
    chunk = Chunk(
        id=f"{doc}:{rank}", doc_id=doc, ordinal=rank - 1, char_start=start, char_end=start + len(text), text=text
    )
    sentences = tuple(ScoredSentence(s, e, cos, cov) for (s, e), (cos, cov) in zip(spans, scores))
    return Passage(
        chunk=chunk, title="Doc", source=f"/docs/{doc}.txt", rank=rank, fused_score=fused, sentences=sentences
    )


def words(n: int) -> int:  # a token counter: one token a word
    return n


def test_question_kinds():
    assert expected_kind("How many job openings cannot be filled?") == NUMBER
    assert expected_kind("What percentage of migrants are regular?") == NUMBER
    assert expected_kind("When was the article published?") == DATE
    assert expected_kind("In which year did it open?") == DATE
    assert expected_kind("Who said the world is no longer unipolar?") == NAME
    assert expected_kind("Why is this good news for Mexico?") is None
    assert holds_kind("a deficit of 300,000 to 800,000 openings", NUMBER)
    # a "When using…," clause sets the scene; it doesn't ask for a date
    assert expected_kind("When using a probabilistic test, how is the error bounded?") is None
    assert expected_kind("When during the year does it rain?") == DATE
    # a time of day answers "When…?"
    assert holds_kind("The parking garage opens at 6 a.m. on weekdays.", DATE, "When does the parking garage open?")
    assert holds_kind("Doors open at 18:30.", DATE) and holds_kind("It closes at 9 pm", DATE)
    assert not holds_kind("The parking garage opens early.", DATE, "When does the parking garage open?")
    # how long / how often: answered in words of time as often as in figures
    assert expected_kind("How often is the starter fed?") == DURATION == expected_kind("How long did the war last?")
    assert holds_kind("A starter is fed with flour and water every day.", DURATION, "How often is the starter fed?")
    assert holds_kind("The war lasted for decades.", DURATION) and holds_kind("about six weeks", DURATION)
    assert not holds_kind("The starter is fed with flour and water.", DURATION, "How often is the starter fed?")
    # a span is an amount with its unit, a plural unit, a span of years or "since …"; a bare figure or a rate is not
    how_long = "How long has he been the club's director?"
    assert not holds_kind("Trade is valued at US$1.8 million per minute, the two countries say.", DURATION, how_long)
    assert not holds_kind("He is the director of the club and has 300 members.", DURATION, how_long)
    assert kind_mentions("He has led it for more than 30 years.", DURATION, how_long) == ["30 years"]
    assert kind_mentions("She ran it from 1990 to 2005.", DURATION) == ["1990 to 2005"]
    assert kind_mentions("The river is 6,650 km long.", DURATION, "How long is the river?") == ["6,650 km"]
    assert holds_kind("He has been in charge since 2019.", DURATION, how_long)
    often = "How often does the author use it?"
    assert holds_kind("At least three times per day.", DURATION, often) and holds_kind("twice a week", DURATION, often)
    assert not holds_kind("He stayed, since it was cheap.", DURATION, how_long)
    assert not holds_kind("The deficit was projected in 2033.", NUMBER, "How large is the deficit by 2033?")
    assert kind_mentions("Mariana Campos said so.", NAME, "Who said so?") == ["Mariana", "Campos"]
    assert not holds_kind("Mexico is a partner.", NAME, "Who called Mexico a partner?")
    assert holds_kind("Anything at all.", None)


def test_the_question_word_that_counts_is_the_first_one():
    # an aside's "when" does not make a "What…?" question ask for a date, nor a "who" one's
    assert expected_kind("What, when combined with a large workload, can contribute to stress?") is None
    assert expected_kind("Who was president, when the war began?") == NAME
    assert expected_kind("In 2015, where did the company open its plant?") == NAME
    assert expected_kind("And when did it open?") == DATE
    assert expected_kind("How many people died when the ship sank?") == NUMBER


def test_dates_and_amounts_written_without_a_year_or_a_figure():
    century = "To what century did the idea of ether belong?"
    assert kind_mentions("The idea belonged to the 19th century.", DATE, century) == ["19th"]
    assert holds_kind("It began in the nineteenth century.", DATE, "When did it begin?")
    assert kind_mentions("by the Pliocene period", DATE, "What period did the Rhine capture streams?") == [
        "Pliocene period"
    ]
    assert not holds_kind("The Rhine captured streams.", DATE, "What period did the Rhine capture streams?")
    assert holds_kind("There are infinitely many primes.", NUMBER, "How many prime numbers exist?")
    assert holds_kind("He was reborn often many times.", NUMBER, "How much has a Lama agreed to be reborn?")
    assert not holds_kind("Many people came.", NUMBER, "How many people came?")


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("She noted that since the pandemic the deficit grew.", True),
        ("However, he noted this new era requires work.", True),
        ("This includes building a team.", True),
        ('"We need investors in Mexico," she stressed.', True),
        ("Mariana Campos, Director General, said the US is in a delicate position.", False),
        ("The theatre opened in 1990.", False),
    ],
)
def test_a_sentence_that_leans_on_the_one_before_is_recognised(sentence, expected):
    assert leans_back(sentence) is expected


def test_the_best_sentences_come_first_and_bring_the_sentence_a_pronoun_needs():
    text = "Mariana Campos leads Mexico Evalua. She noted a deficit of 300,000 jobs. The weather was fine."
    p = passage(text, [(0.2, 0.1), (0.9, 0.8), (0.1, 0.0)])
    other = passage("Unrelated text about bridges.", [(0.3, 0.2)], rank=2, fused=0.5, doc="d2")
    excerpts = select_evidence(
        "How many jobs?", [p, other], lambda t: len(t.split()), EvidenceSettings(budget_tokens=12)
    )
    assert excerpts[0].text == "Mariana Campos leads Mexico Evalua. She noted a deficit of 300,000 jobs."
    evidence = [excerpts[0].passage.text[e.start : e.end] for e in excerpts[0].evidence]
    assert evidence == ["She noted a deficit of 300,000 jobs."]
    sub = excerpts[0].as_passage(1)
    assert sub.chunk.char_start == p.chunk.char_start and sub.text == excerpts[0].text
    assert "weather" not in " ".join(e.text for e in excerpts)


def test_the_budget_bounds_the_evidence_and_overlapping_chunks_give_a_sentence_once():
    text = "Alpha one two. Beta three four. Gamma five six. Delta seven eight."
    first = passage(text, [(0.9, 0.9), (0.8, 0.8), (0.7, 0.7), (0.6, 0.6)], start=0)
    # the next chunk repeats the last two sentences (chunk overlap): same document offsets
    second = passage("Gamma five six. Delta seven eight.", [(0.7, 0.7), (0.6, 0.6)], rank=2, start=32)
    excerpts = select_evidence("q", [first, second], lambda t: len(t.split()), EvidenceSettings(budget_tokens=6))
    chosen = [e.text for e in excerpts]
    assert chosen == ["Alpha one two. Beta three four."]
    excerpts = select_evidence("q", [first, second], lambda t: len(t.split()), EvidenceSettings(budget_tokens=100))
    assert " ".join(e.text for e in excerpts).count("Gamma") == 1


def test_termless_standing_keeps_a_top_chunk_s_unrelated_sentences_from_crowding_out_the_answer():
    # the top chunk is long and mostly about something else; the answer is in the second chunk
    top = passage(
        "Campos spoke about labour. The weather was fine all week. Trade grew fast. Ports were busy.",
        [(0.5, 0.4), (0.45, 0.0), (0.45, 0.0), (0.45, 0.0)],
    )
    below = passage("She identified the pharmaceutical sector as a key opportunity.", [(0.3, 0.5)], 2, 0.7, start=200)
    floor = passage("Unrelated text about bridges.", [(0.1, 0.0)], rank=3, fused=0.0, doc="d2")
    question = "Which sector did Campos identify as a key opportunity?"
    count = lambda t: len(t.split())  # noqa: E731
    half = EvidenceSettings(12, termless_standing=0.5)
    chosen = " ".join(e.text for e in select_evidence(question, [top, below, floor], count, half))
    assert "pharmaceutical" in chosen and "weather" not in chosen
    full_share = EvidenceSettings(12)  # the default fills the budget with the top chunk
    default = select_evidence(question, [top, below, floor], count, full_share)
    assert "pharmaceutical" not in " ".join(e.text for e in default)


def test_bad_evidence_settings_are_refused():
    with pytest.raises(ValueError, match="budget"):
        EvidenceSettings(budget_tokens=2)
    with pytest.raises(ValueError, match="termless_standing"):
        EvidenceSettings(termless_standing=1.5)
    with pytest.raises(ValueError, match="negative"):
        EvidenceSettings(kind_weight=-1)


def test_a_question_word_inside_the_sentence_does_not_set_the_kind():
    assert expected_kind("What does Mexico need to ensure when it negotiates?") is None
    assert expected_kind("What did the man who built it say?") is None
    assert expected_kind("And when did she say it?") == DATE
    assert expected_kind("By whom was it built?") == NAME


def test_a_quotation_is_taken_on_to_where_its_speaker_is_named():
    text = (
        'Ortiz spoke last. "A treaty is not a magic wand; you need the right conditions. '
        'Everything else falls into this category. This is the domestic work," Ortiz concluded. The end.'
    )
    spans = sentence_spans(text)
    scores = [(0.1, 0.0), (0.9, 0.9), (0.1, 0.0), (0.1, 0.0), (0.0, 0.0)]
    excerpts = select_evidence(
        "Who said a treaty is not a magic wand?",
        [passage(text, scores)],
        lambda t: len(t.split()),
        EvidenceSettings(budget_tokens=12),
    )
    assert len(spans) == 5 and excerpts[0].text.endswith("Ortiz concluded.")
    opening, closing = excerpts[0].hint().split(" … ")
    assert opening == '"A treaty is not a magic wand; you need the right conditions.'
    assert closing == 'This is the domestic work," Ortiz concluded.'


def test_answer_checks_catch_a_missing_kind_a_made_up_figure_and_another_speaker():
    from rag.answer_check import check_answer

    text = "She noted a deficit of 300,000 to 800,000 job openings, a figure projected to grow to 1 million by 2033."
    p = passage(text, [(0.5, 0.5)])
    question = "How many job openings cannot be filled?"
    assert check_answer(question, "300,000 to 800,000 job openings", [], [p]).ok
    assert "asks for a number" in check_answer(question, "Many job openings", [], [p]).problem
    assert "2000" in check_answer(question, "2,000 job openings", [], [p]).problem
    quote = '"A treaty is not a magic wand," Ortiz concluded.'
    other = "Estefanía Cruz notes Mexico could leverage migrants."
    both = [passage(quote, [(0.5, 0.5)]), passage(other, [(0.1, 0.1)], rank=2, doc="d2")]
    who = "Who said a treaty is not a magic wand?"
    assert check_answer(who, "Ortiz said it", [], both, [quote]).ok
    wrong = check_answer(who, "Estefanía Cruz said it", [], both, [quote])
    assert not wrong.ok and "Ortiz" in wrong.problem and wrong.speaker == "Ortiz"
    # a plural possessive names what the passage names ("Doritos'" is "Doritos"); a made-up name still fails
    ad = passage('Doritos ran its "Crash the Super Bowl" contest.', [(0.5, 0.5)])
    called = "What was the Doritos customer ad campaign called?"
    assert check_answer(called, 'Doritos\' "Crash the Super Bowl" contest', [], [ad]).ok
    assert "Pepsi" in check_answer(called, 'Pepsi\' "Crash" contest', [], [ad]).problem
    # a figure the passage writes in words is not made up
    board = passage("The board of trustees has no more than nine members.", [(0.5, 0.5)])
    assert check_answer("How many members can the board have?", "9 members", [], [board]).ok
    assert "12" in check_answer("How many members can the board have?", "12 members", [], [board]).problem


def test_a_number_is_written_as_the_cited_sentence_writes_it():
    from rag.answer_check import numbers_as_written

    cited = ["Stewart ran for six touchdowns in 13 games."]
    assert numbers_as_written("He had 6 touchdowns in 13 games [1].", cited) == "He had six touchdowns in 13 games [1]."
    # figures the sentence writes in digits, decimals, percentages and citation markers stay as they are
    assert numbers_as_written("In 13 games [6].", cited) == "In 13 games [6]."
    assert numbers_as_written("It rose 6% or 6.5 points.", cited) == "It rose 6% or 6.5 points."
    assert numbers_as_written("6 of 6 [1].", ["6 of them, six in all"]) == "6 of 6 [1]."


def test_who_said_is_answered_by_the_quotation_s_speaker_not_a_name_inside_it():
    from rag.answer_check import check_answer, full_name
    from rag.question import asks_speaker, speakers

    assert asks_speaker("Who said that a treaty is no magic wand?") and asks_speaker("Who warned of a deficit?")
    assert asks_speaker("According to whom is Mexico a key partner?") and not asks_speaker("Who is Ortiz?")
    quote = (
        '"A trade treaty is not a magic wand. Everything that President Donald Trump called non-tariff '
        'barriers falls into this category," Ortiz concluded.'
    )
    assert speakers(quote) == ["Ortiz"]  # Trump is named inside the quotation, not its speaker
    assert speakers('"We will win," said John Smith.') == ["John Smith"]
    assert speakers("Verónica Ortiz, Former CEO, Mexican Council on Foreign Affairs (COMEXI), noted that…") == [
        "Verónica Ortiz"
    ]
    assert speakers("During the Fourth Convention, Guillermo Malpica, Executive Director, noted that…") == [
        "Guillermo Malpica"
    ]
    assert speakers("However, the report noted that wages fell.") == []
    p = passage(quote, [(0.5, 0.5), (0.5, 0.5)])
    who = "Who said that a trade treaty is not a magic wand?"
    assert check_answer(who, "President Donald Trump", [], [p], [quote]).speaker == "Ortiz"
    assert check_answer(who, "Ortiz", [], [p], [quote]).ok
    # the speaker of the paragraph that matches, not of the next one in the same excerpt
    run_on = quote + "\n\nEstefanía Cruz, Researcher, said that migrants send money home."
    both = passage(run_on, [(0.5, 0.5)] * len(sentence_spans(run_on)))
    assert check_answer(who, "Estefanía Cruz", [], [both], [run_on]).speaker == "Ortiz"
    assert full_name("Ortiz", ["Verónica Ortiz, Former CEO, noted that", quote]) == "Verónica Ortiz"
    assert full_name("Ortiz", [quote]) == "Ortiz"
    assert full_name("Ortiz", ["Lucía Ortiz Navarro, directora, explicó el horario.", quote]) == "Lucía Ortiz Navarro"


def test_a_name_given_in_part_is_completed_from_the_cited_sentence():
    from rag.answer_check import complete_names

    cited = ["The Broncos denied the New England Patriots a chance to defend their title."]
    assert complete_names("The Patriots [1].", cited, "Who did the Broncos beat?") == "The New England Patriots [1]."
    assert complete_names("Manning [2].", ["Quarterback Peyton Manning led."], "Who led?") == "Peyton Manning [2]."
    # a name already written in full, with another apostrophe, is left alone
    assert complete_names("UNAM's Research Center [5].", ["Cruz, UNAM’s Research Center, notes"], "Where?") == (
        "UNAM's Research Center [5]."
    )
    long = "The Patriots were denied a chance to defend the title they had won the year before [1]."
    assert complete_names(long, cited, "Who?") == long  # a long answer is left as the model wrote it


def test_an_answer_that_only_restates_the_question_fails_its_check():
    from rag.answer_check import check_answer

    p = passage("Industrial boilers typically use multi-stage centrifugal pumps.", [(0.5, 0.5)])
    question = "What types of pumps are typically used in industrial boilers?"
    assert "restates" in check_answer(question, "Other types of pumps are used", [], [p]).problem
    assert check_answer(question, "Multi-stage centrifugal pumps", [], [p]).ok


def test_a_verb_of_the_question_in_another_form_adds_nothing():
    from rag.answer_check import added_terms, check_answer

    p = passage("Marlee Matlin, who won an Academy Award, gave the anthem in sign language.", [(0.5, 0.5)])
    question = "For which film did Marlee Matlin win her Academy Award?"
    assert not added_terms("Marlee Matlin won her Academy Award", question)  # 'won' is a form of 'win'
    assert "restates" in check_answer(question, "Marlee Matlin won her Academy Award", [], [p]).problem
    teach = "What other subjects did Martin Sekulic teach?"
    assert not added_terms("Martin Sekulic taught other subjects", teach)
    assert added_terms("Martin Sekulic taught physics", teach) == {"physic"}
    assert added_terms("She won the Oscar for Children of a Lesser God", question)  # names the film


def test_an_excerpt_that_opens_its_chunk_leaning_back_gets_the_sentence_before_from_the_previous_chunk():
    from rag.evidence import with_lead_ins

    before_text = "The forum opened. During the convention, Guillermo Malpica noted that trade is strong."
    before = passage(before_text, [(0.0, 0.0), (0.0, 0.0)], start=0)
    after_text = "However, he noted this new era requires work. Other things followed."
    after = passage(after_text, [(0.9, 0.9), (0.1, 0.1)], rank=2, start=len(before_text) + 2)
    excerpts = select_evidence(
        "Who noted the new era requires work?", [after], lambda t: len(t.split()), EvidenceSettings(budget_tokens=8)
    )
    led = with_lead_ins(excerpts, lambda p: before if p is after else None)
    assert [e.lead_in for e in led] == [True, False]
    assert led[0].text == "During the convention, Guillermo Malpica noted that trade is strong."
    assert led[0].as_passage(1).chunk.char_start == before_text.index("During")
