"""Settings that a deployment gives as files (``FACEGATE_<NAME>_FILE``, Docker secrets) and the checks that used to
live in the container's start script only: each bad value is a validation error that names its variable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from service.config import Settings, describe_settings_error
from service.config_secrets import secret_fields
from service.domain.keys import generate_token

STRONG = "Qm7-vT2xK9pLw4Zr8sHn"  # 20 characters, 19 distinct, no placeholder word


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("FACEGATE_")]:
        monkeypatch.delenv(name)


def refused(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as raised:
        Settings()
    message = describe_settings_error(raised.value)
    for value in env.values():
        if len(value) >= 8 and "/" not in value and "://" not in value:
            assert value not in message, "a refused value was repeated"
    return message


def test_every_secret_setting_takes_a_file() -> None:
    assert set(secret_fields(Settings)) == {
        "admin_key",
        "crop_key",
        "database_password",
        "database_owner_url",
        "database_owner_password",
    }


def test_a_secret_file_is_read_stripped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    token = generate_token()
    (tmp_path / "admin_key").write_text(f"{token}\n")
    (tmp_path / "crop_key").write_text("  crop-key-from-a-file \n")
    monkeypatch.setenv("FACEGATE_ADMIN_KEY_FILE", str(tmp_path / "admin_key"))
    monkeypatch.setenv("fAcEgAtE_crop_key_file", str(tmp_path / "crop_key"))  # variables are case-insensitive
    settings = Settings()
    assert settings.first_admin_key() == token
    assert settings.crop_key == SecretStr("crop-key-from-a-file")


def test_the_database_passwords_go_into_their_urls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "app").write_text(f"{STRONG}\n")
    (tmp_path / "owner").write_text(f"{STRONG}-owner")
    monkeypatch.setenv("FACEGATE_DATABASE_URL", "postgresql+psycopg://facegate_app@db:5432/facegate")
    monkeypatch.setenv("FACEGATE_DATABASE_PASSWORD_FILE", str(tmp_path / "app"))
    monkeypatch.setenv("FACEGATE_DATABASE_OWNER_URL", "postgresql+psycopg://facegate@db:5432/facegate")
    monkeypatch.setenv("FACEGATE_DATABASE_OWNER_PASSWORD_FILE", str(tmp_path / "owner"))
    settings = Settings()
    assert settings.database_url == f"postgresql+psycopg://facegate_app:{STRONG}@db:5432/facegate"
    assert settings.database_owner_url is not None
    assert (
        settings.database_owner_url.get_secret_value()
        == f"postgresql+psycopg://facegate:{STRONG}-owner@db:5432/facegate"
    )
    # The result validates again unchanged (a copy of the settings is no conflict between URL and password).
    again = Settings.model_validate(settings.model_dump())
    assert again.database_url == settings.database_url


def test_a_password_with_url_characters_is_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    password = "p@ss:w/rd%#?" + STRONG
    monkeypatch.setenv("FACEGATE_DATABASE_URL", "postgresql+psycopg://facegate@db/facegate")
    monkeypatch.setenv("FACEGATE_DATABASE_PASSWORD", password)
    from sqlalchemy import make_url

    assert make_url(Settings().database_url).password == password


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"FACEGATE_ADMIN_KEY_FILE": "{tmp}/missing"},
            "FACEGATE_ADMIN_KEY_FILE: cannot read {tmp}/missing: No such file",
        ),
        ({"FACEGATE_CROP_KEY_FILE": "{tmp}/empty"}, "FACEGATE_CROP_KEY_FILE: {tmp}/empty is empty"),
        ({"FACEGATE_ADMIN_KEY_FILE": "{tmp}"}, "FACEGATE_ADMIN_KEY_FILE: cannot read {tmp}: Is a directory"),
        (
            {"FACEGATE_ADMIN_KEY": "{token}", "FACEGATE_ADMIN_KEY_FILE": "{tmp}/token"},
            "FACEGATE_ADMIN_KEY: both FACEGATE_ADMIN_KEY and FACEGATE_ADMIN_KEY_FILE are set: keep one",
        ),
        ({"FACEGATE_ADMIN_KEY_FILE": "{tmp}/placeholder"}, "FACEGATE_ADMIN_KEY_FILE refused: the secret looks like"),
        ({"FACEGATE_ADMIN_KEY": "changeme"}, "FACEGATE_ADMIN_KEY refused: the secret has 8 characters"),
        (
            {"FACEGATE_DATABASE_PASSWORD_FILE": "{tmp}/token"},
            "FACEGATE_DATABASE_PASSWORD_FILE is set but FACEGATE_DATABASE_URL is a SQLite URL, which takes no password",
        ),
        (
            {
                "FACEGATE_DATABASE_URL": "postgresql+psycopg://u:" + STRONG + "@db/f",
                "FACEGATE_DATABASE_PASSWORD": "x" + STRONG,
            },
            "FACEGATE_DATABASE_URL names a password and FACEGATE_DATABASE_PASSWORD gives one: keep one",
        ),
        (
            {"FACEGATE_DATABASE_OWNER_PASSWORD_FILE": "{tmp}/token"},
            "FACEGATE_DATABASE_OWNER_PASSWORD_FILE is set but FACEGATE_DATABASE_OWNER_URL is not",
        ),
        ({"FACEGATE_DATABASE_URL": "not a url"}, "FACEGATE_DATABASE_URL is not a database URL"),
        ({"FACEGATE_DATABASE_OWNER_URL": "not a url"}, "FACEGATE_DATABASE_OWNER_URL is not a database URL"),
        (
            {"FACEGATE_DATABASE_URL": "postgresql+psycopg://u:postgres@db/f"},
            "FACEGATE_DATABASE_URL: the database password has 8 characters; at least 16 are required",
        ),
        (
            {"FACEGATE_DATABASE_URL": "postgresql+psycopg://u@db/f", "FACEGATE_DATABASE_PASSWORD": "aaaabbbbccccdddd1"},
            "FACEGATE_DATABASE_URL: the database password has fewer than 8 distinct characters",
        ),
        (
            {
                "FACEGATE_DATABASE_URL": "postgresql+psycopg://u@db/f",
                "FACEGATE_DATABASE_OWNER_URL": "postgresql+psycopg://o@db/f",
                "FACEGATE_DATABASE_OWNER_PASSWORD_FILE": "{tmp}/placeholder",
            },
            "FACEGATE_DATABASE_OWNER_URL: the database password looks like a placeholder",
        ),
        ({"FACEGATE_KEEP_CROPS": "true"}, "FACEGATE_KEEP_CROPS needs FACEGATE_CROP_KEY (or FACEGATE_CROP_KEY_FILE)"),
        ({"FACEGATE_WORKERS": "0"}, "FACEGATE_WORKERS: Input should be greater than or equal to 1"),
        ({"FACEGATE_DB_WAIT_S": "soon"}, "FACEGATE_DB_WAIT_S: Input should be a valid number"),
    ],
)
def test_refused_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    (tmp_path / "empty").write_text(" \n")
    (tmp_path / "token").write_text(generate_token())
    (tmp_path / "placeholder").write_text("changeme-changeme-changeme-changeme\n")
    values = {name: value.format(tmp=tmp_path, token=generate_token()) for name, value in env.items()}
    assert expected.format(tmp=tmp_path) in refused(monkeypatch, **values)


def test_several_problems_are_all_named(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refused(monkeypatch, FACEGATE_WORKERS="0", FACEGATE_PORT="many")
    assert "FACEGATE_WORKERS: " in message and "FACEGATE_PORT: " in message


def test_an_insecure_database_password_may_be_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEGATE_DATABASE_URL", "postgresql+psycopg://u:postgres@db/f")
    monkeypatch.setenv("FACEGATE_ALLOW_INSECURE_DB_PASSWORD", "1")
    settings = Settings()
    assert settings.weak_database_passwords() == [
        ("FACEGATE_DATABASE_URL", "has 8 characters; at least 16 are required")
    ]


def test_a_url_without_password_and_sqlite_are_not_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEGATE_DATABASE_URL", "postgresql+psycopg://u@db/f")  # libpq may find ~/.pgpass
    assert Settings().weak_database_passwords() == []
    monkeypatch.setenv("FACEGATE_DATABASE_URL", "sqlite:///x.db")
    assert Settings().weak_database_passwords() == []


def test_given_values_win_over_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests and embedders pass settings directly; a file variable left in the shell does not interfere."""
    monkeypatch.setenv("FACEGATE_ADMIN_KEY_FILE", str(tmp_path / "missing"))
    token = generate_token()
    assert Settings(admin_key=SecretStr(token)).first_admin_key() == token


def test_the_start_settings_have_defaults_for_one_machine() -> None:
    settings = Settings()
    assert (settings.workers, settings.db_wait_s, settings.migrate_on_start) == (1, 0.0, True)
    assert settings.allow_insecure_db_password is False and settings.database_password is None
