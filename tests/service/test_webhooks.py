"""Webhooks: the subscription rules and API, the outbox written in the log row's transaction, the sender against a
real HTTP receiver on 127.0.0.1 (signature, retries, dead after N, re-send), and docs/API.md's receiver example."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from webhook_receiver import running_receiver

from service.config import Settings
from service.db.models import Decision, EventStatus, WebhookEvent
from service.db.types import utcnow
from service.delivery import DeliveryConfig, deliver_due
from service.domain import webhooks as rules
from service.domain.outcomes import AccessOutcome
from service.domain.policy import Reason
from service.repositories import doors, webhooks
from service.repositories.access_log import append_entry
from service.runtime import open_database

SECRET = "whsec_test_abcdefghijklmnop"
DOCS_API = Path(__file__).resolve().parents[2] / "docs" / "API.md"


@pytest.fixture(params=["sqlite", "postgresql"])
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A migrated database of each dialect (the claim is an UPDATE whose row count must be right on both)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    else:
        server = request.getfixturevalue("postgres")
        url = server.create_database("webhooks").render_as_string(hide_password=False)
    engine, made = open_database(Settings(database_url=url, admin_key=None))
    try:
        yield made
    finally:
        engine.dispose()


def _outcome(
    door_id: int, decision: Decision, reason: Reason, *, score: float, margin: float | None = None
) -> AccessOutcome:
    return AccessOutcome(
        decision=decision,
        reason=reason,
        door_id=door_id,
        person=None,
        rule_id=None,
        score=score,
        margin=margin,
        frames=1,
        usable_frames=1,
        quality=None,
        latency_ms=1.0,
        stages_ms={},
        log_id=None,
        model_id="fg1-test",
    )


def _decide(factory: sessionmaker[Session], door_id: int, decision: Decision = Decision.DENIED) -> int:
    """A decision as the access check writes it: the log row and its outbox rows in one transaction."""
    with factory.begin() as session:
        reason = Reason.GRANTED if decision is Decision.GRANTED else Reason.UNKNOWN_FACE
        entry = append_entry(session, _outcome(door_id, decision, reason, score=0.2), door_name="lobby", key_id=None)
        webhooks.enqueue_decision(session, entry=entry, person=None)
        return entry.id


def _events(factory: sessionmaker[Session]) -> list[WebhookEvent]:
    with factory() as session:
        return list(session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))


@pytest.mark.parametrize(
    "url",
    [
        "ftp://host/x",
        "file:///etc/passwd",
        "http://user:pw@host/",
        "http:///nohost",
        "javascript:alert(1)",
        "http://host/a b",
        "http://host:0/",
        "x" * 3000,
    ],
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(rules.WebhookValueError) as caught:
        rules.check_url(url)
    assert caught.value.code == "url_invalid"


def test_signature_round_trip_and_tampering() -> None:
    body = b'{"id":1}'
    headers = rules.delivery_headers(SECRET, 1, 1_000_000, body)
    assert rules.verify_signature(SECRET, body, headers, now=1_000_010)
    assert not rules.verify_signature(SECRET, body + b" ", headers, now=1_000_010)
    assert not rules.verify_signature("another-secret-0123456", body, headers, now=1_000_010)
    assert not rules.verify_signature(SECRET, body, headers, now=1_000_000 + 301)  # a replay, too late
    assert rules.backoff_s(1, base_s=2, max_s=600) == 2 and rules.backoff_s(4, base_s=2, max_s=600) == 16
    assert rules.backoff_s(30, base_s=2, max_s=600) == 600


def test_the_outbox_row_lives_and_dies_with_the_log_row(factory: sessionmaker[Session]) -> None:
    with factory.begin() as session:
        door = doors.create_door(session, name="lobby", timezone="UTC")
        webhooks.create_subscription(session, url="http://127.0.0.1:9/x", secret=SECRET, door_ids=None, decisions=None)
        granted_only = webhooks.create_subscription(
            session, url="http://127.0.0.1:9/y", secret=SECRET, door_ids=[door.id], decisions=["granted"]
        )
    log_id = _decide(factory, door.id)
    assert [(e.log_id, e.subscription_id) for e in _events(factory)] == [(log_id, 1)]  # the denial: one subscriber

    session = factory()
    outcome = _outcome(door.id, Decision.GRANTED, Reason.GRANTED, score=0.9, margin=0.3)
    entry = append_entry(session, outcome, door_name="lobby", key_id=None)
    assert webhooks.enqueue_decision(session, entry=entry, person=None) == 2
    session.rollback()  # the decision's transaction fails: its events go with it
    session.close()
    assert len(_events(factory)) == 1
    assert granted_only.id == 2


def test_sender_signs_retries_marks_dead_and_resends(factory: sessionmaker[Session]) -> None:
    with running_receiver(SECRET) as receiver:
        with factory.begin() as session:
            door = doors.create_door(session, name="lobby", timezone="UTC")
            webhooks.create_subscription(session, url=receiver.url, secret=SECRET, door_ids=None, decisions=None)
        log_id = _decide(factory, door.id)
        config = DeliveryConfig(timeout_s=5, max_attempts=3, backoff_base_s=0.01, backoff_max_s=0.01)

        receiver.status = 500
        while _events(factory)[0].status is EventStatus.PENDING:
            deliver_due(factory, config)
            time.sleep(0.01)
        [event] = _events(factory)
        assert (event.status, event.attempts, event.last_status) == (EventStatus.DEAD, 3, 500)
        assert len(receiver.deliveries) == 3 and all(d.verified for d in receiver.deliveries)
        assert deliver_due(factory, config) == 0  # dead is not due
        with factory() as session:
            assert webhooks.event_counts(session) == {"pending": 0, "delivered": 0, "dead": 1}

        receiver.status = 204
        with factory.begin() as session:
            webhooks.resend(session, event_id=event.id)
        assert deliver_due(factory, config) == 1
        [event] = _events(factory)
        assert (event.status, event.attempts, event.last_status) == (EventStatus.DELIVERED, 1, 204)
        last = receiver.deliveries[-1]
        assert last.verified and last.json["log_id"] == log_id and last.json["id"] == event.id
        assert last.headers["X-Facegate-Event-Id"] == str(event.id)


def test_an_unreachable_receiver_is_an_error_not_a_crash(factory: sessionmaker[Session]) -> None:
    with factory.begin() as session:
        door = doors.create_door(session, name="lobby", timezone="UTC")
        # Port 9 (discard) on 127.0.0.1: nothing listens in the test machine; the connection is refused.
        webhooks.create_subscription(session, url="http://127.0.0.1:9/x", secret=SECRET, door_ids=None, decisions=None)
    _decide(factory, door.id)
    assert deliver_due(factory, DeliveryConfig(timeout_s=2, max_attempts=5)) == 1
    [event] = _events(factory)
    assert event.status is EventStatus.PENDING and event.attempts == 1 and event.last_status is None
    assert event.last_error is not None and "Error" in event.last_error
    assert event.next_attempt_at > event.created_at


def test_the_docs_receiver_example_verifies_a_real_delivery(factory: sessionmaker[Session]) -> None:
    text = DOCS_API.read_text(encoding="utf-8")
    section = text[text.index("## Decision events: webhooks") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), "docs/API.md", "exec"), namespace)
    verify = namespace["verify"]
    with running_receiver(SECRET) as receiver:
        with factory.begin() as session:
            door = doors.create_door(session, name="lobby", timezone="UTC")
            webhooks.create_subscription(session, url=receiver.url, secret=SECRET, door_ids=None, decisions=None)
        _decide(factory, door.id)
        deliver_due(factory, DeliveryConfig())
        [delivery] = receiver.deliveries
    assert verify(SECRET, delivery.body, delivery.headers)
    assert not verify(SECRET, delivery.body.replace(b"denied", b"granted"), delivery.headers)
    assert not verify("whsec_someone_else_entirely", delivery.body, delivery.headers)
    stale = {**delivery.headers, "X-Facegate-Timestamp": str(int(time.time()) - 3600)}
    assert not verify(SECRET, delivery.body, stale)


def test_webhook_api(admin: TestClient, client: TestClient) -> None:
    door = admin.post("/v1/doors", json={"name": "webhook door", "timezone": "UTC"}).json()["id"]
    bad = admin.post("/v1/webhooks", json={"url": "ftp://x/y"})
    assert bad.status_code == 422 and bad.json()["code"] == "url_invalid"
    missing = admin.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/", "door_ids": [999999]})
    assert missing.status_code == 404 and missing.json()["code"] == "door_not_found"
    short = admin.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/", "secret": "short"})
    assert short.status_code == 422
    created = admin.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/", "door_ids": [door]})
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["secret"].startswith("whsec_") and hook["decisions"] is None
    listed = admin.get("/v1/webhooks").json()
    assert hook["id"] in [h["id"] for h in listed] and all("secret" not in h for h in listed)
    paused = admin.patch(f"/v1/webhooks/{hook['id']}", json={"active": False})
    assert paused.status_code == 200 and paused.json()["active"] is False
    assert admin.get("/v1/webhooks/events?status=dead").status_code == 200
    assert admin.get("/v1/webhooks/events?status=lost").status_code == 422
    assert admin.post("/v1/webhooks/events/999999/resend").json()["code"] == "event_not_found"
    assert client.get("/v1/webhooks", headers={"Authorization": "Bearer fg_nope"}).status_code == 401
    assert admin.delete(f"/v1/webhooks/{hook['id']}").status_code == 204
    assert admin.delete(f"/v1/webhooks/{hook['id']}").status_code == 404


def test_a_claimed_event_is_not_claimed_again_until_its_lease_runs_out(factory: sessionmaker[Session]) -> None:
    """Two senders (replicas, or the server and the CLI) never post one attempt twice; a sender that died
    mid-attempt leaves the event due again once the lease is over."""
    with factory.begin() as session:
        door = doors.create_door(session, name="lobby", timezone="UTC")
        webhooks.create_subscription(session, url="http://127.0.0.1:9/", secret=SECRET, door_ids=None, decisions=None)
    _decide(factory, door.id)
    now = utcnow()
    with factory.begin() as session:
        first = webhooks.claim_due(session, now=now, lease_s=30, limit=10)
    with factory.begin() as session:
        second = webhooks.claim_due(session, now=now, lease_s=30, limit=10)
    assert [c.attempt for c in first] == [1] and second == []
    with factory.begin() as session:
        later = webhooks.claim_due(session, now=now + timedelta(seconds=31), lease_s=30, limit=10)
    assert [(c.event_id, c.attempt) for c in later] == [(first[0].event_id, 2)]
