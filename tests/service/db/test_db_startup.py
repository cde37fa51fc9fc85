"""The start sequence's database steps (:func:`service.startup.prepare_database`, behind ``facegate serve`` and
``facegate db upgrade``) on SQLite and a real PostgreSQL: idempotent, and two containers starting at once with the
same operator key both succeed and store it once."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from pydantic import SecretStr
from sqlalchemy import URL, create_engine, inspect, text
from sqlalchemy.pool import NullPool

from service.config import Settings
from service.db.migrate import alembic_config
from service.domain.keys import generate_token, token_prefix
from service.repositories import keys as keys_repo
from service.startup import prepare_database

BARRIER_WAIT_S = 1.5


def settings_for(url: URL, token: str | None, **more: Any) -> Settings:
    return Settings(
        database_url=url.render_as_string(hide_password=False),
        admin_key=SecretStr(token) if token else None,
        allow_insecure_db_password=True,  # FACEGATE_TEST_PG_URL may name a server with a weak password
        **more,
    )


def prefixes(url: URL) -> list[str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text("SELECT prefix FROM api_keys")).scalars())
    finally:
        engine.dispose()


def test_prepare_migrates_and_stores_the_key_once(empty_url: URL) -> None:
    token = generate_token()
    for _ in range(2):
        prepare_database(settings_for(empty_url, token, db_wait_s=5))
        engine = create_engine(empty_url, poolclass=NullPool)
        with engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        engine.dispose()
        assert version == ScriptDirectory.from_config(alembic_config(empty_url)).get_current_head()
        assert prefixes(empty_url) == [token_prefix(token)]


def test_without_migrate_on_start_it_only_waits(empty_url: URL) -> None:
    """A replica of the lb profile (FACEGATE_MIGRATE_ON_START=false) leaves the schema to `api`."""
    prepare_database(settings_for(empty_url, None, migrate_on_start=False, db_wait_s=5))
    engine = create_engine(empty_url, poolclass=NullPool)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


@pytest.mark.parametrize("order", ["together", "interleaved"])
def test_two_starts_at_once_store_the_key_once(db_url: URL, monkeypatch: pytest.MonkeyPatch, order: str) -> None:
    """Two containers start at once with the same operator key; both look, find none, and insert. ``together``:
    a barrier after the look lines them up, and the second insert violates the unique prefix. ``interleaved``:
    the second looks, then waits until the first has stored the key, so the insert's own check finds it
    (key_exists). Either way the loser looks again and finds the winner's row; both starts succeed."""
    token = generate_token()
    barrier = threading.Barrier(2, timeout=BARRIER_WAIT_S)
    second_looked, first_done = threading.Event(), threading.Event()
    original = keys_repo.create_key

    def lined_up_create_key(*args: Any, **kwargs: Any) -> Any:
        if order == "together":
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()
        elif threading.current_thread().name == "second":
            second_looked.set()
            assert first_done.wait(timeout=120)
        else:
            assert second_looked.wait(timeout=120)
        return original(*args, **kwargs)

    monkeypatch.setattr(keys_repo, "create_key", lined_up_create_key)
    failures: list[BaseException] = []

    def start() -> None:
        try:
            prepare_database(settings_for(db_url, token), migrate=False)
        except BaseException as exc:  # reported below, with the other thread's outcome
            failures.append(exc)
        finally:
            if threading.current_thread().name == "first":
                first_done.set()

    threads = [threading.Thread(target=start, name=name) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    assert not failures, failures
    assert prefixes(db_url) == [token_prefix(token)]
