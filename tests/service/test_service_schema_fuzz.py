"""Schemathesis over the OpenAPI document: generated requests (valid and not) to every operation, with an admin
key, must never give a 5xx nor a status code the document does not list. Bounded: a few examples per operation.

It runs against its own app and database (the generated requests delete and revoke things at random)."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from models.package import UntrainedModelWarning
from service.config import Settings
from service.domain.keys import generate_token
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


# Examples per operation and kind (valid and invalid data): bounded so the whole run takes about a minute.
MAX_EXAMPLES = 20


def test_no_server_error_and_only_documented_statuses(fuzz_app: FastAPI) -> None:
    """Each operation in turn (the pytest plugin's lazy fixture loader does not support pytest 9); every failure
    is collected so one run reports all of them."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    failures: list[str] = []
    operations = 0
    statuses: Counter[int] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
        )
        def run(case: schemathesis.Case) -> None:
            # The generated requests carry made-up credentials for the bearer scheme: replace them with the key.
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {TOKEN}"}
            response = case.call_and_validate(checks=[not_a_server_error, status_code_conformance])
            statuses[response.status_code] += 1

        try:
            run()
        except Exception as exc:  # each operation's first failure, with its reproduction
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    print(f"\n{operations} operations, {statuses.total()} requests, statuses {dict(sorted(statuses.items()))}")
    assert operations >= 25 and statuses.total() >= 3 * operations
    assert not failures, "\n\n".join(failures)
