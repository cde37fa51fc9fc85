"""The template revision: one number that every template change bumps in its own transaction.

Each replica remembers the revision its index was built at; a different number in SQL means "re-read the
templates". Bumping with a single ``UPDATE ... RETURNING`` takes the row lock, so concurrent enrolments get
distinct, increasing revisions on PostgreSQL (and SQLite serialises writers anyway).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.db.models import TemplateRevision


def current_template_revision(session: Session) -> int:
    """The revision now committed (0 on a fresh database)."""
    revision = session.scalar(select(TemplateRevision.revision).where(TemplateRevision.id == 1))
    if revision is None:
        raise LookupError("template_revision has no row: is the database migrated?")
    return revision


def bump_template_revision(session: Session) -> int:
    """Add one to the revision, inside the caller's transaction, and return the new value."""
    statement = (
        update(TemplateRevision)
        .where(TemplateRevision.id == 1)
        .values(revision=TemplateRevision.revision + 1)
        .returning(TemplateRevision.revision)
    )
    revision = session.scalar(statement)
    if revision is None:
        raise LookupError("template_revision has no row: is the database migrated?")
    return revision
