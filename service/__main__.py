"""``python -m service [--host H] [--port P] [--workers N]``: serve the API, as ``facegate serve`` does.

Host, port and workers default to ``FACEGATE_HOST`` / ``FACEGATE_PORT`` / ``FACEGATE_WORKERS``, else
127.0.0.1:8000 with one worker; every other setting comes from the environment (see
:class:`service.config.Settings`). The start sequence is :func:`service.startup.serve`'s.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from service.config import Settings, describe_settings_error


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and run the server until interrupted; exit 2 with one line on invalid settings."""
    parser = argparse.ArgumentParser(prog="python -m service", description="Run the facegate API server.")
    try:
        settings = Settings()
    except ValidationError as exc:
        parser.exit(2, f"error: {describe_settings_error(exc)}\n")
    parser.add_argument("--host", default=settings.host, help=f"address to bind (default: {settings.host})")
    parser.add_argument("--port", type=int, default=settings.port, help=f"port to listen on (default: {settings.port})")
    parser.add_argument(
        "--workers", type=int, default=settings.workers, help=f"uvicorn worker processes (default: {settings.workers})"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.workers <= 64:
        parser.error("--workers must be between 1 and 64")
    from models.package import RuntimeUnavailableError
    from service.db.migrate import DatabaseUnavailableError
    from service.startup import serve

    try:
        serve(settings, host=args.host, port=args.port, workers=args.workers)
    except DatabaseUnavailableError as exc:
        parser.exit(1, f"error: {exc}\n")
    except RuntimeUnavailableError as exc:  # FACEGATE_INFERENCE_RUNTIME=torch without torch installed
        parser.exit(1, f"error: {exc} ({exc.code})\n")


if __name__ == "__main__":
    main(sys.argv[1:])
