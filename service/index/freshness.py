"""Is an index file current? One answer for the server's start (:meth:`service.index.sync.IndexSync.start`, which
loads a current file and rebuilds otherwise) and for ``facegate index status`` (which only reports).

A file is current when its stamp matches what the server would build (model id, embedding size, index kind, SQL's
template revision) and it holds exactly SQL's templates of that model, each for the same person. The stamp alone
could lie (a file copied between databases at the same revision); comparing the ids is cheap (no vectors read).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from service.index.types import IndexStamp

STAMP_FIELDS = ("model_id", "dim", "kind", "revision")


@dataclass(frozen=True)
class Staleness:
    """Why a file is not current: ``reason`` is a short code (``stale-<field>`` or ``mismatch``), ``detail`` says
    it for people."""

    reason: str
    detail: str


def stale_stamp(stamp: IndexStamp, expected: IndexStamp) -> Staleness | None:
    """The stamp's part of :func:`staleness` (no template ids needed yet)."""
    for name in STAMP_FIELDS:
        found, wanted = getattr(stamp, name), getattr(expected, name)
        if found != wanted:
            return Staleness(f"stale-{name}", f"{name} {found} (SQL/settings: {wanted})")
    return None


def staleness(
    stamp: IndexStamp, file_people: Mapping[int, int], expected: IndexStamp, sql_people: Mapping[int, int]
) -> Staleness | None:
    """None when the file (its ``stamp``, and its template id → person id) may stand for SQL (``expected``, and SQL's
    template id → person id of that model); else the first reason it may not, stamp fields first."""
    stale = stale_stamp(stamp, expected)
    if stale is not None:
        return stale
    if dict(file_people) != dict(sql_people):
        return Staleness("mismatch", f"holds {len(file_people)} templates, SQL {len(sql_people)} (or other ones)")
    return None
