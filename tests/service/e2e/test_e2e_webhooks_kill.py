"""At-least-once, with a real server process: decisions made, the server killed with SIGKILL before any event
was delivered, a new server started on the same database: every event arrives, signed, with the decision's log id.

While the receiver holds the first delivery (a slow receiver), a second access check still answers: the check
only writes the outbox row, it never waits for a receiver.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from webhook_receiver import running_receiver

from service.core.keys import generate_token

REPO_ROOT = Path(__file__).resolve().parents[3]
SECRET = "whsec_test_0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _server(folder: Path, token: str, log_name: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FACEGATE_")},
        "PYTHONPATH": str(REPO_ROOT),
        "FACEGATE_DATABASE_URL": f"sqlite:///{folder / 'facegate.db'}",
        "FACEGATE_INDEX_PATH": str(folder / "index.fgi"),
        "FACEGATE_ADMIN_KEY": token,
        "FACEGATE_RATE_LIMIT_PER_MINUTE": "0",
        "FACEGATE_WEBHOOK_TIMEOUT_S": "2",
        "FACEGATE_WEBHOOK_BACKOFF_S": "0.5",
        "FACEGATE_WEBHOOK_POLL_INTERVAL_S": "0.2",
        "OMP_NUM_THREADS": "1",
    }
    with open(folder / log_name, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a hang guard: loading the model takes seconds
        while True:
            assert process.poll() is None, (folder / log_name).read_text()
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.2)
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)


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
        with _server(tmp_path, token, "first.log") as (process, base):
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
        with _server(tmp_path, token, "second.log") as (_process, base):
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
