"""Webhook subscriptions and the outbox in SQL.

:func:`enqueue_decision` is called inside the access check's transaction, right after the log row, so the event
exists exactly when the decision does (a crash before the commit loses both; after it, the sender finds the event).
The sender claims due rows with :func:`claim_due`, an optimistic update on ``attempts``, so two senders (two
replicas, or the server and ``facegate webhooks deliver``) never post one attempt twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from service.db.models import AccessLogEntry, Door, EventStatus, WebhookEvent, WebhookSubscription
from service.db.types import utcnow
from service.domain import webhooks as rules
from service.repositories.errors import ConflictError, InvalidValueError, NotFoundError

MAX_SUBSCRIPTIONS = 100  # each decision writes one row per matching subscription: bound that work


def _checked(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except rules.WebhookValueError as exc:
        raise InvalidValueError(exc.code, str(exc)) from exc


def create_subscription(
    session: Session,
    *,
    url: str,
    secret: str | None,
    door_ids: Sequence[int] | None,
    decisions: Sequence[str] | None,
) -> WebhookSubscription:
    """Store a subscription (a new random secret when ``secret`` is ``None``; the caller shows it once)."""
    if (session.scalar(select(func.count()).select_from(WebhookSubscription)) or 0) >= MAX_SUBSCRIPTIONS:
        raise ConflictError("too_many_subscriptions", f"at most {MAX_SUBSCRIPTIONS} webhook subscriptions")
    doors: list[int] | None = None
    if door_ids is not None:
        doors = sorted(set(door_ids))
        found = set(session.scalars(select(Door.id).where(Door.id.in_(doors))))
        missing = [door_id for door_id in doors if door_id not in found]
        if missing:
            raise NotFoundError("door", missing[0])
        if not doors:
            raise InvalidValueError("doors_invalid", "name at least one door, or none for every door")
    subscription = WebhookSubscription(
        url=_checked(rules.check_url, url),
        secret=_checked(rules.check_secret, secret),
        door_ids=doors,
        decisions=_checked(rules.check_decisions, None if decisions is None else list(decisions)),
        active=True,
    )
    session.add(subscription)
    session.flush()
    return subscription


def get_subscription(session: Session, *, subscription_id: int) -> WebhookSubscription:
    found = session.get(WebhookSubscription, subscription_id)
    if found is None:
        raise NotFoundError("webhook", subscription_id)
    return found


def list_subscriptions(session: Session) -> list[WebhookSubscription]:
    return list(session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)))


def set_active(session: Session, *, subscription_id: int, active: bool) -> WebhookSubscription:
    subscription = get_subscription(session, subscription_id=subscription_id)
    subscription.active = active
    session.flush()
    return subscription


def delete_subscription(session: Session, *, subscription_id: int) -> None:
    """Delete the subscription and its events (undelivered ones are dropped with it)."""
    session.delete(get_subscription(session, subscription_id=subscription_id))
    session.flush()


def enqueue_decision(session: Session, *, entry: AccessLogEntry, person: dict[str, Any] | None) -> int:
    """Write one outbox row per active subscription that wants this decision; returns how many. Runs in the
    log row's transaction (``entry`` is flushed, so it has its id)."""
    if entry.door_id is None:
        return 0
    wanted = [
        s
        for s in session.scalars(select(WebhookSubscription).where(WebhookSubscription.active.is_(True)))
        if rules.wants(s.door_ids, s.decisions, door_id=entry.door_id, decision=entry.decision.value)
    ]
    if not wanted:
        return 0
    payload = rules.encode(
        rules.decision_payload(
            log_id=entry.id,
            at=entry.ts,
            door_id=entry.door_id,
            door_name=entry.door_name or "",
            decision=entry.decision.value,
            reason=entry.reason,
            person=person,
            score=entry.score,
            margin=entry.margin,
            model_id=entry.model_id,
        )
    )
    now = utcnow()
    session.add_all(
        WebhookEvent(subscription_id=s.id, log_id=entry.id, payload=payload, next_attempt_at=now, created_at=now)
        for s in wanted
    )
    session.flush()
    return len(wanted)


@dataclass(frozen=True)
class Claimed:
    """An event claimed for one attempt, with what sending it needs."""

    event_id: int
    attempt: int
    url: str
    secret: str
    payload: str


def claim_due(session: Session, *, now: datetime, lease_s: float, limit: int) -> list[Claimed]:
    """Claim up to ``limit`` due pending events for one attempt each: count the attempt and push
    ``next_attempt_at`` past the attempt's time limit (``lease_s``), so that a sender that dies mid-attempt
    leaves the event due again afterwards. The caller commits."""
    rows = session.execute(
        select(WebhookEvent, WebhookSubscription)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookEvent.subscription_id)
        .where(WebhookEvent.status == EventStatus.PENDING, WebhookEvent.next_attempt_at <= now)
        .order_by(WebhookEvent.next_attempt_at, WebhookEvent.id)
        .limit(limit)
    ).all()
    claimed = []
    for event, subscription in rows:
        result = session.execute(
            update(WebhookEvent)
            .where(
                WebhookEvent.id == event.id,
                WebhookEvent.attempts == event.attempts,
                WebhookEvent.status == EventStatus.PENDING,
            )
            .values(attempts=event.attempts + 1, next_attempt_at=now + timedelta(seconds=lease_s))
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(Claimed(event.id, event.attempts + 1, subscription.url, subscription.secret, event.payload))
    return claimed


def record_attempt(
    session: Session,
    *,
    event_id: int,
    ok: bool,
    status: int | None,
    error: str | None,
    now: datetime,
    max_attempts: int,
    backoff_base_s: float,
    backoff_max_s: float,
) -> EventStatus:
    """Write an attempt's outcome: delivered, or due again after the backoff, or dead after ``max_attempts``."""
    event = session.get(WebhookEvent, event_id)
    if event is None:  # its subscription was deleted meanwhile
        return EventStatus.DEAD
    event.last_status = status
    event.last_error = None if error is None else error[:500]
    if ok:
        event.status = EventStatus.DELIVERED
        event.delivered_at = now
    elif event.attempts >= max_attempts:
        event.status = EventStatus.DEAD
    else:
        delay = rules.backoff_s(event.attempts, base_s=backoff_base_s, max_s=backoff_max_s)
        event.next_attempt_at = now + timedelta(seconds=delay)
    session.flush()
    return event.status


def list_events(
    session: Session,
    *,
    status: EventStatus | None = None,
    subscription_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[WebhookEvent], int]:
    """A page of events, newest first, and how many match."""
    from service.repositories.doors import page

    statement = select(WebhookEvent)
    if status is not None:
        statement = statement.where(WebhookEvent.status == status)
    if subscription_id is not None:
        statement = statement.where(WebhookEvent.subscription_id == subscription_id)
    return page(session, statement.order_by(WebhookEvent.id.desc()), limit=limit, offset=offset)


def resend(session: Session, *, event_id: int) -> WebhookEvent:
    """Make an event (dead, delivered or pending) due now with a fresh count of attempts."""
    event = session.get(WebhookEvent, event_id)
    if event is None:
        raise NotFoundError("event", event_id)
    event.status = EventStatus.PENDING
    event.attempts = 0
    event.next_attempt_at = utcnow()
    event.delivered_at = None
    session.flush()
    return event


def event_counts(session: Session) -> dict[str, int]:
    """How many events are pending, delivered and dead (the status page shows the backlog)."""
    rows = session.execute(select(WebhookEvent.status, func.count()).group_by(WebhookEvent.status)).all()
    counts = {status.value: 0 for status in EventStatus}
    counts.update({EventStatus(status).value: int(count) for status, count in rows})
    return counts
