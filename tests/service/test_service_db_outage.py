"""A database outage is a 503 ``not_ready`` (problem+json, with Retry-After), not a 500: measured against a
running instance, every request answered 500 while PostgreSQL was down. The outage here is real: the app's
sessions point at a PostgreSQL address where a socket is bound but never listens, so every connection is refused."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from service.db.session import make_sessionmaker


@pytest.fixture
def outage(admin: TestClient) -> Iterator[None]:
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        engine = create_engine(
            f"postgresql+psycopg://facegate:unused@127.0.0.1:{port}/facegate",
            poolclass=NullPool,
            connect_args={"connect_timeout": 2},
        )
        down = make_sessionmaker(engine)
        state = admin.app.state
        up = state.sessionmaker
        state.sessionmaker = state.runtime.sessionmaker = down
        try:
            yield
        finally:
            state.sessionmaker = state.runtime.sessionmaker = up
            engine.dispose()


@pytest.mark.parametrize(("method", "path"), [("get", "/v1/people"), ("get", "/v1/doors"), ("get", "/v1/access/log")])
def test_reads_during_an_outage_are_503(admin: TestClient, outage: None, method: str, path: str) -> None:
    response = admin.request(method, path)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "not_ready" and "Retry-After" in response.headers


def test_an_access_check_during_an_outage_is_503(
    admin: TestClient, outage: None, fixture_face_paths: list[Path]
) -> None:
    files = [("frames", ("f.jpg", fixture_face_paths[0].read_bytes(), "image/jpeg"))]
    response = admin.post("/v1/access/check", data={"door_id": "1"}, files=files)
    assert (response.status_code, response.json()["code"]) == (503, "not_ready")


def test_the_service_answers_again_once_the_database_is_back(admin: TestClient) -> None:
    assert admin.get("/v1/people").status_code == 200
