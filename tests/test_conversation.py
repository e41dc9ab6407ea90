"""Follow-up handling (rag.conversation): pure logic, no models."""

from __future__ import annotations

from rag.conversation import (
    fallback_query,
    is_elliptical,
    last_exchange_text,
    needs_rewrite,
    only_points_back,
    usable_rewrite,
)

HISTORY = [
    {"role": "user", "content": "How much must auto workers earn per hour?"},
    {"role": "assistant", "content": "At least US$16 per hour [3]."},
]


def test_a_follow_up_needs_a_conversation_and_a_reference():
    assert needs_rewrite("Who said that?", HISTORY)
    assert needs_rewrite("And what about Ortiz?", HISTORY)
    assert not needs_rewrite("Who said that?", [])
    assert not needs_rewrite("How large is the job deficit by 2033?", HISTORY)


def test_a_fragment_of_a_question_is_a_follow_up_too():
    # no pronoun, but too little to be searched alone: completed from the conversation
    for fragment in ("In what year?", "And by mass?", "Who was the first one?", "Why?", "¿En qué año?"):
        assert is_elliptical(fragment) and needs_rewrite(fragment, HISTORY), fragment
    assert not needs_rewrite("In what year?", [])
    # a name or a figure of its own, or more words, make a question that stands alone
    for whole in (
        "Who is Guillermo Malpica?",
        "What is USMCA?",
        "What happened in 2019?",
        "What does the rule say about wages?",
    ):
        assert not is_elliptical(whole), whole


def test_only_a_reference_is_told_from_a_question_with_a_subject():
    assert only_points_back("Who said that?") and only_points_back("What about her?")
    assert only_points_back("¿Quién lo dijo?")
    assert not only_points_back("Who said the world is no longer unipolar?")
    assert not only_points_back("What is its population?")  # it has a subject of its own


def test_a_rewrite_is_used_only_when_it_resolves_the_follow_up():
    assert usable_rewrite("Who said auto workers must earn at least US$16 per hour?", "Who said that?", True)
    assert not usable_rewrite("Who said that?", "Who said that?", True)  # handed back
    assert not usable_rewrite("who said that", "Who said that?", True)
    assert not usable_rewrite("Who said it?", "Who said that?", True)  # still only a reference
    assert not usable_rewrite("", "Who said that?", True) and not usable_rewrite(None, "Who said that?", True)
    assert not usable_rewrite("x " * 500, "Who said that?", True)  # far too long
    # a translation (no conversation) needs only a subject
    assert usable_rewrite("Where does Estefanía Cruz work?", "¿Dónde trabaja Estefanía Cruz?", False)


def test_a_rewrite_that_hands_back_the_earlier_question_or_only_translates_is_not_used():
    campos = [
        {"role": "user", "content": "What position does Mariana Campos hold?"},
        {"role": "assistant", "content": "Director General, Mexico Evalúa [2]."},
    ]
    # the earlier question handed back: the follow-up's own name (and subject) dropped
    assert not usable_rewrite("What position does Mariana Campos hold?", "And what about Ortiz?", True, campos)
    assert usable_rewrite("What position does Verónica Ortiz hold?", "And what about Ortiz?", True, campos)
    assert not usable_rewrite("What position does Mariana Campos hold?", "And what about water?", True, campos)
    # only translated: nothing from the conversation brought in
    migrants = [
        {"role": "user", "content": "What share of Mexican migrants in the US have a regular status?"},
        {"role": "assistant", "content": "70% [1]."},
    ]
    assert not usable_rewrite("Who gave that number?", "¿Y quién dio esa cifra?", True, migrants, english=False)
    assert usable_rewrite(
        "Who said 70% of Mexican migrants in the US have a regular status?",
        "¿Y quién dio esa cifra?",
        True,
        migrants,
        english=False,
    )
    # a translation may respell a name: only an English question's names are compared
    assert usable_rewrite(
        "Which sector is a key opportunity for Mexico according to Mariana Campos?",
        "¿Qué sector es una oportunidad clave para México según Mariana Campos?",
        False,
        english=False,
    )
    # a figure of the question must survive too
    assert not usable_rewrite("What happened to wages?", "What happened to wages in 2019?", False)


def test_without_a_usable_rewrite_the_last_exchange_is_searched_with_the_question():
    assert last_exchange_text(HISTORY) == "How much must auto workers earn per hour? At least US$16 per hour."
    assert fallback_query("Who said that?", HISTORY).startswith("Who said that? How much must auto workers")
    assert fallback_query("Who said that?", []) == "Who said that?"
