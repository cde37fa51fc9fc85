"""Databases for the index-sync tests: a migrated SQLite file per test, and a migrated PostgreSQL database on the
session's private server (the ``postgres`` fixture of tests/service/conftest.py, which skips without binaries)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg import PostgresServer
from sqlalchemy import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from service.db.migrate import upgrade
from service.db.session import create_db_engine, make_sessionmaker


@pytest.fixture(scope="session")
def index_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("index-sqlite") / "facegate.db"
    upgrade(make_url(f"sqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def index_postgres_template(postgres: PostgresServer) -> URL:
    url = postgres.create_database("indextemplate")
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[URL]:
    """A fresh migrated database of each dialect."""
    if request.param == "sqlite":
        yield sqlite_copy(request.getfixturevalue("index_sqlite_template"), tmp_path)
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.create_database("index", template=request.getfixturevalue("index_postgres_template"))
    yield url
    server.drop_database(url)


@pytest.fixture
def sqlite_url(index_sqlite_template: Path, tmp_path: Path) -> URL:
    return sqlite_copy(index_sqlite_template, tmp_path)


def sqlite_copy(template: Path, folder: Path) -> URL:
    path = folder / "facegate.db"
    shutil.copyfile(template, path)
    return make_url(f"sqlite:///{path}")


@pytest.fixture
def db(any_db_url: URL) -> Iterator[sessionmaker[Session]]:
    """A session factory on a fresh database of each dialect."""
    engine = create_db_engine(any_db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def sqlite_db(sqlite_url: URL) -> Iterator[sessionmaker[Session]]:
    engine = create_db_engine(sqlite_url)
    yield make_sessionmaker(engine)
    engine.dispose()
