"""The SQL schema: SQLAlchemy 2 typed declarative models.

SQL is the source of truth (DESIGN.md): people, face templates, doors, groups, rules, API keys and the append-only
decision log. The FAISS index is rebuilt from here; ``template_revision`` tells replicas when to follow.
Every timestamp is an aware UTC ``datetime`` (:class:`~service.db.types.UTCDateTime`).

The schema is created by the Alembic migrations in ``service/alembic`` (never by ``create_all`` in production);
a test checks that the migrations and these models agree.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from service.db.types import UTCDateTime, utcnow, validate_timezone
from service.domain.outcomes import Decision as Decision  # a rule's word; the log stores it

# Stable constraint names, so that migrations can drop and alter them on every dialect.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid); BIGINT there would need explicit ids.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


# SQLite hands a deleted row's id to the next insert unless the table is AUTOINCREMENT (migration 0002); ids held
# outside the database (the vector index, clients, the log) must never come to name someone else.
_NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class PersonStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class KeyRole(enum.StrEnum):
    ADMIN = "admin"
    TERMINAL = "terminal"
    AUDITOR = "auditor"


def _str_enum(cls: type[enum.StrEnum], name: str) -> Enum:
    """A portable enum column: VARCHAR + a named CHECK of the allowed values (no PostgreSQL ENUM type to migrate)."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Person(Base):
    """Someone who may be let in. ``external_id`` is the operator's id (badge number), unique."""

    __tablename__ = "people"
    __table_args__ = (
        CheckConstraint("valid_until IS NULL OR valid_from IS NULL OR valid_until > valid_from", name="validity"),
        _NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[PersonStatus] = mapped_column(_str_enum(PersonStatus, "person_status"), default=PersonStatus.ACTIVE)
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # The database deletes templates with the person (ON DELETE CASCADE); passive_deletes lets it.
    templates: Mapped[list[FaceTemplate]] = relationship(
        back_populates="person", cascade="all, delete-orphan", passive_deletes=True
    )


class FaceTemplate(Base):
    """One enrolled face: its embedding (raw little-endian float32 bytes) and the model that produced it.

    Embeddings from different models are never compared: readers filter on ``model_id``. ``aligned_crop`` is
    kept only when the operator opted in (to re-embed for a new model); it is stored as given (encrypted by the
    caller when kept).
    """

    __tablename__ = "face_templates"
    __table_args__ = (CheckConstraint("embedding_dim > 0", name="embedding_dim_positive"), _NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    embedding_dim: Mapped[int]
    model_id: Mapped[str] = mapped_column(String(64), index=True)
    interocular_px: Mapped[float] = mapped_column(Float)
    det_score: Mapped[float] = mapped_column(Float)
    blur: Mapped[float] = mapped_column(Float)
    yaw: Mapped[float] = mapped_column(Float)
    pitch: Mapped[float] = mapped_column(Float)
    roll: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    aligned_crop: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)

    person: Mapped[Person] = relationship(back_populates="templates")


class Door(Base):
    """A door and the IANA time zone its schedules are read in."""

    __tablename__ = "doors"
    __table_args__ = (_NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @validates("timezone")
    def _check_timezone(self, _key: str, value: str) -> str:
        return validate_timezone(value)


class Group(Base):
    __tablename__ = "groups"
    __table_args__ = (_NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GroupMember(Base):
    __tablename__ = "group_members"

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True, index=True)


class AccessRule(Base):
    """Grants a person or a group (exactly one) a door, or every door when ``door_id`` is NULL,
    during its weekly windows and its validity period.

    Deleting a door deletes its rules (CASCADE, not SET NULL: a NULL door would widen the rule to all doors).
    """

    __tablename__ = "access_rules"
    __table_args__ = (
        CheckConstraint("(person_id IS NULL) <> (group_id IS NULL)", name="one_subject"),
        CheckConstraint("valid_until IS NULL OR valid_from IS NULL OR valid_until > valid_from", name="validity"),
        _NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    door_id: Mapped[int | None] = mapped_column(ForeignKey("doors.id", ondelete="CASCADE"), index=True)
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    windows: Mapped[list[RuleWindow]] = relationship(
        back_populates="rule", cascade="all, delete-orphan", passive_deletes=True, order_by="RuleWindow.id"
    )


class RuleWindow(Base):
    """A weekly window in the door's local time: minutes ``[start_minute, end_minute)`` of ``weekday``
    (0 = Monday, as ``datetime.weekday()``). ``end_minute < start_minute`` runs past midnight into the next day;
    ``end_minute = 1440`` is the end of the day; an empty window (start = end) is refused.
    """

    __tablename__ = "rule_windows"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        CheckConstraint("start_minute BETWEEN 0 AND 1439", name="start_range"),
        CheckConstraint("end_minute BETWEEN 0 AND 1440", name="end_range"),
        CheckConstraint("start_minute <> end_minute", name="not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("access_rules.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(SmallInteger)
    start_minute: Mapped[int] = mapped_column(SmallInteger)
    end_minute: Mapped[int] = mapped_column(SmallInteger)

    rule: Mapped[AccessRule] = relationship(back_populates="windows")


class ApiKey(Base):
    """An API key. Only ``secret_hash`` (an HMAC-SHA256 of the secret, hex) is kept, never the secret;
    ``prefix`` (its first characters, unique) finds the row and identifies the key in listings and logs."""

    __tablename__ = "api_keys"
    __table_args__ = (_NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    role: Mapped[KeyRole] = mapped_column(_str_enum(KeyRole, "key_role"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class ApiKeyDoor(Base):
    """The doors a terminal key may ask about."""

    __tablename__ = "api_key_doors"

    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True)
    door_id: Mapped[int] = mapped_column(ForeignKey("doors.id", ondelete="CASCADE"), primary_key=True, index=True)


class AccessLogEntry(Base):
    """One decision. Append-only: database triggers refuse UPDATE and DELETE, except the ``SET NULL`` that a
    deleted door, key or person causes (``door_name`` and ``person_external_id`` keep who and where), and on SQLite
    an insert over an existing id (``INSERT OR REPLACE``). On PostgreSQL the app's own role may only insert and
    read it (:mod:`service.db.grants`)."""

    __tablename__ = "access_log"
    __table_args__ = (
        Index("ix_access_log_door_id_ts", "door_id", "ts"),
        Index("ix_access_log_person_id_ts", "person_id", "ts"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    door_id: Mapped[int | None] = mapped_column(ForeignKey("doors.id", ondelete="SET NULL"))
    door_name: Mapped[str | None] = mapped_column(String(100))
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"), index=True)
    decision: Mapped[Decision] = mapped_column(_str_enum(Decision, "decision"))
    reason: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    person_external_id: Mapped[str | None] = mapped_column(String(64))
    score: Mapped[float | None] = mapped_column(Float)
    margin: Mapped[float | None] = mapped_column(Float)
    quality: Mapped[dict[str, Any] | None] = mapped_column(
        JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
    )
    latency_ms: Mapped[float] = mapped_column(Float)
    model_id: Mapped[str | None] = mapped_column(String(64))
    # The rule that granted access (None for a denial). No foreign key: it records the rule of that moment, and
    # a later deletion of the rule must neither rewrite the entry nor be blocked by it (migration 0002).
    rule_id: Mapped[int | None] = mapped_column(Integer)
    # The threshold in force and the gallery size (templates) it was derived for (migration 0003): a close call
    # and a clear one read differently. None on rows written before it.
    threshold: Mapped[float | None] = mapped_column(Float)
    gallery_size: Mapped[int | None] = mapped_column(Integer)


class TemplateRevision(Base):
    """A single row (id = 1): bumped in the same transaction as every template change, so that each replica
    can tell its index is stale by comparing numbers (see :mod:`service.db.revision`)."""

    __tablename__ = "template_revision"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    revision: Mapped[int] = mapped_column(BigInteger, default=0)


# -- issue 14: decision events (webhooks, a transactional outbox) and the console's sessions --------------------


class EventStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


class WebhookSubscription(Base):
    """Where decision events go: an http(s) URL the administrator chose, the secret that signs each delivery
    (kept as given: the sender needs it to sign), and which doors (``door_ids``: a JSON list, NULL = every door)
    and decisions (``decisions``: a JSON list of ``granted``/``denied``, NULL = both) it wants."""

    __tablename__ = "webhook_subscriptions"
    __table_args__ = (_NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(String(256))
    door_ids: Mapped[list[int] | None] = mapped_column(JSON(none_as_null=True))
    decisions: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEvent(Base):
    """One decision event for one subscription: the outbox row, written in the same transaction as the log row.

    The sender claims due rows (``next_attempt_at`` ≤ now) by moving ``next_attempt_at`` forward, posts ``payload``,
    and marks the row ``delivered``, or schedules a retry, or ``dead`` after the configured number of attempts.
    """

    __tablename__ = "webhook_events"
    __table_args__ = (
        Index("ix_webhook_events_status_next_attempt_at", "status", "next_attempt_at"),
        _NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), index=True)
    log_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    payload: Mapped[str] = mapped_column(String(16384))
    status: Mapped[EventStatus] = mapped_column(_str_enum(EventStatus, "event_status"), default=EventStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_status: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


class ConsoleSession(Base):
    """A signed-in console browser: the hash of its cookie's token (never the token), the key it signed in with
    (revoking the key ends the session: the role is read from the key on every request), its CSRF token and
    when it expires."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
