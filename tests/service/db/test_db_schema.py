"""The schema on SQLite and PostgreSQL: every table round-trips, and the database itself enforces uniqueness,
cascades and CHECK constraints (not only the ORM)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import column, func, insert, select, table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.db.models import (
    AccessLogEntry,
    AccessRule,
    ApiKey,
    ApiKeyDoor,
    Decision,
    Door,
    FaceTemplate,
    Group,
    GroupMember,
    KeyRole,
    Person,
    PersonStatus,
    RuleWindow,
)
from service.db.revision import bump_template_revision, current_template_revision

T0 = datetime(2025, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)


def _template(seed: int = 0, **overrides: object) -> FaceTemplate:
    vector = np.random.default_rng(seed).standard_normal(512).astype("<f4")
    fields: dict[str, object] = {
        "embedding": vector.tobytes(),
        "embedding_dim": 512,
        "model_id": "model-abc123",
        "interocular_px": 41.5,
        "det_score": 0.998,
        "blur": 123.4,
        "yaw": -3.5,
        "pitch": 2.25,
        "roll": 0.5,
    }
    return FaceTemplate(**(fields | overrides))


def _populate(session: Session) -> dict[str, int]:
    """One row in every table, linked together; their ids."""
    person = Person(external_id="B-0001", display_name="Ada Lovelace", valid_from=T0, valid_until=T0 + timedelta(1))
    person.templates.append(_template(aligned_crop=b"\x89crop"))
    door = Door(name="main entrance", timezone="Europe/Paris")
    group = Group(name="staff")
    key = ApiKey(name="terminal 1", prefix="fg_t1abc", secret_hash="ab" * 32, role=KeyRole.TERMINAL)
    session.add_all([person, door, group, key])
    session.flush()
    session.add_all([GroupMember(group_id=group.id, person_id=person.id), ApiKeyDoor(key_id=key.id, door_id=door.id)])
    rule = AccessRule(group_id=group.id, door_id=door.id, valid_from=T0)
    rule.windows.append(RuleWindow(weekday=0, start_minute=8 * 60, end_minute=18 * 60))
    rule.windows.append(RuleWindow(weekday=4, start_minute=22 * 60, end_minute=6 * 60))  # across midnight
    log = AccessLogEntry(
        ts=T0,
        door_id=door.id,
        door_name=door.name,
        key_id=key.id,
        decision=Decision.GRANTED,
        reason="granted",
        person_id=person.id,
        person_external_id=person.external_id,
        score=0.71,
        margin=0.32,
        quality={"interocular_px": 41.5, "blur": 123.4, "flags": []},
        latency_ms=37.5,
        model_id="model-abc123",
    )
    session.add_all([rule, log])
    session.commit()
    return {"person": person.id, "door": door.id, "group": group.id, "key": key.id, "rule": rule.id, "log": log.id}


def test_every_table_round_trips(session: Session) -> None:
    ids = _populate(session)
    session.expunge_all()

    person = session.get_one(Person, ids["person"])
    assert (person.external_id, person.display_name, person.status) == ("B-0001", "Ada Lovelace", "active")
    assert person.status is PersonStatus.ACTIVE
    assert person.valid_from == T0 and person.valid_until == T0 + timedelta(days=1)
    assert person.created_at.tzinfo is UTC and person.updated_at >= person.created_at

    [template] = person.templates
    vector = np.frombuffer(template.embedding, dtype="<f4")
    np.testing.assert_array_equal(vector, np.random.default_rng(0).standard_normal(512).astype("<f4"))
    assert (template.embedding_dim, template.model_id, template.aligned_crop) == (512, "model-abc123", b"\x89crop")
    assert (template.interocular_px, template.det_score, template.blur) == (41.5, 0.998, 123.4)
    assert (template.yaw, template.pitch, template.roll) == (-3.5, 2.25, 0.5)

    door = session.get_one(Door, ids["door"])
    assert (door.name, door.timezone) == ("main entrance", "Europe/Paris")
    assert session.get_one(Group, ids["group"]).name == "staff"
    assert session.scalars(select(GroupMember.person_id)).all() == [ids["person"]]

    key = session.get_one(ApiKey, ids["key"])
    assert (key.prefix, key.secret_hash, key.role, key.revoked_at) == ("fg_t1abc", "ab" * 32, KeyRole.TERMINAL, None)
    assert session.scalars(select(ApiKeyDoor.door_id).where(ApiKeyDoor.key_id == key.id)).all() == [ids["door"]]

    rule = session.get_one(AccessRule, ids["rule"])
    assert (rule.person_id, rule.group_id, rule.door_id, rule.valid_from) == (None, ids["group"], ids["door"], T0)
    windows = [(w.weekday, w.start_minute, w.end_minute) for w in rule.windows]
    assert windows == [(0, 480, 1080), (4, 1320, 360)]

    log = session.get_one(AccessLogEntry, ids["log"])
    assert (log.ts, log.decision, log.reason, log.door_name) == (T0, Decision.GRANTED, "granted", "main entrance")
    assert (log.score, log.margin, log.latency_ms, log.model_id) == (0.71, 0.32, 37.5, "model-abc123")
    assert log.quality == {"interocular_px": 41.5, "blur": 123.4, "flags": []}


def test_access_log_ids_increase(session: Session) -> None:
    entries = [AccessLogEntry(decision=Decision.DENIED, reason="no_face", latency_ms=1.0) for _ in range(3)]
    session.add_all(entries)
    session.commit()
    ids = [entry.id for entry in entries]
    assert ids == sorted(ids) and len(set(ids)) == 3
    # quality=None is SQL NULL, not a JSON 'null' (which IS NULL would not find).
    assert session.scalar(select(func.count()).where(AccessLogEntry.quality.is_(None))) == 3


def test_external_id_is_unique(session: Session) -> None:
    session.add(Person(external_id="B-7", display_name="one"))
    session.commit()
    session.add(Person(external_id="B-7", display_name="two"))
    with pytest.raises(IntegrityError):
        session.commit()


def test_deleting_a_person_cascades_but_keeps_the_log(session: Session) -> None:
    ids = _populate(session)
    direct_rule = AccessRule(person_id=ids["person"])
    session.add(direct_rule)
    session.commit()

    session.delete(session.get_one(Person, ids["person"]))
    session.commit()
    session.expunge_all()

    assert session.scalar(select(func.count()).select_from(FaceTemplate)) == 0
    assert session.scalar(select(func.count()).select_from(GroupMember)) == 0
    assert session.scalars(select(AccessRule.id)).all() == [ids["rule"]]  # the group's rule stays
    log = session.get_one(AccessLogEntry, ids["log"])
    assert (log.person_id, log.person_external_id) == (None, "B-0001")
    assert (log.door_id, log.key_id, log.decision) == (ids["door"], ids["key"], Decision.GRANTED)


def test_deleting_a_door_deletes_its_rules_and_nulls_the_log(session: Session) -> None:
    ids = _populate(session)
    session.delete(session.get_one(Door, ids["door"]))
    session.commit()
    session.expunge_all()
    # CASCADE, not SET NULL: a rule with a NULL door would grant every door.
    assert session.scalar(select(func.count()).select_from(AccessRule)) == 0
    assert session.scalar(select(func.count()).select_from(RuleWindow)) == 0
    assert session.scalar(select(func.count()).select_from(ApiKeyDoor)) == 0
    log = session.get_one(AccessLogEntry, ids["log"])
    assert (log.door_id, log.door_name, log.person_id) == (None, "main entrance", ids["person"])


@pytest.mark.parametrize("subject", ["both", "neither"], ids=str)
def test_a_rule_has_exactly_one_subject(session: Session, subject: str) -> None:
    ids = _populate(session)
    values = {"person_id": ids["person"], "group_id": ids["group"]} if subject == "both" else {}
    with pytest.raises(IntegrityError, match="one_subject"):
        session.execute(insert(AccessRule).values(door_id=ids["door"], created_at=T0, **values))


@pytest.mark.parametrize(
    ("weekday", "start", "end", "constraint"),
    [(7, 0, 60, "weekday_range"), (-1, 0, 60, "weekday_range"), (0, 1440, 60, "start_range"),
     (0, -5, 60, "start_range"), (0, 0, 1441, "end_range"), (0, 600, 600, "not_empty")],
)  # fmt: skip
def test_rule_window_checks(session: Session, weekday: int, start: int, end: int, constraint: str) -> None:
    ids = _populate(session)
    window = {"rule_id": ids["rule"], "weekday": weekday, "start_minute": start, "end_minute": end}
    with pytest.raises(IntegrityError, match=constraint):
        session.execute(insert(RuleWindow).values(**window))


def test_rule_window_limits_are_accepted(session: Session) -> None:
    ids = _populate(session)
    for weekday, start, end in [(6, 0, 1440), (0, 1439, 0), (3, 1380, 60)]:
        window = {"rule_id": ids["rule"], "weekday": weekday, "start_minute": start, "end_minute": end}
        session.execute(insert(RuleWindow).values(**window))
    session.commit()


@pytest.mark.parametrize(
    ("model", "values", "constraint"),
    [
        (Person, {"external_id": "x", "display_name": "x", "status": "retired"}, "person_status"),
        (ApiKey, {"name": "k", "prefix": "p", "secret_hash": "h", "role": "root"}, "key_role"),
        (AccessLogEntry, {"decision": "maybe", "reason": "r", "latency_ms": 1.0}, "decision"),
        (FaceTemplate, {"person_id": None, "embedding_dim": 0}, "embedding_dim_positive"),
        (
            Person,
            {"external_id": "x", "display_name": "x", "status": "active", "valid_from": T0, "valid_until": T0},
            "validity",
        ),
    ],
    ids=["person_status", "key_role", "decision", "embedding_dim", "validity"],
)
def test_check_constraints(session: Session, model: type, values: dict[str, object], constraint: str) -> None:
    if model is FaceTemplate:
        person = Person(external_id="B-1", display_name="p")
        session.add(person)
        session.flush()
        template = _template()
        row = {c: getattr(template, c) for c in ("embedding", "model_id", "interocular_px", "det_score", "blur")}
        values = row | {"yaw": 0.0, "pitch": 0.0, "roll": 0.0} | values | {"person_id": person.id}
    # Untyped columns: the models' enum and timestamp types would refuse the bad values before the database could.
    values = {"created_at": "2025-01-01 00:00:00", "updated_at": "2025-01-01 00:00:00", "ts": "2025-01-01"} | values
    columns = {c.name for c in model.__table__.columns}  # type: ignore[attr-defined]
    values = {k: v.isoformat(" ") if isinstance(v, datetime) else v for k, v in values.items() if k in columns}
    statement = insert(table(model.__tablename__, *(column(name) for name in values))).values(**values)
    with pytest.raises(IntegrityError, match=constraint):
        session.execute(statement)


def test_template_revision_counts_up(session: Session) -> None:
    assert current_template_revision(session) == 0
    assert bump_template_revision(session) == 1
    assert bump_template_revision(session) == 2
    session.rollback()
    assert current_template_revision(session) == 0
    bump_template_revision(session)
    session.commit()
    assert current_template_revision(session) == 1


def test_ids_are_never_reused(session: Session) -> None:
    """A deleted person's id is not handed to the next person (SQLite AUTOINCREMENT; PostgreSQL sequences)."""
    first = Person(external_id="reuse-1", display_name="A")
    session.add(first)
    session.commit()
    old_id = first.id
    session.delete(first)
    session.commit()
    second = Person(external_id="reuse-2", display_name="B")
    session.add(second)
    session.commit()
    assert second.id > old_id
