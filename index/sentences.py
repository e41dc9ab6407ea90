"""Sentence segmentation: the one splitter every layer uses — chunking, the late-chunking sentence
vectors, the sentences' BM25 terms, evidence selection, citation verification and extractive answers.

LanguageTool's SRX segmentation rules, run by ``choppa-srx``, line by line: a line break always ends
a unit (headings and list items never merge), and within a line the rules decide, so "Mrs. Chow",
"U.S.A.", "T. J. Ward", "1.8 million", a full stop inside a closing quote and "¿Qué pasó? ¡Nada!"
come out right. bench/segmenter.py compared 13 libraries on a 124-case gold set (English and
Spanish abbreviations, initials, decimals, quotes, brackets, lists): these rules got 119 right
(boundary F1 0.980), the regex this replaced 58 (F1 0.653); on SQuAD dev they cut 1 of 16,523 gold
answers in two, the regex 142. Cost: ~1 ms per 1,000 characters (the regex: 0.04 ms), a few
seconds over a whole SQuAD build and well under a millisecond a passage at query time, where the
spans of a text are cached.

The rules are chosen by the text's language (py3langid, among the languages the rules cover;
English when unsure), so a Spanish document is split by Spanish rules. The result depends on the
text alone, so the index and the query side always agree on a chunk's sentences.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from collections.abc import Iterator

# recorded in the index manifest (a change rebuilds old indexes: their chunks' sentences could differ)
SEGMENTER = "choppa-srx 1.0 (LanguageTool segment.srx), per line, plain English without a language guess"
_RULE_LANGUAGES = frozenset(
    "el pl en nl ro sk is ru sl ca es de da eo fr uk be gl ja zh br pt it ta fa ga sr ar sv lt ml tl".split()
)
_MIN_CHARS_TO_DETECT = 60  # shorter texts are too short for a reliable language guess: English rules
_LINE = re.compile(r"[^\n]+")
# Plain English skips the language guess, half of segmentation's cost (0.51 of 1.04 ms a SQuAD paragraph):
# a text of ASCII letters only whose words are at least 8 % these function words, which no other
# language the rules cover writes. English prose has 11-35 % of them (SQuAD dev: 10th percentile 11.5 %),
# text in other languages ~0 %; on the 4,117 SQuAD and Amazon paragraphs the shortcut takes 3,805 and
# py3langid says English for every one of them.
_ENGLISH_WORDS = frozenset("the and that with for from which this were are have has their they been would".split())
_ASCII_WORD = re.compile(r"[a-z]+")
_NON_ASCII_LETTER = re.compile(r"[^\x00-\x7f\W\d_]")  # a letter outside ASCII (not “ ” — or €)
_PLAIN_ENGLISH_SHARE = 0.08
_PLAIN_ENGLISH_MIN_WORDS = 20
_lock = threading.Lock()  # choppa fills rule caches on first use of a language
# Inside `remembering()` every text's spans are kept, not only the last 8,192: an index build segments
# each document (chunking), then each chunk (its sentence vectors), then each chunk again (its BM25
# sentence terms), and at 10k chunks the LRU had evicted everything by the next pass: 28,735
# segmentations for 8,268 documents and 10,235 chunks, ~74 s of a 337 s profiled build (most chunks are
# a whole one-paragraph document, so their text is a document's text too).
_memo: dict[str, tuple[tuple[int, int], ...]] = {}
_memo_users = 0
_memo_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _document():
    import choppa

    return choppa.SrxDocument(ruleset=choppa.DEFAULT_SRX_RULESET)


@functools.lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(sorted(_RULE_LANGUAGES & set(identifier.nb_classes)))
    return identifier


def rules_language(text: str) -> str:
    """The language whose rules split ``text``: its detected language when the rules cover it."""
    if len(text) < _MIN_CHARS_TO_DETECT:
        return "en"
    sample = text[:2000]
    if _plainly_english(sample):
        return "en"
    language, probability = _identifier().classify(sample)
    return language if probability >= 0.5 and language in _RULE_LANGUAGES else "en"


def _plainly_english(sample: str) -> bool:
    if not sample.isascii() and _NON_ASCII_LETTER.search(sample):  # "Evalúa", "Straße": ask the identifier
        return False
    words = _ASCII_WORD.findall(sample.lower())
    if len(words) < _PLAIN_ENGLISH_MIN_WORDS:
        return False
    return sum(word in _ENGLISH_WORDS for word in words) >= _PLAIN_ENGLISH_SHARE * len(words)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text``, whitespace trimmed, empty ones dropped; a line
    break always ends a sentence."""
    if _memo_users:
        spans = _memo.get(text)
        if spans is None:
            spans = _memo.setdefault(text, _spans(text))
        return list(spans)
    return list(_spans(text))


@contextlib.contextmanager
def remembering() -> Iterator[None]:
    """Keep the spans of every text segmented inside the block (a whole index build), then forget
    them. The result is a function of the text alone, so remembering changes no result; blocks may
    nest or overlap across threads, and the memory goes when the last one ends."""
    global _memo_users
    with _memo_lock:
        _memo_users += 1
    try:
        yield
    finally:
        with _memo_lock:
            _memo_users -= 1
            if not _memo_users:
                _memo.clear()


@functools.lru_cache(maxsize=8192)
def _spans(text: str) -> tuple[tuple[int, int], ...]:
    import choppa

    rules = f"{rules_language(text)}_one"
    out: list[tuple[int, int]] = []
    with _lock:
        document = _document()
        for line in _LINE.finditer(text):
            at, base = 0, line.start()
            body = line.group()
            for sentence in choppa.SrxTextIterator(document, rules, body):
                piece = sentence.strip()
                if not piece:
                    continue
                start = body.find(piece, at)
                if start < 0:  # the rules never rewrite text; if they did, keep the rest as one unit
                    break
                at = start + len(piece)
                out.append((base + start, base + at))
            if at < len(body) and body[at:].strip():
                rest = body[at:]
                lead = len(rest) - len(rest.lstrip())
                out.append((base + at + lead, base + len(body.rstrip())))
    return tuple(out)
