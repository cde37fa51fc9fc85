"""``python -m service [--host H] [--port P]``: serve the API with uvicorn (factory mode).

Host and port default to ``FACEGATE_HOST`` / ``FACEGATE_PORT``, else 127.0.0.1:8000; every other
setting comes from the environment (see :class:`service.config.Settings`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from service.config import get_settings
from service.server import run_server


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and run the server until interrupted."""
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m service", description="Run the facegate API server.")
    parser.add_argument("--host", default=settings.host, help=f"address to bind (default: {settings.host})")
    parser.add_argument("--port", type=int, default=settings.port, help=f"port to listen on (default: {settings.port})")
    args = parser.parse_args(argv)
    run_server(settings, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
