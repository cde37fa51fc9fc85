"""The README's quick start, step by step, on the sample photos in docs/samples: a key from the CLI, a door, two
people enrolled over HTTP, one granted; the door lets the granted one in and refuses the other (no_rule); then
the CLI's part (a scheduled grant and a check) gives the answer the schedule implies at this moment."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from models.package import UntrainedModelWarning
from service.cli import app as cli_app
from service.config import Settings
from service.main import create_app

SAMPLES = Path(__file__).resolve().parents[3] / "docs" / "samples"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in ("FACEGATE_ADMIN_KEY", "FACEGATE_ADMIN_KEY_FILE", "FACEGATE_MODEL_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FACEGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'facegate.db'}")
    monkeypatch.setenv("FACEGATE_INDEX_PATH", str(tmp_path / "cli-index.fgi"))
    return Settings(index_path=tmp_path / "index.fgi", rate_limit_per_minute=0)


def test_quick_start(env: Settings) -> None:
    runner = CliRunner()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedModelWarning)
        with TestClient(create_app(env)) as client:
            made = runner.invoke(cli_app, ["keys", "create", "--role", "admin", "--name", "me"])
            assert made.exit_code == 0, made.output
            client.headers["Authorization"] = f"Bearer {made.stdout.strip().splitlines()[-1]}"

            door = client.post("/v1/doors", json={"name": "front door", "timezone": "Europe/Berlin"}).json()["id"]
            people = {}
            for external_id, name in (("aaron", "Aaron Peirsol"), ("ali", "Ali Khamenei")):
                people[external_id] = client.post(
                    "/v1/people", json={"external_id": external_id, "display_name": name}
                ).json()["id"]
                image = (SAMPLES / f"{external_id}-enrol.jpg").read_bytes()
                enrolled = client.post(
                    f"/v1/people/{people[external_id]}/faces", files={"images": ("e.jpg", image, "image/jpeg")}
                )
                assert enrolled.status_code == 201 and enrolled.json()["enrolled"] == 1, enrolled.text
            assert (door, people["aaron"], people["ali"]) == (1, 1, 2)  # the ids the README's commands use
            assert client.post("/v1/rules", json={"person_id": 1, "door_id": 1}).status_code == 201

            def check(who: str) -> dict[str, object]:
                image = (SAMPLES / f"{who}-door.jpg").read_bytes()
                response = client.post(
                    "/v1/access/check", data={"door_id": "1"}, files={"frames": ("d.jpg", image, "image/jpeg")}
                )
                assert response.status_code == 200, response.text
                return dict(response.json())

            aaron, ali = check("aaron"), check("ali")
            assert (aaron["decision"], aaron["reason"], aaron["person"]["external_id"]) == (
                "granted",
                "granted",
                "aaron",
            )
            assert (ali["decision"], ali["reason"], ali["person"]["external_id"]) == ("denied", "no_rule", "ali")
            assert client.get("/v1/access/log", params={"limit": 5}).json()["total"] == 2

    # The CLI part (the app is stopped: the CLI opens the same database and model itself).
    def cli(*args: str, code: int = 0) -> str:
        result = runner.invoke(cli_app, list(args))
        assert result.exit_code == code, result.output
        return result.stdout

    cli("doors", "add", "back door", "--timezone", "Europe/Berlin")
    cli("grant", "--person", "ali", "--door", "back door", "--days", "mon-fri", "--from", "08:00", "--to", "18:00")
    now = datetime.now(UTC).astimezone(ZoneInfo("Europe/Berlin"))
    inside = now.weekday() < 5 and 8 <= now.hour < 18
    out = cli("check", "back door", str(SAMPLES / "ali-door.jpg"), "--json", code=0 if inside else 3)
    assert ('"granted"' in out) == inside and (inside or "outside_schedule" in out), out
    assert "front door" in cli("log", "--format", "table")
