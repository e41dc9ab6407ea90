"""What a question asks for, and whether a piece of text holds that kind of thing.

Questions reach the answering stage in English (others are rewritten first), so the patterns are
English. The kinds are coarse on purpose — a number, a span or frequency of time, a date, a person or
organisation, a place — because they only have to tell a sentence that *can* answer from one that
can't: "How many job openings…?" needs a number that is not already in the question, "Who said…?" a
name that is not. Anything else ("What…?", "Why…?") has no expected kind and is never checked by it.
"""

from __future__ import annotations

import re

NUMBER, DATE, NAME, DURATION = "number", "date", "name", "duration"

# "When…?", "And who…?", "In 2015, where…?": the question word that opens the question or a clause of
# it — not a "when" or "who" inside the sentence ("What must Mexico ensure when it negotiates?").
_OPENING = r"(?:^|[,;:]\s*|^\W*(?:and|but|so|then|also)\s+)"
_KIND_PATTERNS = (
    # "How long…?" and "How often…?" are answered in words as often as in figures ("for decades", "every
    # day", "annually"), so they are a kind of their own that a word of time or frequency also satisfies.
    (DURATION, re.compile(r"\bhow\s+(long|often|frequently)\b", re.IGNORECASE)),
    (
        NUMBER,
        re.compile(
            r"\bhow\s+(many|much|old|far|large|big|tall|high|fast|deep|wide|heavy)\b"
            r"|\bwhat\s+(percentage|percent|share|proportion|number|amount|fraction|rate|price|cost|value|size)\b"
            r"|\bwhich\s+(percentage|number|amount)\b",
            re.IGNORECASE,
        ),
    ),
    (
        DATE,
        re.compile(
            # not a clause that sets the scene: "When using a probabilistic test, how is…?"
            _OPENING + r"when\b(?!\s+(?!during\b)\w+ing\b)"
            r"|\b(what|which)\s+(year|years|century|decade|date|month|day|time|period|season)\b"
            r"|\bin\s+(what|which)\s+year\b|\bsince\s+when\b",
            re.IGNORECASE,
        ),
    ),
    (
        NAME,
        re.compile(
            _OPENING + r"(who(m|se)?|where)\b|\b(by|to|with|for|from)\s+(whom|where)\b"
            r"|\b(which|what)\s+(person|man|woman|company|city|country)\b",
            re.IGNORECASE,
        ),
    ),
)

_NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million billion "
    "trillion dozen dozens half quarter third once twice"
).split()
# and the words of an amount without a figure: "How many primes are there?" "Infinitely many"; "How much has a
# Lama agreed to be reborn?" "Often many times" (SQuAD)
_QUANTITY_WORDS = r"several|numerous|countless|innumerable|infinitely|infinite|multiple|many\s+times|a\s+few"
_NUMBER = re.compile(r"\d[\d,.]*%?|\b(" + "|".join(_NUMBER_WORDS) + "|" + _QUANTITY_WORDS + r")\b", re.IGNORECASE)
# A span of time (or, for "How long is the river?", a length) is an amount with its unit ("six weeks",
# "30 years", "a decade", "6,650 km"), a plural unit ("for decades"), a span between years, "since …",
# a count of times ("three times per day", "twice") or a word of frequency ("every day", "annually").
# A bare figure is not one: "US$1.8 million per minute" is a rate, and it answered "How long has he
# been Executive Director?" (seed conversation set).
_TIME_UNIT = (
    r"(?:second|minute|hour|day|night|week|fortnight|month|year|decade|centur(?:y|ie)|season|generation|"
    r"lifetime|term)s?"
)
_LENGTH_UNIT = r"(?:km|kilomet(?:re|er)s?|miles?|met(?:re|er)s?|m|feet|foot|ft|inch(?:es)?|cm|mm|yards?)"
_AMOUNT = (
    r"(?:\d[\d,.]*|an?|" + "|".join(_NUMBER_WORDS) + r")"
    r"(?:[\s-]+(?:hundred|thousand|million|billion|and\s+a\s+half|or\s+so|more|odd))*"
)
_DURATION = re.compile(
    rf"\b{_AMOUNT}[\s-]+(?:{_TIME_UNIT}|{_LENGTH_UNIT}|times)\b|\b(?:once|twice|thrice)\b"
    r"|\b(?:seconds|minutes|hours|days|nights|weeks|months|years|decades|centuries|generations|ages)\b"
    r"|\b(?:1[0-9]{3}|20[0-9]{2})\s*(?:[–-]|to|until|till)\s*(?:1[0-9]{3}|20[0-9]{2})\b"
    r"|\bsince\s+(?:\d[\d,]*|the\s+\w+|(?:early|late|mid)[\s-]\w+|(?-i:[A-Z])\w*)"
    r"|\b(?:daily|weekly|monthly|yearly|annually|hourly|nightly|every|each|always|never|rarely|seldom|sometimes|"
    r"occasionally|usually|regularly|constantly|forever|permanently|indefinitely|briefly|overnight)\b",
    re.IGNORECASE,
)
_MONTHS = "January February March April May June July August September October November December".split()
_DATE = re.compile(
    r"\b(1[0-9]{3}|20[0-9]{2})s?\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b|\b(" + "|".join(_MONTHS) + r")\b"
    r"|\b(century|centuries|decade|yesterday|today|tomorrow|spring|summer|autumn|fall|winter|monday|tuesday|"
    r"wednesday|thursday|friday|saturday|sunday|weekdays?|weekends?|noon|midday|midnight|morning|afternoon|evening|"
    r"night)\b"
    # a time of day answers "When…?" too: "6 a.m.", "10:30", "at 9 pm"
    r"|\b\d{1,2}(:\d{2})?\s*[ap]\.?m\b\.?|\b\d{1,2}:\d{2}\b"
    # an ordinal ("the 19th century", "on the 3rd"), a named period ("the Pliocene period", "the Ming dynasty")
    r"|\b\d{1,2}(?:st|nd|rd|th)\b|\b\w+(?:th|st|nd|rd)[\s-]+centur(?:y|ies)\b"
    r"|\b(?-i:[A-Z])\w+\s+(?:period|era|epoch|age|dynasty|reign)\b",
    re.IGNORECASE,
)
# A capitalised word: the crude mark of a name (person, place, organisation); the words that are
# capitalised only because they start a sentence are not names.
_NAME = re.compile(r"\b[A-Z][\w'’.-]*[a-z][\w'’-]*|\b[A-Z]{2,}\b")
SENTENCE_STARTERS = frozenset(
    """the a an in on at for this that these those it he she they we i you however but and also after before during
    when while although though despite since as if with by from to of his her its their our my your there here what
    who whom whose which where why how one two many some most each all both under over according other another such
    then thus so yet still meanwhile moreover furthermore instead today later now first finally""".split()
)
_WORD = re.compile(r"[\w'’]+")


# The question's own question word is its first one: in "What, when combined with a large workload,
# causes stress?" the "when" opens an aside, and the question asks "what" (SQuAD-300: a right "Long
# hours…" answer was rejected for giving no date).
_QUESTION_WORD = re.compile(r"\b(?:what|which|who|whom|whose|where|when|why|how)\b", re.IGNORECASE)


def expected_kind(question: str) -> str | None:
    """The kind of answer ``question`` asks for (NUMBER, DATE, NAME, DURATION), or None. A pattern counts
    only where it takes in the question's first question word, when it has one."""
    first = _QUESTION_WORD.search(question)
    for kind, pattern in _KIND_PATTERNS:
        for match in pattern.finditer(question):
            if first is None or match.start() <= first.start() < match.end():
                return kind
    return None


def _question_words(question: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(question)}


def kind_spans(text: str, kind: str, question: str = "") -> list[tuple[int, int]]:
    """Where ``text`` mentions ``kind`` (start, end), leaving out what the question itself contains."""
    pattern = {NUMBER: _NUMBER, DATE: _DATE, NAME: _NAME, DURATION: _DURATION}[kind]
    known = _question_words(question)
    if kind == NAME:
        known |= SENTENCE_STARTERS
    spans = []
    for match in pattern.finditer(text):
        words = {w.lower() for w in _WORD.findall(match.group(0))}
        if words and not words <= known:
            spans.append(match.span())
    return spans


def kind_mentions(text: str, kind: str, question: str = "") -> list[str]:
    """The mentions of ``kind`` in ``text`` that the question itself doesn't already contain."""
    return [text[s:e] for s, e in kind_spans(text, kind, question)]


# Words that only shape a question ("how much", "what kind of"), never what it is about.
_ASKING_WORDS = frozenset(
    "much many long often far old kind type sort name called call happen happened happens mean means".split()
)


def subject_share(question: str, text: str) -> float:
    """The share of the question's own terms (stemmed content words, not its asking words) that ``text``
    holds: 1.0 when it speaks of everything the question names."""
    from rag.support import content_terms

    wanted = content_terms(question) - content_terms(" ".join(_ASKING_WORDS))
    return len(wanted & content_terms(text)) / len(wanted) if wanted else 0.0


def holds_kind(text: str, kind: str | None, question: str = "") -> bool:
    """Does ``text`` hold something of the kind the question asks for (True when it asks for no kind)?"""
    return kind is None or bool(kind_mentions(text, kind, question))


# "Who said…?", "Who warned that…?", "According to whom…?": the question asks for a quotation's speaker.
_SPEECH = (
    r"said|says|say|noted|notes|stated|states|argued|argues|warned|warns|concluded|concludes|claimed|claims|"
    r"mentioned|mentions|stressed|stresses|explained|explains|added|adds|assured|assures|insisted|insists|"
    r"highlighted|highlights|pointed\s+out|points\s+out|told|tells|called|calls|described|describes|asserted|"
    r"emphasi[sz]ed|remarked|observed|commented|believes|believed|suggested|suggests|proposed|predicted|affirmed"
)
_ASKS_SPEAKER = re.compile(rf"\bwho\s+(?:(?:has|had|was|did)\s+)?(?:{_SPEECH})\b|\baccording\s+to\s+whom\b", re.I)
_PERSON = r"(?-i:[A-Z][\w'’.-]*(?:\s+(?:de|del|la|van|von|da|di|le)?\s*[A-Z][\w'’.-]*){0,3})"
# Who a sentence makes the speaker of a quotation or a report: '…," Ortiz concluded.', '…," said Ortiz.',
# 'Verónica Ortiz, Former CEO, COMEXI, noted that…' (the name that opens the sentence, or its first clause,
# titles between).
_SPEAKER_PATTERNS = (
    re.compile(rf"[\"”’]\s*,?\s*({_PERSON})\s+(?:{_SPEECH})\b", re.I),
    re.compile(rf"[\"”’]\s*,?\s*(?:{_SPEECH})\s+({_PERSON})", re.I),
)
_REPORTER = rf"\s*(?:,[^,]{{1,80}}){{0,4}},?\s+(?:(?:also|has|had)\s+)?(?:{_SPEECH})\b"
_OPENS_REPORT = re.compile(rf"^\W*({_PERSON}){_REPORTER}", re.I)
_OPENS_REPORT_AFTER_CLAUSE = re.compile(rf"^\W*[^,\"“]{{1,60}},\s*({_PERSON}){_REPORTER}", re.I)


def asks_speaker(question: str) -> bool:
    """Does ``question`` ask who said something ("Who said that a treaty is no magic wand?")?"""
    return bool(_ASKS_SPEAKER.search(question))


def speakers(text: str) -> list[str]:
    """The names ``text`` makes speakers ('…," Ortiz concluded.' -> "Ortiz"), first seen first;
    names inside the quotation are not speakers."""
    from index.sentences import sentence_spans

    found: list[str] = []

    def add(match) -> bool:
        name = match.group(1).strip(" ,.") if match else ""
        if not name or name.split()[0].lower() in SENTENCE_STARTERS:
            return False
        if name not in found:
            found.append(name)
        return True

    for start, end in sentence_spans(text):
        sentence = text[start:end]
        for pattern in _SPEAKER_PATTERNS:
            for match in pattern.finditer(sentence):
                add(match)
        # the name that opens the sentence; else the one after an opening clause ("During X, Name, …, noted")
        add(_OPENS_REPORT.search(sentence)) or add(_OPENS_REPORT_AFTER_CLAUSE.search(sentence))
    return found
