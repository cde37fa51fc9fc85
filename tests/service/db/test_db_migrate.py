"""Migrations on SQLite and PostgreSQL: empty → head creates what the models describe (same types, same
constraint names), head → base → head round-trips, the offline SQL carries the triggers, and
``wait_for_database`` gives up cleanly."""

from __future__ import annotations

import io
import socket
import time
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Engine, inspect, make_url, text

from service.config import get_settings
from service.db.migrate import (
    MIGRATIONS_DIR,
    DatabaseUnavailableError,
    alembic_config,
    downgrade,
    upgrade,
    wait_for_database,
)
from service.db.models import Base
from service.db.session import create_db_engine

REPO_ROOT = Path(__file__).resolve().parents[3]
TABLES = {t.name for t in Base.metadata.sorted_tables}
EXPECTED_TRIGGERS = {
    "postgresql": {"access_log_append_only", "access_log_no_truncate"},
    "sqlite": {"access_log_no_update", "access_log_no_delete", "access_log_no_replace"},
}


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def _triggers(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
        else:
            query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        return set(connection.scalars(text(query)))


def test_upgrade_from_empty_creates_every_table_and_the_guard(empty_url: URL) -> None:
    upgrade(empty_url)
    engine = create_db_engine(empty_url)
    try:
        _assert_at_head(engine)
    finally:
        engine.dispose()


def test_each_test_database_is_at_head(engine: Engine) -> None:
    _assert_at_head(engine)


def _assert_at_head(engine: Engine) -> None:
    assert set(inspect(engine).get_table_names()) == TABLES | {"alembic_version"}
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == _head()
        assert connection.execute(text("SELECT id, revision FROM template_revision")).all() == [(1, 0)]
    assert _triggers(engine) == EXPECTED_TRIGGERS[engine.dialect.name]


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_constraint_names_match_the_models(engine: Engine) -> None:
    inspector = inspect(engine)
    for table in Base.metadata.sorted_tables:
        expected_checks = {str(c.name) for c in table.constraints if c.__class__.__name__ == "CheckConstraint"}
        expected_fks = {str(fk.name) for fk in table.foreign_key_constraints}
        expected_indexes = {str(index.name) for index in table.indexes}
        expected_uniques = {str(c.name) for c in table.constraints if c.__class__.__name__ == "UniqueConstraint"}
        assert {c["name"] for c in inspector.get_check_constraints(table.name)} == expected_checks, table.name
        assert {fk["name"] for fk in inspector.get_foreign_keys(table.name)} == expected_fks, table.name
        indexes = {i["name"] for i in inspector.get_indexes(table.name) if "duplicates_constraint" not in i}
        assert indexes == expected_indexes, table.name
        assert {u["name"] for u in inspector.get_unique_constraints(table.name)} == expected_uniques, table.name
        # SQLite writes an AUTOINCREMENT key inline (`id INTEGER PRIMARY KEY AUTOINCREMENT`), where it has no name.
        inline = engine.dialect.name == "sqlite" and table.kwargs.get("sqlite_autoincrement")
        assert inspector.get_pk_constraint(table.name)["name"] == (None if inline else f"pk_{table.name}")


def test_downgrade_to_base_then_upgrade_again(db_url: URL) -> None:
    downgrade(db_url, "base")
    engine = create_db_engine(db_url)
    try:
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        assert _triggers(engine) == set()
        if engine.dialect.name == "postgresql":
            with engine.connect() as connection:
                assert connection.scalar(text("SELECT to_regprocedure('access_log_append_only()')")) is None
        upgrade(db_url)
        inspector = inspect(engine)
        assert set(inspector.get_table_names()) == TABLES | {"alembic_version"}
        assert _triggers(engine) == EXPECTED_TRIGGERS[engine.dialect.name]
    finally:
        engine.dispose()


@pytest.mark.parametrize("url", ["sqlite:///unused.db", "postgresql+psycopg://u@localhost/unused"])
def test_offline_sql_has_the_guard(url: str) -> None:
    config = alembic_config(url)
    config.output_buffer = io.StringIO()
    command.upgrade(config, "head", sql=True)
    sql = config.output_buffer.getvalue()
    assert "CREATE TABLE access_log" in sql and "CREATE TRIGGER" in sql
    assert ("CREATE FUNCTION access_log_append_only" in sql) == url.startswith("postgresql")


def test_alembic_ini_and_settings_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`alembic upgrade head` from the repository root takes the URL from FACEGATE_DATABASE_URL."""
    database = tmp_path / "var" / "cli.db"  # its folder does not exist yet
    monkeypatch.setenv("FACEGATE_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.chdir(REPO_ROOT)
    get_settings.cache_clear()
    try:
        command.upgrade(Config(str(REPO_ROOT / "alembic.ini")), "head")
    finally:
        get_settings.cache_clear()
    engine = create_db_engine(make_url(f"sqlite:///{database}"))
    try:
        assert set(inspect(engine).get_table_names()) == TABLES | {"alembic_version"}
    finally:
        engine.dispose()
    assert MIGRATIONS_DIR == REPO_ROOT / "service" / "alembic"


def test_wait_for_database_returns_when_up(empty_url: URL) -> None:
    wait_for_database(empty_url, timeout_s=5)


def test_wait_for_database_creates_the_sqlite_folder(tmp_path: Path) -> None:
    wait_for_database(f"sqlite:///{tmp_path / 'var' / 'facegate.db'}", timeout_s=0)
    assert (tmp_path / "var" / "facegate.db").is_file()


def test_wait_for_database_times_out_on_a_closed_port() -> None:
    with socket.socket() as sock:  # a port nothing listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        url = f"postgresql+psycopg://facegate:s3cret@127.0.0.1:{port}/facegate"
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailableError) as raised:
            wait_for_database(url, timeout_s=1.0, interval_s=0.2)
        elapsed = time.monotonic() - started
    message = str(raised.value)
    assert elapsed >= 1.0  # waited its whole timeout (no upper bound: a busy machine may be slow)
    assert f"127.0.0.1:{port}" in message and "not reachable after 1 s" in message
    assert "s3cret" not in message


def test_wait_for_database_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        wait_for_database("sqlite://", timeout_s=-1)
