"""Secret settings given as files, and the checks of the database passwords: the parts of
:class:`service.config.Settings` that a container needs beyond plain ``FACEGATE_*`` variables.

Every secret setting (a ``SecretStr`` field: the admin key, the crop key, the database passwords, the owner's URL)
may come from a file instead, named by ``FACEGATE_<NAME>_FILE`` (a Docker secret under /run/secrets): the file's
contents without surrounding white space. pydantic-settings' own ``secrets_dir`` reads files named after the fields
from one folder; facegate's deployments name each file by a variable instead, as Compose's ``secrets:`` and the
postgres image's ``POSTGRES_PASSWORD_FILE`` do, so :class:`SecretFilesSource` does that. An unreadable or empty
file, or a secret given both ways, becomes a validation error of its setting, like any other bad value.
"""

from __future__ import annotations

import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError
from pydantic_settings import PydanticBaseSettingsSource

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings
    from sqlalchemy import URL

MIN_DB_PASSWORD_LENGTH = 16
DB_PASSWORD_PLACEHOLDERS = (
    "changeme",
    "change-me",
    "change_me",
    "password",
    "postgres",
    "secret",
    "example",
    "facegate",
)


@dataclass(frozen=True)
class FromFile:
    """A secret read from the file that ``variable`` names (kept so that errors can name where it came from)."""

    value: str = field(repr=False)
    variable: str


@dataclass(frozen=True)
class FileProblem:
    """A ``*_FILE`` variable that could not be honoured; its setting's validator raises ``message``."""

    message: str


def secret_fields(settings_cls: type[BaseSettings]) -> list[str]:
    """The fields that accept ``FACEGATE_<NAME>_FILE``: those typed ``SecretStr`` (optional or not)."""
    names = []
    for name, info in settings_cls.model_fields.items():
        annotation = info.annotation
        members = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
        if SecretStr in members:
            names.append(name)
    return names


def variable(settings_cls: type[BaseSettings], name: str) -> str:
    """The environment variable of field ``name``: ``FACEGATE_<NAME>``."""
    return f"{settings_cls.model_config.get('env_prefix', '')}{name}".upper()


class SecretFilesSource(PydanticBaseSettingsSource):
    """``FACEGATE_<NAME>_FILE=/path`` for every secret setting: the file's stripped contents as ``FromFile``.

    It ranks above the plain variables so that a secret given both ways is refused rather than silently chosen.
    """

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every field at once

    def __call__(self) -> dict[str, Any]:
        environ = {key.upper(): value for key, value in os.environ.items()}
        values: dict[str, Any] = {}
        for name in secret_fields(self.settings_cls):
            plain = variable(self.settings_cls, name)
            file_variable = f"{plain}_FILE"
            path = environ.get(file_variable, "").strip()
            if path:
                values[name] = read_secret_file(file_variable, path, also_given=bool(environ.get(plain)))
        return values


def read_secret_file(file_variable: str, path: str, *, also_given: bool) -> FromFile | FileProblem:
    """The secret in ``path`` (named by ``file_variable``), or the problem that stops it being used."""
    plain = file_variable.removesuffix("_FILE")
    if also_given:
        return FileProblem(f"both {plain} and {file_variable} are set: keep one")
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return FileProblem(f"{file_variable}: cannot read {path}: {reason}")
    if not value:
        return FileProblem(f"{file_variable}: {path} is empty")
    return FromFile(value, file_variable)


def secret_text(value: object) -> str | None:
    """The text of a secret setting's raw input (a string, a ``SecretStr`` or :class:`FromFile`); None otherwise."""
    if isinstance(value, FromFile):
        return value.value
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value if isinstance(value, str) else None


def unwrap_secret(value: object) -> object:
    """A secret setting's input as pydantic validates it: the file's text, or the error the file caused."""
    if isinstance(value, FileProblem):
        raise PydanticCustomError("secret_file", value.message)
    return value.value if isinstance(value, FromFile) else value


def field_variable(field_name: str) -> str:
    """The variable of a :class:`service.config.Settings` field: ``FACEGATE_<NAME>``."""
    return f"FACEGATE_{field_name.upper()}"


def source_variable(raw: object, field_name: str) -> str:
    """The variable a raw value came from: ``FACEGATE_<NAME>_FILE`` for a file, else ``FACEGATE_<NAME>``."""
    return raw.variable if isinstance(raw, FromFile) else field_variable(field_name)


def passwords_into_urls(data: Any, *, default_url: str) -> Any:
    """The settings' raw input with ``database_password`` put into ``database_url`` (and the owner's password into
    ``database_owner_url``), so that everything that connects (the app, Alembic, the CLI) finds one complete URL."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    pairs = (("database_url", "database_password"), ("database_owner_url", "database_owner_password"))
    for url_field, password_field in pairs:
        password = secret_text(data.get(password_field))
        if password is None:
            continue  # unset, or a file problem its own field reports
        password_setting = source_variable(data.get(password_field), password_field)
        url_text = secret_text(data.get(url_field))
        if url_text is None and url_field == "database_url":
            url_text = default_url
        if url_text is None:
            raise PydanticCustomError(
                "database_password",
                "{password_setting} is set but {url_setting} is not",
                {"password_setting": password_setting, "url_setting": field_variable(url_field)},
            )
        data[url_field] = put_password(
            url_text,
            password,
            url_setting=source_variable(data.get(url_field), url_field),
            password_setting=password_setting,
        )
    return data


def parse_database_url(raw: str, setting: str) -> URL:
    """``raw`` as an SQLAlchemy URL, or a validation error naming ``setting``."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(raw)
    except ArgumentError:
        raise PydanticCustomError(
            "database_url", "{setting} is not a database URL (dialect://user@host/db)", {"setting": setting}
        ) from None


def put_password(url_text: str, password: str, *, url_setting: str, password_setting: str) -> str:
    """``url_text`` with ``password`` in it; refused when the URL names another password or takes none (SQLite)."""
    url = parse_database_url(url_text, url_setting)
    if url.get_backend_name() == "sqlite":
        raise PydanticCustomError(
            "database_password",
            "{password_setting} is set but {url_setting} is a SQLite URL, which takes no password",
            {"password_setting": password_setting, "url_setting": url_setting},
        )
    if url.password is not None and url.password != password:
        raise PydanticCustomError(
            "database_password",
            "{url_setting} names a password and {password_setting} gives one: keep one",
            {"password_setting": password_setting, "url_setting": url_setting},
        )
    return url.set(password=password).render_as_string(hide_password=False)


def weak_password(url_text: str) -> str | None:
    """Why the password in ``url_text`` looks like a placeholder, or None (no password, SQLite, or strong enough).

    A URL without a password (libpq may find one in ~/.pgpass) is not judged."""
    from sqlalchemy import make_url

    url = make_url(url_text)
    password = url.password
    if url.get_backend_name() == "sqlite" or password is None:
        return None
    lowered = str(password).lower()
    if len(password) < MIN_DB_PASSWORD_LENGTH:
        return f"has {len(password)} characters; at least {MIN_DB_PASSWORD_LENGTH} are required"
    if len(set(lowered)) < 8:
        return "has fewer than 8 distinct characters"
    if any(word in lowered for word in DB_PASSWORD_PLACEHOLDERS):
        return "looks like a placeholder"
    return None
