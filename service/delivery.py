"""The webhook sender: claims due outbox rows, posts them, records each attempt.

:func:`deliver_due` is one pass (``facegate webhooks deliver`` calls it); :class:`WebhookSender` runs passes in a
background thread of the server, woken by each decision that wrote an event and otherwise every poll interval.
The access check only inserts rows: a slow or dead receiver delays its own events, never a door's answer.
Attempts of one pass run on a few worker threads, so one slow receiver does not hold the others back.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy.orm import Session, sessionmaker

from service.db.types import utcnow
from service.domain import webhooks as rules
from service.repositories import webhooks as outbox

logger = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 4096  # what is read of a receiver's answer (only its status matters)
BATCH = 32
WORKERS = 4


@dataclass(frozen=True)
class DeliveryConfig:
    """How the sender behaves (from the ``webhook_*`` settings)."""

    timeout_s: float = 5.0
    max_attempts: int = 8
    backoff_base_s: float = 2.0
    backoff_max_s: float = 600.0


def post(url: str, body: bytes, headers: dict[str, str], *, timeout_s: float) -> int:
    """POST ``body`` to ``url``; the answer's status. No redirect is followed; at most
    :data:`MAX_RESPONSE_BYTES` of the answer are read; every socket operation has ``timeout_s``."""
    parts = urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname or "", parts.port, timeout=timeout_s)
    try:
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        return int(response.status)
    finally:
        connection.close()


def attempt(claimed: outbox.Claimed, *, timeout_s: float) -> tuple[bool, int | None, str | None]:
    """One attempt: (delivered?, HTTP status, error). A 2xx answer is a delivery; anything else is retried."""
    body = rules.body_of(claimed.event_id, claimed.payload)
    headers = rules.delivery_headers(claimed.secret, claimed.event_id, int(time.time()), body)
    try:
        status = post(claimed.url, body, headers, timeout_s=timeout_s)
    except (OSError, http.client.HTTPException) as exc:
        return False, None, f"{type(exc).__name__}: {exc}"
    if 200 <= status < 300:
        return True, status, None
    return False, status, f"HTTP {status}"


def deliver_due(factory: sessionmaker[Session], config: DeliveryConfig, *, limit: int = BATCH) -> int:
    """Claim up to ``limit`` due events, attempt each, record the outcomes; returns how many were attempted."""
    with factory.begin() as session:
        claimed = outbox.claim_due(session, now=utcnow(), lease_s=config.timeout_s * 2 + 1, limit=limit)
    if not claimed:
        return 0
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(claimed)), thread_name_prefix="webhook") as pool:
        outcomes = list(pool.map(lambda c: attempt(c, timeout_s=config.timeout_s), claimed))
    with factory.begin() as session:
        for event, (ok, status, error) in zip(claimed, outcomes, strict=True):
            state = outbox.record_attempt(
                session,
                event_id=event.event_id,
                ok=ok,
                status=status,
                error=error,
                now=utcnow(),
                max_attempts=config.max_attempts,
                backoff_base_s=config.backoff_base_s,
                backoff_max_s=config.backoff_max_s,
            )
            if not ok:
                logger.warning("webhook event %s attempt %s: %s (%s)", event.event_id, event.attempt, error, state)
    return len(claimed)


class WebhookSender:
    """Runs :func:`deliver_due` in a daemon thread until :meth:`stop`; :meth:`wake` starts a pass at once."""

    def __init__(self, factory: sessionmaker[Session], config: DeliveryConfig, *, poll_interval_s: float) -> None:
        self._factory = factory
        self._config = config
        self._poll_interval_s = poll_interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="webhook-sender", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = deliver_due(self._factory, self._config) == BATCH
            except Exception:  # the database may be briefly away: try again on the next pass
                logger.exception("webhook pass failed")
                busy = False
            if not busy:
                self._wake.wait(self._poll_interval_s)
                self._wake.clear()
