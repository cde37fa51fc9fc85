"""Which database a setting names, whether it is there, and at which schema revision, without creating anything.

The command line opens the database through :func:`require_current`: run from another folder, the default
``sqlite:///./var/facegate.db`` names a file that is not there, and connecting would create a new, empty database
that answers "no people". Only ``facegate db upgrade`` (and the server's start, ``FACEGATE_MIGRATE_ON_START``)
create or migrate one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import URL, inspect, make_url, text

from service.db.session import create_db_engine


class DatabaseMissingError(RuntimeError):
    """The configured database does not exist, has no facegate schema, or an older one."""


@dataclass(frozen=True)
class DatabaseState:
    """What :func:`inspect_database` found.

    ``shown``: the URL without its password; ``file``: a SQLite file's absolute path (None for a server or memory);
    ``exists``: False only for a SQLite file that is not there (a server's database is connected to, so a missing
    one is a connection error); ``revision``: the schema's revision (None: no facegate schema); ``head``: the
    revision this code needs.
    """

    shown: str
    file: Path | None
    exists: bool
    revision: str | None
    head: str

    @property
    def current(self) -> bool:
        return self.exists and self.revision == self.head


VERSIONS_DIR = Path(__file__).resolve().parents[1] / "alembic" / "versions"
_REVISION = re.compile(r'^(down_revision|revision)\b[^=]*=\s*(?:"([^"]*)"|None)', re.MULTILINE)


def head_revision() -> str:
    """The newest migration's revision id: the one no other revises. Read from the scripts' text, without importing
    Alembic (a second of a command's start on a busy machine); a test checks it against Alembic's own answer."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for script in VERSIONS_DIR.glob("*.py"):
        for key, value in _REVISION.findall(script.read_text(encoding="utf-8")):
            if value:
                (revisions if key == "revision" else revised).add(value)
    heads = revisions - revised
    if len(heads) != 1:
        raise RuntimeError(f"service/alembic/versions has {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def sqlite_file(url: str | URL) -> Path | None:
    """A SQLite URL's file as an absolute path (relative URLs are relative to the working folder); else None."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if parsed.database in (None, "", ":memory:") or "mode=memory" in str(parsed.query):
        return None
    return Path(parsed.database).expanduser().absolute()


def inspect_database(url: str | URL) -> DatabaseState:
    """Look at the database ``url`` names. A SQLite file is never created; a server is connected to (its
    connection errors propagate: :mod:`service.cli.context` reports them as "database unreachable")."""
    shown = make_url(url).render_as_string(hide_password=True)
    head = head_revision()
    file = sqlite_file(url)
    if file is not None and not file.is_file():
        return DatabaseState(shown, file, exists=False, revision=None, head=head)
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            revision = None
            if inspect(connection).has_table("alembic_version"):
                revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
    return DatabaseState(shown, file, exists=True, revision=revision, head=head)


def require_current(url: str | URL) -> DatabaseState:
    """The state of ``url``'s database; :class:`DatabaseMissingError` (one line, saying what to do) unless it
    exists at the newest schema."""
    state = inspect_database(url)
    where = state.shown if state.file is None else f"{state.shown} ({state.file})"
    fix = "create it with `facegate db upgrade`, or set FACEGATE_DATABASE_URL to the service's database"
    if not state.exists:
        raise DatabaseMissingError(f"no facegate database at {where}: {fix}")
    if state.revision is None:
        raise DatabaseMissingError(f"{where} has no facegate schema: {fix}")
    if state.revision != state.head:
        raise DatabaseMissingError(
            f"{where} is at schema {state.revision}, this facegate needs {state.head}: run `facegate db upgrade`"
        )
    return state
