"""Where the vectors live (:class:`VectorStore`) and the search structures over them.

The store is the index's own copy of every template (compact rows, removal by moving the last row into the hole):
exact search runs on it directly, saving writes it, and the approximate structures are rebuilt from it. Each
structure answers ``search(queries, k) -> (scores, template ids)``, best first, ``-1`` ids where it found fewer
than ``k``.

The approximate structures keep a second copy of the vectors (faiss stores what it indexes): 2 × N × dim × 4 bytes
in all, 400 MB at 10^5 templates of 512-d.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import faiss
import numpy as np

from service.index.graphfile import SavedGraph
from service.index.types import IndexConfig

Searched = tuple[np.ndarray, np.ndarray]


class VectorStore:
    """Template id → (person id, vector), as compact columns: rows ``[0, len)`` of three arrays."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._vectors = np.empty((0, dim), np.float32)
        self._tids = np.empty(0, np.int64)
        self._persons = np.empty(0, np.int64)
        self._n = 0
        self._row: dict[int, int] = {}
        self._by_person: dict[int, set[int]] = {}

    def __len__(self) -> int:
        return self._n

    def __contains__(self, template_id: int) -> bool:
        return template_id in self._row

    @property
    def vectors(self) -> np.ndarray:
        """``(len, dim)`` view; valid until the next change."""
        return self._vectors[: self._n]

    @property
    def template_ids(self) -> np.ndarray:
        return self._tids[: self._n]

    @property
    def person_ids(self) -> np.ndarray:
        return self._persons[: self._n]

    def ids(self) -> frozenset[int]:
        return frozenset(self._row)

    def people_count(self) -> int:
        return len(self._by_person)

    def person_of(self, template_id: int) -> int | None:
        row = self._row.get(template_id)
        return None if row is None else int(self._persons[row])

    def templates_of(self, person_id: int) -> list[int]:
        return sorted(self._by_person.get(person_id, ()))

    def get(self, template_ids: Iterable[int]) -> np.ndarray:
        rows = [self._row[t] for t in template_ids]
        return self._vectors[rows].copy()

    def upsert(self, template_ids: np.ndarray, person_ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add rows; a template id already present is overwritten (vector and person)."""
        self._reserve(self._n + len(template_ids))
        for tid, pid, vector in zip(template_ids.tolist(), person_ids.tolist(), vectors, strict=True):
            row = self._row.get(tid)
            if row is None:
                row = self._n
                self._n += 1
                self._row[tid] = row
                self._tids[row] = tid
            else:
                self._unlink_person(int(self._persons[row]), tid)
            self._persons[row] = pid
            self._vectors[row] = vector
            self._by_person.setdefault(pid, set()).add(tid)

    def delete(self, template_ids: Iterable[int]) -> list[int]:
        """Remove the rows of these ids (absent ones are skipped); the ids removed."""
        removed = []
        for tid in template_ids:
            row = self._row.pop(tid, None)
            if row is None:
                continue
            removed.append(tid)
            self._unlink_person(int(self._persons[row]), tid)
            last = self._n - 1
            if row != last:  # keep the rows compact: the last one fills the hole
                moved = int(self._tids[last])
                self._tids[row], self._persons[row] = moved, self._persons[last]
                self._vectors[row] = self._vectors[last]
                self._row[moved] = row
            self._n = last
        if len(self._tids) > 1024 and self._n < len(self._tids) // 4:
            self._resize(2 * self._n)
        return removed

    def _unlink_person(self, person_id: int, template_id: int) -> None:
        templates = self._by_person[person_id]
        templates.discard(template_id)
        if not templates:
            del self._by_person[person_id]

    def _reserve(self, needed: int) -> None:
        if needed > len(self._tids):
            self._resize(max(needed, 2 * len(self._tids), 64))

    def _resize(self, capacity: int) -> None:
        n = self._n
        vectors = np.empty((capacity, self.dim), np.float32)
        vectors[:n] = self._vectors[:n]
        tids, persons = np.empty(capacity, np.int64), np.empty(capacity, np.int64)
        tids[:n], persons[:n] = self._tids[:n], self._persons[:n]
        self._vectors, self._tids, self._persons = vectors, tids, persons


def exact_search(store: VectorStore, queries: np.ndarray, k: int) -> Searched:
    """Every template scored (inner product), on the store's own rows: no second copy of the vectors."""
    scores, rows = faiss.knn(queries, store.vectors, k, metric=faiss.METRIC_INNER_PRODUCT)
    return scores, np.where(rows >= 0, store.template_ids[rows], -1)


class HnswStructure:
    """faiss's HNSW graph (inner product) with tombstones.

    faiss cannot remove a node from an HNSW graph, so a removed (or replaced) template's node stays in the graph,
    marked dead in a bitmap that the search skips (faiss's ``IDSelectorBitmap``: dead nodes are still walked
    through, which keeps the graph connected, but never returned, so ``k`` live results still come back). Dead
    nodes cost memory and search time; the owner rebuilds the graph when :attr:`dead_fraction` grows too large.
    """

    def __init__(self, dim: int, config: IndexConfig) -> None:
        self._index = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        self._index.hnsw.efConstruction = config.hnsw_ef_construction
        self._ef_search = config.hnsw_ef_search
        self._label_tid = np.empty(0, np.int64)  # graph node → template id
        self._alive = np.empty(0, np.uint8)  # bitmap over nodes, faiss's bit order (node i: byte i >> 3, bit i & 7)
        self._label_of: dict[int, int] = {}  # template id → its live node

    def configure_search(self, config: IndexConfig) -> None:
        self._ef_search = config.hnsw_ef_search

    def saved(self) -> SavedGraph:
        """The graph as :mod:`service.index.graphfile` saves it (a copy: faiss's serialisation, the node map)."""
        nodes = int(self._index.ntotal)
        return SavedGraph(
            node_template_ids=self._label_tid[:nodes].copy(),
            alive=self._alive[: (nodes + 7) // 8].copy(),
            faiss_bytes=faiss.serialize_index(self._index),
        )

    @classmethod
    def restored(cls, dim: int, config: IndexConfig, index: faiss.Index, graph: SavedGraph) -> HnswStructure:
        """A structure around a graph read back from its file (no node is re-inserted)."""
        if not isinstance(index, faiss.IndexHNSWFlat) or index.d != dim:
            raise ValueError(f"not an HNSW index of dimension {dim}")
        structure = cls(dim, config)
        structure._index = index
        nodes = len(graph.node_template_ids)
        structure._label_tid = graph.node_template_ids.copy()
        structure._alive = graph.alive.copy()
        labels = np.arange(nodes, dtype=np.int64)
        live = (structure._alive[labels >> 3] >> (labels & 7).astype(np.uint8)) & 1
        structure._label_of = dict(
            zip(graph.node_template_ids[live == 1].tolist(), labels[live == 1].tolist(), strict=True)
        )
        if len(structure._label_of) != int(live.sum()):
            raise ValueError("two live nodes hold the same template")
        return structure

    @property
    def live_template_ids(self) -> frozenset[int]:
        return frozenset(self._label_of)

    @property
    def dead_fraction(self) -> float:
        total = int(self._index.ntotal)
        return 0.0 if total == 0 else 1.0 - len(self._label_of) / total

    def add(self, template_ids: np.ndarray, vectors: np.ndarray) -> None:
        self.remove(template_ids.tolist())
        start = int(self._index.ntotal)
        self._index.add(vectors)
        end = int(self._index.ntotal)
        labels = np.arange(start, end, dtype=np.int64)
        if end > len(self._label_tid):
            capacity = max(end, 2 * len(self._label_tid))
            self._label_tid = np.resize(self._label_tid, capacity)
            alive = np.zeros((capacity + 7) // 8, np.uint8)
            alive[: len(self._alive)] = self._alive
            self._alive = alive
        self._label_tid[start:end] = template_ids
        np.bitwise_or.at(self._alive, labels >> 3, np.left_shift(1, labels & 7).astype(np.uint8))
        self._label_of.update(zip(template_ids.tolist(), labels.tolist(), strict=True))

    def remove(self, template_ids: Iterable[int]) -> None:
        for tid in template_ids:
            label = self._label_of.pop(tid, None)
            if label is not None:
                self._alive[label >> 3] &= np.uint8(0xFF ^ (1 << (label & 7)))

    def search(self, queries: np.ndarray, k: int) -> Searched:
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]  # missing from faiss's stubs
        params.efSearch = max(self._ef_search, k)
        alive = self._alive  # held for the whole call: the selector points into it
        selector = None
        if len(self._label_of) < self._index.ntotal:
            selector = faiss.IDSelectorBitmap(len(alive), faiss.swig_ptr(alive))
            params.sel = selector
        scores, labels = self._index.search(queries, k, params=params)
        del selector
        return scores, np.where(labels >= 0, self._label_tid[labels], -1)


class IvfStructure:
    """faiss's inverted file (IVF-Flat, inner product, spherical k-means), trained once on the vectors it is built
    with. Template ids are faiss's ids, and IVF supports removal, so no tombstones are needed."""

    def __init__(self, dim: int, config: IndexConfig, template_ids: np.ndarray, vectors: np.ndarray) -> None:
        n = len(template_ids)
        # Auto: ~4·√N cells, but at least 39 training vectors a cell (faiss's own floor for meaningful k-means).
        auto = min(round(4 * math.sqrt(n)), n // 39)
        self.nlist = max(1, min(config.ivf_nlist, n) if config.ivf_nlist is not None else auto)
        self.trained_size = n
        self._nprobe = min(config.ivf_nprobe, self.nlist)
        self._quantizer = faiss.IndexFlatIP(dim)  # referenced here: the IVF index does not own it
        self._index = faiss.IndexIVFFlat(self._quantizer, dim, self.nlist, faiss.METRIC_INNER_PRODUCT)
        self._index.cp.spherical = True  # unit vectors: centroids on the sphere, as the queries are
        self._index.train(vectors)
        self._index.add_with_ids(vectors, template_ids)

    def configure_search(self, config: IndexConfig) -> None:
        self._nprobe = min(config.ivf_nprobe, self.nlist)

    def add(self, template_ids: np.ndarray, vectors: np.ndarray, *, replacing: bool) -> None:
        if replacing:
            self.remove(template_ids.tolist())
        self._index.add_with_ids(vectors, template_ids)

    def remove(self, template_ids: Iterable[int]) -> None:
        ids = np.fromiter(template_ids, dtype=np.int64)
        if len(ids):
            self._index.remove_ids(faiss.IDSelectorBatch(ids))

    def search(self, queries: np.ndarray, k: int) -> Searched:
        params = faiss.SearchParametersIVF()
        params.nprobe = self._nprobe
        scores, ids = self._index.search(queries, k, params=params)
        return scores, ids
