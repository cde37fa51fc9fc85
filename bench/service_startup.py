"""How long a real server takes to be ready with N templates enrolled: ``python -m service`` against a SQLite
database holding N people with one template each (unit vectors, the shipped model's id), timed from the process's
start to the first ``/readyz`` 200, twice: the first start builds the index from SQL and saves it (what a lost
index file costs), the second loads the saved index (what every restart costs). Also the server's resident memory
once ready.

    .venv/bin/python bench/service_startup.py --templates 100000 [--kind hnsw|flat|ivf] [--out FILE]

The templates are random unit vectors, not faces: start-up does not depend on what the vectors say, only on how
many there are (the HNSW graph of random vectors is, if anything, slower to build than one of real faces).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import create_engine, insert, update

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.package import load_package  # noqa: E402
from service.db.migrate import upgrade  # noqa: E402
from service.db.models import FaceTemplate, Person, TemplateRevision  # noqa: E402
from service.domain.keys import generate_token  # noqa: E402
from service.repositories.templates import embedding_bytes  # noqa: E402


def fill(url: str, templates: int, model_id: str, dim: int, seed: int = 0, chunk: int = 20_000) -> float:
    """Insert ``templates`` people with one random unit-vector template each; returns seconds."""
    began = time.perf_counter()
    rng = np.random.default_rng(seed)
    engine = create_engine(url)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as connection:
        for start in range(0, templates, chunk):
            stop = min(start + chunk, templates)
            vectors = rng.standard_normal((stop - start, dim), dtype=np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            connection.execute(
                insert(Person),
                [
                    {
                        "id": i + 1,
                        "external_id": f"p{i + 1}",
                        "display_name": f"Person {i + 1}",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(start, stop)
                ],
            )
            connection.execute(
                insert(FaceTemplate),
                [
                    {
                        "person_id": i + 1,
                        "embedding": embedding_bytes(v),
                        "embedding_dim": dim,
                        "model_id": model_id,
                        "interocular_px": 60.0,
                        "det_score": 0.99,
                        "blur": 100.0,
                        "yaw": 0.0,
                        "pitch": 0.0,
                        "roll": 0.0,
                        "created_at": now,
                    }
                    for i, v in zip(range(start, stop), vectors, strict=True)
                ],
            )
        connection.execute(update(TemplateRevision).where(TemplateRevision.id == 1).values(revision=1))
    engine.dispose()
    return time.perf_counter() - began


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_until_ready(env: dict[str, str], log: Path, limit_s: float) -> dict[str, Any]:
    """Start ``python -m service``; seconds until /readyz answers 200, the body, and the server's RSS then."""
    port = free_port()
    began = time.perf_counter()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited ({process.returncode}); see {log}")
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
                if response.status_code == 200:
                    ready_s = time.perf_counter() - began
                    return {"ready_s": ready_s, "readyz": response.json(), "rss_mib": rss_mib(process.pid)}
            except httpx.TransportError:
                pass
            if time.perf_counter() - began > limit_s:
                raise RuntimeError(f"not ready within {limit_s} s; see {log}")
            time.sleep(0.1)
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--templates", type=int, default=100_000)
    parser.add_argument("--kind", choices=["hnsw", "flat", "ivf"], default="hnsw", help="FACEGATE_INDEX_KIND")
    parser.add_argument("--restarts", type=int, default=2, help="starts after the first (default 2)")
    parser.add_argument("--limit-s", type=float, default=3600, help="give up on a start after this long")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    package = load_package()
    dim = package.config.embedding_size
    with tempfile.TemporaryDirectory(prefix="facegate-startup-") as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'facegate.db'}"
        upgrade(url)
        fill_s = fill(url, args.templates, package.model_id, dim)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("FACEGATE_")},
            "PYTHONPATH": str(REPO),
            "FACEGATE_DATABASE_URL": url,
            "FACEGATE_INDEX_PATH": str(folder / "index.fgi"),
            "FACEGATE_INDEX_KIND": args.kind,
            "FACEGATE_ADMIN_KEY": generate_token(),
            "FACEGATE_WEBHOOK_SENDER": "false",
        }
        log = folder / "server.log"
        load = [os.getloadavg()[0]]
        first = start_until_ready(env, log, args.limit_s)  # no index file: built from SQL, then saved
        load.append(os.getloadavg()[0])
        files = {p.name: round(p.stat().st_size / 2**20, 1) for p in folder.iterdir() if p.name.startswith("index")}
        again = []
        for _ in range(args.restarts):
            again.append(start_until_ready(env, log, args.limit_s))
            load.append(os.getloadavg()[0])
        assert all(r["readyz"]["index_templates"] == args.templates for r in [first, *again])
    result = {
        "templates": args.templates,
        "kind": args.kind,
        "model_id": package.model_id,
        "fill_sql_s": round(fill_s, 1),
        "first_start_builds": {k: first[k] for k in ("ready_s", "rss_mib")},
        "restarts_load": [{k: r[k] for k in ("ready_s", "rss_mib")} for r in again],
        "index_files_mib": files,
        "load_avg": load,
        "cpus": os.cpu_count(),
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    out = (
        args.out or REPO / "bench" / "results" / f"service_startup-{dt.date.today()}-{args.kind}-{args.templates}.json"
    )
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
