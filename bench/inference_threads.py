"""In-process inference under threads: CPU per frame with ONNX Runtime's spinning on/off, and RSS as threads run it.

Detect + align + embed (the service's ONNX path, the detector from the gate's 56 px) on LFW faces pasted on 640×480
frames (as ``pipeline_latency.py``), from 1 and ``--clients`` concurrent Python threads, as the server's thread pool
runs requests. Two measurements:

1. ``--spin``: per configuration (intra-op threads × ``session.intra_op.allow_spinning``), CPU ms and wall ms per
   frame, interleaved configuration by configuration, ``--rounds`` times.
2. ``--memory``: the process's RSS and Python's traced heap (tracemalloc) every 100 frames over ``--frames`` frames
   from ``--memory-threads`` threads. Run it once per environment (``MALLOC_ARENA_MAX=2 .venv/bin/python ...``) and
   with ``--no-arena`` (ONNX Runtime's CPU arena off) to see which allocator holds the memory.

    nice -n 5 .venv/bin/python bench/inference_threads.py --spin --memory --out bench/results/x.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from pipeline_latency import LFW, make_images

import models.mtcnn_onnx as mtcnn_onnx
from models.detection import FaceDetector, min_face_for_gate
from models.embedder import FaceEmbedder
from models.imageio import decode_image


def build(threads: int, spinning: bool, arena: bool = True) -> FaceEmbedder:
    """The ONNX pipeline with these session options (patched in while the sessions are made)."""
    original = mtcnn_onnx.session_options

    def options(count: int) -> ort.SessionOptions:
        made = original(count)
        made.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        made.enable_cpu_mem_arena = arena
        return made

    mtcnn_onnx.session_options = options
    try:
        detector = FaceDetector(min_face_size=min_face_for_gate(20.0), runtime="onnx", threads=threads)
        return FaceEmbedder(detector=detector, runtime="onnx", threads=threads)
    finally:
        mtcnn_onnx.session_options = original


def analyse(embedder: FaceEmbedder) -> Callable[[np.ndarray], object]:
    def run(frame: np.ndarray) -> object:
        return embedder.faces_from_detections([frame], [embedder.detector.detect(frame)[:1]])

    return run


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def spin(frames: list[np.ndarray], clients: int, rounds: int) -> list[dict[str, Any]]:
    configs = [(1, False), (2, False), (2, True)]
    runners = {c: analyse(build(*c)) for c in configs}
    for run in runners.values():
        for frame in frames[:3]:
            run(frame)
    rows = []
    for round_ in range(rounds):
        for callers in (1, clients):
            for (threads, spinning), run in runners.items():
                batch = frames if callers == 1 else frames * 2
                c0, t0 = time.process_time(), time.perf_counter()
                if callers == 1:
                    for frame in batch:
                        run(frame)
                else:
                    with ThreadPoolExecutor(callers) as pool:
                        list(pool.map(run, batch))
                wall = time.perf_counter() - t0
                row = {
                    "round": round_,
                    "callers": callers,
                    "intra_op_threads": threads,
                    "spinning": spinning,
                    "cpu_ms_per_frame": (time.process_time() - c0) / len(batch) * 1e3,
                    "wall_ms_per_frame": wall / len(batch) * 1e3,
                    "frames_per_s": len(batch) / wall,
                    "load": os.getloadavg()[0],
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def memory(frames: list[np.ndarray], threads: int, count: int, arena: bool) -> dict[str, Any]:
    run = analyse(build(1, False, arena))
    tracemalloc.start()
    trace = [{"frames": 0, "rss_mb": rss_mb(), "python_heap_mb": 0.0}]
    with ThreadPoolExecutor(threads) as pool:
        for start in range(0, count, 100):
            list(pool.map(run, [frames[i % len(frames)] for i in range(start, start + 100)]))
            trace.append(
                {
                    "frames": start + 100,
                    "rss_mb": rss_mb(),
                    "python_heap_mb": tracemalloc.get_traced_memory()[0] / 2**20,
                }
            )
            print(json.dumps(trace[-1]), flush=True)
    tracemalloc.stop()
    return {
        "threads": threads,
        "ort_cpu_arena": arena,
        "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX"),
        "trace": trace,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--n", type=int, default=24, help="LFW frames (default 24)")
    parser.add_argument("--spin", action="store_true", help="spinning on/off, 1 and 2 intra-op threads")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--memory", action="store_true", help="RSS over --frames frames from --memory-threads")
    parser.add_argument("--memory-threads", type=int, default=8)
    parser.add_argument("--frames", type=int, default=800)
    parser.add_argument("--no-arena", action="store_true", help="ONNX Runtime's CPU arena off (memory run)")
    parser.add_argument("--lfw", type=Path, default=LFW)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    load_start = os.getloadavg()
    _, images = make_images(args.n, args.lfw)
    frames = [decode_image(data) for _, data in images]
    result: dict[str, Any] = {
        "benchmark": "inference_threads",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_start": load_start},
        "onnxruntime": ort.__version__,
        "frames": f"{len(frames)} LFW faces ×1.6 on 640×480 grey frames (pipeline_latency.make_images)",
    }
    if args.spin:
        result["spin"] = spin(frames, args.clients, args.rounds)
    if args.memory:
        result["memory"] = memory(frames, args.memory_threads, args.frames, not args.no_arena)
    result["machine"]["load_end"] = os.getloadavg()
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
