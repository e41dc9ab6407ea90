"""The PostgreSQL + pgvector store: the same index as the folder store, as tables of one schema.

Chosen with a URL (``rag index --store postgresql://user:pass@host/db``; ``?schema=NAME`` picks the
schema, default ``rag``). Tables (``SCHEMA_VERSION`` 1)::

    meta       one row: schema version, version (bumped by every write), manifest (jsonb),
               chunk count and total BM25 terms (for BM25's N and average length)
    documents  id (sha256 of the text), source, title, metadata (jsonb: file stamp, chunk count)
    chunks     key (bigserial), id, doc_id -> documents (ON DELETE CASCADE), ordinal, char offsets,
               text, embedding vector(dim) with an HNSW index (vector_cosine_ops), second_embedding
               vector(384) (the second embedder's, HNSW too); vectors stored in the row (STORAGE PLAIN)
    sentences  per chunk, the late-chunking data: sentence vectors (float16) and each sentence's BM25
               term ids (int32), as bytea (kept out of ``chunks`` so its rows stay narrow)
    terms      BM25 vocabulary: id, term, document frequency
    postings   (term id, chunk key) -> term frequency, chunk length: an inverted index

Lexical search is the same BM25 as the folder store (bm25s's "lucene" variant, k1 1.5, b 0.75, the
same analysis from index/terms.py), computed in SQL over ``postings``; tests check the scores are
bm25s's. Postgres's own full-text ranking (ts_rank) is not BM25 and scored lower in the features
fusion the retriever was fitted with.

Every write is one transaction (readers keep seeing the previous version until it commits, and a
failed ingest rolls back); one writer at a time holds an advisory lock. A retrieval reads in one
REPEATABLE READ transaction, so its several queries see one version.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time

import numpy as np

from index.config import hide_password, split_url
from index.records import Chunk
from index.second_embedder import E5Embedder
from index.store_api import (
    Candidates,
    IndexBusy,
    IndexCorrupt,
    IndexMissing,
    ManifestNames,
    StoreUnavailable,
    chunk_marks,
)
from index.terms import analyse_chunks

SCHEMA_VERSION = 1
HNSW_EF_SEARCH = 100  # candidates an HNSW search keeps (pgvector's default is 40)
BM25_K1, BM25_B = 1.5, 0.75  # bm25s's defaults, as the folder store uses
SECOND_DIMENSION = E5Embedder.dimension
_LOCK_POLL = 0.2


class PostgresStore:
    def __init__(self, url: str):
        self.url = url
        self.conninfo, self.schema = split_url(url)
        self.location = hide_password(url)
        self._pool = None
        self._pool_lock = threading.Lock()
        s = f'"{self.schema}"'
        self.t = {name: f"{s}.{name}" for name in ("meta", "documents", "chunks", "sentences", "terms", "postings")}

    # -- connections ----------------------------------------------------------------------

    def connect(self, autocommit: bool = True):
        """A new connection with pgvector's types registered (when the extension exists)."""
        import psycopg

        try:
            conn = psycopg.connect(self.conninfo, autocommit=autocommit, connect_timeout=10)
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot connect to PostgreSQL at {self.location}: {_first_line(exc)}") from None
        _register_vector(conn)
        return conn

    @contextlib.contextmanager
    def connection(self):
        """A pooled connection (autocommit), for reads."""
        import psycopg

        with self._pool_lock:
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                self.connect().close()  # a clear error now rather than the pool's retries
                self._pool = ConnectionPool(
                    self.conninfo,
                    min_size=1,
                    max_size=8,
                    open=True,
                    kwargs={"autocommit": True},
                    name=f"rag-{self.schema}",
                )
        try:
            with self._pool.connection(timeout=30) as conn:
                if not getattr(conn, "_rag_vector", False):  # pooled before the extension existed
                    conn._rag_vector = _register_vector(conn)
                yield conn
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"PostgreSQL at {self.location}: {_first_line(exc)}") from None

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    # -- reading --------------------------------------------------------------------------

    def _meta(self, conn) -> tuple | None:
        import psycopg

        try:
            return conn.execute(
                f"SELECT schema_version, version, manifest, chunks, total_terms FROM {self.t['meta']}"
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return None
        except psycopg.errors.InvalidSchemaName:
            return None

    def _checked_meta(self, conn) -> tuple:
        meta = self._meta(conn)
        if meta is None:
            raise IndexMissing(
                f"no index in schema {self.schema!r} at {self.location}; build one with `rag index --store URL PATH...`"
            )
        if meta[0] != SCHEMA_VERSION:
            raise IndexCorrupt(
                f"the index in schema {self.schema!r} has schema version {meta[0]}, this version "
                f"reads {SCHEMA_VERSION}; rebuild with `rag index --rebuild --store URL`"
            )
        return meta

    def exists(self) -> bool:
        with self.connection() as conn:
            return self._meta(conn) is not None

    def version(self) -> str | None:
        with self.connection() as conn:
            meta = self._meta(conn)
        return None if meta is None else f"{self.location}|{self.schema}:{meta[1]}"

    def read_manifest(self) -> dict | None:
        """The manifest, with the documents and counts (as the folder store's manifest.json has them)."""
        with self.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            if self._meta(conn) is None:
                return None
            meta = self._checked_meta(conn)
            documents = self._documents(conn)
        return {**meta[2], "documents": documents, "counts": {"documents": len(documents), "chunks": int(meta[3])}}

    def _documents(self, conn) -> dict[str, dict]:
        return {
            doc_id: {**extra, "id": doc_id, "source": source, "title": title}
            for doc_id, source, title, extra in conn.execute(
                f"SELECT id, source, title, meta FROM {self.t['documents']}"
            )
        }

    def load(self) -> PostgresView:
        with self.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            meta = self._checked_meta(conn)
            documents = self._documents(conn)
        return PostgresView(self, meta[1], meta[2], documents, int(meta[3]))

    # -- writing --------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, timeout: float = 0):
        """One writer at a time: a session advisory lock named after the schema."""
        conn = self.connect()
        try:
            deadline = time.monotonic() + timeout
            while not conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (f"rag:{self.schema}",)).fetchone()[0]:
                if time.monotonic() >= deadline:
                    raise IndexBusy(
                        f"another `rag index` is updating schema {self.schema!r} at {self.location}; "
                        "try again when it finishes"
                    )
                time.sleep(_LOCK_POLL)
            yield
        finally:
            conn.close()  # ends the session, and with it the lock

    @contextlib.contextmanager
    def writer(
        self,
        base: PostgresView | None,
        *,
        embedder: dict,
        chunker: dict,
        second_embedder: dict | None,
        ann_threshold: int = 0,
    ):
        """One transaction: the block's deletes and adds, then the new manifest; committed together."""
        import psycopg

        conn = self.connect(autocommit=False)
        try:
            writer = _PostgresWriter(
                self,
                conn,
                int(embedder["dimension"]),
                int(second_embedder["dimension"]) if second_embedder else None,
                fresh=base is None,
            )
            yield writer
            writer.finish(embedder, chunker, second_embedder)
            conn.commit()
            self._vacuum(conn)
        except psycopg.Error as exc:
            conn.rollback()
            raise StoreUnavailable(
                f"writing to PostgreSQL at {self.location} failed, nothing was changed: {_first_line(exc)}"
            ) from None
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()

    def _vacuum(self, conn) -> None:
        """After a write: mark the new rows all-visible, so BM25 reads postings from their index alone
        (best effort: autovacuum would get there too)."""
        import psycopg

        try:
            conn.autocommit = True
            conn.execute(f"VACUUM {self.t['postings']}, {self.t['chunks']}, {self.t['sentences']}")
        except psycopg.Error:
            pass

    def create_schema(self, conn, dim: int, second_dim: int | None) -> None:
        t = self.t
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except Exception as exc:
            raise StoreUnavailable(
                f"PostgreSQL at {self.location} lacks the pgvector extension and it could "
                f"not be created ({_first_line(exc)}); install pgvector or ask an admin to "
                "run CREATE EXTENSION vector"
            ) from None
        _register_vector(conn)
        for name in ("postings", "terms", "sentences", "chunks", "documents", "meta"):
            conn.execute(f"DROP TABLE IF EXISTS {t[name]} CASCADE")
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        conn.execute(f"""CREATE TABLE {t["meta"]} (
            id int PRIMARY KEY DEFAULT 1 CHECK (id = 1), schema_version int NOT NULL, version bigint NOT NULL,
            manifest jsonb NOT NULL, chunks bigint NOT NULL, total_terms bigint NOT NULL)""")
        conn.execute(f"""CREATE TABLE {t["documents"]} (
            id text PRIMARY KEY, source text NOT NULL, title text NOT NULL, meta jsonb NOT NULL)""")
        conn.execute(f"""CREATE TABLE {t["chunks"]} (
            key bigserial PRIMARY KEY, id text NOT NULL UNIQUE,
            doc_id text NOT NULL REFERENCES {t["documents"]} (id) ON DELETE CASCADE,
            ordinal int NOT NULL, char_start int NOT NULL, char_end int NOT NULL, text text NOT NULL,
            embedding vector({dim}) NOT NULL, second_embedding vector({second_dim or SECOND_DIMENSION}),
            n_terms int NOT NULL)""")
        # vectors stay in the row (not TOAST-ed out of it): an exact scan then reads them without lookups
        conn.execute(
            f"ALTER TABLE {t['chunks']} ALTER COLUMN embedding SET STORAGE PLAIN, "
            "ALTER COLUMN second_embedding SET STORAGE PLAIN"
        )
        # the late-chunking data (several KB a chunk) in its own table keeps chunk rows narrow
        conn.execute(f"""CREATE TABLE {t["sentences"]} (
            chunk_key bigint PRIMARY KEY REFERENCES {t["chunks"]} (key) ON DELETE CASCADE,
            vectors bytea NOT NULL, terms bytea NOT NULL, term_rows bytea NOT NULL)""")
        conn.execute(f"CREATE INDEX ON {t['chunks']} (doc_id, ordinal)")
        conn.execute(f"CREATE INDEX ON {t['chunks']} USING hnsw (embedding vector_cosine_ops)")
        conn.execute(f"CREATE INDEX ON {t['chunks']} USING hnsw (second_embedding vector_cosine_ops)")
        conn.execute(f"CREATE TABLE {t['terms']} (id serial PRIMARY KEY, term text NOT NULL UNIQUE, df int NOT NULL)")
        conn.execute(f"""CREATE TABLE {t["postings"]} (
            term_id int NOT NULL, chunk_key bigint NOT NULL REFERENCES {t["chunks"]} (key) ON DELETE CASCADE,
            tf int NOT NULL, dl int NOT NULL, PRIMARY KEY (term_id, chunk_key) INCLUDE (tf, dl))""")
        conn.execute(f"CREATE INDEX ON {t['postings']} (chunk_key)")
        # versions of new tables start at the clock (ms), so they never repeat those of the tables replaced
        conn.execute(
            f"INSERT INTO {t['meta']} (schema_version, version, manifest, chunks, total_terms) "
            "VALUES (%s, (extract(epoch FROM clock_timestamp()) * 1000)::bigint, '{}', 0, 0)",
            (SCHEMA_VERSION,),
        )


class _PostgresWriter:
    """The ``IndexWriter`` of a Postgres store: statements on one open transaction."""

    def __init__(self, store: PostgresStore, conn, dim: int, second_dim: int | None, fresh: bool):
        self.store, self.conn, self.t = store, conn, store.t
        meta = store._meta(conn)
        if meta is None:
            conn.rollback()  # the failed probe aborted the transaction
        table_dim = table_second_dim = None
        if meta is not None and meta[0] == SCHEMA_VERSION:
            table_dim, table_second_dim = (self._dimension_of(column) for column in ("embedding", "second_embedding"))
        if table_dim != dim:
            if not fresh:
                raise IndexCorrupt(
                    f"the index in schema {store.schema!r} holds {table_dim}-dimension vectors, "
                    f"not {dim}; rebuild with `rag index --rebuild`"
                )
            store.create_schema(conn, dim, second_dim)  # first build, older schema, or another embedder
        elif second_dim is not None and second_dim != table_second_dim:  # another second embedder
            conn.execute(f"ALTER TABLE {self.t['chunks']} DROP COLUMN second_embedding")
            conn.execute(f"ALTER TABLE {self.t['chunks']} ADD COLUMN second_embedding vector({second_dim})")
            conn.execute(f"ALTER TABLE {self.t['chunks']} ALTER COLUMN second_embedding SET STORAGE PLAIN")
            conn.execute(f"CREATE INDEX ON {self.t['chunks']} USING hnsw (second_embedding vector_cosine_ops)")
        elif fresh:
            conn.execute(f"DELETE FROM {self.t['documents']}")  # cascades to chunks and postings
            conn.execute(f"DELETE FROM {self.t['terms']}")
            conn.execute(f"UPDATE {self.t['meta']} SET chunks = 0, total_terms = 0")
        # the version this transaction builds on, locked against a concurrent writer outside `rag index`
        self.version = conn.execute(f"SELECT version FROM {self.t['meta']} FOR UPDATE").fetchone()[0]

    def _dimension_of(self, column: str) -> int | None:
        row = self.conn.execute(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s AND NOT attisdropped",
            (self.t["chunks"], column),
        ).fetchone()
        return row[0] if row else None

    def delete_documents(self, doc_ids: list[str]) -> None:
        if not doc_ids:
            return
        t = self.t
        self.conn.execute(
            f"""UPDATE {t["terms"]} AS t SET df = t.df - x.n
            FROM (SELECT p.term_id, count(*) AS n FROM {t["postings"]} p JOIN {t["chunks"]} c ON c.key = p.chunk_key
                  WHERE c.doc_id = ANY(%s) GROUP BY p.term_id) AS x WHERE t.id = x.term_id""",
            (doc_ids,),
        )
        self.conn.execute(
            f"""UPDATE {t["meta"]} SET chunks = chunks - x.n, total_terms = total_terms - x.terms
            FROM (SELECT count(*) AS n, coalesce(sum(n_terms), 0) AS terms FROM {t["chunks"]}
                  WHERE doc_id = ANY(%s)) AS x""",
            (doc_ids,),
        )
        self.conn.execute(f"DELETE FROM {t['documents']} WHERE id = ANY(%s)", (doc_ids,))

    def update_documents(self, documents: dict[str, dict]) -> None:
        rows = [(json.dumps(_extra(meta)), doc_id) for doc_id, meta in documents.items()]
        if rows:
            with self.conn.cursor() as cur:
                cur.executemany(f"UPDATE {self.t['documents']} SET meta = %s::jsonb WHERE id = %s", rows)

    def add_documents(
        self,
        documents: dict[str, dict],
        chunks: list[Chunk],
        vectors: np.ndarray,
        sentence_vectors: list[np.ndarray],
        second_vectors: np.ndarray | None = None,
    ) -> None:
        if not len(chunks) == len(vectors) == len(sentence_vectors) or (
            second_vectors is not None and len(second_vectors) != len(chunks)
        ):
            raise ValueError("chunks, vectors and sentence vectors differ in length")
        t, conn = self.t, self.conn
        with conn.cursor() as cur:
            cur.executemany(
                f"""INSERT INTO {t["documents"]} (id, source, title, meta) VALUES (%s, %s, %s, %s::jsonb)
                ON CONFLICT (id) DO UPDATE
                SET source = excluded.source, title = excluded.title, meta = excluded.meta""",
                [(doc_id, m["source"], m.get("title", ""), json.dumps(_extra(m))) for doc_id, m in documents.items()],
            )
        if not chunks:
            return
        chunk_terms, per_sentence = analyse_chunks([c.text for c in chunks])
        vocabulary = self._term_ids(sorted({term for terms in chunk_terms for term in terms}))
        keys = [
            k
            for (k,) in conn.execute(
                f"SELECT nextval(pg_get_serial_sequence('{t['chunks']}', 'key')) FROM generate_series(1, %s)",
                (len(chunks),),
            )
        ]
        postings: list[str] = []
        df: dict[int, int] = {}
        sentence_rows = []
        with conn.cursor().copy(f"""COPY {t["chunks"]} (key, id, doc_id, ordinal, char_start, char_end, text,
                embedding, second_embedding, n_terms) FROM STDIN WITH (FORMAT BINARY)""") as copy:
            copy.set_types(["int8", "text", "text", "int4", "int4", "int4", "text", "vector", "vector", "int4"])
            for i, chunk in enumerate(chunks):
                ids = [[vocabulary[term] for term in terms] for terms in per_sentence[i]]
                flat = np.array([x for sentence in ids for x in sentence], dtype=np.int32)
                rows = np.cumsum([0, *map(len, ids)], dtype=np.int32)
                sentences = np.asarray(sentence_vectors[i], dtype=np.float16)
                if len(sentences) != len(ids):
                    raise ValueError(f"chunk {chunk.id}: {len(sentences)} sentence vectors for {len(ids)} sentences")
                copy.write_row(
                    [
                        keys[i],
                        chunk.id,
                        chunk.doc_id,
                        chunk.ordinal,
                        chunk.char_start,
                        chunk.char_end,
                        chunk.text,
                        np.asarray(vectors[i], dtype=np.float32),
                        None if second_vectors is None else np.asarray(second_vectors[i], dtype=np.float32),
                        len(flat),
                    ]
                )
                sentence_rows.append([keys[i], sentences.tobytes(), flat.tobytes(), rows.tobytes()])
                counts: dict[int, int] = {}
                for x in flat.tolist():
                    counts[x] = counts.get(x, 0) + 1
                dl = len(flat)
                postings.extend(f"{term}\t{keys[i]}\t{tf}\t{dl}\n" for term, tf in counts.items())
                for term in counts:
                    df[term] = df.get(term, 0) + 1
        with conn.cursor().copy(
            f"COPY {t['sentences']} (chunk_key, vectors, terms, term_rows) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "bytea", "bytea", "bytea"])
            for row in sentence_rows:
                copy.write_row(row)
        with conn.cursor().copy(f"COPY {t['postings']} (term_id, chunk_key, tf, dl) FROM STDIN") as copy:
            for start in range(0, len(postings), 50_000):
                copy.write("".join(postings[start : start + 50_000]))
        conn.execute(
            f"""UPDATE {t["terms"]} AS t SET df = t.df + x.n
            FROM unnest(%s::int[], %s::int[]) AS x(id, n) WHERE t.id = x.id""",
            (list(df), list(df.values())),
        )
        conn.execute(
            f"UPDATE {t['meta']} SET chunks = chunks + %s, total_terms = total_terms + %s",
            (len(chunks), int(sum(map(len, chunk_terms)))),
        )

    def _term_ids(self, terms: list[str]) -> dict[str, int]:
        t = self.t
        self.conn.execute(
            f"INSERT INTO {t['terms']} (term, df) SELECT unnest(%s::text[]), 0 ON CONFLICT (term) DO NOTHING", (terms,)
        )
        return dict(self.conn.execute(f"SELECT term, id FROM {t['terms']} WHERE term = ANY(%s)", (terms,)).fetchall())

    def set_second_vectors(self, chunk_ids: list[str], vectors: np.ndarray) -> None:
        if not chunk_ids:
            return
        conn = self.conn
        conn.execute("CREATE TEMP TABLE second_in (id text, v vector) ON COMMIT DROP")
        with conn.cursor().copy("COPY second_in (id, v) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["text", "vector"])
            for chunk_id, vector in zip(chunk_ids, vectors):
                copy.write_row([chunk_id, np.asarray(vector, dtype=np.float32)])
        conn.execute(f"UPDATE {self.t['chunks']} AS c SET second_embedding = s.v FROM second_in s WHERE c.id = s.id")

    def finish(self, embedder: dict, chunker: dict, second_embedder: dict | None) -> None:
        t, conn = self.t, self.conn
        if second_embedder is None:
            conn.execute(f"UPDATE {t['chunks']} SET second_embedding = NULL WHERE second_embedding IS NOT NULL")
        else:
            missing = conn.execute(f"SELECT count(*) FROM {t['chunks']} WHERE second_embedding IS NULL").fetchone()[0]
            if missing:
                raise ValueError(f"{missing} chunk(s) lack a {second_embedder['name']} vector")
        conn.execute(f"DELETE FROM {t['terms']} WHERE df <= 0")
        documents, chunks = conn.execute(
            f"SELECT (SELECT count(*) FROM {t['documents']}), chunks FROM {t['meta']}"
        ).fetchone()
        manifest = {
            "format": "postgres",
            "schema_version": SCHEMA_VERSION,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "embedder": embedder,
            "second_embedder": second_embedder,
            "chunker": chunker,
            "index_type": "hnsw",
            "counts": {"documents": documents, "chunks": chunks},
        }
        conn.execute(f"UPDATE {t['meta']} SET version = version + 1, manifest = %s::jsonb", (json.dumps(manifest),))
        # fresh planner statistics, committed with the data: without them a bulk-loaded postings table is
        # scanned whole for every BM25 query instead of read through its index
        conn.execute(f"ANALYZE {t['documents']}, {t['chunks']}, {t['sentences']}, {t['terms']}, {t['postings']}")


class PostgresView(ManifestNames):
    """A Postgres index as loaded: documents and the manifest are read at load; chunks, vectors and
    postings stay in the database and are queried live. Unlike a folder snapshot it does not pin a
    version: each ``reading()`` block (one retrieval) sees the newest committed version, whole. The
    engine compares ``store.version()`` before each question and loads a new view when it changed."""

    def __init__(self, store: PostgresStore, version: int, manifest: dict, documents: dict[str, dict], chunks: int):
        self.store, self.t = store, store.t
        self._version = version
        self.manifest = manifest
        self.documents = documents
        self._chunks = chunks
        self._local = threading.local()
        self._newer_documents: dict[str, dict] = {}  # metadata of documents added after this view was loaded

    @property
    def version(self) -> str:
        return f"{self.store.location}|{self.store.schema}:{self._version}"  # unique across databases

    @property
    def outdated(self) -> bool:
        return False

    @contextlib.contextmanager
    def reading(self):
        """Run the block's queries in one REPEATABLE READ transaction (one version throughout)."""
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        with self.store.connection() as conn, conn.transaction():
            conn.execute(
                "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; "
                f"SET LOCAL hnsw.ef_search = {HNSW_EF_SEARCH}"
            )
            # chunk count and BM25 length total of this version, read once for the block's queries
            self._local.counts = conn.execute(f"SELECT chunks, total_terms FROM {self.t['meta']}").fetchone()
            self._local.conn = conn
            try:
                yield
            finally:
                self._local.conn = None

    @contextlib.contextmanager
    def _conn(self):
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            yield conn
        else:
            with self.reading():
                yield self._local.conn

    def chunk_count(self) -> int:
        """Chunks of the version being read (inside ``reading()``), else of the version loaded."""
        return int(self._local.counts[0]) if getattr(self._local, "conn", None) is not None else self._chunks

    def _bm25_stats(self) -> tuple[int, float]:
        n, total = self._local.counts  # only called inside reading()
        return int(n), (float(total) / n if n else 1.0)

    def search_dense(self, query_vector: np.ndarray, k: int, doc_ids=None) -> list[tuple[int, float]]:
        return self._nearest("embedding", query_vector, k, doc_ids)

    def search_second(self, query_vector: np.ndarray, k: int, doc_ids=None) -> list[tuple[int, float]]:
        if self.second_embedder_name is None:
            return []
        return self._nearest("second_embedding", query_vector, k, doc_ids)

    def _nearest(self, column: str, query_vector, k: int, doc_ids=None) -> list[tuple[int, float]]:
        """HNSW search; with ``doc_ids`` an exact scan of those documents' chunks (found through the
        doc_id index; MATERIALIZED keeps the planner from an HNSW scan whose filter could leave fewer
        than ``k`` rows, or none)."""
        if k <= 0:
            return []
        vector = np.asarray(query_vector, dtype=np.float32)
        t = self.t["chunks"]
        with self._conn() as conn:
            if doc_ids is None:
                rows = conn.execute(
                    f"SELECT key, {column} <=> %s AS distance FROM {t} ORDER BY distance LIMIT %s",
                    (vector, int(k)),
                    binary=True,
                )
            else:
                rows = conn.execute(
                    f"""WITH scope AS MATERIALIZED (
                        SELECT key, {column} <=> %s AS distance FROM {t} WHERE doc_id = ANY(%s))
                    SELECT key, distance FROM scope WHERE distance IS NOT NULL ORDER BY distance, key LIMIT %s""",
                    (vector, sorted(doc_ids), int(k)),
                    binary=True,
                )
            return [(int(key), 1.0 - float(distance)) for key, distance in rows]

    # float8 throughout (a bare 0.5 would make it numeric, several times slower)
    _BM25 = """WITH q AS (SELECT t.id, ln(1 + (%(n)s::float8 - t.df + 0.5::float8) / (t.df + 0.5::float8)) AS idf
                         FROM unnest(%(terms)s::text[]) AS u(term) JOIN {terms} t ON t.term = u.term)
               SELECT p.chunk_key, sum(q.idf * p.tf / (p.tf + %(k1)s::float8 * (1 - %(b)s::float8
                                                       + %(b)s::float8 * p.dl / %(avgdl)s::float8))) AS score
               FROM q JOIN {postings} p ON p.term_id = q.id {where}
               GROUP BY p.chunk_key"""

    def _bm25(self, query: str, where: str, extra: dict, tail: str = "") -> list[tuple[int, float]]:
        from index.terms import bm25_query_tokens

        terms = bm25_query_tokens(query)
        if not terms:
            return []
        with self._conn() as conn:
            n, avgdl = self._bm25_stats()
            sql = self._BM25.format(terms=self.t["terms"], postings=self.t["postings"], where=where) + tail
            rows = conn.execute(sql, {"n": n, "terms": terms, "k1": BM25_K1, "b": BM25_B, "avgdl": avgdl, **extra})
            return [(int(key), float(score)) for key, score in rows]

    def search_lexical(self, query: str, k: int, doc_ids=None) -> list[tuple[int, float]]:
        if k <= 0:
            return []
        where, extra = "", {"k": int(k)}
        if doc_ids is not None:  # the documents' postings only (BM25's statistics stay the corpus's)
            where = f"JOIN {self.t['chunks']} c ON c.key = p.chunk_key WHERE c.doc_id = ANY(%(docs)s)"
            extra["docs"] = sorted(doc_ids)
        found = self._bm25(query, where, extra, " ORDER BY score DESC, p.chunk_key LIMIT %(k)s")
        return [(key, score) for key, score in found if score > 0]

    def lexical_scores(self, query: str, keys: list[int]) -> np.ndarray:
        found = dict(self._bm25(query, "WHERE p.chunk_key = ANY(%(keys)s)", {"keys": list(map(int, keys))}))
        return np.array([found.get(int(k), 0.0) for k in keys], dtype=np.float64)

    def candidates(self, keys: list[int]) -> Candidates:
        keys = [int(k) for k in keys]
        dim = int(self.manifest["embedder"]["dimension"])
        if not keys:
            return Candidates(
                [],
                [],
                [],
                [],
                np.zeros((0, dim), np.float32),
                np.zeros((0, dim), np.float16),
                np.zeros(1, np.int64),
                np.zeros(0, np.int32),
                np.zeros(1, np.int64),
            )
        with self._conn() as conn:
            rows = conn.execute(
                f"""SELECT c.key, c.id, c.doc_id, c.ordinal, c.char_start, c.char_end, c.text,
                    d.title, d.source, c.embedding, c.second_embedding, s.vectors, s.terms, s.term_rows
                FROM unnest(%s::int8[]) AS k(key) JOIN {self.t["chunks"]} c ON c.key = k.key
                JOIN {self.t["sentences"]} s ON s.chunk_key = k.key JOIN {self.t["documents"]} d ON d.id = c.doc_id
                """,
                (keys,),
                binary=True,
            ).fetchall()
        by_key = {row[0]: row for row in rows}
        missing = [k for k in keys if k not in by_key]
        if missing:
            raise IndexCorrupt(f"chunks {missing[:5]} vanished from {self.store.location} during a read")
        ordered = [by_key[k] for k in keys]
        sentence_blocks = [np.frombuffer(r[11], dtype=np.float16).reshape(-1, dim) for r in ordered]
        term_blocks = [np.frombuffer(r[12], dtype=np.int32) for r in ordered]
        local_rows = [np.frombuffer(r[13], dtype=np.int32).astype(np.int64) for r in ordered]
        counts = [len(b) for b in sentence_blocks]
        term_offsets = np.cumsum([0, *map(len, term_blocks)])
        sentence_term_rows = np.concatenate(
            [rows[:-1] + offset for rows, offset in zip(local_rows, term_offsets)] + [np.array([term_offsets[-1]])]
        ).astype(np.int64)
        second = None
        if self.second_embedder_name is not None and all(r[10] is not None for r in ordered):
            second = np.array([_array(r[10]) for r in ordered]).reshape(len(ordered), -1)
        chunks = [Chunk(id=r[1], doc_id=r[2], ordinal=r[3], char_start=r[4], char_end=r[5], text=r[6]) for r in ordered]
        return Candidates(
            keys=keys,
            chunks=chunks,
            titles=[r[7] for r in ordered],
            sources=[r[8] for r in ordered],
            vectors=np.array([_array(r[9]) for r in ordered], dtype=np.float32).reshape(len(ordered), dim),
            sentence_vectors=np.concatenate(sentence_blocks) if sentence_blocks else np.zeros((0, dim), np.float16),
            sentence_rows=np.cumsum([0, *counts]).astype(np.int64),
            sentence_term_ids=np.concatenate(term_blocks) if term_blocks else np.zeros(0, np.int32),
            sentence_term_rows=sentence_term_rows,
            second_vectors=second,
            marks=[chunk_marks(self._document_meta(c.doc_id), c) for c in chunks],
        )

    def _document_meta(self, doc_id: str) -> dict:
        """A document's metadata (its location marks): from the view's load, or read once for a document
        a newer version added (a document id is a hash of its text, so its marks never change)."""
        meta = self.documents.get(doc_id) or self._newer_documents.get(doc_id)
        if meta is None:
            with self._conn() as conn:
                row = conn.execute(f"SELECT meta FROM {self.t['documents']} WHERE id = %s", (doc_id,)).fetchone()
            meta = self._newer_documents.setdefault(doc_id, row[0] if row else {})
        return meta

    def term_ids(self, terms: list[str]) -> np.ndarray:
        with self._conn() as conn:
            found = dict(
                conn.execute(f"SELECT term, id FROM {self.t['terms']} WHERE term = ANY(%s)", (list(terms),)).fetchall()
            )
        return np.array([found.get(term, -1) for term in terms], dtype=np.int64)

    def document_frequencies(self, ids: np.ndarray) -> np.ndarray:
        wanted = [int(i) for i in ids if i >= 0]
        with self._conn() as conn:
            found = dict(conn.execute(f"SELECT id, df FROM {self.t['terms']} WHERE id = ANY(%s)", (wanted,)).fetchall())
        return np.array([found.get(int(i), 0) for i in ids], dtype=np.float64)

    def chunks_of(self, doc_ids: list[str]) -> list[Chunk]:
        with self._conn() as conn:
            rows = conn.execute(
                f"""SELECT c.id, c.doc_id, c.ordinal, c.char_start, c.char_end, c.text
                FROM {self.t["chunks"]} c JOIN {self.t["documents"]} d ON d.id = c.doc_id
                WHERE c.doc_id = ANY(%s) ORDER BY d.source, c.ordinal""",
                (list(doc_ids),),
            ).fetchall()
        return [Chunk(*row) for row in rows]

    def stats(self) -> dict:
        return {
            "documents": len(self.documents),
            "chunks": self._chunks,
            "embedder": self.embedder_name,
            "second_embedder": self.second_embedder_name,
            "dimension": self.manifest["embedder"]["dimension"],
            "index_type": self.manifest.get("index_type", "hnsw"),
            "built_at": self.manifest.get("built_at", ""),
            "path": self.store.location,
        }


def _array(vector) -> np.ndarray:
    """A pgvector value as float32 numpy (binary results come as ``Vector`` objects)."""
    return np.asarray(vector.to_numpy() if hasattr(vector, "to_numpy") else vector, dtype=np.float32)


def _extra(meta: dict) -> dict:
    """What the documents table keeps beside id, source and title."""
    return {k: v for k, v in meta.items() if k not in ("id", "source", "title")}


def _register_vector(conn) -> bool:
    """Teach ``conn`` pgvector's types; False when the extension does not exist yet (the first build creates it)."""
    from pgvector.psycopg import register_vector

    try:
        register_vector(conn)
        return True
    except Exception:
        if not conn.autocommit:
            conn.rollback()
        return False


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
