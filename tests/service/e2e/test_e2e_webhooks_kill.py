"""At-least-once, with a real server process: decisions made, the server killed with SIGKILL before any event
was delivered, a new server started on the same database: every event arrives, signed, with the decision's log id.

While the receiver holds the first delivery (a slow receiver), a second access check still answers: the check
only writes the outbox row, it never waits for a receiver.
"""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
from server_process import server_process
from webhook_receiver import running_receiver

from service.domain.keys import generate_token

SECRET = "whsec_test_0123456789abcdef"
SENDER = {
    "FACEGATE_WEBHOOK_TIMEOUT_S": "2",
    "FACEGATE_WEBHOOK_BACKOFF_S": "0.5",
    "FACEGATE_WEBHOOK_POLL_INTERVAL_S": "0.2",
}


def _check(base: str, token: str, door_id: int, image: bytes) -> dict[str, object]:
    response = httpx.post(
        f"{base}/v1/access/check",
        data={"door_id": str(door_id)},
        files=[("frames", ("f.jpg", image, "image/jpeg"))],
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


@pytest.mark.slow
def test_kill_9_between_decision_and_delivery_loses_no_event(tmp_path: Path, fixture_face_paths: list[Path]) -> None:
    token = generate_token()
    auth = {"Authorization": f"Bearer {token}"}
    image = fixture_face_paths[0].read_bytes()
    with running_receiver(SECRET) as receiver:
        receiver.hold.clear()  # the receiver takes each request and never answers it: nothing is delivered
        with server_process(tmp_path, token, "first.log", SENDER) as (process, base):
            door = httpx.post(f"{base}/v1/doors", json={"name": "lobby", "timezone": "UTC"}, headers=auth)
            assert door.status_code == 201, door.text
            door_id = door.json()["id"]
            hook = httpx.post(
                f"{base}/v1/webhooks", json={"url": receiver.url, "secret": SECRET, "door_ids": [door_id]}, headers=auth
            )
            assert hook.status_code == 201, hook.text

            first = _check(base, token, door_id, image)
            receiver.wait_for(lambda d: len(d) >= 1)  # the sender is inside a request the receiver holds
            second = _check(base, token, door_id, image)  # a slow receiver does not hold the door's answer

            process.send_signal(signal.SIGKILL)
            process.wait(30)
        held = len(receiver.deliveries)

        receiver.hold.set()  # from now on the receiver answers 200
        with server_process(tmp_path, token, "second.log", SENDER) as (_process, base):
            delivered = receiver.wait_for(lambda d: {x.json["log_id"] for x in d[held:]} >= {1, 2})
            events = httpx.get(f"{base}/v1/webhooks/events", headers=auth).json()
            assert {e["status"] for e in events["items"]} == {"delivered"}, events

    after_restart = delivered[held:]
    assert all(d.verified for d in delivered), "every delivery carries a valid signature"
    by_log = {d.json["log_id"]: d.json for d in after_restart}
    assert by_log[1]["decision"] == first["decision"] and by_log[1]["reason"] == first["reason"]
    assert by_log[2]["decision"] == second["decision"] and by_log[2]["reason"] == second["reason"]
    assert by_log[1]["door"] == {"id": door_id, "name": "lobby"}
    assert {int(d.headers["X-Facegate-Event-Id"]) for d in after_restart} == {e["id"] for e in events["items"]}
