"""IndexSync on real migrated databases: start (load or rebuild), refresh, apply, the crash between a SQL commit
and the index update, id reuse, and two replicas following each other by polling (SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from service.db.models import FaceTemplate, Person
from service.db.revision import bump_template_revision, current_template_revision
from service.index.sync import IndexSync
from service.index.vectors import IndexConfig, IndexStamp, VectorIndex

DIM = 16
MODEL = "fg1-test-model"
Factory = sessionmaker[Session]
Added = list[tuple[int, int, np.ndarray]]


def unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    rows = rng.standard_normal((n, DIM))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def add_person(factory: Factory, external_id: str) -> int:
    with factory.begin() as session:
        person = Person(external_id=external_id, display_name=external_id)
        session.add(person)
        session.flush()
        return person.id


def enrol(
    factory: Factory, person_id: int, vectors: np.ndarray, *, model_id: str = MODEL, raw: bytes | None = None
) -> tuple[Added, int]:
    """Insert templates and bump the revision in one transaction, as the enrolment code does."""
    with factory.begin() as session:
        rows = [
            FaceTemplate(
                person_id=person_id,
                embedding=raw if raw is not None else np.ascontiguousarray(v, "<f4").tobytes(),
                embedding_dim=DIM,
                model_id=model_id,
                interocular_px=60.0,
                det_score=0.99,
                blur=100.0,
                yaw=0.0,
                pitch=0.0,
                roll=0.0,
            )
            for v in vectors
        ]
        session.add_all(rows)
        session.flush()
        revision = bump_template_revision(session)
        return [(row.id, person_id, v) for row, v in zip(rows, vectors, strict=True)], revision


def delete_templates(factory: Factory, template_ids: list[int]) -> int:
    with factory.begin() as session:
        session.execute(delete(FaceTemplate).where(FaceTemplate.id.in_(template_ids)))
        return bump_template_revision(session)


def sql_templates(factory: Factory, model_id: str = MODEL) -> dict[int, tuple[int, np.ndarray]]:
    with factory() as session:
        rows = session.execute(
            select(FaceTemplate.id, FaceTemplate.person_id, FaceTemplate.embedding).where(
                FaceTemplate.model_id == model_id
            )
        )
        return {tid: (pid, np.frombuffer(emb, "<f4")) for tid, pid, emb in rows}


def assert_level(sync: IndexSync, factory: Factory) -> None:
    """The index holds exactly SQL's templates of the model, each under its person and with its own vector."""
    expected = sql_templates(factory)
    index = sync.index
    assert index.template_ids() == frozenset(expected)
    for tid, (pid, vector) in expected.items():
        assert index.person_of(tid) == pid
        best = index.search(vector, 1)[0][0]
        assert best.person_id == pid and best.score == pytest.approx(1.0, abs=1e-5)


def make_sync(factory: Factory, path: Path | None, **kwargs: object) -> IndexSync:
    options: dict[str, object] = {"model_id": MODEL, "dim": DIM, "config": IndexConfig(), "path": path}
    options.update(kwargs)
    options.setdefault("save_interval_s", 0.0)
    return IndexSync(factory, **options)  # type: ignore[arg-type]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(2024)


@pytest.fixture
def populated(sqlite_db: Factory, rng: np.random.Generator) -> Factory:
    """Three people with 3, 2 and 4 templates of MODEL, and one template of another model."""
    for name, count in (("ada", 3), ("bob", 2), ("cy", 4)):
        enrol(sqlite_db, add_person(sqlite_db, name), unit_vectors(rng, count))
    enrol(sqlite_db, add_person(sqlite_db, "other-model"), unit_vectors(rng, 1), model_id="fg1-other")
    return sqlite_db


def test_start_builds_from_sql_without_a_file_then_loads_the_file(
    populated: Factory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "index" / "templates.fgi"
    caplog.set_level(logging.INFO, logger="service.index")
    first = make_sync(populated, path)
    assert first.start() == "rebuilt:missing"
    assert "no index file" in caplog.text
    assert path.is_file() and len(first.index) == 9  # the other model's template is not there
    assert_level(first, populated)
    with populated() as session:
        assert first.revision == current_template_revision(session)
    second = make_sync(populated, path)
    assert second.start() == "loaded"
    assert second.revision == first.revision
    assert_level(second, populated)


def test_start_without_a_path_builds_from_sql(populated: Factory) -> None:
    sync = make_sync(populated, None)
    assert sync.start() == "rebuilt:no-path"
    assert_level(sync, populated)
    assert sync.status()["path"] is None


@pytest.mark.parametrize(
    ("stamp_change", "why"),
    [
        ({"revision": -5}, "stale-revision"),
        ({"model_id": "fg1-older-model"}, "stale-model_id"),
        ({"kind": "hnsw"}, "stale-kind"),
    ],
)
def test_start_rebuilds_a_file_whose_stamp_differs(
    populated: Factory, tmp_path: Path, stamp_change: dict[str, object], why: str
) -> None:
    path = tmp_path / "templates.fgi"
    sync = make_sync(populated, path)
    sync.start()
    stamp = IndexStamp(MODEL, sync.revision, DIM, "flat")
    wrong = IndexStamp(**{**stamp.__dict__, **stamp_change})  # type: ignore[arg-type]
    # Contents that are wrong too, so that loading it by mistake would show.
    VectorIndex(DIM).save(path, wrong)
    again = make_sync(populated, path)
    assert again.start() == f"rebuilt:{why}"
    assert_level(again, populated)
    assert VectorIndex.load(path, dim=DIM)[1] == stamp  # and the file was rewritten


@pytest.mark.parametrize("damage", ["corrupt", "other-dim"])
def test_start_rebuilds_a_damaged_file(populated: Factory, tmp_path: Path, damage: str) -> None:
    path = tmp_path / "templates.fgi"
    make_sync(populated, path).start()
    if damage == "corrupt":
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    else:
        VectorIndex(DIM * 2).save(path, IndexStamp(MODEL, 0, DIM * 2, "flat"))
    sync = make_sync(populated, path)
    assert sync.start() == "rebuilt:corrupt"
    assert_level(sync, populated)


def test_start_rebuilds_a_file_that_disagrees_with_sql_at_the_same_revision(populated: Factory, tmp_path: Path) -> None:
    path = tmp_path / "templates.fgi"
    sync = make_sync(populated, path)
    sync.start()
    sync.index.remove([next(iter(sync.index.template_ids()))])  # behind SQL's back
    sync.index.save(path, IndexStamp(MODEL, sync.revision, DIM, "flat"))
    again = make_sync(populated, path)
    assert again.start() == "rebuilt:mismatch"
    assert_level(again, populated)


def test_a_crash_between_the_sql_commit_and_the_index_update_loses_nothing(
    populated: Factory, tmp_path: Path, rng: np.random.Generator
) -> None:
    path = tmp_path / "templates.fgi"
    running = make_sync(populated, path)
    running.start()
    # Committed in SQL, then the process dies before apply(): neither the index nor its file heard of it.
    added, _ = enrol(populated, add_person(populated, "dan"), unit_vectors(rng, 2))
    victim = sorted(running.index.template_ids())[0]
    delete_templates(populated, [victim])
    del running
    restarted = make_sync(populated, path)
    assert restarted.start() == "rebuilt:stale-revision"
    assert_level(restarted, populated)
    assert {a[0] for a in added} <= restarted.index.template_ids() and victim not in restarted.index.template_ids()


def test_refresh_follows_inserts_and_deletes_made_elsewhere(db: Factory, rng: np.random.Generator) -> None:
    sync = make_sync(db, None)
    sync.start()
    assert len(sync.index) == 0 and sync.refresh() is False
    ada = add_person(db, "ada")
    added, revision = enrol(db, ada, unit_vectors(rng, 3))
    assert sync.refresh() is True
    assert sync.revision == revision
    assert_level(sync, db)
    assert sync.refresh() is False
    delete_templates(db, [added[0][0]])
    enrol(db, add_person(db, "bob"), unit_vectors(rng, 2))
    assert sync.refresh() is True
    assert_level(sync, db)
    with db.begin() as session:  # a person deleted: the database cascades to the templates
        session.execute(delete(Person).where(Person.id == ada))
        bump_template_revision(session)
    assert sync.refresh() is True
    assert_level(sync, db)
    assert all(sync.index.person_of(t) != ada for t in sync.index.template_ids())


def test_apply_takes_the_next_revision_and_leaves_a_gap(sqlite_db: Factory, rng: np.random.Generator) -> None:
    sync = make_sync(sqlite_db, None)
    sync.start()
    start = sync.revision
    ada = add_person(sqlite_db, "ada")
    added, revision = enrol(sqlite_db, ada, unit_vectors(rng, 2))
    sync.apply(added=added, revision=revision)
    assert revision == start + 1 and sync.revision == revision  # the next one: taken
    assert_level(sync, sqlite_db)
    # Another replica commits (revision + 1) and this one commits after it (revision + 2): a gap.
    enrol(sqlite_db, add_person(sqlite_db, "bob"), unit_vectors(rng, 1))
    mine, later = enrol(sqlite_db, ada, unit_vectors(rng, 1))
    sync.apply(added=mine, revision=later)
    assert sync.revision == revision  # not taken: bob's template is not in the index yet
    assert mine[0][0] in sync.index.template_ids()  # but this replica's own change is searchable already
    assert sync.refresh() is True
    assert sync.revision == later
    assert_level(sync, sqlite_db)
    removed = delete_templates(sqlite_db, [added[0][0]])
    sync.apply(removed_template_ids=[added[0][0]], revision=removed)
    assert sync.revision == removed and added[0][0] not in sync.index.template_ids()
    assert sync.refresh() is False
    assert_level(sync, sqlite_db)


def test_apply_of_a_change_that_a_refresh_already_read_is_ignored(sqlite_db: Factory, rng: np.random.Generator) -> None:
    """Enrol (revision r), delete it (r + 1), the refresh reads r + 1, then the late apply(r) arrives: applying
    it would resurrect the deleted template with nothing left to correct it."""
    sync = make_sync(sqlite_db, None)
    sync.start()
    added, revision = enrol(sqlite_db, add_person(sqlite_db, "ada"), unit_vectors(rng, 1))
    delete_templates(sqlite_db, [added[0][0]])
    sync.refresh()
    sync.apply(added=added, revision=revision)
    assert added[0][0] not in sync.index.template_ids()
    assert_level(sync, sqlite_db)


def test_a_reused_template_id_is_not_taken_for_the_deleted_template(
    sqlite_db: Factory, rng: np.random.Generator
) -> None:
    """Between two refreshes, the newest template (ada's) is deleted and one of bob's is inserted under the same id.
    Comparing ids alone would keep ada's face. Our tables are AUTOINCREMENT, but a SQLite table without it (a
    database restored from elsewhere, a hand-made one) gives the id of a deleted newest row to the next insert:
    that is simulated by winding the table's sequence back."""
    sync = make_sync(sqlite_db, None)
    ada, bob = add_person(sqlite_db, "ada"), add_person(sqlite_db, "bob")
    enrol(sqlite_db, bob, unit_vectors(rng, 2))
    (old,), _ = enrol(sqlite_db, ada, unit_vectors(rng, 1))
    sync.start()
    delete_templates(sqlite_db, [old[0]])
    with sqlite_db.begin() as session:
        session.execute(text("UPDATE sqlite_sequence SET seq = seq - 1 WHERE name = 'face_templates'"))
    (new,), _ = enrol(sqlite_db, bob, unit_vectors(rng, 1))
    assert new[0] == old[0], "the id was not reused: the test has lost its point"
    assert sync.refresh() is True
    assert sync.index.person_of(new[0]) == bob
    assert_level(sync, sqlite_db)
    assert sync.index.search(old[2], 1)[0][0].score < 0.99  # ada's face is gone


def test_a_bad_stored_embedding_is_skipped_and_logged(
    populated: Factory, rng: np.random.Generator, caplog: pytest.LogCaptureFixture
) -> None:
    person = add_person(populated, "eve")
    (short,), _ = enrol(populated, person, unit_vectors(rng, 1), raw=b"\0" * (4 * DIM - 4))
    (zero,), _ = enrol(populated, person, unit_vectors(rng, 1), raw=b"\0" * (4 * DIM))
    sync = make_sync(populated, None)
    with caplog.at_level(logging.ERROR, logger="service.index.sync"):
        sync.start()
    assert f"template {short[0]} skipped" in caplog.text and f"template {zero[0]} skipped" in caplog.text
    assert len(sync.index) == 9
    enrol(populated, person, unit_vectors(rng, 1))
    assert sync.refresh() is True and len(sync.index) == 10


def wait_for(condition: Callable[[], bool], timeout_s: float = 2.0) -> float:
    """Seconds until ``condition`` held; fails after ``timeout_s``."""
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout_s:
            pytest.fail(f"not within {timeout_s} s")
        time.sleep(0.01)
    return time.monotonic() - began


def test_two_replicas_follow_each_other_within_two_seconds(db: Factory, rng: np.random.Generator) -> None:
    replicas = [make_sync(db, None), make_sync(db, None)]
    for replica in replicas:
        replica.start()
        replica.run_polling(0.1)
    try:
        # An enrolment on replica 0: committed, applied locally, and picked up by replica 1's polling.
        added, revision = enrol(db, add_person(db, "ada"), unit_vectors(rng, 2))
        replicas[0].apply(added=added, revision=revision)
        assert added[0][0] in replicas[0].index.template_ids()
        wait_for(lambda: {a[0] for a in added} <= replicas[1].index.template_ids())
        assert replicas[1].index.search(added[1][2], 1)[0][0].template_id == added[1][0]
        # A deletion on replica 1, followed by replica 0.
        removed = delete_templates(db, [added[0][0]])
        replicas[1].apply(removed_template_ids=[added[0][0]], revision=removed)
        wait_for(lambda: added[0][0] not in replicas[0].index.template_ids())
        wait_for(lambda: all(r.revision == removed for r in replicas))
        for replica in replicas:
            assert_level(replica, db)
    finally:
        for replica in replicas:
            replica.stop()
    assert not any(r.status()["polling"] for r in replicas)


class FlakySessions:
    """A session factory whose first ``failures`` sessions fail as a database that is down does."""

    def __init__(self, factory: Factory, failures: int) -> None:
        self.factory, self.failures = factory, failures

    def __call__(self) -> Session:
        if self.failures > 0:
            self.failures -= 1
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("database is down"))
        return self.factory()


def test_polling_survives_database_errors(
    sqlite_db: Factory, rng: np.random.Generator, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = FlakySessions(sqlite_db, failures=0)
    sync = make_sync(flaky, None)  # type: ignore[arg-type]
    sync.start()
    flaky.failures = 5
    with caplog.at_level(logging.INFO, logger="service.index.sync"):
        sync.run_polling(0.05)
        try:
            wait_for(lambda: sync.status()["last_error"] is not None)
            added, _ = enrol(sqlite_db, add_person(sqlite_db, "ada"), unit_vectors(rng, 1))
            wait_for(lambda: added[0][0] in sync.index.template_ids())
            wait_for(lambda: sync.status()["last_error"] is None)
        finally:
            sync.stop()
    assert "index refresh failed" in caplog.text and "works again after 5 failures" in caplog.text
    assert caplog.text.count("Traceback") == 1  # one stack trace, not one per poll


def test_saves_are_throttled_and_stop_saves_the_rest(
    sqlite_db: Factory, tmp_path: Path, rng: np.random.Generator
) -> None:
    path = tmp_path / "templates.fgi"
    sync = make_sync(sqlite_db, path, save_interval_s=3600.0)
    assert sync.start() == "rebuilt:missing"
    saved = VectorIndex.load(path, dim=DIM)[1]
    added, revision = enrol(sqlite_db, add_person(sqlite_db, "ada"), unit_vectors(rng, 2))
    sync.apply(added=added, revision=revision)
    assert VectorIndex.load(path, dim=DIM)[1] == saved  # not saved on every enrolment
    sync.stop()
    loaded, stamp = VectorIndex.load(path, dim=DIM)
    assert stamp.revision == revision and loaded.template_ids() == sync.index.template_ids()
    assert make_sync(sqlite_db, path).start() == "loaded"


def test_concurrent_applies_and_refreshes_end_level_with_sql(db: Factory, rng: np.random.Generator) -> None:
    sync = make_sync(db, None)
    sync.start()
    sync.run_polling(0.02)
    people = [add_person(db, f"p{i}") for i in range(4)]
    errors: list[BaseException] = []

    def worker(person: int, seed: int) -> None:
        local = np.random.default_rng(seed)
        try:
            for step in range(6):
                added, revision = enrol(db, person, unit_vectors(local, 2))
                sync.apply(added=added, revision=revision)
                if step % 2:
                    removed = delete_templates(db, [added[0][0]])
                    sync.apply(removed_template_ids=[added[0][0]], revision=removed)
                sync.index.search(unit_vectors(local, 1)[0], 3)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(p, i)) for i, p in enumerate(people)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert not errors, errors[0]
        with db() as session:
            final = current_template_revision(session)
        wait_for(lambda: sync.revision == final, timeout_s=5)
        assert_level(sync, db)
    finally:
        sync.stop()


def test_status_reports_what_readiness_and_metrics_need(populated: Factory, tmp_path: Path) -> None:
    sync = make_sync(populated, tmp_path / "t.fgi", config=IndexConfig(kind="hnsw"))
    sync.start()
    sync.refresh()
    status = sync.status()
    assert status["size"] == 9 and status["kind"] == "hnsw" and status["structure"] == "hnsw"
    assert status["model_id"] == MODEL and status["revision"] == sync.revision
    assert status["started"] == "rebuilt:missing" and status["path"] == str(tmp_path / "t.fgi")
    assert status["last_refresh"] is not None and status["polling"] is False


def test_run_polling_twice_or_with_a_bad_interval_is_refused(sqlite_db: Factory) -> None:
    sync = make_sync(sqlite_db, None)
    with pytest.raises(ValueError, match="interval"):
        sync.run_polling(0)
    sync.run_polling(1.0)
    try:
        with pytest.raises(RuntimeError, match="already"):
            sync.run_polling(1.0)
    finally:
        sync.stop()
    sync.stop()  # twice is harmless


def test_an_update_of_the_revision_row_alone_is_followed(sqlite_db: Factory) -> None:
    """A revision bump with no template change (e.g. another model's templates) moves the index's revision."""
    sync = make_sync(sqlite_db, None)
    sync.start()
    with sqlite_db.begin() as session:
        bump_template_revision(session)
        session.execute(update(Person).values(display_name="x"))
    assert sync.refresh() is False
    with sqlite_db() as session:
        assert sync.revision == current_template_revision(session)
