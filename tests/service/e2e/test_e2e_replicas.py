"""Two app instances (replicas) on one PostgreSQL database: a face enrolled through one is recognised by the
other within 2 s, and a person deleted through one is gone from the other within 2 s (each follows the template
revision; nothing but SQL connects them)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pg import PostgresServer
from pydantic import SecretStr

from models.package import UntrainedModelWarning
from service.config import Settings
from service.domain.keys import generate_token
from service.main import create_app

CONVERGENCE_S = 2.0


@pytest.fixture(scope="module")
def replicas(postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[TestClient]]:
    url = postgres.create_database("replicas").render_as_string(hide_password=False)
    token = generate_token()
    with ExitStack() as stack, warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedModelWarning)
        clients = []
        for name in ("a", "b"):
            folder = tmp_path_factory.mktemp(f"replica-{name}")
            settings = Settings(
                database_url=url,
                index_path=folder / "index.fgi",
                admin_key=SecretStr(token),
                rate_limit_per_minute=0,
                index_poll_interval_s=0.2,
            )
            client = stack.enter_context(TestClient(create_app(settings)))
            client.headers["Authorization"] = f"Bearer {token}"
            clients.append(client)
        yield clients


def _identified(client: TestClient, image: bytes) -> int | None:
    response = client.post("/v1/identify", files={"image": ("probe.jpg", image, "image/jpeg")})
    assert response.status_code == 200, response.text
    match = response.json()["match"]
    return None if match is None else int(match["id"])


def _within(deadline_s: float, condition: object) -> float:
    """Seconds until ``condition()`` holds; fails after ``deadline_s``."""
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        if condition():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.05)
    pytest.fail(f"the other replica did not follow within {deadline_s} s")


def test_enrol_on_one_recognised_on_the_other(replicas: list[TestClient], fixture_face_paths: list[Path]) -> None:
    a, b = replicas
    image = fixture_face_paths[0].read_bytes()
    assert _identified(b, image) is None
    assert b.get("/readyz").json()["index_templates"] == 0
    person = a.post("/v1/people", json={"external_id": "replica-1", "display_name": "Replica One"}).json()["id"]
    enrolled = a.post(f"/v1/people/{person}/faces", files=[("images", ("e.jpg", image, "image/jpeg"))])
    assert enrolled.status_code == 201, enrolled.text
    assert _identified(a, image) == person  # the enrolling replica applies its own change at once
    took = _within(CONVERGENCE_S, lambda: _identified(b, image) == person)
    print(f"\nenrolment reached the other replica in {took:.2f} s")

    assert a.delete(f"/v1/people/{person}").status_code == 204
    assert _identified(a, image) is None
    # identify skips people gone from SQL at once; the index itself must drop the template too.
    took = _within(CONVERGENCE_S, lambda: b.get("/readyz").json()["index_templates"] == 0)
    print(f"deletion reached the other replica in {took:.2f} s")
    assert _identified(b, image) is None
