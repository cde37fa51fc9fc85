"""The vector index: who, among the enrolled templates, is closest to a face.

One :class:`VectorIndex` holds the templates of one model (unit-norm float32 vectors, compared by inner product
= cosine). It is a cache of SQL (DESIGN.md, "Source of truth"): :mod:`service.index.sync` fills it and keeps it
level. Searches answer *people*, not templates: each person scores by their best template, so someone enrolled
with fifty photos does not fill the top-k alone and hide the runner-up that the margin rule compares against.

Thread safety: one re-entrant lock guards every read and change, so a search never sees a half-applied change.
Searches are therefore serialised too (a few ms each; exact search at 10^5 templates is the slowest, ~10 ms).
The slow operations (building an HNSW graph, training IVF) run outside the lock on a snapshot, while searches go on
against the previous structure (or exactly against the store); the changes made meanwhile are replayed on the new
structure before it is swapped in.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import faiss
import numpy as np

from service.domain.matching import TemplateMatch
from service.index.graphfile import graph_path, read_graph_file, write_graph_file
from service.index.means import PersonMeans
from service.index.storage import IndexSnapshot, read_index_file, write_index_file
from service.index.structures import HnswStructure, IvfStructure, Searched, VectorStore, exact_search
from service.index.types import IndexConfig, IndexFileError, IndexKind, IndexStamp, PersonHit

__all__ = ["IndexConfig", "IndexFileError", "IndexKind", "IndexStamp", "PersonHit", "VectorIndex"]

logger = logging.getLogger(__name__)

UNIT_NORM_TOLERANCE = 1e-3
# Templates fetched per person wanted, before widening: most people hold a handful of templates.
_FIRST_FETCH_PER_PERSON = 4
_WIDEN = 4

Structure = HnswStructure | IvfStructure


class VectorIndex:
    """Template id → (person id, unit vector), searched for the top-k people. See the module docstring."""

    def __init__(self, dim: int, config: IndexConfig | None = None) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self._dim = dim
        self._config = config or IndexConfig()
        self._lock = threading.RLock()
        self._store = VectorStore(dim)
        self._means = PersonMeans(dim)  # each person's mean template, built on the first search by mean
        self._ann: Structure | None = None  # None: exact search on the store
        self._rebuilding = False
        self._touched: set[int] | None = None  # template ids changed while a structure is built off-lock

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def config(self) -> IndexConfig:
        return self._config

    def __len__(self) -> int:
        with self._lock:
            return len(self._store)

    def template_ids(self) -> frozenset[int]:
        with self._lock:
            return self._store.ids()

    def people_count(self) -> int:
        """How many people hold at least one template (the comparisons of a search by mean template)."""
        with self._lock:
            return self._store.people_count()

    def person_of(self, template_id: int) -> int | None:
        """The person holding ``template_id``; ``None`` when it is not in the index."""
        with self._lock:
            return self._store.person_of(template_id)

    def structure(self) -> str:
        """What answers searches now: ``exact``, ``hnsw`` or ``ivf`` (an untrained IVF index searches exactly)."""
        with self._lock:
            ann = self._ann
            return "exact" if ann is None else ("hnsw" if isinstance(ann, HnswStructure) else "ivf")

    def set_search_params(self, *, hnsw_ef_search: int | None = None, ivf_nprobe: int | None = None) -> None:
        """Change the search-time knobs without a rebuild: recall against latency, tuned on a live index."""
        with self._lock:
            config = self._config
            self._config = replace(
                config,
                hnsw_ef_search=config.hnsw_ef_search if hnsw_ef_search is None else hnsw_ef_search,
                ivf_nprobe=config.ivf_nprobe if ivf_nprobe is None else ivf_nprobe,
            )
            if self._ann is not None:
                self._ann.configure_search(self._config)

    # -- changes ------------------------------------------------------------------------------------------------

    def add(self, template_ids: np.ndarray, person_ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add templates ``(N,)``, ``(N,)``, ``(N, dim)``; a template id already present is replaced."""
        self.update(add_ids=template_ids, add_person_ids=person_ids, add_vectors=vectors)

    def remove(self, template_ids: Iterable[int]) -> int:
        """Remove these templates (absent ids are ignored); how many were removed."""
        return self.update(remove_ids=template_ids)

    def remove_person(self, person_id: int) -> int:
        """Remove every template of ``person_id``; how many were removed."""
        with self._lock:
            removed, wanted = self._change(self._store.templates_of(person_id), None)
        if wanted:
            self._build()
        return removed

    def update(
        self,
        *,
        remove_ids: Iterable[int] = (),
        add_ids: np.ndarray | None = None,
        add_person_ids: np.ndarray | None = None,
        add_vectors: np.ndarray | None = None,
    ) -> int:
        """Remove, then add, as one change: a concurrent search sees all of it or none. The count removed."""
        removing = _ids(np.fromiter((int(t) for t in remove_ids), np.int64), "remove_ids").tolist()
        additions = None
        if add_ids is not None or add_person_ids is not None or add_vectors is not None:
            if add_ids is None or add_person_ids is None or add_vectors is None:
                raise ValueError("add_ids, add_person_ids and add_vectors go together")
            additions = self._check_additions(add_ids, add_person_ids, add_vectors)
        with self._lock:
            removed, wanted = self._change(removing, additions)
        if wanted:  # outside the lock: a build takes seconds at 10^5 templates
            self._build()
        return removed

    def _change(self, removing: list[int], additions: tuple[np.ndarray, ...] | None) -> tuple[int, bool]:
        """Apply a checked change to the store and the structure; (count removed, structure wants a build).
        Called with the lock held."""
        store = self._store
        self._means.touch(p for p in (store.person_of(t) for t in removing) if p is not None)
        if additions is not None:  # a replaced template may move to another person: both means change
            self._means.touch(p for p in (store.person_of(t) for t in additions[0].tolist()) if p is not None)
            self._means.touch(additions[1].tolist())
        removed = self._store.delete(removing)
        if self._ann is not None and removed:
            self._ann.remove(removed)
        if self._touched is not None:
            self._touched.update(removed)
        if additions is not None and len(additions[0]):
            tids, persons, vectors = additions
            replacing = any(t in self._store for t in tids.tolist())
            self._store.upsert(tids, persons, vectors)
            if isinstance(self._ann, HnswStructure):
                self._ann.add(tids, vectors)
            elif isinstance(self._ann, IvfStructure):
                self._ann.add(tids, vectors, replacing=replacing)
            if self._touched is not None:
                self._touched.update(tids.tolist())
        if len(self._store) == 0:
            self._ann = None
        return len(removed), self._needs_build()

    def _check_additions(self, ids: np.ndarray, persons: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, ...]:
        tids, pids = _ids(ids, "template_ids"), _ids(persons, "person_ids")
        if len(tids) != len(pids):
            raise ValueError(f"{len(tids)} template ids but {len(pids)} person ids")
        if len(np.unique(tids)) != len(tids):
            raise ValueError("template_ids repeat an id within one call")
        return tids, pids, _unit_rows(vectors, self._dim, len(tids), "vectors")

    # -- structure upkeep ---------------------------------------------------------------------------------------

    def _needs_build(self) -> bool:
        """Whether the approximate structure should be (re)built now. Called with the lock held."""
        n, config, ann = len(self._store), self._config, self._ann
        if self._rebuilding or config.kind == "flat" or n == 0:
            return False
        if config.kind == "hnsw":
            return ann is None or (isinstance(ann, HnswStructure) and ann.dead_fraction > config.hnsw_max_tombstones)
        if ann is None:
            return n >= config.ivf_min_train
        trained = ann.trained_size if isinstance(ann, IvfStructure) else n
        return n < config.ivf_min_train or n >= 4 * trained or 4 * n <= trained

    def _build(self) -> None:
        """Build the structure from a snapshot of the store, outside the lock, then replay the changes made
        meanwhile and swap it in. Runs in the caller's thread (the one whose change asked for it)."""
        with self._lock:
            if self._rebuilding or not self._needs_build():
                return
            self._rebuilding, self._touched = True, set()
            tids, vectors = self._store.template_ids.copy(), self._store.vectors.copy()
        try:
            built: Structure | None = None
            kind = self._config.kind
            if kind == "hnsw":
                built = HnswStructure(self._dim, self._config)
                built.add(tids, vectors)
            elif len(tids) >= self._config.ivf_min_train:
                built = IvfStructure(self._dim, self._config, tids, vectors)
            del vectors
            with self._lock:
                touched = sorted(self._touched or ())
                if built is not None and touched:
                    built.remove(touched)
                    present = np.array([t for t in touched if t in self._store], np.int64)
                    if len(present):
                        fresh = self._store.get(present.tolist())
                        if isinstance(built, IvfStructure):
                            built.add(present, fresh, replacing=False)
                        else:
                            built.add(present, fresh)
                if built is not None:
                    built.configure_search(self._config)  # knobs changed during the build count
                self._ann = built if len(self._store) else None
            logger.info("index structure %s built over %d templates", kind if built else "exact", len(tids))
        finally:
            with self._lock:
                self._rebuilding, self._touched = False, None

    # -- search -------------------------------------------------------------------------------------------------

    def search(self, query: np.ndarray, k: int, by: TemplateMatch = "best") -> list[list[PersonHit]]:
        """Top-``k`` people for each query (``(dim,)`` or ``(Q, dim)`` unit vectors), best first; each person
        scored ``by`` their ``best`` template, their ``mean`` template (:mod:`service.index.means`) or the ``max``
        of the two. An empty index gives empty lists."""
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if by not in ("best", "mean", "max"):
            raise ValueError(f"by must be best, mean or max, got {by!r}")
        queries = np.asarray(query)
        if queries.ndim == 1:
            queries = queries[None, :]
        queries = _unit_rows(queries, self._dim, None, "query")
        k = int(k)
        if by == "best":
            return self._search_best(queries, k)
        with self._lock, _omp_threads(self._config.search_threads):
            self._means.level(self._store)
            by_mean = self._means.search(queries, k)
            if by == "mean":  # name the person's best template for this face, as a search by best does
                return [
                    [replace(h, template_id=self._best_template(h.person_id, q)[1]) for h in hits]
                    for q, hits in zip(queries, by_mean, strict=True)
                ]
            by_best = self._search_best(queries, k)
            return [self._max_of(q, b, m, k) for q, b, m in zip(queries, by_best, by_mean, strict=True)]

    def _max_of(self, query: np.ndarray, best: list[PersonHit], mean: list[PersonHit], k: int) -> list[PersonHit]:
        """Top-``k`` people by max(best, mean) from the top-``k`` by each: anyone in the top-``k`` by the max is
        in the top-``k`` by whichever of the two is their max, so the union holds them all; the score a list
        missed is computed. Called with the lock held."""
        people = {h.person_id: h for h in best}
        for hit in mean:
            if hit.person_id not in people:
                people[hit.person_id] = PersonHit(hit.person_id, *self._best_template(hit.person_id, query))
        hits = []
        for person, hit in people.items():
            mean_score = self._means.score(person, query)
            score = hit.score if mean_score is None else max(hit.score, mean_score)
            hits.append(PersonHit(person, score, hit.template_id))
        return sorted(hits, key=lambda h: h.score, reverse=True)[:k]

    def _best_template(self, person_id: int, query: np.ndarray) -> tuple[float, int]:
        """(score, template id) of the person's best template for ``query`` ``(dim,)``. Lock held."""
        tids = self._store.templates_of(person_id)
        scores = self._store.get(tids) @ query
        return float(scores.max()), tids[int(scores.argmax())]

    def _search_best(self, queries: np.ndarray, k: int) -> list[list[PersonHit]]:
        with self._lock, _omp_threads(self._config.search_threads):
            n = len(self._store)
            results: list[list[PersonHit]] = [[] for _ in range(len(queries))]
            if n == 0:
                return results
            pending = list(range(len(queries)))
            fetch = min(n, k * _FIRST_FETCH_PER_PERSON)
            while pending:
                scores, tids = self._search_templates(queries[pending], fetch)
                still = []
                for row, q in enumerate(pending):
                    results[q] = self._people(scores[row], tids[row], k)
                    if len(results[q]) < k and fetch < n:
                        still.append(q)
                pending, fetch = still, min(n, fetch * _WIDEN)
            return results

    def _search_templates(self, queries: np.ndarray, k: int) -> Searched:
        if self._ann is None:
            return exact_search(self._store, queries, k)
        return self._ann.search(queries, k)

    def _people(self, scores: np.ndarray, tids: np.ndarray, k: int) -> list[PersonHit]:
        """The first ``k`` distinct people in a best-first template list. With exact search this is exactly the
        top-k people: anyone not seen has no template above the last one fetched."""
        hits: list[PersonHit] = []
        seen: set[int] = set()
        for score, tid in zip(scores.tolist(), tids.tolist(), strict=True):
            person = self._store.person_of(tid) if tid >= 0 else None
            if person is None or person in seen:
                continue
            seen.add(person)
            hits.append(PersonHit(person_id=person, score=float(score), template_id=tid))
            if len(hits) == k:
                break
        return hits

    # -- persistence --------------------------------------------------------------------------------------------

    def save(self, path: Path, stamp: IndexStamp) -> None:
        """Write the templates to ``path`` atomically (see :mod:`service.index.storage`) and, for an HNSW index,
        its graph beside it (:mod:`service.index.graphfile`), so that a restart loads the graph instead of
        rebuilding it. The copies are taken under the lock (the graph's serialisation is a memory copy: ~0.1 s
        at 10^5 templates); the slow writes are not."""
        if stamp.dim != self._dim:
            raise ValueError(f"stamp says dim {stamp.dim}, the index has {self._dim}")
        with self._lock:
            store = self._store
            snapshot = IndexSnapshot(stamp, store.template_ids.copy(), store.person_ids.copy(), store.vectors.copy())
            graph = self._ann.saved() if isinstance(self._ann, HnswStructure) else None
        checksum = write_index_file(path, snapshot)
        if graph is not None:
            write_graph_file(graph_path(path), graph, checksum)
        else:
            with contextlib.suppress(FileNotFoundError):
                graph_path(path).unlink()  # a graph of an older file is never used; do not leave it lying about

    @classmethod
    def load(cls, path: Path, *, dim: int, config: IndexConfig | None = None) -> tuple[VectorIndex, IndexStamp]:
        """The index saved at ``path``, built for ``config``, and its stamp. :class:`IndexFileError` when the file
        is missing, unreadable, truncated, corrupt, of another dimension or holds vectors that are not unit.
        An HNSW index takes its saved graph when that graph was saved with this very file and holds exactly its
        templates; otherwise it builds the graph from the vectors (logged)."""
        snapshot = read_index_file(path)
        if snapshot.stamp.dim != dim:
            raise IndexFileError(f"index file {path} holds {snapshot.stamp.dim}-d vectors, expected {dim}")
        index = cls(dim, config)
        try:
            additions = index._check_additions(snapshot.template_ids, snapshot.person_ids, snapshot.vectors)
        except ValueError as exc:
            raise IndexFileError(f"index file {path} holds invalid templates: {exc}") from exc
        graph = index._saved_graph(path, snapshot) if index._config.kind == "hnsw" and len(additions[0]) else None
        if graph is None:
            index.add(*additions)
            return index, snapshot.stamp
        with index._lock:
            index._store.upsert(*additions)
            index._means.reset()
            index._ann = graph
        logger.info("index graph loaded from %s (%d nodes)", graph_path(path), len(graph.live_template_ids))
        return index, snapshot.stamp

    def _saved_graph(self, path: Path, snapshot: IndexSnapshot) -> HnswStructure | None:
        """The graph saved beside ``path`` if it belongs to this very file, else None (and why, logged)."""
        where = graph_path(path)
        try:
            faiss_index, saved = read_graph_file(where, snapshot.checksum)
            structure = HnswStructure.restored(self._dim, self._config, faiss_index, saved)
        except (IndexFileError, ValueError) as exc:
            logger.info("index graph not loaded, building it from the vectors: %s", exc)
            return None
        if structure.live_template_ids != frozenset(snapshot.template_ids.tolist()):
            logger.warning("index graph %s does not hold the index file's templates: building it", where)
            return None
        return structure


def _ids(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.size == 0:
        return np.empty(0, np.int64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-D integer array, got {array.dtype} {array.shape}")
    if array.min() < 0:
        raise ValueError(f"{name} must be >= 0 (faiss reserves -1)")
    return array.astype(np.int64, copy=False)


def _unit_rows(values: np.ndarray, dim: int, n: int | None, name: str) -> np.ndarray:
    """``values`` as C-contiguous float32 ``(n, dim)``, after checking every row is finite and unit-norm."""
    array = np.asarray(values)
    if array.ndim != 2 or array.shape[1] != dim or (n is not None and array.shape[0] != n):
        want = f"({n if n is not None else 'Q'}, {dim})"
        raise ValueError(f"{name} must have shape {want}, got {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{name} must be floating point (float32), got {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if array.size:
        if not np.isfinite(array).all():
            raise ValueError(f"{name} holds NaN or infinite values")
        norms = np.linalg.norm(array, axis=1)
        worst = float(np.abs(norms - 1.0).max())
        if worst > UNIT_NORM_TOLERANCE:
            raise ValueError(f"{name} must be unit-norm (L2); a row is off by {worst:.3g}")
    return array


@contextlib.contextmanager
def _omp_threads(n: int) -> Iterator[None]:
    """Run faiss on ``n`` OpenMP threads in this thread for the block (OpenMP's setting is per thread)."""
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)
