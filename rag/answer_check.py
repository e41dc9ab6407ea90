"""Does an answer answer the question asked, from the passages it cites?

Citation verification (rag.citations) checks that each answer sentence is supported by a passage.
That is not enough: an answer that gives no figure for "How many…?" can be supported, and so can one
that names the person a neighbouring paragraph is about. Here the answer is
checked against the question:

* an answer must add something to the question ("Other types of pumps are used" does not);
* a question that asks for a number or a date (rag.question) must get one that the question does not
  already contain (a name asked for is not always capitalised: "the city council");
* every figure in the answer must be written in a passage it cites, and every name in some passage
  of the prompt — a number or name the passages don't hold was made up;
* a name asked for ("Who said…?") must be one the sentences that best match the question name, when
  they name anyone (the quotation's speaker, not whoever the next paragraph is about); for "Who
  said…?" it must be the speaker they give ('…," Ortiz concluded'), which the answer is repaired to;

A failed check names the problem; the engine then answers from the evidence sentence that best
matches the question and holds what was asked, or abstains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.question import (
    DATE,
    DURATION,
    NAME,
    NUMBER,
    SENTENCE_STARTERS,
    asks_speaker,
    expected_kind,
    kind_mentions,
    speakers,
    subject_share,
)
from rag.records import Citation, Passage
from rag.support import NUMBER_WORD_VALUES, content_terms

_DIGITS = re.compile(r"\d[\d,.]*\d|\d")
# words an answer that restates the question adds without saying anything ("Other pumps are used")
_FILLER = frozenset(
    content_terms("use used uses using include includes included known called call like many kind type")
)
KIND_NAMES = {NUMBER: "a number", DATE: "a date", NAME: "a name", DURATION: "how long or how often"}


@dataclass(frozen=True)
class AnswerCheck:
    ok: bool
    problem: str = ""  # why not, in words for Answer.fallback_reason
    speaker: str = ""  # for "Who said…?": the speaker the matching sentences name, to answer with instead


def _plain(text: str) -> str:
    """Lower case, typographic apostrophes and quotes as plain ones, no possessive ("UNAM’s" is "unam",
    "Doritos'" is "doritos")."""
    text = text.lower().replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return re.sub(r"'s\b|(?<=s)'(?!\w)", "", text)


def _norm_number(text: str) -> str:
    return text.replace(",", "").rstrip(".")


def _numbers(text: str) -> set[str]:
    """The figures ``text`` writes, in digits; small numbers written in words too ("nine" is "9")."""
    words = {NUMBER_WORD_VALUES[w] for w in re.findall(r"[a-z]+", text.lower()) if w in NUMBER_WORD_VALUES}
    return {_norm_number(m.group(0)) for m in _DIGITS.finditer(text)} | words


def _verb_lemmas(word: str) -> tuple[str, ...]:
    """The verbs ``word`` is a form of ("taught": teach, "won": win), from lemminflect's dictionary;
    the stemmer only cuts regular endings."""
    from lemminflect import getAllLemmas

    return getAllLemmas(word.lower()).get("VERB", ())


def added_terms(answer_text: str, question: str) -> set[str]:
    """The content terms the answer adds to the question. Filler words add nothing, nor does a verb of
    the question in another form: "Matlin won her Academy Award for the anthem's translation" adds
    nothing to "For which film did Matlin win her Academy Award for the anthem's translation?"."""
    asked = content_terms(question)
    added = content_terms(answer_text) - asked - _FILLER
    for word in re.findall(r"[A-Za-z]+", answer_text):
        if not added:
            break
        stem = content_terms(word)
        if stem & added and any((terms := content_terms(lemma)) and terms <= asked for lemma in _verb_lemmas(word)):
            added -= stem
    return added


def check_answer(
    question: str,
    answer_text: str,
    citations: list[Citation],
    passages: list[Passage],
    evidence: list[str] = (),
) -> AnswerCheck:
    """``answer_text`` without citation markers; ``citations`` as verification attached them;
    ``evidence``: the texts that best match the question (rag.evidence excerpts, best first)."""
    kind = expected_kind(question)
    cited = [c.passage.text for c in citations] or [p.text for p in passages]
    cited_text = " ".join(cited)
    # a number, a date or a span of time is always written with digits, number words or words of time;
    # a name is not always capitalised ("the city council"), so it is not required
    if kind in (NUMBER, DATE, DURATION) and not kind_mentions(answer_text, kind, question):
        return AnswerCheck(False, f"the question asks for {KIND_NAMES[kind]} and the answer gives none")
    if not added_terms(answer_text, question):
        return AnswerCheck(False, "the answer only restates the question")
    made_up = _numbers(answer_text) - _numbers(question) - _numbers(cited_text)
    if made_up:
        return AnswerCheck(False, f"the answer's figure {sorted(made_up)[0]} is not in the passage it cites")
    everything = _plain(" ".join(p.text for p in passages))
    unknown = [n for n in kind_mentions(answer_text, NAME, question) if _plain(n) not in everything]
    if unknown:
        return AnswerCheck(False, f"the answer names {unknown[0]!r}, which no passage mentions")
    if asks_speaker(question) and evidence:
        # the quotation's speaker, not a name inside the quotation ('"…what President Trump called
        # non-tariff barriers…," Ortiz concluded' asked "Who said that a treaty is no magic wand?")
        said_by = [name for text in evidence[:2] for name in speakers(_matching_paragraph(question, text))]
        plain = _plain(answer_text)
        if said_by and not any(_plain(w) in plain.split() for name in said_by for w in name.split()):
            return AnswerCheck(
                False, f"the answer does not name {said_by[0]!r}, who says it in the matching sentences", said_by[0]
            )
    if kind == NAME and evidence:
        named = [n for n in kind_mentions(answer_text, NAME, question)]
        top = [_plain(t) for t in evidence if kind_mentions(t, NAME, question)]
        if named and top and not any(_plain(n) in t for n in named for t in top):
            return AnswerCheck(False, f"the answer names {named[0]!r}, but the sentences that match the question don't")
    return AnswerCheck(True)


def numbers_as_written(answer_text: str, cited: list[str]) -> str:
    """A small number the answer writes in digits ("6 touchdowns") written as the cited sentence has it
    ("six"), when that sentence writes it only in words: the answer quotes its source."""
    words_of = {value: word for word, value in NUMBER_WORD_VALUES.items()}
    text = " ".join(cited)

    def written(match: re.Match) -> str:
        digits = match.group(0)
        word = words_of.get(digits)
        if word is None or re.search(rf"(?<![\d.,]){digits}(?![\d.,]\d)", text):
            return digits
        found = re.search(rf"\b{word}\b", text, re.IGNORECASE)
        return found.group(0).lower() if found else digits

    return re.sub(r"(?<![\w.,$€£%\[])\d{1,2}(?![\w%\]]|[.,]\d)", written, answer_text)  # not "[6]", "6.5", "6%"


_CAPITALISED_RUN = re.compile(r"(?:\b[A-Z][\w'’.&-]*\s+){1,3}$")


def complete_names(answer_text: str, cited: list[str], question: str) -> str:
    """A name the answer gives in part ("The Patriots") written in full as the cited sentence has it
    ("The New England Patriots"): the capitalised words that stand right before it there are put back.
    Only for short answers, where the name is the answer; nothing else changes."""
    if len(answer_text.split()) > 12:
        return answer_text
    out = answer_text
    for name in dict.fromkeys(kind_mentions(answer_text, NAME, question)):
        for text in cited:
            for match in re.finditer(rf"\b{re.escape(name)}\b", text):
                lead = _CAPITALISED_RUN.search(text[: match.start()])
                if not lead:
                    continue
                words = lead.group(0).split()
                if not text[: lead.start()].strip() or text[: lead.start()].rstrip()[-1:] in '.!?:"“':
                    words = words[1:]  # the sentence's first word is capitalised for being first
                before = [_plain(w) for w in out[: out.find(name)].split()]
                already = before[-len(words) :] == [_plain(w) for w in words]  # "UNAM's" is "UNAM’s"
                if words and not already and all(w not in question for w in words):
                    out = out.replace(name, f"{' '.join(words)} {name}", 1)
                break
            else:
                continue
            break
    return out


def _matching_paragraph(question: str, text: str) -> str:
    """The paragraph (line) of ``text`` that holds most of what ``question`` names: an excerpt can
    run over into the next paragraph, whose speaker said something else."""
    paragraphs = [line for line in text.splitlines() if line.strip()] or [text]
    return max(paragraphs, key=lambda line: subject_share(question, line))


def full_name(name: str, texts: list[str]) -> str:
    """``name`` as the longest run of capitalised words holding it that ``texts`` write ("Ortiz" ->
    "Verónica Ortiz", "Lucía Ortiz Navarro"), a leading sentence starter ("The", "However") left out;
    ``name`` when none is longer. A title that opens a sentence stays ("Quarterback Peyton Manning"):
    it can't be told from a first name."""
    best = name
    run = r"(?:\b[A-Z][\w'’.-]*\s+(?:(?:de|del|la|van|von|da|di)\s+)?){0,3}"
    for text in texts:
        for match in re.finditer(rf"{run}{re.escape(name)}\b(?:\s+(?:(?:de|del|la)\s+)?[A-Z][\w'’-]*){{0,2}}", text):
            words = match.group(0).split()
            while (
                words
                and words[0] != name.split()[0]
                and (words[0].lower() in SENTENCE_STARTERS or not words[0][0].isupper())
            ):
                words = words[1:]
            candidate = " ".join(words).rstrip(".,;:")
            if len(candidate) > len(best):
                best = candidate
    return best
