"""The start sequence of a facegate server, one path for ``facegate serve``, ``python -m service`` and the image's
entrypoint (``scripts/container-start``): with the settings already checked (:class:`service.config.Settings`),
wait for the database, migrate it once, store the operator's first admin key, then run the uvicorn workers.

The workers neither migrate nor race to insert the admin key: both happened here, once, before they started
(``FACEGATE_MIGRATE_ON_START=false`` in their environment). Each worker reads the same settings from the
environment, secret files included.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from service.config import Settings, get_settings
from service.database import store_operator_key
from service.db.session import create_db_engine, make_sessionmaker

logger = logging.getLogger(__name__)


def warn_insecure(settings: Settings) -> None:
    """Log each database password that was accepted only because of ``allow_insecure_db_password``."""
    for setting, why in settings.weak_database_passwords():
        logger.warning(
            "%s: the database password %s; accepted because FACEGATE_ALLOW_INSECURE_DB_PASSWORD=1", setting, why
        )


def prepare_database(settings: Settings, *, wait_s: float | None = None, migrate: bool | None = None) -> None:
    """Wait up to ``wait_s`` (default ``db_wait_s``) for the database server, migrate it to the newest schema when
    ``migrate`` (default ``migrate_on_start``; as the owner, granting the app's role), and store the operator's
    admin key unless it is there. Running it again changes nothing; two containers running it at once both succeed.

    Raises :class:`service.db.migrate.DatabaseUnavailableError` when the database does not answer in time.
    """
    from service.db.migrate import upgrade_and_grant, wait_for_database

    warn_insecure(settings)
    wait_s = settings.db_wait_s if wait_s is None else wait_s
    migrate = settings.migrate_on_start if migrate is None else migrate
    owner_url = settings.database_owner_url.get_secret_value() if settings.database_owner_url else None
    if wait_s > 0:
        wait_for_database((owner_url if migrate else None) or settings.database_url, wait_s)
    if migrate:
        upgrade_and_grant(settings.database_url, owner_url)
    token = settings.first_admin_key()
    if token is None:
        logger.warning("no FACEGATE_ADMIN_KEY or FACEGATE_ADMIN_KEY_FILE: create keys with `facegate keys create`")
        return
    engine = create_db_engine(settings.database_url)
    try:
        store_operator_key(make_sessionmaker(engine), token)
    finally:
        engine.dispose()


def serve(settings: Settings, *, host: str | None = None, port: int | None = None, workers: int | None = None) -> None:
    """Prepare the database (:func:`prepare_database`), then serve until stopped; host, port and workers default
    to the settings'."""
    from service.faces import check_inference_runtime
    from service.server import configure_logging, run_server

    configure_logging(settings)
    check_inference_runtime(settings)  # before the database and the workers: one line, not a worker's traceback
    prepare_database(settings)
    host = host or settings.host
    port = settings.port if port is None else port
    workers = workers or settings.workers
    logger.info("starting facegate on %s:%d with %d worker(s)", host, port, workers)
    with _workers_do_not_migrate():
        run_server(settings, host=host, port=port, workers=workers)


@contextmanager
def _workers_do_not_migrate() -> Iterator[None]:
    """``FACEGATE_MIGRATE_ON_START=false`` for the workers (they build their settings from the environment, through
    :func:`service.config.get_settings`), restored afterwards."""
    name = "FACEGATE_MIGRATE_ON_START"
    before = os.environ.get(name)
    os.environ[name] = "false"
    get_settings.cache_clear()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before
        get_settings.cache_clear()
