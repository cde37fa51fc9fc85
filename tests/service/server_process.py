"""A real facegate server process (``python -m service``) on a free 127.0.0.1 port, for the tests that need one:
the kill -9 test of the webhook outbox and the browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server_process(
    folder: Path, admin_key: str, log_name: str, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Start the server on the SQLite database in ``folder``; yields (process, base URL) once it is ready."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FACEGATE_")},
        "PYTHONPATH": str(REPO_ROOT),
        "FACEGATE_DATABASE_URL": f"sqlite:///{folder / 'facegate.db'}",
        "FACEGATE_INDEX_PATH": str(folder / "index.fgi"),
        "FACEGATE_ADMIN_KEY": admin_key,
        "FACEGATE_RATE_LIMIT_PER_MINUTE": "0",
        "OMP_NUM_THREADS": "1",
        **(extra_env or {}),
    }
    with open(folder / log_name, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a hang guard: loading the model takes seconds
        while True:
            assert process.poll() is None, (folder / log_name).read_text()
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.2)
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)
