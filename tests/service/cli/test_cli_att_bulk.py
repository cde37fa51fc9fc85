"""Bulk enrolment of AT&T's 40 people through ``facegate enroll-folder``, then access checks over HTTP.

3 images per person are enrolled (``--max-per-person 3``: 1.pgm to 3.pgm) and 10.pgm of each is held out and
shown to a door over ``POST /v1/access/check``. The first run uses the worker pool (2 spawned processes, each with
its own model) without ``--force``; the second resumes in this process with ``--force``, enrolling only the people
the first run refused. AT&T's 92×112 grey faces pass the service's default gates (detector min face 40 px,
interocular ≥ 20 px: measured 28 to 46 px on these images), so the settings are the defaults.

The shipped model is weak on AT&T: at the threshold calibrated on LFW (FAR 1e-3) about 11 % of AT&T impostor pairs
score above it, so the duplicate-identity check refuses most people unless forced. Identification still works,
because the match also needs the best person to lead the next one by the margin. The test prints the figures.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from pathlib import Path

import pytest
from cli_support import Cli, CliEnv
from fastapi.testclient import TestClient
from pydantic import SecretStr

from models.package import UntrainedModelWarning
from service.config import Settings
from service.domain.keys import generate_token
from service.main import create_app

PEOPLE = 40
ENROLLED = 3
HELD_OUT = "10.pgm"


@pytest.mark.slow
@pytest.mark.usefixtures("with_model")
def test_att_enroll_folder_then_doors_over_http(cli: Cli, cli_env: CliEnv, att_dir: Path) -> None:
    pooled = cli(
        "enroll-folder", str(att_dir), "--max-per-person", str(ENROLLED), "--workers", "2", "--json", code=None
    )
    first = json.loads(pooled.stdout)
    assert first["folders"] == PEOPLE and first["people_created"] == PEOPLE
    assert {r["reason"] for r in first["rejected"]} <= {"duplicate_identity"}, first["rejected"]
    assert first["templates"] == ENROLLED * first["people_enrolled"]
    assert pooled.exit_code == (1 if first["people_failed"] else 0)

    resumed = json.loads(
        cli("enroll-folder", str(att_dir), "--max-per-person", "3", "--workers", "1", "--force", "--json").stdout
    )
    assert sorted(resumed["people_skipped"]) == sorted(
        set(f"s{i}" for i in range(1, PEOPLE + 1)) - set(first["people_failed"])
    )
    assert resumed["rejected"] == [] and resumed["templates"] == ENROLLED * len(first["people_failed"])
    people = json.loads(cli("people", "list", "--json").stdout)["items"]
    assert len(people) == PEOPLE and {p["templates"] for p in people} == {ENROLLED}
    cli("groups", "add", "att")
    cli("groups", "members", "add", "att", *(f"s{i}" for i in range(1, PEOPLE + 1)))

    token = generate_token()
    settings = Settings(
        database_url=cli_env.database_url,
        index_path=cli_env.index_path,
        admin_key=SecretStr(token),
        rate_limit_per_minute=0,
    )
    outcomes: Counter[str] = Counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedModelWarning)
        with TestClient(create_app(settings)) as client:
            client.headers["Authorization"] = f"Bearer {token}"
            door = client.post("/v1/doors", json={"name": "lab", "timezone": "Europe/London"}).json()["id"]
            rule = client.post("/v1/rules", json={"group_id": 1, "door_id": door})
            assert rule.status_code == 201, rule.text
            for i in range(1, PEOPLE + 1):
                image = att_dir / f"s{i}" / HELD_OUT
                response = client.post(
                    "/v1/access/check",
                    data={"door_id": str(door)},
                    files=[("frames", (image.name, image.read_bytes(), "image/x-portable-graymap"))],
                )
                assert response.status_code == 200, response.text
                body = response.json()
                if body["decision"] == "granted":
                    outcomes[
                        "granted, right person" if body["person"]["external_id"] == f"s{i}" else "granted, WRONG person"
                    ] += 1
                else:
                    outcomes[f"denied: {body['reason']}"] += 1
    print(
        f"\nAT&T through the CLI: first run (pool, no --force) enrolled {first['people_enrolled']} of {PEOPLE} people, "
        f"{len(first['people_failed'])} refused as duplicate identities; the --force run enrolled the rest"
    )
    print(f"held-out {HELD_OUT} of each of the {PEOPLE} people at the door over HTTP: {dict(sorted(outcomes.items()))}")
    assert outcomes["granted, right person"] >= 30, outcomes
    assert outcomes["granted, WRONG person"] <= 4, outcomes
    log = json.loads(cli("log", "--door", "lab", "--limit", "100", "--json").stdout)
    assert log["total"] == PEOPLE
