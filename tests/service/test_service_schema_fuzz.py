"""Schemathesis over the OpenAPI document: generated requests (valid and not) to every operation, with an admin
key, must never give a 5xx nor a status code the document does not list. Bounded: a few examples per operation.

It runs against its own app and database (the generated requests delete and revoke things at random)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from models.package import UntrainedModelWarning
from service.config import Settings
from service.core.keys import generate_token
from service.main import create_app

TOKEN = generate_token()


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    folder: Path = tmp_path_factory.mktemp("fuzz")
    app = create_app(
        Settings(
            database_url=f"sqlite:///{folder / 'facegate.db'}",
            index_path=folder / "index.fgi",
            admin_key=SecretStr(TOKEN),
            rate_limit_per_minute=0,
            max_upload_bytes=256 * 1024,
        )
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedModelWarning)
        with TestClient(app):
            yield app


@pytest.fixture(scope="module")
def api_schema(fuzz_app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_error_and_only_documented_statuses(case: schemathesis.Case) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {TOKEN}"}, checks=[not_a_server_error, status_code_conformance]
    )
