"""int8 embedder: quantise the package's ``embedder.onnx`` with ``onnxruntime.quantization`` and measure its cost.

Writes one model package per mode (a copy of the source package whose ``embedder.onnx`` is the int8 graph, recorded
in its ``model.json``; the model id does not change) and measures, in the same run, interleaved face by face:
ms per face at batch 1 (1 intra-op thread) for the float graph and each int8 graph, and the cosine between their
embeddings on real aligned faces. Accuracy is LFW View 2 through each package (``python -m training evaluate
--package OUT/MODE --runtime onnx``), see BENCHMARKS.md.

    nice -n 5 .venv/bin/python bench/quantize_embedder.py --out-dir /work/data/i13c/int8 \
        --calibration /work/data/i12/cache_held

Modes: ``dynamic`` (weights int8, activations quantised per call: ConvInteger/MatMulInteger), ``static`` (QDQ,
activation ranges calibrated on ``--calibration-n`` aligned faces of ``--calibration``, a prepared cache of
faces that are neither LFW nor the training set: the held-out CelebA identities).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from models.mtcnn_onnx import session_options
from models.package import ONNX_FILE, load_package, record_onnx_graph

REPO = Path(__file__).resolve().parent.parent


def load_faces(cache: Path, n: int, skip: int = 0) -> np.ndarray:
    """``n`` aligned RGB ``uint8`` faces ``(n, 112, 112, 3)`` from a prepared cache's shards, after ``skip``."""
    out: list[np.ndarray] = []
    need = n + skip
    for shard in sorted(cache.glob("shard-*.npy")):
        out.append(np.load(shard, mmap_mode="r")[: need - sum(len(a) for a in out)])
        if sum(len(a) for a in out) >= need:
            break
    faces = np.concatenate(out)[skip : skip + n]
    if len(faces) < n:
        raise SystemExit(f"{cache} holds {len(faces) + skip} faces, {need} needed")
    return np.ascontiguousarray(faces)


def normalise(faces: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """``(N, 112, 112, 3)`` uint8 → the network's float32 input ``(N, 3, 112, 112)`` (as ``FaceEmbedder`` does)."""
    m = np.asarray(mean, np.float32).reshape(1, 3, 1, 1)
    s = np.asarray(std, np.float32).reshape(1, 3, 1, 1)
    x = faces.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    return np.ascontiguousarray((x - m) / s, dtype=np.float32)


class _Reader:
    """The calibration faces, one batch of 16 at a time (onnxruntime's CalibrationDataReader protocol)."""

    def __init__(self, inputs: np.ndarray):
        self.batches = [inputs[i : i + 16] for i in range(0, len(inputs), 16)]

    def get_next(self) -> dict[str, np.ndarray] | None:
        return {"input": self.batches.pop(0)} if self.batches else None

    def rewind(self) -> None:  # pragma: no cover - older API
        pass


def quantise(mode: str, source: Path, target: Path, calibration: np.ndarray, work: Path) -> Path:
    """``source``'s graph quantised by ``mode`` into ``target`` (a package copy); returns the int8 graph's path."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    work.mkdir(parents=True, exist_ok=True)
    prepared = work / "embedder-pre.onnx"
    if not prepared.exists():
        quant_pre_process(str(source / ONNX_FILE), str(prepared), skip_symbolic_shape=True)
    out = work / f"embedder-{mode}.onnx"
    if mode == "dynamic":
        quantize_dynamic(str(prepared), str(out), weight_type=QuantType.QInt8)
    elif mode == "static":
        import onnx

        # The first convolution (raw pixels) and the head (BN → FC → BN) stay float: quantised too, the embeddings
        # fell to a mean cosine of 0.92 with the float graph (MinMax or 99.999-percentile ranges alike); without
        # them 0.994 (measured on the held-out faces, 2026-12-02).
        names = [node.name for node in onnx.load(str(prepared)).graph.node]
        reader: Any = _Reader(calibration)
        quantize_static(
            str(prepared),
            str(out),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=[names[0], *(n for n in names if n.startswith("/head"))],
        )
    else:
        raise ValueError(mode)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    record_onnx_graph(target, out.read_bytes(), opset=17, exporter=f"onnxruntime.quantization {mode} int8")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--package", type=Path, default=REPO / "models" / "packages" / "default")
    parser.add_argument("--out-dir", type=Path, required=True, help="where the int8 packages go (outside the repo)")
    parser.add_argument("--calibration", type=Path, required=True, help="prepared cache of aligned faces")
    parser.add_argument("--calibration-n", type=int, default=256)
    parser.add_argument("--test-n", type=int, default=200, help="other faces of the cache for cost and cosine")
    parser.add_argument("--modes", default="dynamic,static")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes over the test faces")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    load_start = os.getloadavg()

    package = load_package(args.package)
    cfg = package.config
    calibration = normalise(load_faces(args.calibration, args.calibration_n), cfg.mean, cfg.std)
    test = normalise(load_faces(args.calibration, args.test_n, skip=args.calibration_n), cfg.mean, cfg.std)
    graphs = {"float32": args.package / ONNX_FILE}
    for mode in args.modes.split(","):
        graphs[f"int8-{mode}"] = quantise(mode, args.package, args.out_dir / mode, calibration, args.out_dir)
    sessions = {
        name: ort.InferenceSession(str(path), session_options(1), providers=["CPUExecutionProvider"])
        for name, path in graphs.items()
    }
    embeddings = {name: s.run(None, {"input": test})[0] for name, s in sessions.items()}
    times: dict[str, list[float]] = {name: [] for name in sessions}
    cpu: dict[str, float] = {name: 0.0 for name in sessions}
    names = list(sessions)
    for _ in range(args.repeats):
        for i in range(len(test)):
            x = test[i : i + 1]
            for name in names if i % 2 == 0 else names[::-1]:
                c0, t0 = time.process_time(), time.perf_counter()
                sessions[name].run(None, {"input": x})
                times[name].append(time.perf_counter() - t0)
                cpu[name] += time.process_time() - c0
    reference = embeddings["float32"] / np.linalg.norm(embeddings["float32"], axis=1, keepdims=True)
    rows: dict[str, Any] = {}
    for name in names:
        e = embeddings[name] / np.linalg.norm(embeddings[name], axis=1, keepdims=True)
        cosine = (e * reference).sum(axis=1)
        rows[name] = {
            "ms_per_face_p50": float(np.median(times[name]) * 1e3),
            "ms_per_face_mean": float(np.mean(times[name]) * 1e3),
            "cpu_ms_per_face": cpu[name] / len(times[name]) * 1e3,
            "cosine_to_float32_min": float(cosine.min()),
            "cosine_to_float32_mean": float(cosine.mean()),
            "graph_bytes": graphs[name].stat().st_size,
            "package": str(args.out_dir / name.removeprefix("int8-")) if name != "float32" else str(args.package),
        }
    base = rows["float32"]["cpu_ms_per_face"]
    print("| graph | ms/face p50 | CPU ms/face | CPU ratio | cosine to float32 (min / mean) | MB |")
    print("|---|--:|--:|--:|--:|--:|")
    for name, row in rows.items():
        print(
            f"| {name} | {row['ms_per_face_p50']:.2f} | {row['cpu_ms_per_face']:.2f} | "
            f"{row['cpu_ms_per_face'] / base:.2f} | {row['cosine_to_float32_min']:.4f} / "
            f"{row['cosine_to_float32_mean']:.4f} | {row['graph_bytes'] / 2**20:.1f} |"
        )
    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_start": load_start,
            "load_end": os.getloadavg(),
        },
        "onnxruntime": ort.__version__,
        "model_id": package.model_id,
        "calibration": {"cache": str(args.calibration), "faces": args.calibration_n},
        "test_faces": args.test_n,
        "repeats": args.repeats,
        "rows": rows,
    }
    out = args.out or REPO / "bench" / "results" / f"quantize_embedder-{dt.date.today().isoformat()}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
