"""The detector's smallest face, derived from the quality gate: the ratio it rests on, what it finds, what it costs.

Three measurements, one run (ONNX Runtime detector, 1 thread):

1. **Box width per eye distance** of MTCNN's subject boxes on real faces (the 300-image LFW check and AT&T's 400
   faces, detected with a 20 px smallest face): quantiles of ``(x2 - x1) / interocular``. The gate refuses eye
   distances under ``min_interocular_px``; a face at that limit is ``ratio × min_interocular_px`` wide in the box
   terms ``detector_min_face_px`` is stated in.
2. **Faces at the gate's limit**: every LFW-300 / AT&T-400 subject scaled so that its eye distance is
   ``--limit-iods`` px (just above the 20 px gate) and pasted in the middle of a small grey frame; per smallest
   face searched, how many subjects are found with an eye distance the gate accepts (the reference is 20 px: every
   level). A derived smallest face keeps the rule when it finds what 20 px finds.
3. **Cost**: CPU ms of detection per 640×480 frame (LFW faces ×1.6 as in ``pipeline_latency.py``, and frames with
   no face, which also pay the framed second pass) for each smallest face, interleaved with dlib's HOG detector on
   the same frames, so the ratio to dlib is same-run.

    nice -n 5 .venv/bin/python bench/detector_pyramid.py --min-faces 20,40,44,46,48
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from models.detection import Detection, FaceDetector, select_subject
from models.imageio import decode_image

REPO = Path(__file__).resolve().parent.parent
DATA = next((p / "shared" / "data" for p in REPO.parents if (p / "shared" / "data").is_dir()), REPO / "data")
LFW_STEP, LFW_SAMPLE = 19, 300  # tests/models/conftest.py's LFW check: first image of every 19th person


def lfw_sample(root: Path) -> list[Path]:
    people = sorted(p for p in root.iterdir() if p.is_dir())
    paths = [sorted(person.glob("*.jpg"))[0] for person in people[::LFW_STEP] if any(person.glob("*.jpg"))]
    return paths[:LFW_SAMPLE]


def eye_distance(det: Detection) -> float:
    return float(np.hypot(*(det.landmarks[1] - det.landmarks[0])))


def quantiles(values: list[float]) -> dict[str, float]:
    a = np.asarray(values)
    return {"n": len(a), "min": float(a.min())} | {
        f"p{q:g}": float(np.percentile(a, q)) for q in (0.5, 1, 5, 25, 50, 75, 95)
    }


def on_canvas(image: np.ndarray, factor: float, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """``image`` scaled by ``factor`` (antialiased) and pasted in the middle of a grey ``size`` frame."""
    h, w = image.shape[:2]
    small = Image.fromarray(image).resize(
        (max(1, round(w * factor)), max(1, round(h * factor))), Image.Resampling.LANCZOS
    )
    canvas = Image.new("RGB", size, (128, 128, 128))
    canvas.paste(small, ((size[0] - small.width) // 2, (size[1] - small.height) // 2))
    return np.asarray(canvas)


def measure_cost(
    args: argparse.Namespace, lfw_imgs: list[np.ndarray], detectors: dict[int, FaceDetector]
) -> dict[str, Any]:
    """CPU ms of detection per 640×480 frame (faces ×1.6, and 10 noise frames with no face) per smallest face,
    interleaved with dlib's HOG detector (upsample 1, as ``pipeline_latency.py``'s reference) on the same frames."""
    import dlib

    hog = dlib.get_frontal_face_detector()
    step = max(1, len(lfw_imgs) // args.cost_n)
    frames = [on_canvas(img, 1.6) for img in lfw_imgs[::step][: args.cost_n]]
    rng = np.random.default_rng(0)
    empty = [
        np.asarray(Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).resize((640, 480)))
        for _ in range(10)
    ]
    runners: dict[str, Any] = {f"mtcnn-{m}": d.detect for m, d in detectors.items()}
    runners["dlib-hog"] = lambda frame: hog(frame, 1)
    for frame in frames[:3]:
        for run in runners.values():
            run(frame)
    cost: dict[str, Any] = {}
    for kind, batch in (("face", frames), ("empty", empty)):
        cpu = {k: 0.0 for k in runners}
        wall: dict[str, list[float]] = {k: [] for k in runners}
        names = list(runners)
        count = 0
        for _ in range(args.repeats):
            for i, frame in enumerate(batch):
                for key in names[i % len(names) :] + names[: i % len(names)]:
                    c0, t0 = time.process_time(), time.perf_counter()
                    runners[key](frame)
                    wall[key].append(time.perf_counter() - t0)
                    cpu[key] += time.process_time() - c0
                count += 1
        cost[kind] = {
            k: {
                "cpu_ms": cpu[k] / count * 1e3,
                "wall_p50_ms": float(np.median(wall[k]) * 1e3),
                "cpu_ratio_to_dlib_hog": cpu[k] / cpu["dlib-hog"],
                "cpu_ratio_to_40": cpu[k] / cpu["mtcnn-40"] if "mtcnn-40" in cpu else None,
            }
            for k in names
        }
        cost[kind]["frames"] = count
        print(f"cost {kind}: " + ", ".join(f"{k} {v['cpu_ms']:.1f}" for k, v in cost[kind].items() if k != "frames"))
    return cost


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--min-faces", default="20,40,44,46,48", help="smallest faces to compare (px)")
    parser.add_argument("--gate", type=float, default=20.0, help="min_interocular_px")
    parser.add_argument("--limit-iods", default="20.5,22,25", help="eye distances the scaled subjects get (px)")
    parser.add_argument(
        "--limit-canvas",
        type=lambda v: tuple(int(x) for x in v.split("x")),
        default=(160, 160),
        help="grey frame WxH the scaled subjects are pasted on (default 160x160: a 20 px eye distance face is "
        "~45 px; the frame only has to hold it away from the edge)",
    )
    parser.add_argument("--cost-n", type=int, default=40, help="640×480 face frames timed (and 10 empty ones)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--lfw", type=Path, default=DATA / "lfw" / "images_deepfunneled")
    parser.add_argument("--att", type=Path, default=DATA / "att_faces")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    load_start = os.getloadavg()
    min_faces = [int(v) for v in args.min_faces.split(",")]
    detectors = {m: FaceDetector(min_face_size=m, runtime="onnx") for m in min_faces}
    reference = FaceDetector(min_face_size=20, runtime="onnx")

    sets = {"lfw300": lfw_sample(args.lfw), "att400": sorted(args.att.glob("s*/*.pgm"))}
    images = {name: [decode_image(p) for p in paths] for name, paths in sets.items()}

    # 1. The ratio, on subjects found at 20 px.
    subjects: dict[str, list[tuple[np.ndarray, Detection]]] = {}
    ratios: dict[str, Any] = {}
    for name, imgs in images.items():
        found = []
        for image in imgs:
            subject = select_subject(reference.detect(image), image.shape)
            if subject is not None:
                found.append((image, subject))
        subjects[name] = found
        width = [float(s.box[2] - s.box[0]) / eye_distance(s) for _, s in found]
        side = [float(max(s.box[2] - s.box[0], s.box[3] - s.box[1])) / eye_distance(s) for _, s in found]
        ratios[name] = {
            "images": len(imgs),
            "subjects": len(found),
            "box_width_per_iod": quantiles(width),
            "box_side_per_iod": quantiles(side),
            "iod_px": quantiles([eye_distance(s) for _, s in found]),
        }
    all_width = [float(s.box[2] - s.box[0]) / eye_distance(s) for f in subjects.values() for _, s in f]
    ratios["both"] = {"box_width_per_iod": quantiles(all_width)}

    # 2. Subjects at the gate's limit, per smallest face.
    at_limit: dict[str, Any] = {}
    for iod in (float(v) for v in args.limit_iods.split(",") if v):
        for name, found in subjects.items():
            frames = [on_canvas(image, iod / eye_distance(s), args.limit_canvas) for image, s in found]
            row: dict[str, Any] = {"frames": len(frames)}
            truth: list[Detection | None] = []
            for m, detector in [(20, reference), *((m, d) for m, d in detectors.items() if m != 20)]:
                accepted, missed, shift = 0, [], []
                for k, frame in enumerate(frames):
                    subject = select_subject(detector.detect(frame), frame.shape)
                    if m == 20:
                        truth.append(subject)
                    if subject is None:
                        missed.append(k)
                        continue
                    accepted += eye_distance(subject) >= args.gate
                    ref = truth[k]
                    if ref is not None:  # landmarks against the 20 px search's, in eye distances
                        shift.append(float(np.abs(subject.landmarks - ref.landmarks).max()) / eye_distance(ref))
                row[str(m)] = {
                    "found": len(frames) - len(missed),
                    "accepted": accepted,
                    "missed": missed,
                    "landmark_shift_vs_20": quantiles(shift) | {"over_0.05": int(np.sum(np.asarray(shift) > 0.05))},
                }
            at_limit[f"{name}@{iod:g}"] = row
            summary = {
                m: (v["found"], v["accepted"], round(v["landmark_shift_vs_20"]["p95"], 3))
                for m, v in row.items()
                if m != "frames"
            }
            print(f"at the limit {name} iod {iod:g} (found, accepted, p95 landmark shift): {summary}", flush=True)

    # 3. Cost per 640×480 frame, interleaved with dlib's HOG.
    cost = measure_cost(args, images["lfw300"], detectors) if args.cost_n else {}

    result = {
        "benchmark": "detector_pyramid",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_start": load_start,
            "load_end": os.getloadavg(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        },
        "runtime": "onnx, 1 intra-op thread",
        "gate_min_interocular_px": args.gate,
        "ratios": ratios,
        "at_limit": at_limit,
        "cost_640x480": cost,
    }
    out = args.out or REPO / "bench" / "results" / f"detector_pyramid-{dt.date.today().isoformat()}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(ratios["both"], indent=1))
    for name in ratios:
        if name != "both":
            print(name, {k: round(v, 3) for k, v in ratios[name]["box_width_per_iod"].items()})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
