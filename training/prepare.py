"""``prepare``: raw images → detect + align (with ``models``) → a cache of aligned 112×112 faces.

The cache is a folder of shards: ``shard-NNNNN.npy`` holds the aligned RGB ``uint8`` crops
``(n, 112, 112, 3)`` of one chunk of samples and ``shard-NNNNN.jsonl`` one manifest row per
sample of that chunk (file, identity, attributes, split, status, detector score, landmarks, and
the crop's row in the shard). A chunk's files are written under temporary names and renamed, the
manifest last, so an interrupted run resumes at the first chunk without a manifest. Images with no
face (or that cannot be decoded) are recorded with their status and skipped by the readers.

``crop="tight"`` (the "faces that fill the picture" benchmark): each image is first cut down to its
subject's detector box plus ``tight_margin`` of the box's size on each side (clipped to the image),
as in an ID photo, and that cut-out goes through detection and alignment; the manifest records the
cut-out as ``crop_box`` (left, top, right, bottom in the original image), so the dlib reference and
the no-face fallback use the same pixels; the box comes from the default pipeline whatever
``frame_margin`` is, so runs that compare frames cut the same pixels. ``frame_margin`` is the detector's frame
(:mod:`models.framing`; 0 reproduces the pipeline before the frame existed).
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from models.alignment import align_face
from models.detection import FaceDetector, select_subject
from models.framing import DEFAULT_FRAME_MARGIN, cut, tight_box
from models.imageio import ImageError, decode_image
from training.data.sources import Sample

logger = logging.getLogger(__name__)

_detector: FaceDetector | None = None
_box_detector: FaceDetector | None = None
CROPS = ("none", "tight")
DEFAULT_TIGHT_MARGIN = 0.05


@dataclass(frozen=True)
class PrepareReport:
    total: int
    aligned: int
    no_face: int
    unreadable: int
    chunks_done: int
    chunks_skipped: int


def prepare(
    samples: Iterable[Sample],
    out_dir: Path,
    *,
    root: Path | None = None,
    chunk_size: int = 512,
    workers: int | None = None,
    size: int = 112,
    progress: bool = True,
    crop: str = "none",
    tight_margin: float = DEFAULT_TIGHT_MARGIN,
    frame_margin: float = DEFAULT_FRAME_MARGIN,
) -> PrepareReport:
    """Detect, align and cache every sample into ``out_dir``; resumes an interrupted run.

    ``root``: paths in the manifest are stored relative to it (default: absolute). ``workers``
    defaults to the number of CPU cores; each worker runs its own single-threaded detector.
    ``crop``, ``tight_margin``, ``frame_margin``: see the module docstring.
    """
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    sample_list = list(samples)
    chunks = [sample_list[i : i + chunk_size] for i in range(0, len(sample_list), chunk_size)]
    todo = [(k, chunk) for k, chunk in enumerate(chunks) if not _manifest_path(out_dir, k).exists()]
    skipped = len(chunks) - len(todo)
    if skipped:
        logger.info("resuming: %d of %d chunks already prepared", skipped, len(chunks))
    workers = max(1, workers or os.cpu_count() or 1)
    bar = tqdm(total=len(sample_list), initial=skipped * chunk_size, disable=not progress, unit="img", desc="prepare")
    jobs = [(k, [(str(s.path), size) for s in chunk], crop, tight_margin) for k, chunk in todo]
    with _pool(workers, frame_margin) as pool:
        results = pool.imap(_align_chunk, jobs) if pool else map(_align_chunk, jobs)
        for (k, chunk), (crops, found) in zip(todo, results, strict=True):
            _write_chunk(out_dir, k, chunk, crops, found, root)
            bar.update(len(chunk))
    bar.close()
    counts = Counter(row["status"] for row in read_manifest(out_dir))
    report = PrepareReport(
        total=sum(counts.values()),
        aligned=counts["ok"],
        no_face=counts["no_face"],
        unreadable=counts["unreadable"],
        chunks_done=len(todo),
        chunks_skipped=skipped,
    )
    (out_dir / "summary.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
    logger.info("prepared %s: %s", out_dir, report)
    return report


def read_manifest(out_dir: Path) -> Iterator[dict[str, Any]]:
    """Every manifest row of the cache, in sample order."""
    for path in sorted(out_dir.glob("shard-*.jsonl")):
        with path.open() as fh:
            for line in fh:
                yield json.loads(line)


def iter_cache(out_dir: Path) -> Iterator[tuple[dict[str, Any], np.ndarray | None]]:
    """Every manifest row with its aligned crop (a view into the memory-mapped shard; ``None`` for
    samples without a face), in sample order. A shard is opened only when one of its rows has a crop."""
    for manifest in sorted(out_dir.glob("shard-*.jsonl")):
        shard = None
        with manifest.open() as fh:
            for line in fh:
                row = json.loads(line)
                if row["status"] != "ok":
                    yield row, None
                    continue
                if shard is None:
                    shard = np.load(manifest.with_suffix(".npy"), mmap_mode="r")
                yield row, shard[row["row"]]


def load_cache(out_dir: Path) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """All aligned crops ``(N, S, S, 3)`` and the manifest rows of the samples that have a crop,
    in the same order."""
    crops, rows = [], []
    for row, crop in iter_cache(out_dir):
        if crop is not None:
            rows.append(row)
            crops.append(crop)
    if not crops:
        return np.zeros((0, 112, 112, 3), np.uint8), []
    return np.stack(crops), rows


def _manifest_path(out_dir: Path, k: int) -> Path:
    return out_dir / f"shard-{k:05d}.jsonl"


def _write_chunk(
    out_dir: Path,
    k: int,
    chunk: Sequence[Sample],
    crops: np.ndarray,
    found: list[dict[str, Any]],
    root: Path | None,
) -> None:
    npy = out_dir / f"shard-{k:05d}.npy"
    tmp_npy = npy.with_suffix(".npy.tmp")
    with tmp_npy.open("wb") as fh:
        np.save(fh, crops)
    os.replace(tmp_npy, npy)
    manifest = _manifest_path(out_dir, k)
    tmp = manifest.with_suffix(".jsonl.tmp")
    with tmp.open("w") as fh:
        for sample, info in zip(chunk, found, strict=True):
            # relative to the root where it lies under it; absolute otherwise (celeba_merged's extra folders)
            path = sample.path.relative_to(root) if root and sample.path.is_relative_to(root) else sample.path
            row = {
                "file": str(path),
                "identity": sample.identity,
                "attributes": sample.attributes,
                "split": sample.split,
                **info,
            }
            fh.write(json.dumps(row) + "\n")
    os.replace(tmp, manifest)


class _NoPool:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _pool(workers: int, frame_margin: float) -> Any:
    if workers == 1:
        _init_worker(frame_margin)
        return _NoPool()
    return mp.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(frame_margin,))


def _init_worker(frame_margin: float = DEFAULT_FRAME_MARGIN) -> None:
    import torch

    global _detector, _box_detector
    torch.set_num_threads(1)
    _detector = FaceDetector(device="cpu", frame_margin=frame_margin)
    # crop="tight" cuts around the box found by the default pipeline whatever frame_margin is
    # measured, so runs with and without the frame see the same cut-outs.
    _box_detector = _detector if frame_margin == DEFAULT_FRAME_MARGIN else FaceDetector(device="cpu")


def _align_chunk(job: tuple[int, list[tuple[str, int]], str, float]) -> tuple[np.ndarray, list[dict[str, Any]]]:
    assert _detector is not None and _box_detector is not None
    _, items, crop, tight_margin = job
    crops: list[np.ndarray] = []
    found: list[dict[str, Any]] = []
    for path, size in items:
        try:
            image = decode_image(path)
        except ImageError as exc:
            found.append({"status": "unreadable", "error": exc.code})
            continue
        extra: dict[str, Any] = {}
        if crop == "tight":
            whole = select_subject(_box_detector.detect(image), image.shape)
            if whole is None:
                found.append({"status": "no_face", "n_faces": 0})
                continue
            extra["crop_box"] = list(tight_box(whole.box, image.shape, tight_margin))
            image = cut(image, extra["crop_box"])
        detections = _detector.detect(image)
        subject = select_subject(detections, image.shape)
        if subject is None:
            found.append({"status": "no_face", "n_faces": 0, **extra})
            continue
        found.append(
            {
                **extra,
                "status": "ok",
                "row": len(crops),
                "n_faces": len(detections),
                "det_score": round(subject.score, 5),
                "landmarks": np.round(subject.landmarks, 2).tolist(),
            }
        )
        crops.append(align_face(image, subject.landmarks, size=size))
    array = np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8)
    return array, found


# --- `facegate-train prepare` ------------------------------------------------------------------------------

SOURCES = ("celeba", "celeba_files", "celeba_merged", "lfw", "att", "folder")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``prepare`` subcommand's options."""
    p.add_argument("--source", choices=SOURCES, required=True)
    p.add_argument("--extra", type=Path, action="append", default=[], help="celeba_merged: folders of NNNNNN.jpg")
    p.add_argument(
        "--exclude-identities", type=Path, default=None, help="celeba sources: a file of identities to leave out"
    )
    p.add_argument("--images", type=Path, required=True, help="the data set's image folder (LFW: its root)")
    p.add_argument("--labels", type=Path, help="CelebA label folder")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    p.add_argument("--chunk-size", type=int, default=512)
    p.add_argument("--limit", type=int, default=None, help="only the first N samples (smoke runs)")
    p.add_argument(
        "--crop",
        choices=CROPS,
        default="none",
        help="tight: cut each image to its face's detector box + --tight-margin first (faces that fill the picture)",
    )
    p.add_argument(
        "--tight-margin", type=float, default=DEFAULT_TIGHT_MARGIN, help="--crop tight: margin, fraction of the box"
    )
    p.add_argument(
        "--frame-margin",
        type=float,
        default=DEFAULT_FRAME_MARGIN,
        help="black frame around each image before detection, fraction of its longer side (0: none, the old pipeline)",
    )
    p.add_argument("--files", type=Path, default=None, help="only the images listed in this file (relative paths)")


def run(args: argparse.Namespace) -> PrepareReport:
    """``prepare``: the chosen source's samples (optionally filtered) → :func:`prepare`."""
    exclude = frozenset(args.exclude_identities.read_text().split()) if args.exclude_identities else frozenset()
    samples = list(_samples(args.source, args.images, args.labels, args.extra, exclude))
    if args.files is not None:
        keep = {line.strip() for line in args.files.read_text().splitlines() if line.strip()}
        samples = [s for s in samples if str(s.path.relative_to(args.images)) in keep]
    report = prepare(
        samples[: args.limit],
        args.out,
        root=args.images,
        chunk_size=args.chunk_size,
        workers=args.workers,
        crop=args.crop,
        tight_margin=args.tight_margin,
        frame_margin=args.frame_margin,
    )
    logger.info(
        "%d images: %d aligned, %d without a face, %d unreadable",
        report.total,
        report.aligned,
        report.no_face,
        report.unreadable,
    )
    return report


def _samples(
    source: str, images: Path, labels: Path | None, extra: list[Path], exclude: frozenset[str]
) -> Iterator[Sample]:
    from training.data.sources import (
        att_faces,
        celeba_files,
        celeba_identity_set,
        celeba_merged,
        image_folder,
        lfw_people,
    )

    if source.startswith("celeba") and labels is None:
        raise SystemExit("--labels (the folder with the CelebA label files) is required for celeba sources")
    if source == "celeba" and labels is not None:
        return celeba_identity_set(images, labels)
    if source == "celeba_files" and labels is not None:
        return celeba_files(images, labels, "**/*.jpg", exclude)
    if source == "celeba_merged" and labels is not None:
        return celeba_merged(images, extra, labels, exclude)
    if source == "lfw":
        return lfw_people(images)
    if source == "att":
        return att_faces(images)
    return image_folder(images)
