"""Liveness and readiness probes, with and without a loaded model."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from models.package import CONFIG_FILE, DEFAULT_PACKAGE_PATH
from service.config import Settings
from service.main import create_app

PROBLEM = "application/problem+json"


@pytest.fixture
def unloaded_client(settings: Settings) -> Iterator[TestClient]:
    """A client of a fresh app whose lifespan never ran: no model is loaded."""
    with_no_lifespan = TestClient(create_app(settings))  # not entered: the lifespan does not run
    yield with_no_lifespan
    with_no_lifespan.close()


def test_healthz_is_always_ok(client: TestClient, unloaded_client: TestClient) -> None:
    for c in (client, unloaded_client):
        response = c.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


def test_readyz_reports_the_loaded_model(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    shipped = json.loads((DEFAULT_PACKAGE_PATH / CONFIG_FILE).read_text())
    assert body["status"] == "ready"
    assert (body["model_id"], body["model_trained"]) == (shipped["model_id"], shipped["trained"])
    assert body["model_id"].startswith("fg1-")
    assert body["index_templates"] >= 0 and body["index_revision"] >= 0 and 0 < body["threshold"] < 1


def test_readyz_is_503_before_the_lifespan_has_run(unloaded_client: TestClient) -> None:
    response = unloaded_client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == "not_ready"
    assert problem["status"] == 503
    assert problem["type"] == "urn:facegate:problem:not_ready"


def test_detect_is_503_before_the_lifespan_has_run(unloaded_client: TestClient, lfw_jpeg: bytes) -> None:
    response = unloaded_client.post(
        "/v1/faces/detect", headers={"Authorization": "Bearer x"}, files={"image": ("face.jpg", lfw_jpeg, "image/jpeg")}
    )
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "not_ready"


def test_readyz_is_503_when_the_database_does_not_answer(app: FastAPI, client: TestClient) -> None:
    runtime = app.state.runtime
    healthy = runtime.engine
    broken = create_engine("sqlite:////nonexistent-folder/facegate.db")
    runtime.engine = broken
    try:
        response = client.get("/readyz")
    finally:
        runtime.engine = healthy
        broken.dispose()
    assert response.status_code == 503
    assert response.json()["code"] == "not_ready"
    assert client.get("/readyz").status_code == 200
