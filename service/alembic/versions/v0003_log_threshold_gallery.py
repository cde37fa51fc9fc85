"""The access log says why: the threshold in force and the gallery size it was derived for.

``threshold`` (the cosine score a face had to reach) and ``gallery_size`` (templates searched) are nullable: rows
written before this revision have neither. On SQLite the append-only UPDATE trigger names every column, so it is
recreated with the two new ones (otherwise an UPDATE that changed only them would pass); PostgreSQL's trigger
compares whole rows and needs nothing.

Revision ID: 0003
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LOG_REFERENCES = ("door_id", "key_id", "person_id")
_LOG_VALUES_BEFORE = (
    "id",
    "ts",
    "door_name",
    "decision",
    "reason",
    "person_external_id",
    "score",
    "margin",
    "quality",
    "latency_ms",
    "model_id",
    "rule_id",  # revision 0002
)
_NEW = ("threshold", "gallery_size")
_REFUSED = "access_log is append-only"


def upgrade() -> None:
    op.add_column("access_log", sa.Column("threshold", sa.Float(), nullable=True))
    op.add_column("access_log", sa.Column("gallery_size", sa.Integer(), nullable=True))
    if op.get_context().dialect.name != "postgresql":
        _sqlite_update_guard(_LOG_VALUES_BEFORE + _NEW)


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        _sqlite_update_guard(_LOG_VALUES_BEFORE)
    with op.batch_alter_table("access_log", recreate="never") as batch:
        batch.drop_column("gallery_size")
        batch.drop_column("threshold")


def _sqlite_update_guard(values: tuple[str, ...]) -> None:
    """(Re)create SQLite's UPDATE guard naming ``values``: as 0001 and 0002 wrote it, with these columns."""
    op.execute("DROP TRIGGER IF EXISTS access_log_no_update")
    unchanged = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in values)
    references_kept = " AND ".join(f"(NEW.{c} IS NULL OR NEW.{c} IS OLD.{c})" for c in _LOG_REFERENCES)
    one_nulled = " OR ".join(f"(NEW.{c} IS NULL AND OLD.{c} IS NOT NULL)" for c in _LOG_REFERENCES)
    op.execute(f"""
        CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
        WHEN NOT ({unchanged} AND {references_kept} AND ({one_nulled}))
        BEGIN SELECT RAISE(ABORT, '{_REFUSED}: UPDATE refused'); END""")
