"""Keeping one :class:`~service.index.vectors.VectorIndex` equal to the SQL templates of one model.

SQL is the source of truth; the index (and its file) is a cache. Every template insert or delete bumps the template
revision in the same transaction (:mod:`service.db.revision`), so "is my index current?" is one number compared:

- :meth:`IndexSync.start` loads the saved file when its stamp (model, dimension, kind, revision) matches SQL, and
  otherwise rebuilds from SQL. A crash between a SQL commit and the index update therefore costs nothing: the
  revision in SQL has moved past the file's, and the next start rebuilds.
- :meth:`IndexSync.refresh` (every ``interval_s`` on the polling thread) compares revisions and, when they differ,
  diffs template ids between SQL and the index: only the missing templates' embeddings are read. This is how
  replicas sharing one PostgreSQL follow each other's enrolments within a second.
- :meth:`IndexSync.apply` is the fast path for this replica's own changes, right after their commit.

Template ids are compared together with (person id, ``created_at``), not alone: SQLite (no AUTOINCREMENT on
``face_templates``) hands the id of a deleted newest row to the next insert, and an id-only diff would keep the
deleted face under the new template's id.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Row, select
from sqlalchemy.orm import Session, sessionmaker

from service.db.models import FaceTemplate
from service.db.revision import current_template_revision
from service.domain.matching import TemplateMatch
from service.index.freshness import stale_stamp, staleness
from service.index.types import PersonHit
from service.index.vectors import UNIT_NORM_TOLERANCE, IndexConfig, IndexFileError, IndexStamp, VectorIndex

logger = logging.getLogger(__name__)

_YIELD_PER = 2000  # rows per fetch when streaming every template at a rebuild
_ID_CHUNK = 500  # ids per IN (...) when reading the embeddings a refresh lacks
_ERROR_LOG_EVERY = 120  # polling failures logged in full once, then every this many (1 min at 0.5 s)

# (id, person_id, created_at, embedding, embedding_dim)
TemplateRow = Row[int, int, datetime, bytes, int]
Key = tuple[int, datetime] | None  # (person id, created_at) as read from SQL; None: added by apply(), unverified


class IndexSync:
    """One model's index, kept level with SQL. Thread-safe: ``refresh``, ``apply`` and ``start`` are serialised."""

    def __init__(
        self,
        sessionmaker: sessionmaker[Session],
        *,
        model_id: str,
        dim: int,
        config: IndexConfig | None = None,
        path: Path | None = None,
        save_interval_s: float = 10.0,
    ) -> None:
        self._sessionmaker = sessionmaker
        self.model_id = model_id
        self.dim = dim
        self.config = config or IndexConfig()
        self.path = path
        self.save_interval_s = save_interval_s
        self._index = VectorIndex(dim, self.config)
        self._revision = -1  # no revision yet: the first refresh diffs everything
        self._keys: dict[int, Key] = {}
        self._lock = threading.Lock()
        self._dirty = False
        self._last_save = 0.0
        self._started: str | None = None
        self._last_refresh: float | None = None
        self._last_error: str | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def index(self) -> VectorIndex:
        return self._index

    @property
    def size(self) -> int:
        """Templates in the index now."""
        return len(self._index)

    @property
    def people_count(self) -> int:
        """People holding a template in the index now."""
        return self._index.people_count()

    def search(self, query: np.ndarray, k: int, by: TemplateMatch = "best") -> list[list[PersonHit]]:
        """Top-``k`` people for each query (``(dim,)`` or ``(Q, dim)`` unit vectors), best first, each scored
        ``by`` their best or mean template or the max of both: the index as it is now (:meth:`refresh` first to
        level it with SQL)."""
        return self._index.search(query, k, by=by)

    @property
    def revision(self) -> int:
        """The template revision the index reflects (-1 before :meth:`start`)."""
        return self._revision

    # -- start -------------------------------------------------------------------------------------------------

    def start(self) -> str:
        """Load the saved index when it is current, else rebuild from SQL (and save). ``"loaded"`` or
        ``"rebuilt:<why>"``."""
        with self._lock:
            why = self._try_load()
            if why is None:
                self._started = "loaded"
            else:
                self._rebuild(why)
                self._started = f"rebuilt:{why}"
        self.save()
        return self._started

    def _try_load(self) -> str | None:
        """Load the file if it is current; None when loaded, else why it was not."""
        if self.path is None:
            return "no-path"
        if not self.path.exists():
            logger.info("no index file at %s: building from SQL", self.path)
            return "missing"
        try:
            index, stamp = VectorIndex.load(self.path, dim=self.dim, config=self.config)
        except IndexFileError as exc:
            logger.warning("index file unusable, building from SQL: %s", exc)
            return "corrupt"
        with self._sessionmaker() as session:
            revision = current_template_revision(session)
            expected = IndexStamp(self.model_id, revision, self.dim, self.config.kind)
            stale = stale_stamp(stamp, expected)
            if stale is not None:
                logger.info("index file %s is stale (%s): rebuilding", self.path, stale.detail)
                return stale.reason
            keys = self._read_keys(session)
        # The stamp says the file is current; check it against SQL anyway (cheap: no embeddings are read).
        file_people = {t: p for t in index.template_ids() if (p := index.person_of(t)) is not None}
        stale = staleness(stamp, file_people, expected, {t: k[0] for t, k in keys.items() if k})
        if stale is not None:
            logger.warning("index file %s disagrees with SQL at the same revision: rebuilding", self.path)
            return stale.reason
        self._index, self._revision, self._keys = index, revision, dict(keys)
        logger.info("index loaded from %s: %d templates at revision %d", self.path, len(index), revision)
        return None

    def _rebuild(self, why: str) -> None:
        """Read every template of the model (streamed) into a new index, then swap it in."""
        began = time.perf_counter()
        with self._sessionmaker() as session:
            revision = current_template_revision(session)  # before the rows: a later commit is caught next time
            statement = (
                select(
                    FaceTemplate.id,
                    FaceTemplate.person_id,
                    FaceTemplate.created_at,
                    FaceTemplate.embedding,
                    FaceTemplate.embedding_dim,
                )
                .where(FaceTemplate.model_id == self.model_id)
                .execution_options(yield_per=_YIELD_PER)
            )
            parts = [_decode(rows, self.dim) for rows in session.execute(statement).partitions()]
        index = VectorIndex(self.dim, self.config)
        keys: dict[int, Key] = {}
        if parts:
            ids, persons, vectors = (np.concatenate([p[i] for p in parts]) for i in range(3))
            index.add(ids, persons, vectors)
            for part in parts:
                keys.update(part[3])
        self._index, self._revision, self._keys = index, revision, keys
        self._dirty = True
        logger.info(
            "index rebuilt from SQL (%s): %d templates of %s at revision %d in %.1f s",
            why,
            len(index),
            self.model_id,
            revision,
            time.perf_counter() - began,
        )

    # -- follow ------------------------------------------------------------------------------------------------

    def refresh(self) -> bool:
        """Bring the index level with SQL if the revision moved; True when the index's contents changed."""
        with self._lock:
            with self._sessionmaker() as session:
                # The revision first, the ids after: a commit landing in between is in SQL beyond this revision,
                # so the next refresh sees a newer number and diffs again. The other order could label a state
                # that lacks the commit with the commit's revision, and it would never be picked up.
                revision = current_template_revision(session)
                if revision == self._revision:
                    self._last_refresh = time.time()
                    return False
                in_sql = self._read_keys(session)
                stale = [t for t, key in self._keys.items() if key is None or in_sql.get(t) != key]
                wanted = [t for t, key in in_sql.items() if self._keys.get(t) != key]
                rows = self._read_embeddings(session, wanted)
            ids, persons, vectors, keys = _decode(rows, self.dim)
            self._index.update(remove_ids=stale, add_ids=ids, add_person_ids=persons, add_vectors=vectors)
            for tid in stale:
                del self._keys[tid]
            self._keys.update(keys)
            previous, self._revision = self._revision, revision
            self._dirty = True  # even with no change in contents, the file's stamp must move to this revision
            self._last_refresh = time.time()
        changed = bool(stale or len(ids))
        if changed:
            logger.info("index refreshed %d → %d: -%d +%d templates", previous, revision, len(stale), len(ids))
        if self._thread is None:
            self._save_if_due()
        return changed

    def apply(
        self,
        *,
        added: Sequence[tuple[int, int, np.ndarray]] = (),
        removed_template_ids: Iterable[int] = (),
        revision: int,
    ) -> None:
        """This replica's own change, committed in SQL at ``revision``: applied now rather than at the next poll.

        ``added``: (template id, person id, embedding). Only when ``revision`` is the one right after the index's
        does the index take it as its revision: otherwise another change (another replica's, or a concurrent
        request's here) landed in between and the index may lack it, so the revision stays behind and the next
        :meth:`refresh` diffs against SQL. A ``revision`` at or below the index's is already reflected (a refresh
        read SQL after this commit) and is ignored: re-applying it could resurrect a template deleted since.
        """
        removed = [int(t) for t in removed_template_ids]
        with self._lock:
            if revision <= self._revision:
                logger.debug("apply at revision %d ignored: the index is at %d already", revision, self._revision)
                return
            if added:
                ids = np.array([a[0] for a in added], np.int64)
                persons = np.array([a[1] for a in added], np.int64)
                vectors = np.stack([np.asarray(a[2], np.float32) for a in added])
                self._index.update(remove_ids=removed, add_ids=ids, add_person_ids=persons, add_vectors=vectors)
                self._keys.update(dict.fromkeys(ids.tolist()))  # verified against SQL at the next diff
            else:
                self._index.update(remove_ids=removed)
            for tid in removed:
                self._keys.pop(tid, None)
            if revision == self._revision + 1:
                self._revision = revision
            self._dirty = True
        if self._thread is None:  # the polling thread saves otherwise, off the request path
            self._save_if_due()

    # -- polling -----------------------------------------------------------------------------------------------

    def run_polling(self, interval_s: float = 0.5) -> None:
        """Call :meth:`refresh` every ``interval_s`` on a daemon thread until :meth:`stop`; errors are logged and
        the thread carries on (a database restart must not leave a replica's index frozen)."""
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        if self._thread is not None:
            raise RuntimeError("polling is already running")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._poll, args=(interval_s,), name=f"index-sync-{self.model_id}", daemon=True
        )
        self._thread.start()

    def _poll(self, interval_s: float) -> None:
        failures = 0
        while not self._stop.wait(interval_s):
            try:
                self.refresh()
                self._save_if_due()
            except Exception as exc:
                failures += 1
                self._last_error = f"{type(exc).__name__}: {exc}"
                if failures == 1:
                    logger.exception("index refresh failed; retrying every %.1f s", interval_s)
                elif failures % _ERROR_LOG_EVERY == 0:
                    logger.warning("index refresh still failing (%d times): %s", failures, self._last_error)
            else:
                if failures:
                    logger.info("index refresh works again after %d failures", failures)
                failures, self._last_error = 0, None

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop polling (if running) and save what is not saved yet."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout_s)
            if thread.is_alive():
                logger.warning("index polling thread did not stop within %.0f s", timeout_s)
        self.save()

    # -- saving ------------------------------------------------------------------------------------------------

    def save(self) -> bool:
        """Save now if anything changed since the last save; whether a file was written."""
        return self._save_if_due(force=True)

    def _save_if_due(self, *, force: bool = False) -> bool:
        """Write the file when dirty and (``force`` or ``save_interval_s`` passed). Failures are logged, not
        raised: the file is a cache and a stale one is harmless (its stamp makes the next start rebuild)."""
        if self.path is None:
            return False
        with self._lock:
            if not self._dirty or (not force and time.monotonic() - self._last_save < self.save_interval_s):
                return False
            # The stamp is read before the index is copied (save copies under the index's lock), and every change
            # reaches the index before the revision moves: the file never holds less than its stamp says.
            stamp = IndexStamp(self.model_id, self._revision, self.dim, self.config.kind)
            index, self._dirty, self._last_save = self._index, False, time.monotonic()
        try:
            index.save(self.path, stamp)
        except OSError:
            logger.exception("could not save the index to %s", self.path)
            with self._lock:
                self._dirty = True
            return False
        logger.debug("index saved to %s at revision %d", self.path, stamp.revision)
        return True

    def status(self) -> dict[str, Any]:
        """For /readyz and the metrics."""
        return {
            "model_id": self.model_id,
            "kind": self.config.kind,
            "structure": self._index.structure(),
            "size": len(self._index),
            "revision": self._revision,
            "path": str(self.path) if self.path is not None else None,
            "started": self._started,
            "polling": self._thread is not None,
            "last_refresh": self._last_refresh,
            "last_error": self._last_error,
        }

    # -- SQL ---------------------------------------------------------------------------------------------------

    def _read_keys(self, session: Session) -> dict[int, Key]:
        statement = (
            select(FaceTemplate.id, FaceTemplate.person_id, FaceTemplate.created_at)
            .where(FaceTemplate.model_id == self.model_id)
            .execution_options(yield_per=10 * _YIELD_PER)
        )
        return {tid: (pid, created) for tid, pid, created in session.execute(statement)}

    def _read_embeddings(self, session: Session, template_ids: list[int]) -> list[TemplateRow]:
        rows: list[TemplateRow] = []
        columns = (
            FaceTemplate.id,
            FaceTemplate.person_id,
            FaceTemplate.created_at,
            FaceTemplate.embedding,
            FaceTemplate.embedding_dim,
        )
        for start in range(0, len(template_ids), _ID_CHUNK):
            chunk = template_ids[start : start + _ID_CHUNK]
            statement = select(*columns).where(FaceTemplate.id.in_(chunk), FaceTemplate.model_id == self.model_id)
            rows.extend(session.execute(statement))
        return rows


def _decode(rows: Sequence[TemplateRow], dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, Key]]:
    """(ids, person ids, vectors, keys) of ``(id, person_id, created_at, embedding, embedding_dim)`` rows. A row
    whose embedding is not ``dim`` finite unit-norm float32 values is left out and logged: one bad row must not stop
    the index from following SQL."""
    ids = np.empty(len(rows), np.int64)
    persons = np.empty(len(rows), np.int64)
    vectors = np.empty((len(rows), dim), np.float32)
    keys: dict[int, Key] = {}
    n = 0
    for tid, pid, created, embedding, embedding_dim in rows:
        vector = np.frombuffer(embedding, dtype="<f4") if len(embedding) == 4 * dim else None
        if embedding_dim != dim or vector is None or not np.isfinite(vector).all():
            logger.error("template %d skipped: its embedding is not %d finite float32 values", tid, dim)
            continue
        if abs(float(np.linalg.norm(vector)) - 1.0) > UNIT_NORM_TOLERANCE:
            logger.error("template %d skipped: its embedding is not unit-norm", tid)
            continue
        ids[n], persons[n], vectors[n] = tid, pid, vector
        keys[tid] = (pid, created)
        n += 1
    return ids[:n], persons[:n], vectors[:n], keys
