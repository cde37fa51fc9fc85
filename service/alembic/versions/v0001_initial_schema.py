"""Initial schema: people, face templates, doors, groups, rules, API keys, the append-only access log, and the
template revision counter.

Timestamps are ``DateTime(timezone=True)`` here, the storage of the models' ``UTCDateTime`` (a migration does not
import application types, so that it keeps meaning what it meant when it was written). For the same reason every
constraint and index is named here in full (``op.f``) rather than by the models' naming convention.

On SQLite, the tables whose rows can be deleted are AUTOINCREMENT, so that a deleted row's id is never handed
to the next insert (ids held outside the database — the vector index, clients, the log — must never come to name
someone else); PostgreSQL's sequences never go back anyway.

The access log's append-only guard is a trigger on each dialect. On SQLite its UPDATE trigger names the columns:
a later migration that adds a column to ``access_log``, or rebuilds it in batch mode (which drops its triggers),
must recreate the triggers.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The foreign keys of access_log: their ON DELETE SET NULL is the one update the log accepts.
_LOG_REFERENCES = ("door_id", "key_id", "person_id")
_LOG_VALUES = (
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


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _pk(table: str, *columns: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint(*columns, name=op.f(f"pk_{table}"))


def _check(table: str, name: str, condition: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(condition, name=op.f(f"ck_{table}_{name}"))


def _choice(table: str, column: str, type_name: str, *values: str) -> tuple[sa.Column[object], sa.CheckConstraint]:
    """A VARCHAR column limited to ``values``: what the models' non-native ``Enum`` creates."""
    allowed = ", ".join(f"'{value}'" for value in values)
    return sa.Column(column, sa.String(16), nullable=False), _check(table, type_name, f"{column} IN ({allowed})")


def _validity(table: str) -> tuple[sa.Column[object], sa.Column[object], sa.CheckConstraint]:
    check = "valid_until IS NULL OR valid_from IS NULL OR valid_until > valid_from"
    return _ts("valid_from", nullable=True), _ts("valid_until", nullable=True), _check(table, "validity", check)


def _fk(column: str, target: str, ondelete: str, table: str) -> sa.ForeignKeyConstraint:
    name = op.f(f"fk_{table}_{column}_{target}")
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=name, ondelete=ondelete)


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("id", sa.Integer()),
        sa.Column("external_id", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        *_choice("people", "status", "person_status", "active", "suspended"),
        *_validity("people"),
        _ts("created_at"),
        _ts("updated_at"),
        sa.UniqueConstraint("external_id", name=op.f("uq_people_external_id")),
        _pk("people", "id"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "face_templates",
        sa.Column("id", sa.Integer()),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("embedding_dim", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.String(64), nullable=False),
        *(sa.Column(name, sa.Float(), nullable=False) for name in ("interocular_px", "det_score", "blur")),
        *(sa.Column(name, sa.Float(), nullable=False) for name in ("yaw", "pitch", "roll")),
        _ts("created_at"),
        sa.Column("aligned_crop", sa.LargeBinary(), nullable=True),
        _check("face_templates", "embedding_dim_positive", "embedding_dim > 0"),
        _fk("person_id", "people", "CASCADE", "face_templates"),
        _pk("face_templates", "id"),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_face_templates_person_id"), "face_templates", ["person_id"])
    op.create_index(op.f("ix_face_templates_model_id"), "face_templates", ["model_id"])

    op.create_table(
        "doors",
        sa.Column("id", sa.Integer()),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint("name", name=op.f("uq_doors_name")),
        _pk("doors", "id"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "groups",
        sa.Column("id", sa.Integer()),
        sa.Column("name", sa.String(100), nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint("name", name=op.f("uq_groups_name")),
        _pk("groups", "id"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.Integer()),
        sa.Column("person_id", sa.Integer()),
        _fk("group_id", "groups", "CASCADE", "group_members"),
        _fk("person_id", "people", "CASCADE", "group_members"),
        _pk("group_members", "group_id", "person_id"),
    )
    op.create_index(op.f("ix_group_members_person_id"), "group_members", ["person_id"])

    op.create_table(
        "access_rules",
        sa.Column("id", sa.Integer()),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("door_id", sa.Integer(), nullable=True),
        *_validity("access_rules"),
        _ts("created_at"),
        _check("access_rules", "one_subject", "(person_id IS NULL) <> (group_id IS NULL)"),
        _fk("person_id", "people", "CASCADE", "access_rules"),
        _fk("group_id", "groups", "CASCADE", "access_rules"),
        _fk("door_id", "doors", "CASCADE", "access_rules"),
        _pk("access_rules", "id"),
        sqlite_autoincrement=True,
    )
    for column in ("person_id", "group_id", "door_id"):
        op.create_index(op.f(f"ix_access_rules_{column}"), "access_rules", [column])

    op.create_table(
        "rule_windows",
        sa.Column("id", sa.Integer()),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        sa.Column("start_minute", sa.SmallInteger(), nullable=False),
        sa.Column("end_minute", sa.SmallInteger(), nullable=False),
        _check("rule_windows", "weekday_range", "weekday BETWEEN 0 AND 6"),
        _check("rule_windows", "start_range", "start_minute BETWEEN 0 AND 1439"),
        _check("rule_windows", "end_range", "end_minute BETWEEN 0 AND 1440"),
        _check("rule_windows", "not_empty", "start_minute <> end_minute"),
        _fk("rule_id", "access_rules", "CASCADE", "rule_windows"),
        _pk("rule_windows", "id"),
    )
    op.create_index(op.f("ix_rule_windows_rule_id"), "rule_windows", ["rule_id"])

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer()),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(128), nullable=False),
        *_choice("api_keys", "role", "key_role", "admin", "terminal", "auditor"),
        _ts("created_at"),
        _ts("revoked_at", nullable=True),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
        _pk("api_keys", "id"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "api_key_doors",
        sa.Column("key_id", sa.Integer()),
        sa.Column("door_id", sa.Integer()),
        _fk("key_id", "api_keys", "CASCADE", "api_key_doors"),
        _fk("door_id", "doors", "CASCADE", "api_key_doors"),
        _pk("api_key_doors", "key_id", "door_id"),
    )
    op.create_index(op.f("ix_api_key_doors_door_id"), "api_key_doors", ["door_id"])

    op.create_table(
        "access_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True),
        _ts("ts"),
        sa.Column("door_id", sa.Integer(), nullable=True),
        sa.Column("door_name", sa.String(100), nullable=True),
        sa.Column("key_id", sa.Integer(), nullable=True),
        *_choice("access_log", "decision", "decision", "granted", "denied"),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("person_external_id", sa.String(64), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("margin", sa.Float(), nullable=True),
        sa.Column("quality", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("model_id", sa.String(64), nullable=True),
        _fk("door_id", "doors", "SET NULL", "access_log"),
        _fk("key_id", "api_keys", "SET NULL", "access_log"),
        _fk("person_id", "people", "SET NULL", "access_log"),
        _pk("access_log", "id"),
    )
    op.create_index(op.f("ix_access_log_ts"), "access_log", ["ts"])
    op.create_index(op.f("ix_access_log_key_id"), "access_log", ["key_id"])
    op.create_index(op.f("ix_access_log_door_id_ts"), "access_log", ["door_id", "ts"])
    op.create_index(op.f("ix_access_log_person_id_ts"), "access_log", ["person_id", "ts"])
    _create_append_only_guard()

    op.create_table(
        "template_revision",
        sa.Column("id", sa.Integer(), autoincrement=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        _check("template_revision", "single_row", "id = 1"),
        _pk("template_revision", "id"),
    )
    op.execute("INSERT INTO template_revision (id, revision) VALUES (1, 0)")


def downgrade() -> None:
    _drop_append_only_guard()
    for table in (
        "template_revision",
        "access_log",
        "api_key_doors",
        "api_keys",
        "rule_windows",
        "access_rules",
        "group_members",
        "groups",
        "doors",
        "face_templates",
        "people",
    ):
        op.drop_table(table)


def _create_append_only_guard() -> None:
    """Refuse UPDATE and DELETE on access_log (and TRUNCATE on PostgreSQL), except an update that sets door_id,
    key_id or person_id to NULL and changes nothing else: the ON DELETE SET NULL of a deleted door, key or person.
    A no-op update is refused too."""
    if op.get_context().dialect.name == "postgresql":
        strip = "".join(f" - '{column}'" for column in _LOG_REFERENCES)
        references_kept = " AND ".join(f"(NEW.{c} IS NULL OR NEW.{c} = OLD.{c})" for c in _LOG_REFERENCES)
        one_nulled = " OR ".join(f"(NEW.{c} IS NULL AND OLD.{c} IS NOT NULL)" for c in _LOG_REFERENCES)
        op.execute(f"""
            CREATE FUNCTION access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'UPDATE' THEN
                    IF (to_jsonb(NEW){strip}) = (to_jsonb(OLD){strip}) AND {references_kept} AND ({one_nulled}) THEN
                        RETURN NEW;
                    END IF;
                END IF;
                RAISE EXCEPTION '{_REFUSED}: % refused', TG_OP USING ERRCODE = 'restrict_violation';
            END
            $$""")
        op.execute("""
            CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log
            FOR EACH ROW EXECUTE FUNCTION access_log_append_only()""")
        op.execute("""
            CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log
            FOR EACH STATEMENT EXECUTE FUNCTION access_log_append_only()""")
    else:
        unchanged = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in _LOG_VALUES)
        references_kept = " AND ".join(f"(NEW.{c} IS NULL OR NEW.{c} IS OLD.{c})" for c in _LOG_REFERENCES)
        one_nulled = " OR ".join(f"(NEW.{c} IS NULL AND OLD.{c} IS NOT NULL)" for c in _LOG_REFERENCES)
        op.execute(f"""
            CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
            WHEN NOT ({unchanged} AND {references_kept} AND ({one_nulled}))
            BEGIN SELECT RAISE(ABORT, '{_REFUSED}: UPDATE refused'); END""")
        op.execute(f"""
            CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log
            BEGIN SELECT RAISE(ABORT, '{_REFUSED}: DELETE refused'); END""")


def _drop_append_only_guard() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS access_log_no_truncate ON access_log")
        op.execute("DROP TRIGGER IF EXISTS access_log_append_only ON access_log")
        op.execute("DROP FUNCTION IF EXISTS access_log_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS access_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS access_log_no_delete")
