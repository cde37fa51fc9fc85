"""The access log records the rule that granted access (``rule_id``), and SQLite refuses an insert that would
replace an existing entry.

``INSERT OR REPLACE`` (and ``REPLACE``) over an existing id deletes the old row without firing SQLite's delete
trigger (unless ``recursive_triggers`` is on, which a connection chooses for itself): a grant could be rewritten
into a denial. A ``BEFORE INSERT`` trigger that finds the id taken refuses it. PostgreSQL's ``ON CONFLICT DO
UPDATE`` goes through its update trigger already, and that trigger compares whole rows, so ``rule_id`` is covered
there without a change. SQLite's update trigger names its columns: it is recreated with ``rule_id``.

``rule_id`` has no foreign key on purpose: it records which rule it was when the decision was made; a rule
deleted later must neither erase that (SET NULL is an update the log refuses) nor block the deletion. Rule ids
are never reused (AUTOINCREMENT on SQLite, sequences on PostgreSQL).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LOG_REFERENCES = ("door_id", "key_id", "person_id")
_LOG_VALUES_0001 = (
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
)
_REFUSED = "access_log is append-only"


def upgrade() -> None:
    op.add_column("access_log", sa.Column("rule_id", sa.Integer(), nullable=True))
    if op.get_context().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS access_log_no_update")
        _create_sqlite_update_guard((*_LOG_VALUES_0001, "rule_id"))
        op.execute(f"""
            CREATE TRIGGER access_log_no_replace BEFORE INSERT ON access_log
            WHEN NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM access_log WHERE id = NEW.id)
            BEGIN SELECT RAISE(ABORT, '{_REFUSED}: INSERT over an existing entry refused'); END""")


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS access_log_no_replace")
        op.execute("DROP TRIGGER IF EXISTS access_log_no_update")
        op.execute("ALTER TABLE access_log DROP COLUMN rule_id")
        _create_sqlite_update_guard(_LOG_VALUES_0001)
    else:
        op.drop_column("access_log", "rule_id")


def _create_sqlite_update_guard(values: Sequence[str]) -> None:
    """Revision 0001's update trigger over ``values``: only the ON DELETE SET NULL of a reference goes through."""
    unchanged = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in values)
    references_kept = " AND ".join(f"(NEW.{c} IS NULL OR NEW.{c} IS OLD.{c})" for c in _LOG_REFERENCES)
    one_nulled = " OR ".join(f"(NEW.{c} IS NULL AND OLD.{c} IS NOT NULL)" for c in _LOG_REFERENCES)
    op.execute(f"""
        CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
        WHEN NOT ({unchanged} AND {references_kept} AND ({one_nulled}))
        BEGIN SELECT RAISE(ABORT, '{_REFUSED}: UPDATE refused'); END""")
