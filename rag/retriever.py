"""Hybrid retrieval: dense (FAISS) + lexical (BM25), fused, then re-scored; returned as ``Passage``s.

Stage 1 gathers the best ``candidates`` chunks of each retriever. Stage 2 orders them with
one of (``RetrievalSettings.fusion``):

* ``rrf``: weighted reciprocal rank fusion, sum_i w_i / (k + rank_i);
* ``convex``: weighted sum of min-max normalised dense and BM25 scores;
* ``features`` (default): a weighted sum of seven per-candidate signals, each min-max
  normalised over the candidates: dense cosine, BM25, three lexical signals computed on
  the candidate's text (the idf-weighted share of query terms found in its best sentence
  or pair of sentences, the share of query term bigrams it contains, the idf-weighted
  share of query terms it contains at all), and two sentence-level dense signals from the
  index's late-chunking sentence vectors (the best sentence's cosine, and the best
  sentence's mix of cosine and idf coverage). Questions are usually written about one
  sentence, which whole-chunk scores blur. When the index holds vectors of the second
  embedder (multilingual-e5-small, index/second_embedder.py), its best chunks join the
  candidates and its cosine is an eighth signal, with its own fitted weights. The weights were
  fitted (pairwise, 2-fold by article) on SQuAD v1.1 dev and checked out-of-fold; see
  bench/tune_fusion.py and bench/RESULTS.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from index.errors import ConfigError
from index.locations import location_of
from index.second_embedder import E5Embedder, SecondEmbedderUnavailable
from index.sentences import sentence_spans
from index.store_api import Candidates, IndexView, concat_ranges
from index.terms import bm25_query_tokens, bm25_tokens_of
from rag.records import Passage, ScoredSentence

log = logging.getLogger(__name__)

MODES = ("hybrid", "dense", "bm25")
FEATURES = (
    "dense",
    "bm25",
    "best-sentence coverage",
    "bigrams",
    "coverage",
    "best-sentence cosine",
    "best-sentence mix",
)
SECOND_FEATURE = "second-embedder cosine"
SENTENCE_MIX = 0.7  # share of the late cosine (vs idf coverage) in the "best-sentence mix" signal
FUSIONS = ("features", "rrf", "convex")


@dataclass(frozen=True)
class RetrievalSettings:
    candidates: int = 30
    fusion: str = "features"
    rrf_k: int = 60
    dense_weight: float = 1.0
    bm25_weight: float = 1.0
    # weights of the "features" fusion, in FEATURES order (fitted by bench/tune_fusion.py)
    feature_weights: tuple[float, ...] = field(default=(1.0, 0.0, 1.98, 1.97, 4.18, 4.81, 13.94))
    # use the second embedder's vectors when the index has them (False: the seven signals only)
    second_signal: bool = True
    # the same plus SECOND_FEATURE, used when the index has second-embedder vectors. Beside e5 and
    # the sentence signals, MiniLM's chunk cosine and BM25 fit negative: collinear, they correct
    # the others (dropping them costs 0.001 nDCG@10 out of fold)
    second_feature_weights: tuple[float, ...] = field(default=(-1.0, -0.71, 0.75, 0.51, 1.19, 1.01, 3.14, 3.12))


class HybridRetriever:
    """Retrieval over any store view (index/store_api.py): the folder store's loaded snapshot or a
    PostgreSQL store. Everything a query needs about its candidates is read in one ``candidates`` call."""

    def __init__(self, snapshot: IndexView, embedder, settings: RetrievalSettings | None = None, second_embedder=None):
        self.snapshot = snapshot
        self.embedder = embedder
        self.settings = settings or RetrievalSettings()
        if self.settings.fusion not in FUSIONS:
            raise ConfigError(f"fusion must be one of {', '.join(FUSIONS)}, not {self.settings.fusion!r}")
        if second_embedder is None and snapshot.second_embedder_name is not None:
            try:
                second_embedder = E5Embedder(snapshot.second_embedder_name)
            except SecondEmbedderUnavailable as exc:
                log.warning(
                    "index has %s vectors, but: %s; retrieving without them", snapshot.second_embedder_name, exc
                )
        self.second_embedder = second_embedder

    def uses_second_signal(self, mode: str = "hybrid") -> bool:
        return (
            mode == "hybrid"
            and self.settings.fusion == "features"
            and self.settings.second_signal
            and self.second_embedder is not None
            and self.snapshot.second_embedder_name is not None
        )

    def encode_second_query(self, query: str) -> np.ndarray | None:
        """The query's second-embedder vector, or None when that signal is off or cannot load."""
        try:
            return self.second_embedder.encode_query(query) if self.uses_second_signal() else None
        except SecondEmbedderUnavailable as exc:
            log.warning("retrieving without the second embedder: %s", exc)
            self.second_embedder = None
            return None

    def retrieve(
        self,
        query: str,
        top_k: int = 5,
        mode: str = "hybrid",
        query_vector: np.ndarray | None = None,
        second_query_vector: np.ndarray | None = None,
    ) -> list[Passage]:
        if mode not in MODES:
            raise ConfigError(f"retrieval mode must be one of {', '.join(MODES)}, not {mode!r}")
        view = self.snapshot
        if query_vector is None and mode != "bm25":
            query_vector = self.embedder.encode_query(query)
        if mode == "hybrid" and self.settings.fusion == "features" and second_query_vector is None:
            second_query_vector = self.encode_second_query(query)
        with view.reading():  # one version for every read below, even while a build commits
            if not view.chunk_count():
                return []
            n = max(self.settings.candidates, top_k)
            dense = view.search_dense(query_vector, n) if query_vector is not None else []
            lexical = view.search_lexical(query, n) if mode != "dense" else []
            candidates = None
            if mode == "dense":
                ranked = dense
            elif mode == "bm25":
                ranked = lexical
            elif self.settings.fusion == "features":
                ranked, candidates = self._feature_rank(query, query_vector, dense, lexical, second_query_vector)
            else:
                ranked = fuse(dense, lexical, self.settings)
            ranked = ranked[:top_k]
            if candidates is None:  # the features fusion has read every ranked row already
                candidates = view.candidates([row for row, _ in ranked])
        at = {key: i for i, key in enumerate(candidates.keys)}
        dense_scores, bm25_scores = dict(dense), dict(lexical)
        sentences = self._scored_sentences(candidates, [at[row] for row, _ in ranked], query, query_vector)
        passages = []
        for rank, (row, score) in enumerate(ranked, start=1):
            i = at[row]
            dense_score = dense_scores.get(row)
            if dense_score is None and query_vector is not None:
                dense_score = float(candidates.vectors[i] @ query_vector)
            chunk = candidates.chunks[i]
            passages.append(
                Passage(
                    chunk=chunk,
                    title=candidates.titles[i],
                    source=candidates.sources[i],
                    rank=rank,
                    fused_score=float(score),
                    dense_score=dense_score,
                    bm25_score=bm25_scores.get(row),
                    location=location_of(candidates.location_marks(i), chunk.char_start, chunk.char_end),
                    marks=candidates.location_marks(i),
                    sentences=sentences[rank - 1],
                )
            )
        return passages

    # -- the "features" fusion -------------------------------------------------------

    def candidate_features(
        self, query: str, query_vector, dense, lexical, second_query_vector=None
    ) -> tuple[Candidates | None, np.ndarray]:
        """The candidates (dense, then BM25, then second-embedder order) and their seven signals (eight
        with ``second_query_vector``), min-max normalised over them."""
        view = self.snapshot
        second = None
        if second_query_vector is not None and view.second_embedder_name is not None and self.settings.second_signal:
            second = view.search_second(second_query_vector, max(len(dense), len(lexical), self.settings.candidates))
        rows = list(dict.fromkeys([r for r, _ in dense] + [r for r, _ in lexical] + [r for r, _ in second or []]))
        if not rows:
            return None, np.zeros((0, len(FEATURES) + (second is not None)))
        candidates = view.candidates(rows)
        cosine = candidates.vectors @ query_vector  # exact, also for BM25-only candidates
        bm25 = view.lexical_scores(query, rows) if lexical else np.zeros(len(rows))
        query_terms = list(dict.fromkeys(bm25_query_tokens(query)))
        text_features = self._text_features(candidates, query_terms, query_vector)
        columns = [cosine, bm25, text_features]
        if second is not None:
            columns.append(candidates.second_vectors @ np.asarray(second_query_vector, dtype=np.float32))
        features = np.column_stack(columns)
        low, high = features.min(axis=0), features.max(axis=0)
        return candidates, (features - low) / np.where(high > low, high - low, 1.0)

    def _feature_rank(
        self, query: str, query_vector, dense, lexical, second_query_vector=None
    ) -> tuple[list[tuple[int, float]], Candidates | None]:
        candidates, normalised = self.candidate_features(query, query_vector, dense, lexical, second_query_vector)
        if candidates is None:
            return [], None
        weights = (
            self.settings.second_feature_weights
            if normalised.shape[1] > len(FEATURES)
            else self.settings.feature_weights
        )
        scores = normalised @ np.asarray(weights, dtype=np.float64)
        rows = candidates.keys
        order = np.lexsort((np.asarray(rows), -scores))
        return [(rows[i], float(scores[i])) for i in order], candidates

    def _sentence_signals(self, candidates: Candidates, query_terms: list[str], query_vector) -> _SentenceSignals:
        """Every candidate sentence's cosine to the query (its late-chunking vector) and which query terms
        it holds, read off the index's stored sentence data for all candidates at once."""
        view, c = self.snapshot, candidates
        sentences, owner = concat_ranges(c.sentence_rows[:-1], c.sentence_rows[1:])  # every sentence, and whose it is
        cosines = np.asarray(c.sentence_vectors[sentences], dtype=np.float32) @ np.asarray(query_vector, np.float32)
        if not query_terms:
            empty = np.zeros((len(sentences), 0), dtype=bool)
            return _SentenceSignals(owner, cosines, empty, np.zeros(0), empty_tokens(), empty_tokens(), empty_tokens())
        ids = view.term_ids(query_terms)
        df = view.document_frequencies(ids)
        n_docs = view.chunk_count()
        idf = np.log(1 + (n_docs - df + 0.5) / (df + 0.5))
        positions, token_sentence = concat_ranges(c.sentence_term_rows[sentences], c.sentence_term_rows[sentences + 1])
        tokens = np.asarray(c.sentence_term_ids[positions], dtype=np.int64)
        query_index = _index_in(tokens, ids)  # which query term each token is, -1 for none
        hit = query_index >= 0
        found = np.zeros((len(sentences), len(query_terms)), dtype=bool)
        found[token_sentence[hit], query_index[hit]] = True
        return _SentenceSignals(owner, cosines, found, idf, query_index, hit, owner[token_sentence])

    def _text_features(self, candidates: Candidates, query_terms: list[str], query_vector) -> np.ndarray:
        """Per candidate: best-sentence idf coverage (a sentence, or 0.9 x two neighbours), query-bigram
        share, whole-text idf coverage, best sentence cosine, best sentence (1 - SENTENCE_MIX)·coverage +
        SENTENCE_MIX·cosine. Read off the index's analysed sentences, all candidates at once."""
        n = len(candidates.keys)
        out = np.zeros((n, 5))
        sig = self._sentence_signals(candidates, query_terms, query_vector)
        owner, cosines = sig.owner, sig.cosines
        out[:, 3] = _group_max(cosines, owner, n)
        if not query_terms:
            out[:, 4] = SENTENCE_MIX * out[:, 3]
            return out
        found, idf, total = sig.found, sig.idf, sig.idf.sum() or 1.0
        coverage = sig.coverage()
        best = _group_max(coverage, owner, n)
        same_chunk = owner[1:] == owner[:-1]  # neighbouring sentences of one candidate
        pairs = 0.9 * ((found[1:] | found[:-1])[same_chunk] @ idf) / total
        out[:, 0] = np.maximum(np.maximum(best, _group_max(pairs, owner[1:][same_chunk], n)), 0.0)
        query_index, hit, token_owner = sig.query_index, sig.hit, sig.token_owner
        in_chunk = np.zeros((n, len(query_terms)), dtype=bool)
        in_chunk[token_owner[hit], query_index[hit]] = True
        out[:, 2] = in_chunk @ idf / total
        if len(query_terms) > 1:  # query bigram i is (term i, term i + 1): a token pair (i, i + 1) in one chunk
            follows = (query_index[1:] == query_index[:-1] + 1) & hit[:-1] & (token_owner[1:] == token_owner[:-1])
            pairs_found = np.unique(np.stack([token_owner[:-1][follows], query_index[:-1][follows]]), axis=1)
            out[:, 1] = np.bincount(pairs_found[0], minlength=n) / (len(query_terms) - 1)
        mix = (1 - SENTENCE_MIX) * coverage + SENTENCE_MIX * cosines
        out[:, 4] = _group_max(mix, owner, n)
        return out

    def _scored_sentences(
        self, candidates: Candidates, indices: list[int], query: str, query_vector
    ) -> list[tuple[ScoredSentence, ...]]:
        """For the candidates at ``indices``: each sentence's span in the chunk text (index.sentences, the
        segmentation the index was built with) with its cosine to the query and its idf coverage of the
        query's terms. A chunk whose stored sentences don't match today's segmentation (an index built
        before the segmenter changed; the next `rag index` rebuilds it) gets lexical scores only."""
        if not indices:
            return []
        rows = np.asarray(indices, dtype=np.int64)
        sub = candidates.subset(rows)
        query_terms = list(dict.fromkeys(bm25_query_tokens(query)))
        sig = self._sentence_signals(sub, query_terms, query_vector) if query_vector is not None else None
        coverage = sig.coverage() if sig is not None and query_terms else None
        out = []
        for i, chunk in enumerate(sub.chunks):
            spans = sentence_spans(chunk.text)
            first, last = int(sub.sentence_rows[i]), int(sub.sentence_rows[i + 1])
            if sig is not None and last - first == len(spans):
                cos = sig.cosines[first:last]
                cov = coverage[first:last] if coverage is not None else np.zeros(len(spans))
            else:
                cos = np.zeros(len(spans))
                cov = _plain_coverage([chunk.text[a:b] for a, b in spans], query_terms)
            out.append(tuple(ScoredSentence(a, b, float(x), float(y)) for (a, b), x, y in zip(spans, cos, cov)))
        return out


@dataclass(frozen=True)
class _SentenceSignals:
    """What the candidates' sentences hold of the query, sentence by sentence (see _sentence_signals)."""

    owner: np.ndarray  # candidate of each sentence
    cosines: np.ndarray  # late-chunking cosine of each sentence to the query
    found: np.ndarray  # (sentences, query terms): the sentence holds the term
    idf: np.ndarray  # per query term
    query_index: np.ndarray  # per stored token of the sentences: which query term it is, -1 for none
    hit: np.ndarray  # query_index >= 0
    token_owner: np.ndarray  # candidate of each token

    def coverage(self) -> np.ndarray:
        """idf-weighted share of the query's terms in each sentence."""
        return self.found @ self.idf / (self.idf.sum() or 1.0)


def empty_tokens() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def _plain_coverage(texts: list[str], query_terms: list[str]) -> np.ndarray:
    """Unweighted share of the query's terms in each text (when the index has no usable sentence data)."""
    if not query_terms:
        return np.zeros(len(texts))
    wanted = set(query_terms)
    return np.array([len(wanted & set(terms)) / len(wanted) for terms in bm25_tokens_of(texts)])


def _group_max(values: np.ndarray, groups: np.ndarray, n: int) -> np.ndarray:
    """Largest value of each group 0..n-1; 0 for a group with none."""
    out = np.full(n, -np.inf)
    np.maximum.at(out, groups, values)
    return np.where(np.isinf(out), 0.0, out)


def _index_in(tokens: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """For each token, the position of its id in ``ids`` (distinct; -1 entries never match), else -1."""
    order = np.argsort(ids, kind="stable")
    ordered = ids[order]
    at = np.clip(np.searchsorted(ordered, tokens), 0, max(len(ordered) - 1, 0))
    match = (ordered[at] == tokens) & (tokens >= 0) if len(ordered) else np.zeros(len(tokens), bool)
    return np.where(match, order[at] if len(ordered) else -1, -1)


def fuse(
    dense: list[tuple[int, float]], lexical: list[tuple[int, float]], settings: RetrievalSettings
) -> list[tuple[int, float]]:
    """Rank fusion (``rrf``) or score fusion (``convex``) of two ranked (row, score) lists."""
    scores: dict[int, float] = {}
    weighted = ((dense, settings.dense_weight), (lexical, settings.bm25_weight))
    if settings.fusion == "rrf":
        for ranked, weight in weighted:
            for rank, (row, _) in enumerate(ranked, start=1):
                scores[row] = scores.get(row, 0.0) + weight / (settings.rrf_k + rank)
    else:
        for ranked, weight in weighted:
            if not ranked:
                continue
            values = np.array([s for _, s in ranked], dtype=np.float64)
            low, high = values.min(), values.max()
            normalised = (values - low) / (high - low) if high > low else np.ones_like(values)
            for (row, _), value in zip(ranked, normalised):
                scores[row] = scores.get(row, 0.0) + weight * float(value)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))
