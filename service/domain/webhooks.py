"""Decision events as signed webhooks: the rules, with no SQL and no HTTP.

A delivery is an HTTP POST of a JSON body with three headers:

- ``X-Facegate-Event-Id``: the event's id (a receiver that saw it already ignores it: delivery is at-least-once);
- ``X-Facegate-Timestamp``: Unix seconds when this attempt was signed;
- ``X-Facegate-Signature``: ``v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``.

A receiver recomputes the HMAC over the timestamp and the raw body bytes, compares in constant time, and refuses
a timestamp far from its clock (a replayed request). :func:`verify_signature` is that check; docs/API.md shows
it standalone.

Targets are chosen by the administrator (an admin key): the service posts wherever it is told, on the network it
runs in. Only ``http``/``https`` URLs without credentials are accepted; redirects are not followed; each attempt
has a time limit and reads at most a few KiB of the answer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit

SIGNATURE_HEADER: Final = "X-Facegate-Signature"
TIMESTAMP_HEADER: Final = "X-Facegate-Timestamp"
EVENT_ID_HEADER: Final = "X-Facegate-Event-Id"
SIGNATURE_VERSION: Final = "v1"
MAX_URL_LENGTH: Final = 2048
MIN_SECRET_LENGTH: Final = 16
MAX_SECRET_LENGTH: Final = 256
MAX_PAYLOAD_BYTES: Final = 16384  # the width of webhook_events.payload
DEFAULT_TOLERANCE_S: Final = 300
DECISIONS: Final = ("granted", "denied")


class WebhookValueError(ValueError):
    """A subscription value the rules refuse; ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_url(url: str) -> str:
    """``url`` if it may be a webhook target (http or https, a host, no user:password, ≤ 2048 characters)."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH or url != url.strip():
        raise WebhookValueError("url_invalid", f"a webhook URL is 1 to {MAX_URL_LENGTH} characters, no spaces")
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in url):
        raise WebhookValueError("url_invalid", "a webhook URL may not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookValueError("url_invalid", f"not a URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise WebhookValueError("url_invalid", "a webhook URL is http:// or https://")
    if not parts.hostname:
        raise WebhookValueError("url_invalid", "a webhook URL names a host")
    if parts.username is not None or parts.password is not None:
        raise WebhookValueError("url_invalid", "put no credentials in a webhook URL: the secret signs each delivery")
    if port == 0:
        raise WebhookValueError("url_invalid", "port 0 is not a port")
    return url


def check_secret(secret: str | None) -> str:
    """The given signing secret (16 to 256 printable characters), or a new random one when ``None``."""
    if secret is None:
        return "whsec_" + secrets.token_urlsafe(32)
    if not (MIN_SECRET_LENGTH <= len(secret) <= MAX_SECRET_LENGTH) or not secret.isprintable() or " " in secret:
        raise WebhookValueError(
            "secret_invalid", f"a signing secret is {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} printable characters"
        )
    return secret


def check_decisions(decisions: list[str] | None) -> list[str] | None:
    """The decisions a subscription wants, sorted and unique; ``None`` (or both) means every decision."""
    if decisions is None:
        return None
    chosen = sorted(set(decisions))
    unknown = [d for d in chosen if d not in DECISIONS]
    if unknown or not chosen:
        raise WebhookValueError("decisions_invalid", f"decisions are among {', '.join(DECISIONS)}")
    return None if len(chosen) == len(DECISIONS) else chosen


def wants(door_ids: list[int] | None, decisions: list[str] | None, *, door_id: int, decision: str) -> bool:
    """Whether a subscription with these filters wants a decision at ``door_id``."""
    return (door_ids is None or door_id in door_ids) and (decisions is None or decision in decisions)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def verify_signature(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> bool:
    """What a receiver checks: the signature matches ``body`` and the timestamp is within ``tolerance_s`` of
    ``now``. ``headers`` is looked up case-insensitively."""
    lowered = {name.lower(): value for name, value in headers.items()}
    signature = lowered.get(SIGNATURE_HEADER.lower(), "")
    stamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    if not stamp.isdigit() or abs(now - int(stamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, int(stamp), body), signature)


def delivery_headers(secret: str, event_id: int, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of one delivery attempt."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "facegate-webhooks/1",
        EVENT_ID_HEADER: str(event_id),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }


def decision_payload(
    *,
    log_id: int,
    at: datetime,
    door_id: int,
    door_name: str,
    decision: str,
    reason: str,
    person: Mapping[str, Any] | None,
    score: float | None,
    margin: float | None,
    model_id: str | None,
) -> dict[str, Any]:
    """The event body (without its ``id``, which is the outbox row's and is added when sent)."""
    return {
        "type": "access.decision",
        "log_id": log_id,
        "ts": at.isoformat(),
        "door": {"id": door_id, "name": door_name},
        "decision": decision,
        "reason": reason,
        "person": dict(person) if person is not None else None,
        "score": None if score is None else round(score, 4),
        "margin": None if margin is None else round(margin, 4),
        "model_id": model_id,
    }


def encode(payload: Mapping[str, Any]) -> str:
    """Compact JSON; :class:`WebhookValueError` past :data:`MAX_PAYLOAD_BYTES` (never for a decision: its
    fields are bounded, but the column is, too)."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    if len(text.encode("utf-8")) > MAX_PAYLOAD_BYTES:
        raise WebhookValueError("payload_too_large", f"an event body is at most {MAX_PAYLOAD_BYTES} bytes")
    return text


def body_of(event_id: int, payload: str) -> bytes:
    """The bytes sent: the stored payload with the event's id added."""
    document = json.loads(payload)
    document["id"] = event_id
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode("utf-8")


def backoff_s(attempts: int, *, base_s: float, max_s: float) -> float:
    """Seconds before the next try after ``attempts`` failed ones: ``base × 2^(attempts−1)``, capped."""
    return float(min(max_s, base_s * 2 ** max(0, attempts - 1)))
