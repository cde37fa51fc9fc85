"""Engines and sessions.

:func:`create_db_engine` knows each dialect's needs (SQLite: foreign keys on, WAL, a busy timeout, usable from
FastAPI's worker threads; PostgreSQL: pre-ping so a restarted server costs no failed request).
The app builds one engine and one :func:`make_sessionmaker` in its lifespan and keeps the factory in
``app.state.sessionmaker``; :func:`service.api.deps.get_session` hands a session to each request (HTTP knowledge
stays in the HTTP layer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 5000


def create_db_engine(url: str | URL, *, echo: bool = False, sqlite_foreign_keys: bool = True) -> Engine:
    """An engine for ``url``, set up for its dialect.

    For a SQLite file, its folder is created. ``sqlite_foreign_keys=False`` is for migrations only: Alembic's
    batch mode copies and drops tables, and with foreign keys on, that drop would cascade into other tables.
    """
    url = make_url(url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, echo=echo, pool_pre_ping=True)

    in_memory = url.database in (None, "", ":memory:") or "mode=memory" in str(url.query)
    if not in_memory and url.database is not None:
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    # Sessions are used from the worker threads that run FastAPI's sync dependencies.
    engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA foreign_keys = {'ON' if sqlite_foreign_keys else 'OFF'}")
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if not in_memory:
                # Readers do not block the writer (and the other way round): the service reads while it logs.
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """The session factory of ``engine``. Objects stay readable after commit (the API returns them)."""
    return sessionmaker(bind=engine, expire_on_commit=False)
