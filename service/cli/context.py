"""What a command needs from outside: settings, a database session, the runtime (model + index), and the
translation of every expected failure into one ``error: ...`` line on stderr with a non-zero exit.

Commands open what they need and nothing more: most only talk to SQL, so they never load the face model (seconds)
and never touch the vector index; only the commands that look at faces (``enroll``, ``enroll-folder``, ``check``,
``model reembed``) open a :class:`~service.runtime.Runtime`. Every open first checks that the configured database
exists at the newest schema (:func:`service.db.presence.require_current`) and never migrates or creates one: only
``facegate db upgrade`` does (run from another folder, the default relative SQLite path would otherwise make a new,
empty database there). Then it goes through :func:`service.database.open_database`, as the server's start does, so
the operator's first admin key is stored exactly as ``facegate serve`` would.

The heavy modules (torch through :mod:`service.config`) are imported inside the functions: ``facegate --help``
and shell completion import this package and must answer at once.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError
    from sqlalchemy.orm import Session, sessionmaker

    from service.config import Settings
    from service.db.models import Door, Group, Person
    from service.runtime import Runtime

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", bound="BaseModel")

EXIT_ERROR = 1
EXIT_CONFIGURATION = 2  # a FACEGATE_* setting (or secret file) is invalid: nothing was touched
EXIT_NO_DATABASE = 4  # the configured database is missing or not at the newest schema: `facegate db upgrade`


class CliError(Exception):
    """A mistake the command line itself detects (two options that exclude each other, a missing file)."""


class ConfigurationError(Exception):
    """The ``FACEGATE_*`` settings are invalid; the message names each variable at fault."""


def guarded(command: Callable[P, R]) -> Callable[P, R]:
    """Run ``command`` and turn the failures an operator can cause into ``error: <one line>`` and exit 1.

    One place for it, so that every command fails the same way and scripts can rely on the exit status. What is
    not recognised here is a bug: it is reported on one line as well, with the traceback in ``--verbose``.
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            from service.db.presence import DatabaseMissingError

            if isinstance(exc, DatabaseMissingError | ConfigurationError):
                typer.echo(f"error: {_one_line(str(exc))}", err=True)
                code = EXIT_NO_DATABASE if isinstance(exc, DatabaseMissingError) else EXIT_CONFIGURATION
                raise typer.Exit(code) from exc
            message = describe_error(exc)
            if message is None:
                logger.debug("unexpected failure", exc_info=True)
                message = f"unexpected {type(exc).__name__}: {exc} (run with --verbose for the traceback)"
            typer.echo(f"error: {_one_line(message)}", err=True)
            raise typer.Exit(EXIT_ERROR) from exc

    return wrapper


def describe_error(exc: Exception) -> str | None:
    """The operator-facing message of an expected failure, else ``None``."""
    from pydantic import ValidationError
    from sqlalchemy.exc import DBAPIError, OperationalError

    from models.imageio import ImageError
    from models.package import ModelPackageError
    from service.core.enrolment import DuplicateIdentityError
    from service.db.migrate import DatabaseUnavailableError
    from service.domain.crops import CropKeyError
    from service.repositories.errors import StorageError

    if isinstance(exc, DuplicateIdentityError):
        return f"{exc} (duplicate_identity; --force enrols anyway)"
    if isinstance(exc, StorageError | ImageError | ModelPackageError):
        return f"{exc} ({exc.code})"  # the stable code, as the API's problem answers carry it
    if isinstance(exc, CliError | CropKeyError):
        return str(exc)
    if isinstance(exc, DatabaseUnavailableError):
        return str(exc)
    if isinstance(exc, ValidationError):
        if exc.title == "Settings":  # built outside load_settings (a helper's own Settings())
            from service.config import describe_settings_error

            return describe_settings_error(exc)
        return validation_message(exc)
    if isinstance(exc, OperationalError) and exc.statement is None:  # failed to connect, not a failed statement
        return f"database unreachable ({_database_name()}): {_driver_message(exc)}"
    if isinstance(exc, DBAPIError):
        message = _driver_message(exc)
        if "no such table" in message or "does not exist" in message:
            message += " (is the schema migrated? facegate db upgrade)"
        return f"database error: {message}"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    return None


def validation_message(exc: ValidationError) -> str:
    """A pydantic error as ``field: what is wrong; ...`` (the input is not echoed: it may be a secret)."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else str(error["msg"]))
    return "; ".join(parts) or str(exc)


def parse(schema: type[M], **values: Any) -> M:
    """The HTTP API's request schema built from command-line values, so both front ends accept the same input."""
    return schema.model_validate(values)


def _driver_message(exc: Any) -> str:
    return str(getattr(exc, "orig", exc)).strip() or type(exc).__name__


def _database_name() -> str:
    from sqlalchemy import make_url

    from service.config import Settings

    try:
        return make_url(Settings().database_url).render_as_string(hide_password=True)
    except Exception:  # the URL itself is the problem: say nothing more about it
        return "FACEGATE_DATABASE_URL"


def _one_line(message: str) -> str:
    return re.sub(r"\s*\n\s*", " ", message).strip()


# -- what commands open ----------------------------------------------------------------------------------------


def load_settings() -> Settings:
    """The ``FACEGATE_*`` settings, read now; :class:`ConfigurationError` naming each bad variable (an ``error:``
    line and exit 2, through :func:`guarded`)."""
    from pydantic import ValidationError

    from service.config import Settings, describe_settings_error

    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigurationError(describe_settings_error(exc)) from None


def existing_database(settings: Settings) -> Settings:
    """``settings`` for a command: the database must exist at the newest schema (else
    :class:`~service.db.presence.DatabaseMissingError`, exit 4), and opening it migrates nothing."""
    from service.db.presence import require_current

    state = require_current(settings.database_url)
    logger.info("database: %s%s (schema %s)", state.shown, f" = {state.file}" if state.file else "", state.revision)
    return settings.model_copy(update={"migrate_on_start": False})


@contextmanager
def database(settings: Settings | None = None) -> Iterator[sessionmaker[Session]]:
    """The database's session factory, opened as the server opens it, but never created or migrated."""
    from service.database import open_database

    engine, factory = open_database(existing_database(settings or load_settings()))
    try:
        yield factory
    finally:
        engine.dispose()


@contextmanager
def session_scope(settings: Settings | None = None) -> Iterator[Session]:
    """One session on the database; the command commits what it means to keep (the repositories never do)."""
    with database(settings) as factory, factory() as session:
        yield session


@contextmanager
def runtime(settings: Settings | None = None) -> Iterator[Runtime]:
    """The database, the face model and the index, for the commands that look at faces. It does not follow other
    replicas (a command is short; it reads SQL when it starts)."""
    from service.runtime import Runtime

    opened = Runtime.open(existing_database(settings or load_settings()), follow=False)
    try:
        yield opened
    finally:
        opened.close()


def current_model_id(settings: Settings) -> str:
    """The id of the model the settings name, read from its package without torch (a listing must answer at
    once): listings count templates of the serving model, as the API does."""
    from models.package_id import read_model_id

    return read_model_id(settings.model_path)


def confirm(question: str, yes: bool) -> None:
    """Ask before a destructive change unless ``--yes``; a "no" (or no terminal to answer) aborts."""
    if not yes:
        typer.confirm(question, abort=True)


# -- naming rows on the command line ---------------------------------------------------------------------------
# A person is named by external id and a door or group by name, as operators think of them; a number also works,
# as the row's id. "#12" means id 12 only, for a badge or a door whose name is itself a number.


def _by_id(ref: str) -> int | None:
    if ref.startswith("#") and ref[1:].isdigit():
        return int(ref[1:])
    return None


def find_person(session: Session, ref: str) -> Person:
    """The person whose external id is ``ref``, else whose id it is; ``person_not_found`` otherwise."""
    from service.repositories import people
    from service.repositories.errors import NotFoundError

    forced = _by_id(ref)
    if forced is not None:
        return people.get_person(session, person_id=forced)
    try:
        return people.get_person_by_external_id(session, external_id=ref)
    except NotFoundError:
        if not ref.isdigit():
            raise
    return people.get_person(session, person_id=int(ref))


def find_door(session: Session, ref: str) -> Door:
    """The door named ``ref``, else whose id it is; ``door_not_found`` otherwise."""
    from service.repositories import doors
    from service.repositories.errors import NotFoundError

    forced = _by_id(ref)
    if forced is not None:
        return doors.get_door(session, door_id=forced)
    try:
        return doors.get_door_by_name(session, name=ref)
    except NotFoundError:
        if not ref.isdigit():
            raise
    return doors.get_door(session, door_id=int(ref))


def find_group(session: Session, ref: str) -> Group:
    """The group named ``ref``, else whose id it is; ``group_not_found`` otherwise.

    The groups repository has no lookup by name, so the name is matched here (a read, not a rule).
    """
    from sqlalchemy import select

    from service.db.models import Group
    from service.repositories import groups

    forced = _by_id(ref)
    if forced is not None:
        return groups.get_group(session, group_id=forced)
    group = session.scalar(select(Group).where(Group.name == ref))
    if group is not None:
        return group
    if ref.isdigit():
        return groups.get_group(session, group_id=int(ref))
    from service.repositories.errors import NotFoundError

    raise NotFoundError("group", ref)
