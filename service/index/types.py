"""The vector index's value types: its configuration, a search hit, the stamp a saved index carries, its error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

IndexKind = Literal["flat", "hnsw", "ivf"]
INDEX_KINDS: tuple[IndexKind, ...] = ("flat", "hnsw", "ivf")


@dataclass(frozen=True)
class IndexConfig:
    """How templates are searched.

    ``flat`` is exact (every template scored): right up to ~10^5 templates (DESIGN.md, "Scale"). ``hnsw`` and
    ``ivf`` are approximate and faster above that. The search defaults are the cheapest settings that reached
    recall@1 ≥ 0.99 against the exact answer in ``bench/identify_search.py`` (100k real templates of the shipped
    model, 2026-11-27): HNSW ef_search 192 (0.995; 128 gave 0.984), IVF nprobe 256 of 1265 cells (0.992; 16 gave
    0.72: these embeddings are not tightly clustered).

    - ``hnsw_*``: graph degree, build-time and search-time beam widths. Removals are tombstones (faiss's HNSW
      cannot delete); the graph is rebuilt once ``hnsw_max_tombstones`` of its nodes are dead.
    - ``ivf_nlist``: cells; ``None`` picks ~4·√N at training time (and never fewer than 39 vectors a cell,
      below which k-means is noise). ``ivf_nprobe``: cells visited per query. Below ``ivf_min_train`` vectors
      the index searches exactly (training would be meaningless and exact search costs nothing there); it is
      trained when it reaches that size and retrained when it has grown or shrunk 4× since.
    - ``search_threads``: OpenMP threads for one search call. Set on each call because OpenMP's thread count is
      a per-thread setting: ``faiss.omp_set_num_threads`` in the main thread does not reach the server's worker
      threads, which would otherwise spin up every core for a single query (slower, on a busy machine).
    """

    kind: IndexKind = "flat"
    hnsw_m: int = 32
    hnsw_ef_construction: int = 200
    hnsw_ef_search: int = 192
    hnsw_max_tombstones: float = 0.2
    ivf_nlist: int | None = None
    ivf_nprobe: int = 256
    ivf_min_train: int = 2048
    search_threads: int = 1

    def __post_init__(self) -> None:
        if self.kind not in INDEX_KINDS:
            raise ValueError(f"index kind must be one of {INDEX_KINDS}, got {self.kind!r}")
        positive = {
            "hnsw_m": self.hnsw_m,
            "hnsw_ef_construction": self.hnsw_ef_construction,
            "hnsw_ef_search": self.hnsw_ef_search,
            "ivf_nprobe": self.ivf_nprobe,
            "ivf_min_train": self.ivf_min_train,
            "search_threads": self.search_threads,
        }
        if self.ivf_nlist is not None:
            positive["ivf_nlist"] = self.ivf_nlist
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if not 0.0 < self.hnsw_max_tombstones < 1.0:
            raise ValueError(f"hnsw_max_tombstones must be in (0, 1), got {self.hnsw_max_tombstones}")


@dataclass(frozen=True)
class PersonHit:
    """One person found for a query: the score (cosine) of their best template, and that template."""

    person_id: int
    score: float
    template_id: int


@dataclass(frozen=True)
class IndexStamp:
    """What a saved index was built from. A file whose stamp differs from the running service's
    (another model, dimension or kind, or an older template revision) is stale and rebuilt from SQL."""

    model_id: str
    revision: int
    dim: int
    kind: str


class IndexFileError(Exception):
    """A saved index cannot be used: missing, unreadable, truncated, corrupt, or of another dimension."""
