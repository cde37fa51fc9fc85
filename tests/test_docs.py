"""The operator's documents keep up with the code: every setting is in OPERATIONS.md, every endpoint in API.md."""

from __future__ import annotations

from pathlib import Path

from service.config import Settings
from service.main import create_app

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "OPERATIONS.md").read_text(encoding="utf-8")
    missing = [f"FACEGATE_{name.upper()}" for name in Settings.model_fields if f"FACEGATE_{name.upper()}" not in text]
    assert not missing, f"settings missing from docs/OPERATIONS.md: {missing}"


def test_every_endpoint_has_an_example() -> None:
    text = (DOCS / "API.md").read_text(encoding="utf-8")
    paths = create_app(Settings()).openapi()["paths"]
    missing = []
    for path in paths:
        # /v1/people/{person_id}/faces is written /v1/people/1/faces in an example.
        probe = path.split("{")[0].rstrip("/")
        if probe not in text:
            missing.append(path)
    assert not missing, f"endpoints without an example in docs/API.md: {missing}"
