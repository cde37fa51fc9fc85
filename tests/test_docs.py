"""The operator's documents keep up with the code: every setting is in OPERATIONS.md, every endpoint in API.md."""

from __future__ import annotations

from pathlib import Path

from service.config import Settings
from service.config_docs import committed_table, settings_table, variables
from service.main import create_app

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_setting_is_documented() -> None:
    """The settings table is the one generated from Settings (fields, defaults, descriptions), and it names every
    variable the settings read, the secret ones' ``_FILE`` included."""
    text = (DOCS / "OPERATIONS.md").read_text(encoding="utf-8")
    table = committed_table(text)
    assert table is not None, "docs/OPERATIONS.md lost its settings table markers"
    assert table == settings_table(), "docs/OPERATIONS.md's settings table is stale: run scripts/settings-table --write"
    missing = [name for name in variables() if f"`{name}`" not in table]
    assert not missing, f"settings missing from docs/OPERATIONS.md: {missing}"
    assert "FACEGATE_ADMIN_KEY_FILE" in variables() and "FACEGATE_WORKERS" in variables()


def test_the_table_generator_sees_a_new_setting() -> None:
    """A field added to Settings is a new row (and a secret one a ``_FILE`` too), so the check above catches it."""
    from pydantic import Field, SecretStr

    class More(Settings):
        webhook_secret: SecretStr | None = Field(default=None, description="A | test")

    assert variables(More)[-2:] == ["FACEGATE_WEBHOOK_SECRET", "FACEGATE_WEBHOOK_SECRET_FILE"]
    row = settings_table(More).splitlines()[-3]
    assert row == "| `FACEGATE_WEBHOOK_SECRET` or `FACEGATE_WEBHOOK_SECRET_FILE` | — | A \\| test |"


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


def test_api_examples_show_the_shipped_model_and_its_threshold() -> None:
    """docs/API.md once showed the previous model's id and threshold. Every model id in it is the shipped
    package's, and every threshold the one the default settings serve (FACEGATE_TARGET_FAR on its calibration)."""
    import re

    from models.package import load_package

    text = (DOCS / "API.md").read_text(encoding="utf-8")
    package = load_package()
    settings = Settings()
    threshold = next(p.threshold for p in package.calibration.thresholds if p.far == settings.target_far)
    ids = set(re.findall(r"fg1-[0-9a-f]{16}", text))
    assert ids == {package.model_id}, f"model ids in docs/API.md: {sorted(ids)}; shipped: {package.model_id}"
    shown = {float(value) for value in re.findall(r'"threshold": ([0-9.]+)', text)}
    assert shown == {round(threshold, 4)}, f"thresholds in docs/API.md: {sorted(shown)}; served: {threshold:.4f}"
