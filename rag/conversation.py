"""Follow-up questions: when one leans on the conversation, whether a rewrite of it can be used, and
what to search for when it can't.

A follow-up ("Who said that?", "Which city did she mean?", "And what about Ortiz?", "In what year?") is
rewritten by the LLM into a standalone question from the last exchanges, the assistant's answers
included (rag.prompt).
A small model sometimes hands the question back unchanged or returns something else entirely; such a
rewrite is not used, and retrieval searches the question together with the last exchange instead
(the last question and its answer hold what "that" or "she" refers to). A question that only points
back ("Who said that?") with no conversation at all is not guessed at: the user is asked what it
refers to.
"""

from __future__ import annotations

import re

from rag.citations import strip_markers
from rag.support import content_terms

# Words that make a question lean on the conversation ("Who said that?", "What about her?").
REFERRING = re.compile(
    r"\b(he|she|it|they|him|her|them|his|hers|its|their|theirs|that|this|those|these|there|then|former|latter|"
    r"él|ella|ellos|ellas|eso|esto|esa|ese|aquel|aquella|aquello|lo|la|le|les|su|sus|allí|ahí)\b"
    r"|^\W*(and|what about|how about|y|¿y|qué hay de)\b",
    re.IGNORECASE,
)
# Words that carry no subject of their own in a follow-up: besides the stopwords, the verbs of asking.
_EMPTY_WORDS = frozenset(
    "mention mentioned mentions mean meant means talk talked talking refer referred refers tell told "
    "dijo dice mencionó menciona quién qué cuál dónde cuándo cómo".split()
)
MAX_REWRITE_CHARS = 400
# A follow-up can lean on the conversation without a pronoun: "In what year?", "And by mass?", "Who was
# the first one?". A question this short with no name or figure of its own says too little to be
# searched alone (seed and SQuAD conversation sets: each such turn was answered as if it were new).
ELLIPTICAL_MAX_WORDS = 5
_TOKEN = re.compile(r"[\w'’]+")
_REFERRED_NOUN = re.compile(r"\b(?:that|this|these|those|his|her|its|their|the same)\s+([\w'’]+)", re.IGNORECASE)


def user_turns(history: list[dict]) -> int:
    return sum(1 for m in history if m.get("role") == "user")


def is_elliptical(question: str) -> bool:
    """A fragment of a question ("In what year?", "Who was the first one?"): at most
    ``ELLIPTICAL_MAX_WORDS`` words, no figure, and no capitalised word but the first (no name)."""
    words = _TOKEN.findall(question)
    if not words or len(words) > ELLIPTICAL_MAX_WORDS or re.search(r"\d", question):
        return False
    return not _names_and_figures(question)[0]


def needs_rewrite(question: str, history: list[dict]) -> bool:
    """Does ``question`` lean on the conversation (and is there one)? It does when it refers back
    ("Who said that?") or is only a fragment of a question ("In what year?")."""
    return user_turns(history) > 0 and (bool(REFERRING.search(question)) or is_elliptical(question))


def subject_terms(question: str) -> set[str]:
    """The question's own content terms: what it is about, without the words of asking."""
    return {t for t in content_terms(question) if t not in _EMPTY_WORDS}


def only_points_back(question: str) -> bool:
    """A question with no subject of its own, only a reference: "Who said that?", "What about her?"."""
    return bool(REFERRING.search(question)) and not subject_terms(question)


def usable_rewrite(
    rewrite: str | None, question: str, follow_up: bool, history: list[dict] = (), english: bool = True
) -> bool:
    """Can ``rewrite`` stand for ``question``? Not when it is empty, far too long, the question handed
    back, or still only a reference, nor when it drops a name or figure of the question. The rewrite
    of a follow-up must also bring in something from the conversation (``history``: what its "she" or
    "that" stands for) and, for an ``english`` question, keep what the question itself asks about: the
    1.5B model sometimes hands back the *earlier* question ("And what about Ortiz?" -> "What position
    does Mariana Campos hold?"; "What about water?" -> the earlier question without water) or only
    translates the follow-up ("¿Y quién dio esa cifra?" -> "Who gave that number?")."""
    if not rewrite or len(rewrite) > max(MAX_REWRITE_CHARS, 3 * len(question)):
        return False
    if _words(rewrite) == _words(question) or only_points_back(rewrite) or not subject_terms(rewrite):
        return False
    # a translation may spell a name another way ("México" -> "Mexico", "Estados Unidos" -> "United
    # States"): names are compared for English questions only, figures always
    kept = {w.lower() for w in _TOKEN.findall(rewrite)}
    names, figures = _names_and_figures(question)
    if any(w.lower() not in kept for w in figures + (names if english else [])):
        return False
    if not follow_up:
        return True
    # what the question asks about, less the nouns of its references ("that city" becomes "Shenzhen")
    own = subject_terms(question) - content_terms(" ".join(_REFERRED_NOUN.findall(question)))
    new = subject_terms(rewrite) - subject_terms(question)
    if english and len(own - subject_terms(rewrite)) > len(own) // 3:  # up to a third paraphrased
        return False
    said = content_terms(" ".join(str(m.get("content", "")) for m in history))
    return bool(new & said) if history else bool(new)


def _names_and_figures(question: str) -> tuple[list[str], list[str]]:
    """The question's capitalised words past the first, and its figures: what a rewrite must keep."""
    words = _TOKEN.findall(question)
    return [w for w in words[1:] if w[0].isupper()], [w for w in words if w[0].isdigit()]


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def last_question(history: list[dict]) -> str:
    """The last thing the user asked in ``history`` ("" when nothing)."""
    return next((str(m.get("content", "")) for m in reversed(history) if m.get("role") == "user"), "")


def last_exchange_text(history: list[dict]) -> str:
    """The last user question and the assistant's answer to it, citation markers removed."""
    last_user = next((i for i in range(len(history) - 1, -1, -1) if history[i].get("role") == "user"), None)
    if last_user is None:
        return ""
    parts = [str(history[last_user].get("content", ""))]
    parts += [strip_markers(str(m.get("content", ""))) for m in history[last_user + 1 :] if m.get("role") != "user"]
    return " ".join(" ".join(parts).split())


def fallback_query(question: str, history: list[dict]) -> str:
    """What to search for when a follow-up could not be rewritten: the question and the last exchange."""
    context = last_exchange_text(history)
    return f"{question} {context}".strip() if context else question
