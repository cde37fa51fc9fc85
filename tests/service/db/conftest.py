"""Fixtures of the storage tests: each test gets a fresh database on SQLite (a file) and on PostgreSQL
(a private server started once per session, see tests/pg.py).

Without PostgreSQL server binaries the PostgreSQL cases skip, except when ``FACEGATE_REQUIRE_PG=1`` (CI),
where they fail: CI must never pass by skipping the PostgreSQL half.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg import PostgresServer
from sqlalchemy import URL, Engine, make_url
from sqlalchemy.orm import Session

from service.db.migrate import upgrade
from service.db.session import create_db_engine, make_sessionmaker

DIALECTS = ["sqlite", "postgresql"]


@pytest.fixture(params=DIALECTS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[URL]:
    """The URL of a fresh, empty database of each dialect."""
    if request.param == "sqlite":
        yield make_url(f"sqlite:///{tmp_path / 'facegate.db'}")
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.create_database()
    yield url
    server.drop_database(url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "facegate.db"
    upgrade(make_url(f"sqlite:///{path}"))  # the engine is disposed after: the WAL is folded into the file
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres: PostgresServer) -> URL:
    """A PostgreSQL database migrated to head, the template of each test's database."""
    url = postgres.create_database("template")
    upgrade(url)
    return url


@pytest.fixture(params=DIALECTS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[URL]:
    """A fresh database of each dialect at the newest revision."""
    if request.param == "sqlite":
        path = tmp_path / "facegate.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield make_url(f"sqlite:///{path}")
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.create_database(template=request.getfixturevalue("postgres_template"))
    yield url
    server.drop_database(url)


@pytest.fixture
def engine(db_url: URL) -> Iterator[Engine]:
    engine = create_db_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with make_sessionmaker(engine)() as session:
        yield session
