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


def abstain_message(language: str) -> str:
    return ABSTAIN.get(language, ABSTAIN["en"])
