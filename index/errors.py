"""Errors the user can fix: one small hierarchy for every layer.

``UserError`` means "the user can fix this" (a missing index, a bad option, an unreadable file, an
unavailable model, a busy index, an unreachable database...). The CLI prints one as a single
``error:`` line and the chat shows it in the conversation; every other exception is a programming
error and keeps its traceback. Each area has a subclass here; the concrete errors are defined, and
raised, in their own modules::

    UserError
    ├── ConfigError      a bad setting: a Config field, a RAG_* variable, an option
    ├── DocumentError    a document that cannot be indexed: LoaderError, NothingToIndex, UploadRejected;
    │                    or that a question names but the index does not hold: UnknownDocument
    ├── StoreError       the index store: IndexMissing, IndexCorrupt, IndexBusy, StoreUnavailable
    ├── ModelError       a model that is missing or cannot run: EmbedderUnavailable (and
    │                    SecondEmbedderUnavailable), TokenizerUnavailable, GeneratorUnavailable,
    │                    ModelUnavailable, ModelIntegrityError
    ├── EmptyQuestion    (rag/engine.py)
    └── EvalSetError     an evaluation set that cannot be read (eval/errors.py)

This module is at the bottom of the layers (index imports nothing above it), so every layer can
raise and catch these.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix; ``str(error)`` is one line that names what was wrong."""


class ConfigError(UserError):
    """A setting is not valid: a ``Config`` field, its ``RAG_*`` variable, or a command-line option."""


class DocumentError(UserError):
    """A document (or a set of them) cannot be indexed; the message names the file and says why."""


class StoreError(UserError):
    """The index store cannot serve the request: no index, a damaged one, another writer, no database."""


class ModelError(UserError):
    """A model (embedder, tokenizer, LLM) is not installed, is damaged, or cannot be reached."""
