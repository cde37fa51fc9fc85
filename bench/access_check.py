"""Access-check latency and throughput over real HTTP, against dlib's pipeline on the same images in the same run.

The real server runs as a subprocess (``uvicorn --factory service.main:create_app``, one worker, passive OpenMP
waiting, SQLite and the index in a temporary folder, no rate limit). The benchmark enrols a gallery of N LFW
people over the API (one image each, ``force=true``), gives each a rule at one door and makes a terminal key for
that door. Probes are *another* image of each enrolled person, scaled ×1.6 (400×400) onto a 640×480 mid-grey
frame and encoded once as JPEG q90, as in ``pipeline_latency.py``. Then:

1. sequential: one client, warm-up, then ≥ 200 ``POST /v1/access/check``: client-side latency percentiles and
   the mean of each server stage (``stages_ms``);
2. concurrent: 4 client threads (one ``requests.Session`` each) for ≥ 20 s: checks/s and latency percentiles;
3. in-process, 1 thread each, on the same JPEG bytes, alternating which goes first: dlib's pipeline (PIL decode →
   HOG → 5-point shape → ResNet descriptor → numpy nearest neighbour over a gallery of the same people) and ours
   (``service.domain.analysis.analyse_subject`` → numpy nearest neighbour). dlib has no HTTP service, so the
   like-for-like comparison is in-process against in-process; the HTTP figures are facegate's alone.

    .venv/bin/pip install dlib-bin==20.0.1.post1 face-recognition-models==0.3.0
    .venv/bin/python bench/access_check.py            # full run, a few minutes
    .venv/bin/python bench/access_check.py --quick    # smoke run, about a minute
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata as md
import io
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import requests
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
LFW = REPO.parent / "shared" / "data" / "lfw" / "images_deepfunneled"
STAGES = ("decode", "detect", "align", "embed", "search", "policy", "log")
# The speed issue's targets (p50 ≤ 40 ms, p99 ≤ 100 ms, ≥ 40 checks/s with 4 clients; the first had 60 / 150 / 25).
TARGETS = {"p50_ms": 40.0, "p99_ms": 100.0, "checks_per_s": 40.0}
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Subject:
    name: str
    enrol_path: Path
    probe_path: Path


def candidates(root: Path, n: int) -> list[Subject]:
    """People with ≥ 2 images, sorted: every k-th first (spread over the alphabet), then the others as spares
    for people whose enrolment image the quality gate refuses. Enrol with the first image, probe with the second."""
    people = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        images = sorted(folder.glob("*.jpg"))
        if len(images) >= 2:
            people.append(Subject(folder.name, images[0], images[1]))
    if not people:
        raise SystemExit(f"no LFW person with 2 images under {root}")
    k = max(1, len(people) // n)
    first = people[::k]
    chosen = {s.name for s in first}
    return first + [s for s in people if s.name not in chosen]


def door_frame(path: Path) -> bytes:
    """The 250×250 LFW image ×1.6 (400×400) in the middle of a 640×480 mid-grey frame, JPEG q90."""
    face = Image.open(path).convert("RGB").resize((400, 400), Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (640, 480), (128, 128, 128))
    canvas.paste(face, ((640 - 400) // 2, (480 - 400) // 2))
    buf = io.BytesIO()
    canvas.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------------- server


class ApiError(RuntimeError):
    """The API answered something other than what the benchmark needs; the message carries the exact answer."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def process_rss_mb(pid: int) -> float:
    """Resident set size of process ``pid``, MiB (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn ``--workers N`` runs the app in N child processes)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):  # the task ended meanwhile
                todo += [int(child) for child in task.read_text().split()]
    return out


def tree_rss_mb(pid: int) -> float:
    """RSS of ``pid`` and its descendants, MiB (with one worker: the worker itself)."""
    return sum(process_rss_mb(p) for p in process_tree(pid))


class Server:
    """``uvicorn --factory service.main:create_app`` in a subprocess, on a fresh SQLite database and index."""

    def __init__(
        self,
        folder: Path,
        admin_key: str,
        package: str | None,
        workers: int = 1,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / "server.log"
        env = dict(os.environ)
        env |= {
            "OMP_WAIT_POLICY": "PASSIVE",
            "FACEGATE_DATABASE_URL": f"sqlite:///{folder / 'facegate.db'}",
            "FACEGATE_INDEX_PATH": str(folder / "index.fgi"),
            "FACEGATE_ADMIN_KEY": admin_key,
            "FACEGATE_RATE_LIMIT_PER_MINUTE": "0",
        }
        if package:
            env["FACEGATE_MODEL_PATH"] = package
        env |= extra_env or {}
        recorded = ("FACEGATE_", "OMP_", "MKL_", "MALLOC_")
        self.env = {k: v for k, v in env.items() if k.startswith(recorded) and "KEY" not in k}
        self.command = [
            sys.executable, "-m", "uvicorn", "--factory", "service.main:create_app",
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers),
        ]  # fmt: skip
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(self.command, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, timeout_s: float = 180.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                response = requests.get(f"{self.url}/readyz", timeout=2)
                if response.status_code == 200:
                    body: dict[str, Any] = response.json()
                    return body
            except requests.ConnectionError:
                pass
            time.sleep(0.25)
        raise SystemExit(f"the server was not ready after {timeout_s:.0f} s:\n{self.log_tail()}")

    def cpu_s(self) -> float:
        return sum(process_cpu_s(p) for p in process_tree(self.proc.pid))

    def rss_mb(self) -> float:
        return tree_rss_mb(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def expect(response: requests.Response, status: int, what: str) -> dict[str, Any]:
    if response.status_code != status:
        raise ApiError(f"{what}: HTTP {response.status_code} (expected {status}): {response.text[:2000]}")
    body: dict[str, Any] = response.json() if response.content else {}
    return body


@dataclass
class Gallery:
    door_id: int
    terminal_key: str
    enrolled: list[Subject]
    person_ids: list[int]
    skipped: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def enrol_gallery(url: str, admin_key: str, people: list[Subject], n: int) -> Gallery:
    """A door, N people (1 image each, force=true) with a rule at it, and a terminal key bound to it."""
    started = time.perf_counter()
    admin = requests.Session()
    admin.headers["Authorization"] = f"Bearer {admin_key}"
    door = expect(admin.post(f"{url}/v1/doors", json={"name": "bench door", "timezone": "UTC"}), 201, "POST /v1/doors")
    enrolled: list[Subject] = []
    person_ids: list[int] = []
    skipped: list[dict[str, Any]] = []
    for subject in people:
        if len(enrolled) == n:
            break
        body = {"external_id": f"lfw-{len(enrolled) + len(skipped):04d}", "display_name": subject.name}
        person = expect(admin.post(f"{url}/v1/people", json=body), 201, "POST /v1/people")
        files = [("images", (subject.enrol_path.name, subject.enrol_path.read_bytes(), "image/jpeg"))]
        response = admin.post(f"{url}/v1/people/{person['id']}/faces", params={"force": "true"}, files=files)
        if response.status_code == 422 and response.json().get("code") == "no_usable_face":
            skipped.append({"person": subject.name, "image": subject.enrol_path.name, "answer": response.json()})
            expect(admin.delete(f"{url}/v1/people/{person['id']}"), 204, "DELETE /v1/people/{id}")
            continue
        answer = expect(response, 201, "POST /v1/people/{id}/faces?force=true")
        if answer.get("enrolled", 0) < 1:
            raise ApiError(f"POST /v1/people/{{id}}/faces answered 201 without a template: {answer}")
        rule = {"person_id": person["id"], "door_id": door["id"]}
        expect(admin.post(f"{url}/v1/rules", json=rule), 201, "POST /v1/rules")
        enrolled.append(subject)
        person_ids.append(int(person["id"]))
    if len(enrolled) < n:
        raise SystemExit(f"only {len(enrolled)} of the {n} people wanted could be enrolled")
    key = expect(
        admin.post(f"{url}/v1/keys", json={"name": "bench terminal", "role": "terminal", "door_ids": [door["id"]]}),
        201,
        "POST /v1/keys",
    )
    return Gallery(
        door_id=int(door["id"]),
        terminal_key=str(key["key"]),
        enrolled=enrolled,
        person_ids=person_ids,
        skipped=skipped,
        seconds=time.perf_counter() - started,
    )


# --------------------------------------------------------------------------------------------------- HTTP runs


@dataclass
class Check:
    client_ms: float
    status: int
    person_expected: int
    body: dict[str, Any] | None = None
    error: str | None = None


REQUIRED_FIELDS = ("decision", "reason", "latency_ms", "stages_ms")


def check_once(session: requests.Session, url: str, door_id: int, probe: bytes, person_id: int) -> Check:
    files = [("frames", ("probe.jpg", probe, "image/jpeg"))]
    start = time.perf_counter()
    response = session.post(f"{url}/v1/access/check", data={"door_id": str(door_id)}, files=files, timeout=60)
    elapsed = (time.perf_counter() - start) * 1000.0
    if response.status_code != 200:
        return Check(elapsed, response.status_code, person_id, error=response.text[:2000])
    body = response.json()
    missing = [f for f in REQUIRED_FIELDS if f not in body]
    unknown = sorted(set(body.get("stages_ms") or {}) - set(STAGES))
    if missing or unknown:
        return Check(elapsed, 200, person_id, body, error=f"missing fields {missing}, unknown stages {unknown}: {body}")
    return Check(elapsed, 200, person_id, body)


def terminal_session(key: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    return session


def phase_usage(server: Server, t0: float, cpu0: float, c0: float, trace: list[dict[str, float]]) -> dict[str, Any]:
    """Wall time since ``t0``, the server's and this process's CPU since ``cpu0``/``c0``, and the RSS trace."""
    usage: dict[str, Any] = {
        "wall_s": time.perf_counter() - t0,
        "server_cpu_s": server.cpu_s() - cpu0,
        "client_cpu_s": time.process_time() - c0,
    }
    if trace:
        usage["rss_trace"] = trace
    return usage


def sequential(
    server: Server, gallery: Gallery, probes: list[bytes], n: int, warmup: int, rss_every: int = 0
) -> tuple[list[Check], dict[str, Any]]:
    """``n`` checks one after another; with ``rss_every``, the server's RSS after every that many checks."""
    session = terminal_session(gallery.terminal_key)
    for i in range(warmup):
        check_once(session, server.url, gallery.door_id, probes[i % len(probes)], gallery.person_ids[i % len(probes)])
    cpu0, c0, t0 = server.cpu_s(), time.process_time(), time.perf_counter()
    checks, trace = [], []
    for i in range(n):
        j = i % len(probes)
        checks.append(check_once(session, server.url, gallery.door_id, probes[j], gallery.person_ids[j]))
        if rss_every and (i + 1) % rss_every == 0:
            trace.append({"checks": i + 1, "rss_mb": server.rss_mb(), "s": time.perf_counter() - t0})
    return checks, phase_usage(server, t0, cpu0, c0, trace)


def concurrent(
    server: Server, gallery: Gallery, probes: list[bytes], clients: int, duration_s: float, rss_every_s: float = 0.0
) -> tuple[list[Check], dict[str, Any]]:
    """``clients`` threads checking for ``duration_s``; with ``rss_every_s``, the server's RSS that often."""
    results: list[list[Check]] = [[] for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(index: int) -> None:
        session = terminal_session(gallery.terminal_key)
        i = index * len(probes) // clients  # each client starts at a different person
        barrier.wait()
        while time.perf_counter() < deadline[0]:
            j = i % len(probes)
            results[index].append(check_once(session, server.url, gallery.door_id, probes[j], gallery.person_ids[j]))
            i += 1

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    cpu0, c0 = server.cpu_s(), time.process_time()
    t0 = time.perf_counter()
    deadline[0] = t0 + duration_s
    barrier.wait()
    trace = []
    while rss_every_s and any(thread.is_alive() for thread in threads):
        time.sleep(rss_every_s)
        done = sum(len(r) for r in results)
        trace.append({"checks": done, "rss_mb": server.rss_mb(), "s": time.perf_counter() - t0})
    for thread in threads:
        thread.join()
    # wall time: to the end of the last request in flight at the deadline
    return [c for r in results for c in r], phase_usage(server, t0, cpu0, c0, trace)


def stats(values_ms: list[float]) -> dict[str, float]:
    v = np.asarray(values_ms, dtype=np.float64)
    if v.size == 0:
        return {"count": 0}
    q = {f"p{p}_ms": float(np.percentile(v, p)) for p in (50, 90, 99)}
    return {"count": int(v.size), **q, "mean_ms": float(v.mean()), "max_ms": float(v.max())}


def summarise_http(checks: list[Check], usage: dict[str, Any]) -> dict[str, Any]:
    ok = [c for c in checks if c.error is None and c.body is not None]
    errors = Counter(f"HTTP {c.status}: {c.error}" for c in checks if c.error is not None)
    stages: dict[str, Any] = {}
    for stage in STAGES:
        stages[stage] = stats([c.body["stages_ms"][stage] for c in ok if c.body and stage in c.body["stages_ms"]])
    server = [float(c.body["latency_ms"]) for c in ok if c.body]
    overhead = [c.client_ms - float(c.body["latency_ms"]) for c in ok if c.body]
    right_person = sum(1 for c in ok if c.body and (c.body.get("person") or {}).get("id") == c.person_expected)
    n_ok = len(ok)
    return {
        "requests": len(checks),
        "ok": n_ok,
        "errors": dict(errors.most_common(10)),
        "client": stats([c.client_ms for c in ok]),
        "server_latency": stats(server),
        "http_overhead": stats(overhead),  # client-side minus the server's own latency_ms: HTTP, auth, multipart
        "stages": stages,
        "checks_per_s": n_ok / usage["wall_s"] if usage["wall_s"] > 0 else 0.0,
        "server_cpu_ms_per_check": usage["server_cpu_s"] * 1000.0 / max(n_ok, 1),
        "client_cpu_ms_per_check": usage["client_cpu_s"] * 1000.0 / max(n_ok, 1),
        "usage": usage,
        "decisions": dict(Counter(f"{c.body['decision']}/{c.body['reason']}" for c in ok if c.body)),
        "matched_right_person": right_person / n_ok if n_ok else 0.0,
    }


# --------------------------------------------------------------------------------------------------- in-process

Times = dict[str, float]


class OursInProcess:
    """The server's analysis (decode → detect → subject → align + quality gate → embed) and a numpy search."""

    def __init__(self, package: str | None) -> None:
        import torch

        from service.config import Settings
        from service.domain.analysis import analyse_subject
        from service.faces import load_embedder
        from service.runtime import match_rule_for, quality_gate_for

        torch.set_num_threads(1)
        settings = Settings(model_path=package)
        self.embedder = load_embedder(settings)
        self.gate = quality_gate_for(settings)
        self.threshold = match_rule_for(settings, self.embedder).threshold
        self.analyse = analyse_subject
        self.gallery = np.zeros((0, self.embedder.embedding_size), np.float32)

    def enrol(self, images: list[bytes]) -> list[bool]:
        rows, usable = [], []
        for data in images:
            face = self.analyse(self.embedder, data, self.gate, enrolment=True)
            usable.append(face.usable)
            embedding = face.embedding if face.embedding is not None else np.zeros(self.gallery.shape[1], np.float32)
            rows.append(embedding)  # a zero row (cosine 0) keeps row i = person i
        self.gallery = np.ascontiguousarray(np.stack(rows), dtype=np.float32)
        return usable

    def __call__(self, data: bytes) -> tuple[Times, int | None, float | None]:
        t: Times = {}
        start = time.perf_counter()
        face = self.analyse(self.embedder, data, self.gate, enrolment=False, timings=t)
        if not face.usable or face.embedding is None:
            return t, None, None
        s = time.perf_counter()
        scores = self.gallery @ face.embedding
        best = int(np.argmax(scores))
        t["search"] = time.perf_counter() - s
        t["total"] = time.perf_counter() - start
        return t, best, float(scores[best])


class DlibInProcess:
    """dlib's pipeline: PIL decode → HOG (upsample 1) → 5-point shape → ResNet descriptor → numpy nearest neighbour
    by Euclidean distance (dlib's own metric; its documented threshold is 0.6)."""

    THRESHOLD = 0.6

    def __init__(self) -> None:
        import dlib

        from training.evaluation.reference import HOG_UPSAMPLE, DlibFaceModel, ReferenceUnavailableError

        try:
            self.model = DlibFaceModel()
        except ReferenceUnavailableError as exc:
            raise SystemExit(f"install the reference: {exc}") from exc
        self.upsample = HOG_UPSAMPLE
        self.build = {
            f: bool(getattr(dlib, f, False)) for f in ("DLIB_USE_BLAS", "DLIB_USE_CUDA", "USE_AVX_INSTRUCTIONS")
        }
        self.gallery = np.zeros((0, 128), np.float32)

    def enrol(self, images: list[bytes]) -> list[bool]:
        """The reference harness's LFW descriptor (HOG, or its median box when HOG finds no face)."""
        rows, found = [], []
        for data in images:
            descriptor, detected = self.model.describe(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
            rows.append(descriptor)
            found.append(detected)
        self.gallery = np.ascontiguousarray(np.stack(rows), dtype=np.float32)
        return found

    def __call__(self, data: bytes) -> tuple[Times, int | None, float | None]:
        t: Times = {}
        start = time.perf_counter()
        image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        t["decode"] = (a := time.perf_counter()) - start
        rects = self.model.detector(image, self.upsample)
        t["detect"] = (b := time.perf_counter()) - a
        if len(rects) == 0:
            return t, None, None
        shape = self.model.shape_predictor(image, max(rects, key=lambda r: r.area()))
        t["align"] = (c := time.perf_counter()) - b  # the 5-point landmarks (the chip is cut inside the descriptor)
        descriptor = np.asarray(self.model.recognizer.compute_face_descriptor(image, shape), dtype=np.float32)
        t["embed"] = (d := time.perf_counter()) - c
        distances = np.linalg.norm(self.gallery - descriptor, axis=1)
        best = int(np.argmin(distances))
        t["search"] = time.perf_counter() - d
        t["total"] = time.perf_counter() - start
        return t, best, float(distances[best])


def in_process(
    package: str | None, enrol_images: list[bytes], probes: list[bytes], n: int, warmup: int
) -> dict[str, Any]:
    t0 = time.perf_counter()
    ours = OursInProcess(package)
    t1 = time.perf_counter()
    ref = DlibInProcess()
    load_s = {"facegate": t1 - t0, "dlib": time.perf_counter() - t1}
    ours_usable, dlib_found = ours.enrol(enrol_images), ref.enrol(enrol_images)
    for data in probes[:warmup]:
        ours(data)
        ref(data)
    pipelines = {"facegate": ours, "dlib": ref}
    rows: list[dict[str, Any]] = []
    c0 = {"facegate": 0.0, "dlib": 0.0}
    for i, data in enumerate(probes[:n]):
        order = ["facegate", "dlib"] if i % 2 == 0 else ["dlib", "facegate"]
        row: dict[str, Any] = {"probe": i, "first": order[0]}
        for key in order:
            cpu = time.process_time()
            times, best, score = pipelines[key](data)
            c0[key] += time.process_time() - cpu
            row[key] = {"ms": {k: v * 1000.0 for k, v in times.items()}, "best": best, "score": score}
        rows.append(row)
    both = [r for r in rows if "total" in r["facegate"]["ms"] and "total" in r["dlib"]["ms"]]
    out: dict[str, Any] = {}
    for key in pipelines:
        stages = {s: stats([r[key]["ms"][s] for r in rows if s in r[key]["ms"]]) for s in (*STAGES[:5], "total")}
        stages["total_where_both"] = stats([r[key]["ms"]["total"] for r in both])
        decided = [r for r in rows if r[key]["best"] is not None]
        if key == "facegate":
            accepted = [r for r in decided if r[key]["score"] >= ours.threshold]
        else:
            accepted = [r for r in decided if r[key]["score"] < ref.THRESHOLD]
        out[key] = {
            "stages": stages,
            "cpu_ms_per_image": c0[key] * 1000.0 / max(len(rows), 1),
            "face_found_and_usable": len(decided) / max(len(rows), 1),
            "rank1_correct": sum(r[key]["best"] == r["probe"] for r in decided) / max(len(rows), 1),
            "accepted_as_right_person": sum(r[key]["best"] == r["probe"] for r in accepted) / max(len(rows), 1),
            "accepted_as_someone_else": sum(r[key]["best"] != r["probe"] for r in accepted) / max(len(rows), 1),
        }
    out["facegate"]["threshold"] = {"cosine_at_least": ours.threshold}
    out["dlib"]["threshold"] = {"euclidean_below": ref.THRESHOLD}
    package_info = ours.embedder.package
    return {
        "n": len(rows),
        "n_both_found": len(both),
        "load_s": load_s,
        "gallery": {
            "size": len(enrol_images),
            "facegate_usable": sum(ours_usable),
            "dlib_hog_found": sum(dlib_found),
            "note": "same people, same enrolment image (the 250×250 LFW original); one row per person",
        },
        "torch_threads": 1,
        "dlib_build": ref.build,
        "model": {"model_id": package_info.model_id, "trained": package_info.trained}
        | package_info.config.architecture(),
        "pipelines": out,
        "ratio_facegate_over_dlib": {
            q: out["facegate"]["stages"]["total_where_both"][q] / out["dlib"]["stages"]["total_where_both"][q]
            for q in ("p50_ms", "p99_ms", "mean_ms")
        }
        | {"cpu_ms_per_image": out["facegate"]["cpu_ms_per_image"] / out["dlib"]["cpu_ms_per_image"]},
        "per_probe": rows,
    }


# --------------------------------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    packages = ("torch", "dlib-bin", "numpy", "pillow", "facenet-pytorch", "fastapi", "uvicorn", "faiss-cpu")
    versions = {}
    for name in packages:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    return {
        "platform": platform.platform(),
        "cpu": found.group(1).strip() if found else platform.processor(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "python": sys.version.split()[0],
        "versions": versions,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from service.domain.keys import generate_token

    info = machine()
    load: dict[str, Any] = {"start": os.getloadavg()}
    people = candidates(args.lfw, args.gallery)
    admin_key = generate_token()
    with tempfile.TemporaryDirectory(prefix="facegate-bench-") as tmp:
        started = time.perf_counter()
        server = Server(Path(tmp), admin_key, args.package, args.workers, dict(args.server_env))
        try:
            ready = server.wait_ready()
            startup_s = time.perf_counter() - started
            rss = {"after_start": server.rss_mb()}
            try:
                gallery = enrol_gallery(server.url, admin_key, people, args.gallery)
            except (ApiError, requests.ConnectionError) as exc:
                log = server.log_tail()
                raise SystemExit(f"the API misbehaved while enrolling: {exc}\n--- server log ---\n{log}") from exc
            probes = [door_frame(s.probe_path) for s in gallery.enrolled]
            load["after_enrolment"] = os.getloadavg()
            rss["after_enrolment"] = server.rss_mb()
            seq, seq_usage = sequential(server, gallery, probes, args.checks, args.warmup, args.rss_every)
            load["after_sequential"] = os.getloadavg()
            rss["after_sequential"] = server.rss_mb()
            con, con_usage = concurrent(server, gallery, probes, args.clients, args.duration, args.rss_every_s)
            load["after_concurrent"] = os.getloadavg()
            rss["after_concurrent"] = server.rss_mb()
            rss["checks_served"] = len(seq) + len(con) + args.warmup
            readyz_after = requests.get(f"{server.url}/readyz", timeout=5).json()
            server_log = server.log_tail(20)
        finally:
            server.stop()
        server_env = server.env
    enrol_bytes = [s.enrol_path.read_bytes() for s in gallery.enrolled]
    inproc = in_process(args.package, enrol_bytes, probes, args.inproc, args.inproc_warmup)
    load["end"] = os.getloadavg()
    http = {"sequential": summarise_http(seq, seq_usage), "concurrent": summarise_http(con, con_usage)}
    seq_client, con = http["sequential"]["client"], http["concurrent"]
    targets = {
        "p50_ms": {"target": TARGETS["p50_ms"], "measured": seq_client.get("p50_ms")},
        "p99_ms": {"target": TARGETS["p99_ms"], "measured": seq_client.get("p99_ms")},
        "checks_per_s": {"target": TARGETS["checks_per_s"], "measured": con["checks_per_s"]},
    }
    for name, t in targets.items():
        m = t["measured"]
        t["met"] = m is not None and (m >= t["target"] if name == "checks_per_s" else m <= t["target"])
    means = {s: v.get("mean_ms", 0.0) for s, v in http["sequential"]["stages"].items()}
    return {
        "benchmark": "access_check",
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": info | {"load_avg": load},
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in ("out",)},
        "server": {
            "command": " ".join(server.command[1:]).replace(str(REPO), "."),
            "env": server_env,
            "startup_s": startup_s,
            "rss_mb": rss,
            "inference_runtime": os.environ.get("FACEGATE_INFERENCE_RUNTIME", "onnx (default)"),
            "readyz": ready,
            "readyz_after": readyz_after,
            "log_tail": server_log,
            "workers": args.workers,
            "note": "uvicorn workers as stated (RSS and CPU: all its processes); OMP_WAIT_POLICY=PASSIVE; "
            "the load generator runs on the same machine and its CPU is counted in client_cpu_ms_per_check",
        },
        "gallery": {
            "people": len(gallery.enrolled),
            "enrolment_s": gallery.seconds,
            "skipped_no_usable_face": gallery.skipped,
            "images": "LFW deepfunneled, people with ≥ 2 images (sorted, every k-th first); the first image "
            "enrolled as is (250×250), force=true; one rule each at one door; one terminal key for that door",
        },
        "probes": "the second image of each enrolled person, ×1.6 → 400×400 on a 640×480 grey (128) canvas, "
        "JPEG q90, encoded once; cycled in order",
        "targets": targets,
        "biggest_server_stage": max(means, key=lambda s: means[s]) if means else None,
        "http": http,
        "in_process": inproc,
        "comparison_note": "dlib has no HTTP service: the facegate/dlib ratio is in-process vs in-process "
        "(1 thread each, same JPEG bytes, same gallery people, numpy nearest neighbour for both); the HTTP "
        "figures are facegate's alone, end to end through the real server",
    }


def _fmt(v: float | None, digits: int = 1) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def table(res: dict[str, Any]) -> str:
    seq, con = res["http"]["sequential"], res["http"]["concurrent"]
    ip = res["in_process"]
    fg, dl = ip["pipelines"]["facegate"], ip["pipelines"]["dlib"]
    clients = res["settings"]["clients"]
    cores = res["machine"]["cores_usable"]
    lines = [
        "| run | n | p50 ms | p90 ms | p99 ms | mean ms | checks/s | CPU ms/check (server; in-process) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]

    def row(name: str, s: dict[str, float], rate: float | None, cpu: float | None) -> None:
        lines.append(
            f"| {name} | {s.get('count', 0)} | {_fmt(s.get('p50_ms'))} | {_fmt(s.get('p90_ms'))} | "
            f"{_fmt(s.get('p99_ms'))} | {_fmt(s.get('mean_ms'))} | {_fmt(rate)} | {_fmt(cpu)} |"
        )

    row("facegate HTTP, 1 client (client-side)", seq["client"], seq["checks_per_s"], seq["server_cpu_ms_per_check"])
    row("facegate HTTP, 1 client (server latency_ms)", seq["server_latency"], None, None)
    row(
        f"**facegate HTTP, {clients} clients** (client-side)",
        con["client"],
        con["checks_per_s"],
        con["server_cpu_ms_per_check"],
    )
    row("facegate in-process, 1 thread", fg["stages"]["total_where_both"], None, fg["cpu_ms_per_image"])
    row("dlib in-process, 1 thread", dl["stages"]["total_where_both"], None, dl["cpu_ms_per_image"])
    lines += [
        "",
        f"| stage (mean ms) | server, 1 client | server, {clients} clients | facegate in-process | dlib in-process |",
        "|---|--:|--:|--:|--:|",
    ]
    for stage in STAGES:
        cells = [
            seq["stages"][stage].get("mean_ms"),
            con["stages"][stage].get("mean_ms"),
            fg["stages"].get(stage, {}).get("mean_ms"),
            dl["stages"].get(stage, {}).get("mean_ms"),
        ]
        label = "align (dlib: 5-point shape)" if stage == "align" else stage
        lines.append(f"| {label} | " + " | ".join(_fmt(c) for c in cells) + " |")
    lines.append(
        f"| HTTP + auth + multipart (client − server latency) | {_fmt(seq['http_overhead'].get('mean_ms'))} | "
        f"{_fmt(con['http_overhead'].get('mean_ms'))} | | |"
    )
    t = res["targets"]
    verdict = ", ".join(
        f"{k} {_fmt(v['measured'])} (target {'≥' if k == 'checks_per_s' else '≤'} {v['target']:g}): "
        f"{'met' if v['met'] else 'NOT met'}"
        for k, v in t.items()
    )
    r = ip["ratio_facegate_over_dlib"]
    m, load = ip["model"], res["machine"]["load_avg"]
    lines += [
        "",
        f"Targets (1-client p50/p99, {clients}-client throughput): {verdict}.",
        f"Server CPU per check: {seq['server_cpu_ms_per_check']:.0f} ms (1 client), "
        f"{con['server_cpu_ms_per_check']:.0f} ms ({clients} clients): a ceiling of "
        f"{cores * 1000 / con['server_cpu_ms_per_check']:.1f} checks/s on {cores} otherwise idle cores; the load "
        f"generator itself used {con['client_cpu_ms_per_check']:.1f} ms CPU per check.",
        f"Biggest server stage: {res['biggest_server_stage']}. Stage means are over the checks that ran the stage "
        "(policy runs only when the face matched someone).",
        "In-process facegate/dlib (same images, 1 thread each; dlib has no HTTP service, so this is the "
        f"like-for-like ratio): p50 {r['p50_ms']:.2f}, p99 {r['p99_ms']:.2f}, mean {r['mean_ms']:.2f}, "
        f"CPU {r['cpu_ms_per_image']:.2f}; over the {ip['n_both_found']}/{ip['n']} probes where both found a face.",
        f"Decisions (1 client): {seq['decisions']}; matched the right person {seq['matched_right_person']:.0%}. "
        f"In-process rank-1: facegate {fg['rank1_correct']:.0%}, dlib {dl['rank1_correct']:.0%}; "
        f"accepted as the right person at the operating threshold: facegate {fg['accepted_as_right_person']:.0%} "
        f"(cos ≥ {fg['threshold']['cosine_at_least']:.3f}), dlib {dl['accepted_as_right_person']:.0%} (dist < 0.6).",
        f"Gallery {res['gallery']['people']} people; model {m['model_id']} ({m['backbone']} {m['backbone_cfg']}), "
        f"trained: {m['trained']}. Load average (1 min) start {load['start'][0]:.2f}, after HTTP "
        f"{load['after_concurrent'][0]:.2f}, end {load['end'][0]:.2f}.",
        f"Runtime {res['server']['inference_runtime']}; server RSS (MiB): "
        + ", ".join(f"{k} {v:.0f}" for k, v in res["server"]["rss_mb"].items() if k != "checks_served")
        + f" ({res['server']['rss_mb']['checks_served']} checks served).",
    ]
    errors = {**seq["errors"], **con["errors"]}
    if errors:
        lines.append(f"API ERRORS: {errors}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--gallery", type=int, default=200, help="people enrolled (default 200)")
    parser.add_argument("--checks", type=int, default=200, help="sequential checks after warm-up (default 200)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed sequential checks first (default 10)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads (default 4)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of the concurrent run (default 20)")
    parser.add_argument("--inproc", type=int, default=200, help="probes for the in-process comparison (default 200)")
    parser.add_argument("--inproc-warmup", type=int, default=5, help="untimed in-process probes first (default 5)")
    parser.add_argument("--package", default=None, help="model package path (default: the shipped one)")
    parser.add_argument("--lfw", type=Path, default=LFW, help="LFW images_deepfunneled folder")
    parser.add_argument("--out", type=Path, default=None, help="JSON output (default bench/results/...-DATE.json)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 20 people, 30 checks, 5 s, 20 in-process")
    parser.add_argument(
        "--runtime", choices=["onnx", "torch"], default=None, help="FACEGATE_INFERENCE_RUNTIME (default: the service's)"
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        type=lambda kv: tuple(kv.split("=", 1)),
        metavar="KEY=VALUE",
        help="an environment variable for the server only (repeatable), e.g. FACEGATE_TORCH_THREADS=2",
    )
    parser.add_argument("--rss-every", type=int, default=0, help="sample the server's RSS every N sequential checks")
    parser.add_argument(
        "--rss-every-s", type=float, default=0.0, help="sample the server's RSS every N seconds of the concurrent run"
    )
    args = parser.parse_args()
    if args.runtime:  # the server subprocess and the in-process pipeline both read it through Settings
        os.environ["FACEGATE_INFERENCE_RUNTIME"] = args.runtime
    if args.quick:
        args.gallery, args.checks, args.warmup, args.duration = 20, 30, 3, 5.0
        args.inproc, args.inproc_warmup = 20, 2
    res = run(args)
    tag = "-quick" if args.quick else ""
    out = args.out or REPO / "bench" / "results" / f"access_check-{dt.date.today().isoformat()}{tag}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    m = res["machine"]
    print(
        f"{res['date']}  {m['cpu']}, {m['cores_usable']} cores, {m['platform']}, Python {m['python']}, "
        f"torch {m['versions']['torch']}, dlib {m['versions']['dlib-bin']}, load avg {m['load_avg']['start']}\n"
    )
    print(table(res))
    print(f"\n{res['comparison_note']}.\nJSON: {out}")


if __name__ == "__main__":
    main()
