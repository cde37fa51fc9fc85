"""The distillation teacher's embeddings: dlib's ResNet descriptor of every face of a cache, computed once.

``facegate-train teacher CACHE --images DIR --out teacher.npy`` writes one 128-d row per aligned face
of ``CACHE`` (the order :func:`training.prepare.load_cache` returns them in), so ``--set
teacher_cache=teacher.npy`` lines up with the training arrays. The teacher sees the *original* image
through its own pipeline (HOG detector → 5-point shape predictor → 150×150 chip → descriptor,
:class:`training.evaluation.reference.DlibFaceModel`); the student sees our aligned 112×112 crop of
the same image. Where HOG finds no face, the shape predictor runs in a box derived from the cache's own
MTCNN landmarks (:func:`landmark_box`), and the row is counted in ``teacher.json``.

Work is split into chunks over ``workers`` processes (one dlib thread each); finished chunks are kept
in ``<out>.parts/`` so an interrupted run resumes where it stopped. dlib is an optional extra
(``pip install -e .[reference]``), imported only in the workers.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from training.evaluation.reference import DESCRIPTOR_SIZE, DlibFaceModel, describe_reference
from training.prepare import read_manifest

logger = logging.getLogger(__name__)

# dlib's HOG box side over the eye-to-mouth height of MTCNN's landmarks, and its centre's offset above
# the landmarks' mean in those units: measured on CelebA identity images where both found the face.
BOX_SIDE_PER_EYE_MOUTH = 2.1
BOX_CENTRE_RAISE = 0.07

_model: DlibFaceModel | None = None


def landmark_box(landmarks: list[list[float]]) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of a dlib-HOG-like square box around MTCNN's five landmarks
    (eyes, nose, mouth corners)."""
    points = np.asarray(landmarks, dtype=np.float64)
    eye_y = points[:2, 1].mean()
    mouth_y = points[3:, 1].mean()
    height = max(mouth_y - eye_y, 1.0)
    side = BOX_SIDE_PER_EYE_MOUTH * height
    cx, cy = points[:, 0].mean(), points[:, 1].mean() - BOX_CENTRE_RAISE * height
    return round(cx - side / 2), round(cy - side / 2), round(cx + side / 2), round(cy + side / 2)


def faces(cache: Path) -> list[dict[str, Any]]:
    """The manifest rows that have an aligned crop, in the cache's order."""
    return [row for row in read_manifest(cache) if row["status"] == "ok"]


def _init_worker() -> None:
    global _model
    os.environ["OMP_NUM_THREADS"] = "1"
    _model = DlibFaceModel()


def _describe_chunk(job: tuple[int, str, list[tuple[str, list[list[float]]]], str]) -> int:
    """Describe one chunk and save it as ``parts/chunk-K.npz``; returns the chunk number."""
    from models.imageio import decode_image

    k, images, items, parts = job
    assert _model is not None
    vectors = np.zeros((len(items), DESCRIPTOR_SIZE), np.float32)
    detected = np.zeros(len(items), bool)
    for i, (file, landmarks) in enumerate(items):
        image = decode_image(Path(images) / file)
        vectors[i], detected[i] = _model.describe(image, landmark_box(landmarks))
    target = Path(parts) / f"chunk-{k:05d}.npz"
    tmp = target.with_name(target.name + ".tmp.npz")
    np.savez(tmp, vectors=vectors, detected=detected)
    os.replace(tmp, target)
    return k


def compute_teacher(
    cache: Path, images: Path, out: Path, *, workers: int = 2, chunk_size: int = 256, progress: bool = True
) -> dict[str, Any]:
    """dlib descriptors for every face of ``cache`` → ``out`` (``.npy``, float32 ``(N, 128)``) and
    ``out`` with suffix ``.json`` (what the teacher is, how many images fell back to the landmark box)."""
    rows = faces(cache)
    parts = out.with_name(out.name + ".parts")
    parts.mkdir(parents=True, exist_ok=True)
    chunks = [rows[i : i + chunk_size] for i in range(0, len(rows), chunk_size)]
    jobs = [
        (k, str(images), [(row["file"], row["landmarks"]) for row in chunk], str(parts))
        for k, chunk in enumerate(chunks)
        if not (parts / f"chunk-{k:05d}.npz").is_file()
    ]
    logger.info("teacher: %d faces in %d chunks, %d to do", len(rows), len(chunks), len(jobs))
    start = time.perf_counter()
    if jobs:
        from tqdm import tqdm

        ctx = mp.get_context("spawn")
        with ctx.Pool(workers, initializer=_init_worker) as pool:
            done = pool.imap_unordered(_describe_chunk, jobs)
            for _ in tqdm(done, total=len(jobs), disable=not progress, desc="teacher", unit="chunk"):
                pass
    vectors, detected = [], []
    for k in range(len(chunks)):
        with np.load(parts / f"chunk-{k:05d}.npz") as data:
            vectors.append(data["vectors"])
            detected.append(data["detected"])
    array = np.concatenate(vectors) if vectors else np.zeros((0, DESCRIPTOR_SIZE), np.float32)
    found = np.concatenate(detected) if detected else np.zeros(0, bool)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, array)
    report = {
        "cache": str(cache),
        "faces": len(rows),
        "hog_found": int(found.sum()),
        "landmark_box_fallback": int((~found).sum()),
        "seconds_this_run": round(time.perf_counter() - start, 1),
        "teacher": describe_reference()
        | {
            "fallback": "images where HOG finds no face: the shape predictor runs in a box derived from the "
            "cache's MTCNN landmarks (training.teacher.landmark_box)"
        },
    }
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    logger.info("teacher: wrote %s (%d rows, %d landmark-box fallbacks)", out, len(array), (~found).sum())
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``teacher`` subcommand's options."""
    parser.add_argument("cache", type=Path, help="a face cache written by facegate-train prepare")
    parser.add_argument("--images", type=Path, required=True, help="the folder the manifest's files are relative to")
    parser.add_argument("--out", type=Path, required=True, help="the .npy to write")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--chunk-size", type=int, default=256)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """``teacher``: :func:`compute_teacher` on the cache."""
    return compute_teacher(args.cache, args.images, args.out, workers=args.workers, chunk_size=args.chunk_size)
