"""Each enrolled person's mean template: the normalised mean of their templates, searched like templates are.

A person enrolled with several photos can be scored by their best template (one photo's luck) or by the mean of
all of them (the photos' noise averaged out: nearer the person's centre; bench/open_set.py measures both,
``template_match`` chooses). The means are a cache of the template store, which is itself a cache of SQL: they are
built on the first search that asks for them and afterwards kept level, person by person, as templates are added,
replaced or removed (:meth:`PersonMeans.touch`, called by :class:`service.index.vectors.VectorIndex` under its
lock). A server that never matches by mean never builds them (no memory spent).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from service.index.structures import VectorStore, exact_search
from service.index.types import PersonHit


class PersonMeans:
    """Person id → unit mean vector ``(dim,)``, derived from a :class:`VectorStore` of templates. Not thread-safe:
    the owning index's lock guards every call."""

    def __init__(self, dim: int) -> None:
        self._means = VectorStore(dim)  # "template id" = person id, one row per person
        self._dirty: set[int] | None = None  # None: never built (or thrown away): build all on the next search

    def touch(self, person_ids: Iterable[int]) -> None:
        """These people's templates changed: recompute their means before the next search."""
        if self._dirty is not None:
            self._dirty.update(int(p) for p in person_ids)

    def reset(self) -> None:
        """Forget every mean (the store was replaced wholesale): rebuilt on the next search."""
        self._means = VectorStore(self._means.dim)
        self._dirty = None

    def __len__(self) -> int:
        return len(self._means)

    def level(self, store: VectorStore) -> None:
        """Bring the means level with ``store``: every person when never built, else the touched ones."""
        if self._dirty is None:
            people = np.unique(store.person_ids).tolist()
            self._means = VectorStore(store.dim)
        else:
            people = sorted(self._dirty)
        self._dirty = set()
        templates = {p: store.templates_of(p) for p in people}
        self._means.delete([p for p, held in templates.items() if not held])
        kept = [p for p, held in templates.items() if held]
        if not kept:
            return
        vectors = np.stack([_unit_mean(store.get(templates[p])) for p in kept])
        ids = np.array(kept, np.int64)
        self._means.upsert(ids, ids, vectors)

    def search(self, queries: np.ndarray, k: int) -> list[list[PersonHit]]:
        """Top-``k`` people by mean template for each query ``(Q, dim)`` (exact: one row per person). A hit's
        ``template_id`` is -1: no single template scored it."""
        if len(self._means) == 0:
            return [[] for _ in range(len(queries))]
        scores, people = exact_search(self._means, queries, min(k, len(self._means)))
        return [
            [PersonHit(person_id=int(p), score=float(s), template_id=-1) for s, p in zip(row_s, row_p, strict=True)]
            for row_s, row_p in zip(scores.tolist(), people.tolist(), strict=True)
        ]

    def score(self, person_id: int, query: np.ndarray) -> float | None:
        """One person's mean-template score for ``query`` ``(dim,)``; ``None`` when they have no template."""
        if person_id not in self._means:
            return None
        return float(self._means.get([person_id])[0] @ query)


def _unit_mean(vectors: np.ndarray) -> np.ndarray:
    """The normalised mean of unit rows ``(T, dim) -> (dim,)``; a single template is its own mean. Rows that
    cancel out (norm ~0: not two photos of one face) fall back to the first template."""
    mean = vectors.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    unit: np.ndarray = (mean / norm if norm > 1e-6 else vectors[0]).astype(np.float32)
    return unit
