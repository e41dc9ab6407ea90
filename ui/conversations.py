"""Saved conversations and answer feedback: one SQLite database, ``<data dir>/chat.sqlite3``.

WAL mode (readers never wait for the writer; a crash or kill -9 mid-write loses at most the
transaction being written), foreign keys on, one short transaction per change. Every read and
write names its owner — ``user:NAME`` with accounts, ``browser:KEY`` without (a random key the
browser keeps) — in the SQL itself, so an id belonging to someone else finds nothing: ids are
random too, but unguessable ids are not what keeps conversations apart.

A turn keeps the question, the verified answer (``Answer.to_dict()``: text, citations, the numbered
passages, timings...), the settings it was asked with and its status (answered, stopped, error).
Feedback copies what it is about (question, the conversation's earlier questions, answer, citations,
index version), so it stays usable as evaluation data even after its conversation is deleted.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from index.errors import UserError
from index.records import Chunk
from rag.records import Answer, Citation, Passage

SCHEMA_VERSION = 1
TITLE_CHARS = 80
COMMENT_CHARS = 2000
RATINGS = ("up", "down")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    title TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_by_owner ON conversations (owner, updated DESC);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    question TEXT NOT NULL,
    status TEXT NOT NULL,            -- answered | stopped | error
    answer TEXT,                     -- Answer.to_dict() as JSON (answered)
    partial TEXT NOT NULL DEFAULT '',-- what had streamed (stopped), or the error message (error)
    settings TEXT NOT NULL,          -- JSON: generator, top_k, documents
    created REAL NOT NULL,
    UNIQUE (conversation_id, position)
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    turn_id INTEGER UNIQUE REFERENCES turns (id) ON DELETE SET NULL,
    owner TEXT NOT NULL,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    comment TEXT NOT NULL DEFAULT '',
    question TEXT NOT NULL,
    earlier_questions TEXT NOT NULL, -- JSON list: the conversation's questions before this one
    answer TEXT NOT NULL,            -- JSON: the answer as rated (text, abstained, citations, ...)
    settings TEXT NOT NULL,
    index_version TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
"""


class ConversationError(UserError):
    """A request about saved conversations or feedback that cannot be done (the message says why)."""


class NotFound(ConversationError):
    """No such conversation or turn for this owner (also what someone else's id gives)."""


@dataclass(frozen=True)
class ConversationInfo:
    id: str
    title: str
    created: float
    updated: float
    turns: int


@dataclass
class Turn:
    position: int
    question: str
    status: str
    answer: dict | None
    partial: str
    settings: dict
    created: float
    rating: str | None = None
    comment: str = ""


@dataclass
class Conversation:
    info: ConversationInfo
    turns: list[Turn] = field(default_factory=list)

    def history(self) -> list[dict]:
        """The conversation as the engine reads it: answered turns only, plain text."""
        messages = []
        for turn in self.turns:
            if turn.status == "answered" and turn.answer:
                messages += [
                    {"role": "user", "content": turn.question},
                    {"role": "assistant", "content": turn.answer.get("text", "")},
                ]
        return messages


def title_from(question: str) -> str:
    text = " ".join((question or "").split())
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1].rstrip() + "…"


def clean_title(title: str) -> str:
    text = "".join(ch if ch.isprintable() else " " for ch in (title or ""))
    text = " ".join(text.split())
    if not text:
        raise ConversationError("a conversation title cannot be empty")
    return text[:TITLE_CHARS]


class ConversationStore:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _connect(self, write: bool = False) -> _Connection:
        """A connection per operation: cheap for SQLite, and safe across the server's threads.
        ``write``: one IMMEDIATE transaction (the write lock taken at once), committed or rolled back."""
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
        return _Connection(db, write)

    # -- conversations ------------------------------------------------------------------

    def create(self, owner: str, first_question: str) -> str:
        cid = secrets.token_urlsafe(16)
        now = time.time()
        with self._connect() as db:
            db.execute(
                "INSERT INTO conversations (id, owner, title, created, updated) VALUES (?, ?, ?, ?, ?)",
                (cid, owner, title_from(first_question) or "New conversation", now, now),
            )
        return cid

    def list(self, owner: str) -> list[ConversationInfo]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT c.id, c.title, c.created, c.updated, COUNT(t.id) AS turns FROM conversations c "
                "LEFT JOIN turns t ON t.conversation_id = c.id WHERE c.owner = ? "
                "GROUP BY c.id ORDER BY c.updated DESC, c.created DESC",
                (owner,),
            ).fetchall()
        return [ConversationInfo(r["id"], r["title"], r["created"], r["updated"], r["turns"]) for r in rows]

    def get(self, owner: str, cid: str) -> Conversation:
        with self._connect() as db:
            db.execute("BEGIN")  # one snapshot for the conversation and its turns
            info = self._info(db, owner, cid)
            rows = db.execute(
                "SELECT t.*, f.rating, f.comment FROM turns t LEFT JOIN feedback f ON f.turn_id = t.id "
                "WHERE t.conversation_id = ? ORDER BY t.position",
                (cid,),
            ).fetchall()
            db.execute("COMMIT")
        turns = [
            Turn(
                r["position"],
                r["question"],
                r["status"],
                json.loads(r["answer"]) if r["answer"] else None,
                r["partial"],
                json.loads(r["settings"]),
                r["created"],
                r["rating"],
                r["comment"] or "",
            )
            for r in rows
        ]
        return Conversation(info, turns)

    def _info(self, db, owner: str, cid: str) -> ConversationInfo:
        row = db.execute(
            "SELECT c.id, c.title, c.created, c.updated, "
            "(SELECT COUNT(*) FROM turns t WHERE t.conversation_id = c.id) AS turns "
            "FROM conversations c WHERE c.id = ? AND c.owner = ?",
            (cid or "", owner),
        ).fetchone()
        if row is None:
            raise NotFound("no such conversation (it may have been deleted)")
        return ConversationInfo(row["id"], row["title"], row["created"], row["updated"], row["turns"])

    def rename(self, owner: str, cid: str, title: str) -> str:
        title = clean_title(title)
        with self._connect() as db:
            done = db.execute(
                "UPDATE conversations SET title = ? WHERE id = ? AND owner = ?", (title, cid or "", owner)
            ).rowcount
        if not done:
            raise NotFound("no such conversation (it may have been deleted)")
        return title

    def delete(self, owner: str, cid: str) -> None:
        with self._connect() as db:
            done = db.execute("DELETE FROM conversations WHERE id = ? AND owner = ?", (cid or "", owner)).rowcount
        if not done:
            raise NotFound("no such conversation (it may have been deleted)")

    # -- turns --------------------------------------------------------------------------

    def add_turn(
        self,
        owner: str,
        cid: str,
        question: str,
        status: str,
        settings: dict,
        answer: Answer | None = None,
        partial: str = "",
    ) -> int:
        """Append a turn; returns its position (0-based)."""
        payload = json.dumps(answer.to_dict(), ensure_ascii=False) if answer is not None else None
        now = time.time()
        with self._connect(write=True) as db:
            self._info(db, owner, cid)
            position = db.execute(
                "SELECT COALESCE(MAX(position) + 1, 0) FROM turns WHERE conversation_id = ?", (cid,)
            ).fetchone()[0]
            db.execute(
                "INSERT INTO turns (conversation_id, position, question, status, answer, partial, settings, "
                "created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (cid, position, question, status, payload, partial, json.dumps(settings), now),
            )
            db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, cid))
        return position

    # -- feedback -----------------------------------------------------------------------

    def set_feedback(
        self, owner: str, cid: str, position: int, rating: str, comment: str | None, index_version: str
    ) -> None:
        """Rate an answered turn (a second vote replaces the first; ``comment=None`` keeps the old one)."""
        if rating not in RATINGS:
            raise ConversationError(f"rating must be one of {', '.join(RATINGS)}")
        now = time.time()
        with self._connect(write=True) as db:
            self._info(db, owner, cid)
            row = db.execute(
                "SELECT * FROM turns WHERE conversation_id = ? AND position = ?", (cid, int(position))
            ).fetchone()
            if row is None:
                raise NotFound("no such answer in this conversation")
            if row["status"] != "answered":
                raise ConversationError("only a complete answer can be rated")
            earlier = [
                r[0]
                for r in db.execute(
                    "SELECT question FROM turns WHERE conversation_id = ? AND position < ? ORDER BY position",
                    (cid, int(position)),
                )
            ]
            old = db.execute("SELECT comment FROM feedback WHERE turn_id = ?", (row["id"],)).fetchone()
            text = (comment if comment is not None else (old["comment"] if old else "")).strip()[:COMMENT_CHARS]
            db.execute(
                "INSERT INTO feedback (turn_id, owner, rating, comment, question, earlier_questions, answer, "
                "settings, index_version, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (turn_id) DO UPDATE SET rating = excluded.rating, comment = excluded.comment, "
                "index_version = excluded.index_version, updated = excluded.updated",
                (
                    row["id"],
                    owner,
                    rating,
                    text,
                    row["question"],
                    json.dumps(earlier, ensure_ascii=False),
                    row["answer"],
                    row["settings"],
                    str(index_version),
                    now,
                    now,
                ),
            )

    def all_feedback(self) -> list[dict]:
        """Every feedback row, oldest first (for ``rag feedback export``; not per owner)."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM feedback ORDER BY created, id").fetchall()
        return [
            {
                "id": r["id"],
                "owner": r["owner"],
                "rating": r["rating"],
                "comment": r["comment"],
                "question": r["question"],
                "earlier_questions": json.loads(r["earlier_questions"]),
                "answer": json.loads(r["answer"]),
                "settings": json.loads(r["settings"]),
                "index_version": r["index_version"],
                "created": r["created"],
            }
            for r in rows
        ]


class _Connection:
    """``with store._connect() as db``: the connection, closed afterwards (sqlite3's own context
    manager only ends a transaction); with ``write``, inside one transaction."""

    def __init__(self, db: sqlite3.Connection, write: bool):
        self.db, self.write = db, write

    def __enter__(self) -> sqlite3.Connection:
        if self.write:
            self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind, *exc) -> None:
        try:
            if self.write:
                self.db.execute("ROLLBACK" if kind else "COMMIT")
        finally:
            self.db.close()


def database_path(data_dir: Path | str) -> Path:
    return Path(data_dir) / "chat.sqlite3"


# -- answers back from their saved form ------------------------------------------------------


def _build(cls, data: dict, **extra):
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in {**data, **extra}.items() if k in names})


def passage_from_dict(data: dict) -> Passage:
    chunk_id = data.get("chunk_id", "")
    ordinal = chunk_id.rsplit(":", 1)[-1]
    chunk = Chunk(
        id=chunk_id,
        doc_id=data.get("doc_id", ""),
        ordinal=int(ordinal) if ordinal.isdigit() else 0,
        char_start=int(data.get("char_start", 0)),
        char_end=int(data.get("char_end", 0)),
        text=data.get("text", ""),
    )
    return _build(Passage, {k: v for k, v in data.items() if k not in ("text", "doc_id")}, chunk=chunk)


def answer_from_dict(data: dict) -> Answer:
    """An ``Answer`` rebuilt from ``Answer.to_dict()`` (to render a saved turn exactly as it was shown)."""
    passages = [passage_from_dict(p) for p in data.get("passages", [])]
    retrieved = [passage_from_dict(p) for p in data.get("retrieved", [])]
    by_chunk = {p.chunk.id: p for p in passages + retrieved}
    citations = []
    for c in data.get("citations", []):
        n = int(c.get("number", 0))
        passage = by_chunk.get(c.get("chunk_id")) or (passages[n - 1] if 0 < n <= len(passages) else None)
        if passage is not None:
            where = str(c.get("location") or "")
            if where and where != passage.location:  # its own location ("page 2"); the marks are not saved
                passage = dataclasses.replace(passage, marks=((int(c.get("span_start", 0)), where),))
            citations.append(
                _build(Citation, {k: v for k, v in c.items() if k not in ("title", "source")}, passage=passage)
            )
    return _build(Answer, data, citations=citations, passages=passages, retrieved=retrieved)
