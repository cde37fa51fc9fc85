"""Verification on every pair of a prepared cache, ours beside dlib's (AT&T: the "faces that fill
the picture" check).

AT&T (ORL) has 400 images of 40 people, 92×112, the face filling most of the frame: all 79,800
pairs (1,800 genuine, 78,000 impostor) are scored. Accuracy is 10-fold cross-validated over the
pairs (each pair's fold drawn with a fixed seed, threshold = best on the other 9), plus TAR at FAR
1e-2/1e-3 and the EER over all pairs, and, for our model, the rates at the package's calibrated
thresholds (what the service would do with these faces).

Images the detector found no face in are embedded from the whole image resized to 112×112 (the
face fills it), and counted. dlib gets the same images; where its HOG detector finds no face, its
shape predictor runs in the whole image.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from models.imageio import decode_image
from training.evaluation.lfw import REPORT_FARS, EmbedFn, verification_metrics
from training.evaluation.protocol import kfold_accuracies
from training.prepare import iter_cache

logger = logging.getLogger(__name__)

FOLD_SEED = 0


def cache_faces(
    cache_dir: Path, images_root: Path, size: int = 112
) -> tuple[list[str], list[str], np.ndarray, set[str]]:
    """``(files, identities, crops (N, size, size, 3), files without a detected face)`` of every
    readable image of a cache; a no-face image's crop is the whole image resized."""
    files, identities, crops, fallback = [], [], [], set()
    for row, crop in iter_cache(cache_dir):
        if row["status"] == "unreadable":
            continue
        files.append(str(row["file"]))
        identities.append(str(row["identity"]))
        if crop is None:
            fallback.add(files[-1])
            image = Image.fromarray(decode_image(images_root / row["file"]))
            crops.append(np.asarray(image.resize((size, size), Image.Resampling.BILINEAR), np.uint8))
        else:
            crops.append(np.asarray(crop))
    if not crops:
        raise FileNotFoundError(f"{cache_dir}: no faces (run 'facegate-train prepare' into it)")
    return files, identities, np.stack(crops), fallback


def pair_indices(identities: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every unordered pair ``(i, j)``, ``i < j``, and whether it is genuine."""
    i, j = np.triu_indices(len(identities), k=1)
    ids = np.asarray(identities)
    return i, j, ids[i] == ids[j]


def all_pairs_metrics(
    embeddings: np.ndarray, identities: list[str], metric: str = "cosine", thresholds: dict[str, float] | None = None
) -> dict[str, Any]:
    """The figures of every pair of ``embeddings`` ``(N, E)``; ``thresholds`` (``{far: cosine}``)
    adds the measured false-accept and false-reject rates at each."""
    i, j, same = pair_indices(identities)
    e = np.asarray(embeddings, np.float64)
    if metric == "cosine":
        e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
        scores = np.einsum("ij,ij->i", e[i], e[j])
    elif metric == "euclidean":
        scores = -np.linalg.norm(e[i] - e[j], axis=1)
    else:
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    folds = np.random.default_rng(FOLD_SEED).integers(0, 10, size=same.size)
    accuracies, _ = kfold_accuracies(scores, same, folds=folds)
    result: dict[str, Any] = {
        "metric": metric,
        "protocol": f"all pairs; 10 folds drawn per pair (seed {FOLD_SEED}), threshold = best on the other 9",
        "accuracy": float(accuracies.mean()),
        "std": float(accuracies.std()),
        **verification_metrics(scores, same, fars=REPORT_FARS, roc_points=50),
    }
    if thresholds:
        result["at_calibrated_thresholds"] = {
            far: {
                "threshold": t,
                "false_accept_rate": float(np.mean(scores[~same] >= t)),
                "false_reject_rate": float(np.mean(scores[same] < t)),
            }
            for far, t in thresholds.items()
        }
    return result


def run_evaluate_pairs(args: argparse.Namespace) -> dict[str, Any]:
    """``evaluate-pairs``: our package (and optionally dlib) on every pair of a cache."""
    from models.embedder import FaceEmbedder
    from models.package import load_package

    package = load_package(args.package)
    embedder = FaceEmbedder(package, device=args.device, flip_tta=args.flip)
    files, identities, crops, fallback = cache_faces(args.cache, args.images, embedder.input_size)
    embed: EmbedFn = embedder.embed_crops
    ours = embed(crops)
    thresholds = {f"{p.far:g}": p.threshold for p in package.calibration.thresholds}
    results = [
        {
            "name": f"facegate {package.model_id}{' +flip' if args.flip else ''}",
            "images": len(files),
            "no_face_images": len(fallback),
            **all_pairs_metrics(ours, identities, thresholds=thresholds),
        }
    ]
    if args.reference == "dlib":
        from training.evaluation.reference import dlib_embeddings, dlib_fallback_files

        cache = args.dlib_cache or args.cache / "dlib_embeddings.npz"
        boxes = {}
        for file in files:
            image = decode_image(args.images / file)
            boxes[file] = (0, 0, image.shape[1], image.shape[0])
        vectors = dlib_embeddings(args.images, files, cache, cut_boxes=boxes)
        no_hog = dlib_fallback_files(cache, files)
        reference = np.stack([vectors[f] for f in files])
        for metric in ("euclidean", "cosine"):
            results.append(
                {
                    "name": f"dlib resnet ({metric})",
                    "images": len(files),
                    "no_face_images": len(no_hog),
                    **all_pairs_metrics(reference, identities, metric=metric),
                }
            )
    report = {"cache": str(args.cache), "images_root": str(args.images), "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for r in results:
        logger.info(
            "%s: accuracy %.2f%% ± %.2f%%, TAR@1e-3 %.2f%%, EER %.2f%%, no face %d%s",
            r["name"],
            100 * r["accuracy"],
            100 * r["std"],
            100 * r["tar_at_far"]["0.001"]["tar"],
            100 * r["eer"],
            r["no_face_images"],
            "".join(
                f"; at FAR {far}: FA {100 * v['false_accept_rate']:.2f}% FR {100 * v['false_reject_rate']:.2f}%"
                for far, v in r.get("at_calibrated_thresholds", {}).items()
            ),
        )
    return report


def add_evaluate_pairs_arguments(e: argparse.ArgumentParser) -> None:
    """The ``evaluate-pairs`` subcommand's options."""
    e.add_argument("--cache", type=Path, required=True, help="aligned cache (prepare --source att, or any folder)")
    e.add_argument("--images", type=Path, required=True, help="the image root the cache was prepared from")
    e.add_argument("--package", type=Path, default=None, help="model package folder (default: the shipped one)")
    e.add_argument("--flip", action="store_true", help="add the flipped crop's embedding (flip TTA)")
    e.add_argument("--reference", choices=["dlib"], default=None, help="also evaluate dlib's ResNet model")
    e.add_argument("--dlib-cache", type=Path, default=None, help="dlib descriptor cache .npz (default: in --cache)")
    e.add_argument("--out", type=Path, default=Path("pairs_results.json"), help="results JSON")
    e.add_argument("--device", default=None, help="torch device (default: a GPU if present)")
