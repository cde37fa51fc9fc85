"""Inference-pipeline latency: facegate's pipeline against dlib's, in the same run, on the same JPEG bytes.

Each of N LFW images is pasted (×1.6, 400×400) on a 640×480 mid-grey canvas and encoded as JPEG q90 in
memory. Per image the two pipelines run back to back, alternating which goes first, so load from other
jobs on the machine hits both alike. Stages are timed with ``time.perf_counter``.

    .venv/bin/pip install dlib-bin==20.0.1.post1 face-recognition-models==0.3.0
    .venv/bin/python bench/pipeline_latency.py --n 100
    .venv/bin/python bench/pipeline_latency.py --n 100 --runtimes onnx,torch --widths   # both runtimes, same run

``--runtimes`` runs facegate's pipeline once per runtime on each image ("facegate" is the first, the service's
default; the others are "facegate-<runtime>"), interleaved with dlib's. ``--widths`` adds the embedder's cost per
face at batch 1 for the shipped network and ×0.5 / ×1.0 widths of its family (untrained weights: cost does not
depend on training), in each runtime.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata as md
import io
import json
import os
import platform
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from models.alignment import align_face
from models.detection import select_subject
from models.embedder import FaceEmbedder
from models.imageio import decode_image
from models.package import load_package

REPO = Path(__file__).resolve().parent.parent
LFW = REPO.parent / "shared" / "data" / "lfw" / "images_deepfunneled"
Times = dict[str, float]


def make_images(n: int, root: Path, canvas_size: tuple[int, int] = (640, 480)) -> tuple[int, list[tuple[str, bytes]]]:
    """First image of every k-th person (sorted), pasted ×1.6 on a 640×480 (or ``canvas_size``) grey canvas, JPEG
    q90."""
    people = sorted(p for p in root.iterdir() if p.is_dir())
    k = max(1, len(people) // n)
    out = []
    for person in people[::k][:n]:
        path = sorted(person.glob("*.jpg"))[0]
        face = Image.open(path).convert("RGB").resize((400, 400), Image.Resampling.BICUBIC)
        canvas = Image.new("RGB", canvas_size, (128, 128, 128))
        canvas.paste(face, ((canvas_size[0] - 400) // 2, (canvas_size[1] - 400) // 2))
        buf = io.BytesIO()
        canvas.save(buf, format="JPEG", quality=90)
        out.append((path.name, buf.getvalue()))
    return k, out


class Ours:
    def __init__(
        self, package: str | None, runtime: str = "torch", detect_max_pixels: int | None = None, min_face: int = 56
    ) -> None:
        from models.detection import FaceDetector

        threads = torch.get_num_threads()
        detector = FaceDetector(
            "cpu",
            min_face_size=min_face,
            runtime=runtime,
            max_pixels=detect_max_pixels,
            threads=threads,
        )
        self.embedder = FaceEmbedder(
            load_package(package, warn_untrained=False),
            device="cpu",
            detector=detector,
            runtime=runtime,
            threads=threads,
        )

    def __call__(self, data: bytes) -> Times:
        t: Times = {}
        c0, s = time.process_time(), time.perf_counter()
        image = decode_image(data)
        t["decode"] = (a := time.perf_counter()) - s
        dets = self.embedder.detector.detect(image)
        t["detect"] = (b := time.perf_counter()) - a
        subject = select_subject(dets, image.shape)
        if subject is None:
            return t
        crop = align_face(image, subject.landmarks, size=self.embedder.input_size)
        t["align"] = (c := time.perf_counter()) - b
        batch = np.stack([crop])  # as FaceEmbedder.faces_from_detections does (a writable copy)
        self.embedder.embed_crops(batch, flip_tta=False)
        t["embed"] = (d := time.perf_counter()) - c
        t["total"] = d - s
        t["cpu_total"] = time.process_time() - c0
        e = time.perf_counter()
        self.embedder.embed_crops(batch, flip_tta=True)
        t["embed_flip"] = time.perf_counter() - e
        t["total_flip_tta"] = t["total"] - t["embed"] + t["embed_flip"]
        return t


class Dlib:
    def __init__(self) -> None:
        import dlib

        from training.evaluation.reference import DlibFaceModel, ReferenceUnavailableError

        try:
            model = DlibFaceModel()  # locates the .dat files without importing face_recognition_models
        except ReferenceUnavailableError as exc:
            raise SystemExit(f"install the reference: {exc}") from exc
        self.detector, self.predictor, self.encoder = model.detector, model.shape_predictor, model.recognizer
        # No threading knob in dlib's Python API; this wheel has no BLAS, so HOG and the ResNet run on one thread.
        self.build = {
            f: bool(getattr(dlib, f, False)) for f in ("DLIB_USE_BLAS", "DLIB_USE_CUDA", "USE_AVX_INSTRUCTIONS")
        }

    def __call__(self, data: bytes) -> Times:
        t: Times = {}
        c0, s = time.process_time(), time.perf_counter()
        image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        t["decode"] = (a := time.perf_counter()) - s
        rects = self.detector(image, 1)
        t["detect"] = (b := time.perf_counter()) - a
        if len(rects) == 0:
            return t
        rect = max(rects, key=lambda r: r.area())
        shape = self.predictor(image, rect)
        t["landmarks"] = (c := time.perf_counter()) - b
        self.encoder.compute_face_descriptor(image, shape)  # 150 px chip, num_jitters=0
        t["embed"] = (d := time.perf_counter()) - c
        t["total"] = d - s
        t["cpu_total"] = time.process_time() - c0
        return t


def stats(values: list[float]) -> dict[str, float]:
    v = np.asarray(values) * 1000.0
    if v.size == 0:
        return {"count": 0}
    q = {f"p{p}_ms": float(np.percentile(v, p)) for p in (50, 90, 99)}
    return {"count": int(v.size), **q, "mean_ms": float(v.mean()), "images_per_s": float(1000 / v.mean())}


def machine() -> dict[str, Any]:
    found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    cpu = found.group(1).strip() if found else platform.processor()
    versions = {p: md.version(p) for p in ("torch", "dlib-bin", "numpy", "pillow", "facenet-pytorch")}
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "python": sys.version.split()[0],
        "versions": versions,
        "torch_threads": torch.get_num_threads(),
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS") if k in os.environ},
        "load_avg_start": os.getloadavg(),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    info = machine()
    width, height = (int(v) for v in args.canvas.split("x"))
    k, images = make_images(args.n, args.lfw, (width, height))
    runtimes = args.runtimes.split(",")
    keys = ["facegate"] + [f"facegate-{r}" for r in runtimes[1:]]
    load_s: dict[str, float] = {}
    pipelines: dict[str, Callable[[bytes], Times]] = {}
    for key, runtime in zip(keys, runtimes, strict=True):
        t0 = time.perf_counter()
        pipelines[key] = Ours(args.package, runtime, args.detect_max_pixels, args.min_face)
        load_s[key] = time.perf_counter() - t0
    t1 = time.perf_counter()
    ref = Dlib()
    load_s["dlib"] = time.perf_counter() - t1
    pipelines["dlib"] = ref
    ours = pipelines["facegate"]
    assert isinstance(ours, Ours)
    for _, data in images[: args.warmup]:
        for pipeline in pipelines.values():
            pipeline(data)
    per_image: list[dict[str, Any]] = []
    names = list(pipelines)
    for i, (name, data) in enumerate(images):
        order = names[i % len(names) :] + names[: i % len(names)]  # each pipeline goes first in turn
        row: dict[str, Any] = {"image": name, "first": order[0]}
        for key in order:
            row[key] = pipelines[key](data)
        per_image.append(row)
    both = [r for r in per_image if all("total" in r[key] for key in names)]
    if not both:
        raise SystemExit("no image where both pipelines found a face: nothing to compare")
    result: dict[str, Any] = {key: {} for key in names}
    for key, stages in [
        *((k, ["decode", "detect", "align", "embed", "embed_flip"]) for k in keys),
        ("dlib", ["decode", "detect", "landmarks", "embed"]),
    ]:
        for stage in stages:
            result[key][stage] = stats([r[key][stage] for r in per_image if stage in r[key]])
        totals = ["total", "total_flip_tta", "cpu_total"] if key != "dlib" else ["total", "cpu_total"]
        for stage in totals:  # totals over the images where *both* found a face, so the sets match
            result[key][stage] = stats([r[key][stage] for r in both])
        result[key]["cpu_per_wall"] = result[key]["cpu_total"]["mean_ms"] / result[key]["total"]["mean_ms"]
    found = {key: [("total" in r[key]) for r in per_image] for key in pipelines}
    n = len(per_image)
    fg, dl = result["facegate"], result["dlib"]
    package = ours.embedder.package
    return {
        "benchmark": "pipeline_latency",
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": info | {"load_avg_end": os.getloadavg(), "dlib_build": ref.build},
        "n": n,
        "warmup": args.warmup,
        "images": f"LFW deepfunneled, first image of every {k}-th "
        f"person (sorted); ×1.6 → 400×400 on a {args.canvas} grey (128) canvas, JPEG q90 in memory",
        "model": {"model_id": package.model_id, "trained": package.trained, **package.config.architecture()}
        | {"params": sum(p.numel() for p in package.network.parameters()), "source": str(package.source)},
        "note": ("" if package.trained else "the model package is an UNTRAINED placeholder; ")
        + "latency does not depend on training, accuracy is NOT measured here",
        "reference": "dlib HOG (upsample 1) → shape_predictor_5_face_landmarks → "
        "dlib_face_recognition_resnet_model_v1 (150 px chip, num_jitters 0)",
        "load_s": load_s,
        "detection": {
            "facegate_found": sum(found["facegate"]) / n,
            "dlib_found": sum(found["dlib"]) / n,
            "both_found": len(both) / n,
            "agree": sum(a == b for a, b in zip(found["facegate"], found["dlib"], strict=True)) / n,
        },
        "ratio_total_facegate_over_dlib": {q: fg["total"][q] / dl["total"][q] for q in ("p50_ms", "p90_ms", "mean_ms")}
        | {"cpu_mean_ms": fg["cpu_total"]["mean_ms"] / dl["cpu_total"]["mean_ms"]},
        "ratio_total_flip_tta_over_dlib_mean": fg["total_flip_tta"]["mean_ms"] / dl["total"]["mean_ms"],
        "runtimes": runtimes,
        "detect_max_pixels": args.detect_max_pixels,
        "min_face": args.min_face,
        "ratios_over_dlib": {
            key: {q: result[key]["total"][q] / dl["total"][q] for q in ("p50_ms", "mean_ms")}
            | {"detect_mean": result[key]["detect"]["mean_ms"] / dl["detect"]["mean_ms"]}
            for key in keys
        },
        "embedding_cost": embedding_cost(args.package) if args.widths else None,
        "stages": result,
        "per_image": per_image,
    }


def table(res: dict[str, Any]) -> str:
    lines = [
        "| pipeline | stage | n | p50 ms | p90 ms | p99 ms | mean ms | images/s |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for key in res["stages"]:
        for stage, s in res["stages"][key].items():
            if isinstance(s, dict) and s.get("count"):
                bold = "**" if stage.startswith("total") else ""  # cpu_total: process CPU time, all threads
                lines.append(
                    f"| {key} | {bold}{stage}{bold} | {s['count']} | {s['p50_ms']:.1f} | {s['p90_ms']:.1f} | "
                    f"{s['p99_ms']:.1f} | {s['mean_ms']:.1f} | {s['images_per_s']:.1f} |"
                )
    r, d, m = res["ratio_total_facegate_over_dlib"], res["detection"], res["model"]
    lines += [
        "",
        "Ratio facegate/dlib, total: "
        + ", ".join(f"{k.removesuffix('_ms')} {v:.2f}" for k, v in r.items())
        + f"; with flip-TTA (mean) {res['ratio_total_flip_tta_over_dlib_mean']:.2f}",
        f"Face found: facegate {d['facegate_found']:.0%}, dlib {d['dlib_found']:.0%}, both {d['both_found']:.0%}, "
        f"same verdict {d['agree']:.0%}; totals are over the {d['both_found']:.0%} where both found one.",
        f"CPU time / wall time (total): facegate {res['stages']['facegate']['cpu_per_wall']:.2f}, "
        f"dlib {res['stages']['dlib']['cpu_per_wall']:.2f}; torch threads {res['machine']['torch_threads']}.",
        f"Model {m['model_id']} ({m['backbone']} {m['backbone_cfg']}, {m['params'] / 1e6:.2f} M params), "
        f"trained: {m['trained']}. {res['note']}.",
    ]
    for key, ratio in res.get("ratios_over_dlib", {}).items():
        lines.append(
            f"{key} / dlib: total p50 {ratio['p50_ms']:.3f}, mean {ratio['mean_ms']:.3f}, "
            f"detect mean {ratio['detect_mean']:.3f}"
        )
    if res.get("embedding_cost"):
        lines += ["", "| embedder | params (M) | runtime | ms/face at batch 1 (median of 50) |", "|---|--:|---|--:|"]
        for row in res["embedding_cost"]:
            lines.append(f"| {row['name']} | {row['params_m']:.2f} | {row['runtime']} | {row['ms_per_face']:.2f} |")
    return "\n".join(lines)


def embedding_cost(package_path: str | None, repeats: int = 50) -> list[dict[str, Any]]:
    """ms per face at batch 1 (median of ``repeats``) for the shipped network and ×0.5 / ×1.0 widths of its family,
    on PyTorch and on ONNX Runtime (each exported here; untrained weights: cost does not depend on training)."""
    import onnxruntime as ort

    from models.mtcnn_onnx import session_options
    from models.package import ModelConfig

    package = load_package(package_path, warn_untrained=False)
    cfg = package.config
    rows = []
    x = torch.rand(1, 3, cfg.input_size, cfg.input_size) * 2 - 1
    for width in (float(cfg.backbone_cfg.get("width", 1.0)), 0.5, 1.0):
        config = ModelConfig(cfg.backbone, {**cfg.backbone_cfg, "width": width}, cfg.embedding_size, cfg.input_size)
        network = package.network if width == cfg.backbone_cfg.get("width") else config.build_network().eval()
        buffer = io.BytesIO()
        torch.onnx.export(
            network,
            (x,),
            buffer,
            input_names=["input"],
            dynamic_axes={"input": {0: "n"}},
            opset_version=17,
            dynamo=False,
        )
        session = ort.InferenceSession(buffer.getvalue(), session_options(torch.get_num_threads()))
        feed = {"input": x.numpy()}
        runners: dict[str, Callable[[], object]] = {
            "torch": lambda n=network: n(x),
            "onnx": lambda s=session, f=feed: s.run(None, f),
        }
        for runtime, call in runners.items():
            with torch.inference_mode():
                for _ in range(10):
                    call()
                times = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    call()
                    times.append(time.perf_counter() - start)
            rows.append(
                {
                    "name": f"{cfg.backbone} ×{width}" + (" (shipped)" if network is package.network else ""),
                    "width": width,
                    "params_m": sum(p.numel() for p in network.parameters()) / 1e6,
                    "runtime": runtime,
                    "ms_per_face": 1000 * float(np.median(times)),
                    "load_avg": os.getloadavg()[0],
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--n", type=int, default=100, help="number of LFW images (default 100)")
    parser.add_argument("--package", default=None, help="model package path (default: the shipped one)")
    parser.add_argument("--out", type=Path, default=None, help="JSON output (default bench/results/...-DATE.json)")
    parser.add_argument("--warmup", type=int, default=5, help="images run through both pipelines untimed first")
    parser.add_argument("--lfw", type=Path, default=LFW, help="LFW images_deepfunneled folder")
    parser.add_argument("--torch-threads", type=int, default=None, help="torch.set_num_threads (default: leave)")
    parser.add_argument("--runtimes", default="onnx", help="comma-separated: onnx, torch (the first is 'facegate')")
    parser.add_argument("--detect-max-pixels", type=int, default=None, help="the detector's pixel budget")
    parser.add_argument("--canvas", default="640x480", help="frame size WxH the face is pasted on (default 640x480)")
    parser.add_argument("--min-face", type=int, default=56, help="smallest face searched (default 56: the service's)")
    parser.add_argument("--widths", action="store_true", help="also time the embedder at ×0.5 and ×1.0 widths")
    args = parser.parse_args()
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    res = run(args)
    tag = f"-t{args.torch_threads}" if args.torch_threads else ""
    out = args.out or REPO / "bench" / "results" / f"pipeline_latency-{dt.date.today().isoformat()}{tag}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    m = res["machine"]
    print(
        f"{res['date']}  {m['cpu']}, {m['cores_usable']} cores, {m['platform']}, Python {m['python']}, "
        f"torch {m['versions']['torch']}, dlib {m['versions']['dlib-bin']}, "
        f"load avg {m['load_avg_start'][0]:.2f}, env {m['env']}\n"
    )
    print(table(res))
    print(f"\nJSON: {out}")


if __name__ == "__main__":
    main()
