"""Which language a question is in, and the fixed messages we answer with in it."""

from __future__ import annotations

import re
import threading
from functools import lru_cache

LANGUAGES = ["en", "es", "fr", "de", "pt", "it", "nl"]
_SPANISH_MARKS = re.compile(r"[¿¡ñ]", re.I)
_lock = threading.Lock()

ABSTAIN = {
    "en": "The documents don't say. I couldn't find this in the indexed documents.",
    "es": "Los documentos no lo dicen. No encontré esta información en los documentos indexados.",
    "fr": "Les documents ne le disent pas. Je n'ai pas trouvé cette information dans les documents indexés.",
    "de": "Die Dokumente sagen dazu nichts. Ich habe diese Information in den indexierten Dokumenten nicht gefunden.",
    "pt": "Os documentos não dizem. Não encontrei esta informação nos documentos indexados.",
    "it": "I documenti non lo dicono. Non ho trovato questa informazione nei documenti indicizzati.",
    "nl": "De documenten zeggen het niet. Ik heb deze informatie niet gevonden in de geïndexeerde documenten.",
}
# Said to a question that only points back ("Who said that?") when there is no conversation to resolve it.
CLARIFY = {
    "en": "What does that refer to? There is no earlier answer in this conversation; ask again naming what you mean.",
    "es": "¿A qué se refiere? No hay una respuesta anterior en esta conversación; pregunte de nuevo nombrando lo "
    "que busca.",
    "fr": "À quoi cela se réfère-t-il ? Il n'y a pas de réponse précédente dans cette conversation ; reformulez en "
    "nommant ce que vous cherchez.",
    "de": "Worauf bezieht sich das? In diesem Gespräch gibt es keine frühere Antwort; fragen Sie bitte noch einmal "
    "und nennen Sie, was Sie meinen.",
    "pt": "A que se refere? Não há resposta anterior nesta conversa; pergunte novamente nomeando o que procura.",
    "it": "A cosa si riferisce? Non c'è una risposta precedente in questa conversazione; chieda di nuovo nominando "
    "ciò che cerca.",
    "nl": "Waar verwijst dat naar? Er is geen eerder antwoord in dit gesprek; vraag het opnieuw en noem wat u bedoelt.",
}
LANGUAGE_NAMES = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "pt": "Portuguese",
    "it": "Italian",
    "nl": "Dutch",
}


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(LANGUAGES)
    return ident


def load_identifier() -> None:
    """Load the language identifier now (a warm-up: it takes ~0.3 s, once per process)."""
    _identifier()


def detect_language(text: str) -> str:
    """ISO code of ``text``'s language among LANGUAGES; English when unsure (short or mixed text)."""
    words = re.findall(r"\w+", text)
    if _SPANISH_MARKS.search(text):
        return "es"
    if len(words) < 3:
        return "en"
    with _lock:
        lang, prob = _identifier().classify(text)
    return lang if prob >= 0.6 else "en"


def language_probabilities(text: str) -> dict[str, float]:
    """The identifier's probability for each of LANGUAGES, without detect_language's English default:
    for checking text known to be in one language. Very short text spreads over close languages
    ("Al menos US$16 por hora": pt 0.50, es 0.45, en 0.02)."""
    with _lock:
        return dict(_identifier().rank(text))


def abstain_message(language: str) -> str:
    return ABSTAIN.get(language, ABSTAIN["en"])


def clarify_message(language: str) -> str:
    return CLARIFY.get(language, CLARIFY["en"])


# Acronyms that other languages write their own way ("EE. UU.", "OTAN", "PIB"): not required verbatim.
_TRANSLATED_ACRONYMS = frozenset("USA NATO WHO OECD IMF GDP UAE".split())
_ACRONYM = re.compile(r"\b[A-Z][A-Z&]{2,}\b")
_FIGURE = re.compile(r"\d[\d,.]*")


def _figure_key(figure: str) -> str:
    """A figure as a translation may write it: "1.8" and "1,8", "16.00" and "16" are the same."""
    return re.sub(r"[,.]", "", figure).rstrip("0") or "0"


def lost_in_translation(english: str, translated: str) -> list[str]:
    """The acronyms ("UNAM", "USMCA") and figures of ``english`` that ``translated`` no longer holds:
    a translation that drops them has dropped facts (the seed set's "UNAM's Research Center on North
    America" came back as "Centro de Investigaciones de América del Norte")."""
    english, translated = (re.sub(r"\[\d+\]", "", t) for t in (english, translated))  # markers aren't facts
    have = {_figure_key(f) for f in _FIGURE.findall(translated)}
    lost = [a for a in _ACRONYM.findall(english) if a not in _TRANSLATED_ACRONYMS and a not in translated]
    lost += [f for f in _FIGURE.findall(english) if _figure_key(f) not in have]
    return list(dict.fromkeys(lost))


def without_possessives(text: str, names: list[str]) -> str:
    """``text`` with "NAME's thing" written "the thing of NAME" for each of ``names``: the local model
    drops a possessive acronym when it translates ("UNAM's Research Center on North America" came back
    without UNAM, also when told to keep it; "the Research Center on North America of UNAM" did not)."""
    for name in names:
        text = re.sub(rf"\b{re.escape(name)}['’]s\s+([^,.;:\[\]]+?)(?=\s*[,.;:\[]|$)", rf"the \1 of {name}", text)
    return text
