"""Row and database locks for the checks that must hold until their transaction ends: "this row still exists"
before a row that refers to it is written, "another admin key exists" before one is revoked.

SQLite has one writer at a time; a write that changes nothing takes the database's write lock at once, so the reads
that follow see what the previous writer committed and nobody commits in between (Python's sqlite3 runs reads
before the first write outside any transaction, which is how both sides of a race once read the old state).
PostgreSQL locks rows: ``FOR KEY SHARE`` keeps a referenced row from being deleted (or its key changed) until
commit, without blocking other readers or writers of its other columns.
"""

from __future__ import annotations

from sqlalchemy import false, select, update
from sqlalchemy.orm import Session

from service.db.models import Base, TemplateRevision


def take_write_lock(session: Session) -> None:
    """SQLite: take the database's write lock now, before this transaction reads anything. Elsewhere nothing."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(TemplateRevision)
            .where(false())
            .values(revision=TemplateRevision.revision)
            .execution_options(synchronize_session=False)
        )


def keep_row(session: Session, model: type[Base], row_id: int | None) -> int | None:
    """``row_id`` if that row of ``model`` exists, locked against deletion until this transaction ends; else None.

    Call :func:`take_write_lock` first in the transaction (SQLite).
    """
    if row_id is None:
        return None
    column = model.__table__.c.id
    statement = select(column).where(column == row_id)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(key_share=True)
    found: int | None = session.scalar(statement)
    return found
