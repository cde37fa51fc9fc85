"""LFW verification benchmark: View 2 (the headline) and View 1 (development), on any embedding.

Inputs: the LFW root (``pairs.txt``, ``pairsDevTrain.txt``, ``pairsDevTest.txt``,
``images_deepfunneled/``) and an aligned-face cache of it made by ``python -m training prepare
--source lfw --images LFW --out CACHE`` (manifest ``file`` relative to the LFW root).

Protocols (Huang et al., UMass TR 07-49, 2007), with the functions of
:mod:`training.evaluation.protocol`, accepting "same" when ``score >= threshold``:

- **View 2** (``pairs.txt``, 10 folds × 600 pairs, the folds as given in the file): mean ± std
  (population) of the per-fold accuracy, each fold's threshold being the best one on the other
  nine; plus TAR at FAR 1e-2 and 1e-3, the EER and the ROC over all 6,000 pairs.
- **View 1**: the threshold that maximises accuracy on DevTrain (2,200 pairs) is applied to
  DevTest (1,000 pairs) and the DevTest accuracy reported; TAR@FAR, EER and ROC on DevTest.

Images the detector found no face in (``no_face`` in the cache) still get a score, as is
standard practice on LFW (dropping their pairs would flatter the figure): their crop is a fixed
box of the raw 250×250 deep-funneled image, :data:`FALLBACK_BOX`, resized to 112×112. The box is
where the median detected face lies: the similarity transform from the median five landmarks of
the 13,232 LFW faces our detector found onto the 112×112 template covers a ≈130-pixel square
centred at (126, 118), i.e. (61, 53)–(191, 183): the image centre, a few pixels higher. (On the
full LFW cache only one image has no detected face, Marilyn_Monroe_0001, used by one View 2 pair.)
The number of such images and of the pairs that use one are reported. Images are decoded with
:func:`models.imageio.decode_image`; one whose size is not 250×250 gets the box scaled to its size.

Scores are the cosine of the two embeddings (``metric="cosine"``), or minus their Euclidean
distance (``metric="euclidean"``, for embeddings such as dlib's that are meant to be compared
that way). Everything returned is JSON serialisable; ROC curves are subsampled.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
from PIL import Image

from models.imageio import decode_image
from training.evaluation.pairs import Pair, read_pairs, same_and_folds
from training.evaluation.protocol import accuracy, best_threshold, eer, kfold_accuracies, roc_curve, tar_at_far
from training.prepare import iter_cache

logger = logging.getLogger(__name__)

EmbedFn = Callable[[np.ndarray], np.ndarray]
"""Aligned RGB ``uint8`` crops ``(N, 112, 112, 3)`` → unit-norm float32 embeddings ``(N, E)``."""

VIEW2_FILE: Final = "pairs.txt"
DEV_TRAIN_FILE: Final = "pairsDevTrain.txt"
DEV_TEST_FILE: Final = "pairsDevTest.txt"
REPORT_FARS: Final = (1e-2, 1e-3)
LFW_SIZE: Final = 250
# (left, top, right, bottom) on a 250×250 deep-funneled image; see the module docstring.
FALLBACK_BOX: Final = (61, 53, 191, 183)
FALLBACK_NOTE: Final = (
    f"images without a detected face are scored from the fixed box {FALLBACK_BOX} (left, top, right, bottom) "
    "of the raw 250x250 deep-funneled image, resized to 112x112"
)


def fallback_crop(
    image: np.ndarray, size: int = 112, box: tuple[int, ...] = FALLBACK_BOX, scale: bool = True
) -> np.ndarray:
    """The fixed-box crop of a raw LFW image (``(H, W, 3)`` RGB), resized to ``size``×``size``;
    ``scale``: the box is for a 250×250 image and is scaled to this one's size."""
    height, width = image.shape[:2]
    sx, sy = (width / LFW_SIZE, height / LFW_SIZE) if scale else (1.0, 1.0)
    left, top, right, bottom = box
    scaled = (round(left * sx), round(top * sy), round(right * sx), round(bottom * sy))
    crop = Image.fromarray(np.ascontiguousarray(image)).crop(scaled)
    return np.asarray(crop.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


@dataclass
class LfwFaces:
    """The 112×112 crop of each needed LFW image and where it came from.

    ``status[file]`` is the cache's status (``ok``, ``no_face``, ``unreadable``) or ``missing``
    (not in the cache at all); every file whose status is not ``ok`` has a fallback crop.
    """

    files: list[str]
    crops: np.ndarray
    status: dict[str, str]

    @property
    def fallback(self) -> set[str]:
        return {f for f, s in self.status.items() if s != "ok"}

    def index(self) -> dict[str, int]:
        return {f: i for i, f in enumerate(self.files)}


def _relative(file: str, lfw_root: Path) -> str:
    path = Path(file)
    if path.is_absolute():
        try:
            return str(path.relative_to(lfw_root))
        except ValueError:
            return str(path)
    return str(path)


def load_lfw_faces(cache_dir: Path, lfw_root: Path, files: Iterable[str], size: int = 112) -> LfwFaces:
    """Crops for ``files`` (relative to ``lfw_root``): the cache's aligned crop, else the fallback.

    Only the shards' rows that are needed are read (the shards are memory-mapped).
    """
    wanted = list(dict.fromkeys(files))
    needed = set(wanted)
    root = Path(lfw_root).resolve()
    found: dict[str, np.ndarray] = {}
    status: dict[str, str] = {}
    cut_boxes: dict[str, list[int]] = {}
    manifests = sorted(Path(cache_dir).glob("shard-*.jsonl"))
    if not manifests:
        raise FileNotFoundError(f"{cache_dir}: no aligned-face cache (shard-*.jsonl); run 'python -m training prepare'")
    for row, crop in iter_cache(Path(cache_dir)):
        file = _relative(row["file"], root)
        if file not in needed:
            continue
        status[file] = row["status"]
        if "crop_box" in row:
            cut_boxes[file] = row["crop_box"]
        if crop is not None:
            found[file] = np.asarray(crop)
    crops = np.empty((len(wanted), size, size, 3), np.uint8)
    for i, file in enumerate(wanted):
        status.setdefault(file, "missing")
        if file in found:
            if found[file].shape != (size, size, 3):
                raise ValueError(f"{cache_dir}: crop of {file} has shape {found[file].shape}, expected {size}×{size}")
            crops[i] = found[file]
        elif file in cut_boxes:  # prepare --crop tight: the cut-out is the face, all of it
            image = decode_image(Path(lfw_root) / file)
            crops[i] = fallback_crop(image, size=size, box=tuple(cut_boxes[file]), scale=False)
        else:
            crops[i] = fallback_crop(decode_image(Path(lfw_root) / file), size=size)
    if status and any(s != "ok" for s in status.values()):
        logger.info(
            "LFW: %d of %d images use the fallback crop (%s)",
            sum(s != "ok" for s in status.values()),
            len(wanted),
            ", ".join(f"{k}: {v}" for k, v in sorted(_count(status.values()).items()) if k != "ok"),
        )
    return LfwFaces(files=wanted, crops=crops, status={f: status[f] for f in wanted})


def _count(values: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return counts


def pair_scores(pairs: list[Pair], embeddings: Mapping[str, np.ndarray], metric: str = "cosine") -> np.ndarray:
    """One score per pair (higher = more alike): cosine, or minus the Euclidean distance."""
    a = np.stack([np.asarray(embeddings[str(p.path_a)], np.float64) for p in pairs])
    b = np.stack([np.asarray(embeddings[str(p.path_b)], np.float64) for p in pairs])
    if metric == "cosine":
        a /= np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        b /= np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
        cosines: np.ndarray = np.clip(np.einsum("ij,ij->i", a, b), -1.0, 1.0)
        return cosines
    if metric == "euclidean":
        distances: np.ndarray = np.linalg.norm(a - b, axis=1)
        return -distances
    raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")


def _num(value: float) -> float | None:
    """A JSON-safe float: non-finite (±inf thresholds meaning accept-all / reject-all) → None."""
    value = float(value)
    return value if math.isfinite(value) else None


def subsample_roc(far: np.ndarray, tar: np.ndarray, thresholds: np.ndarray, points: int = 200) -> dict[str, Any]:
    """At most ~``points`` ROC points: log-spaced in FAR (the best TAR within each) and
    evenly spaced along the curve, always keeping both ends; JSON-ready lists."""
    n = far.size
    if n <= points:
        keep = np.arange(n)
    else:
        positive = far[far > 0]
        targets = np.geomspace(positive.min(), 1.0, points // 2) if positive.size else np.array([])
        by_far = np.searchsorted(far, targets, side="right") - 1  # the last point with far <= target
        even = np.linspace(0, n - 1, points // 2).round().astype(int)
        keep = np.unique(np.concatenate(([0, n - 1], by_far[by_far >= 0], even)))
    return {
        "far": [float(v) for v in far[keep]],
        "tar": [float(v) for v in tar[keep]],
        "thresholds": [_num(v) for v in thresholds[keep]],
        "points_in_full_curve": int(n),
    }


def verification_metrics(
    scores: np.ndarray, same: np.ndarray, fars: Iterable[float] = REPORT_FARS, roc_points: int = 200
) -> dict[str, Any]:
    """TAR at each FAR, EER and the (subsampled) ROC of one set of pairs."""
    tars = {}
    for far in fars:
        tar, threshold = tar_at_far(scores, same, far)
        tars[f"{far:g}"] = {"tar": tar, "threshold": _num(threshold)}
    rate, eer_threshold = eer(scores, same)
    far_curve, tar_curve, thresholds = roc_curve(scores, same)
    return {
        "pairs": int(same.size),
        "genuine_pairs": int(same.sum()),
        "impostor_pairs": int((~same).sum()),
        "tar_at_far": tars,
        "eer": rate,
        "eer_threshold": _num(eer_threshold),
        "roc": subsample_roc(far_curve, tar_curve, thresholds, roc_points),
    }


@dataclass
class LfwEvaluation:
    """The LFW benchmark on one aligned cache; :meth:`evaluate` runs it for an embedding function.

    ``view1=False`` skips View 1 (no DevTrain/DevTest files needed). ``folds < 10`` keeps only the
    first ``folds`` View 2 folds (a documented subset where embedding all of LFW does not fit; the
    accuracy is then ``folds``-fold cross-validated); ``only_files`` keeps only the View 2 pairs whose
    two images are both in it (a subset fixed by a file list). The crops of every image that the pair lists
    use are loaded once, at construction.
    """

    lfw_root: Path
    cache_dir: Path
    view1: bool = True
    roc_points: int = 200
    input_size: int = 112
    folds: int = 10
    only_files: frozenset[str] | None = None
    view2_pairs: list[Pair] = field(init=False)
    dev_train_pairs: list[Pair] = field(init=False)
    dev_test_pairs: list[Pair] = field(init=False)
    faces: LfwFaces = field(init=False)

    def __post_init__(self) -> None:
        self.lfw_root = Path(self.lfw_root)
        self.cache_dir = Path(self.cache_dir)
        self.view2_pairs = [p for p in read_pairs(self.lfw_root / VIEW2_FILE) if p.fold < self.folds and self._keep(p)]
        self.dev_train_pairs = read_pairs(self.lfw_root / DEV_TRAIN_FILE) if self.view1 else []
        self.dev_test_pairs = read_pairs(self.lfw_root / DEV_TEST_FILE) if self.view1 else []
        self.faces = load_lfw_faces(self.cache_dir, self.lfw_root, self.files(), size=self.input_size)

    def _keep(self, pair: Pair) -> bool:
        return self.only_files is None or (str(pair.path_a) in self.only_files and str(pair.path_b) in self.only_files)

    def files(self) -> list[str]:
        """Every image the pair lists use, View 2 first, each once."""
        pairs = self.view2_pairs + self.dev_train_pairs + self.dev_test_pairs
        return list(dict.fromkeys(str(p) for pair in pairs for p in (pair.path_a, pair.path_b)))

    def embed(self, embed_fn: EmbedFn, batch_size: int = 256) -> dict[str, np.ndarray]:
        """``{file: embedding}`` for every needed image, the crops fed in batches."""
        crops = self.faces.crops
        out = [np.asarray(embed_fn(crops[i : i + batch_size]), np.float32) for i in range(0, len(crops), batch_size)]
        vectors = np.concatenate(out) if out else np.zeros((0, 0), np.float32)
        if vectors.shape[0] != len(crops):
            raise ValueError(f"the embedding function returned {vectors.shape[0]} rows for {len(crops)} crops")
        return dict(zip(self.faces.files, vectors, strict=True))

    def evaluate(self, embed_fn: EmbedFn, name: str = "model", batch_size: int = 256) -> dict[str, Any]:
        """Embed every needed crop with ``embed_fn`` and run :meth:`evaluate_embeddings`."""
        return self.evaluate_embeddings(self.embed(embed_fn, batch_size), name=name, fallback=self.faces.fallback)

    def evaluate_embeddings(
        self,
        embeddings: Mapping[str, np.ndarray],
        name: str = "model",
        metric: str = "cosine",
        fallback: set[str] | None = None,
        detector: str = "facegate detector (models.detection) + 5-point alignment (training.prepare cache)",
        fallback_note: str = FALLBACK_NOTE,
    ) -> dict[str, Any]:
        """The results dict (JSON serialisable) for precomputed ``{file: embedding}``.

        ``fallback``: the images that had no detected face (default: the cache's).
        """
        fallback = self.faces.fallback if fallback is None else set(fallback)
        files = self.files()
        missing = [f for f in files if f not in embeddings]
        if missing:
            raise KeyError(f"no embedding for {len(missing)} LFW image(s), e.g. {missing[0]}")
        result: dict[str, Any] = {
            "name": name,
            "metric": metric,
            "detector": detector,
            "fallback": fallback_note,
            "images": {
                "used": len(files),
                "fallback": sum(f in fallback for f in files),
                "fallback_files": sorted(f for f in files if f in fallback),
            },
            "view2": self._view2(embeddings, metric, fallback),
        }
        if self.view1:
            result["view1"] = self._view1(embeddings, metric, fallback)
        return result

    def _fallback_counts(self, pairs: list[Pair], fallback: set[str]) -> dict[str, int]:
        files = {str(p) for pair in pairs for p in (pair.path_a, pair.path_b)}
        return {
            "images": len(files),
            "images_with_fallback": len(files & fallback),
            "pairs_with_fallback": sum(str(p.path_a) in fallback or str(p.path_b) in fallback for p in pairs),
        }

    def _view2(self, embeddings: Mapping[str, np.ndarray], metric: str, fallback: set[str]) -> dict[str, Any]:
        scores = pair_scores(self.view2_pairs, embeddings, metric)
        same, folds = same_and_folds(self.view2_pairs)
        accuracies, thresholds = kfold_accuracies(scores, same, folds=folds)
        return {
            "protocol": (
                "10-fold, folds as in pairs.txt, threshold = best on the other 9 folds"
                if self.folds == 10
                else f"the first {self.folds} folds of pairs.txt only, threshold = best on the other {self.folds - 1}"
            )
            + ("" if self.only_files is None else f"; only pairs whose images are in a list of {len(self.only_files)}"),
            "accuracy": float(accuracies.mean()),
            "std": float(accuracies.std()),
            "fold_accuracies": [float(a) for a in accuracies],
            "fold_thresholds": [_num(t) for t in thresholds],
            **verification_metrics(scores, same, roc_points=self.roc_points),
            **self._fallback_counts(self.view2_pairs, fallback),
        }

    def _view1(self, embeddings: Mapping[str, np.ndarray], metric: str, fallback: set[str]) -> dict[str, Any]:
        train_scores = pair_scores(self.dev_train_pairs, embeddings, metric)
        train_same, _ = same_and_folds(self.dev_train_pairs)
        threshold, train_accuracy = best_threshold(train_scores, train_same)
        test_scores = pair_scores(self.dev_test_pairs, embeddings, metric)
        test_same, _ = same_and_folds(self.dev_test_pairs)
        return {
            "protocol": "threshold = best on DevTrain, accuracy on DevTest",
            "threshold": _num(threshold),
            "dev_train_accuracy": train_accuracy,
            "dev_test_accuracy": accuracy(test_scores, test_same, threshold),
            **verification_metrics(test_scores, test_same, roc_points=self.roc_points),
            **self._fallback_counts(self.dev_test_pairs, fallback),
            "dev_train_pairs_with_fallback": self._fallback_counts(self.dev_train_pairs, fallback)[
                "pairs_with_fallback"
            ],
        }


def summary_row(result: Mapping[str, Any]) -> dict[str, Any]:
    """The headline figures of one result, for a table."""
    v2 = result["view2"]
    row = {
        "model": result["name"],
        "view2_accuracy": v2["accuracy"],
        "view2_std": v2["std"],
        "tar_at_far_1e-2": v2["tar_at_far"]["0.01"]["tar"],
        "tar_at_far_1e-3": v2["tar_at_far"]["0.001"]["tar"],
        "eer": v2["eer"],
        "view1_dev_test_accuracy": result["view1"]["dev_test_accuracy"] if "view1" in result else None,
        "view2_pairs_with_fallback": v2["pairs_with_fallback"],
    }
    return row


def format_table(results: Iterable[Mapping[str, Any]]) -> str:
    """A plain-text table of :func:`summary_row` for each result."""
    header = ("model", "View 2 acc ± std", "TAR@1e-2", "TAR@1e-3", "EER", "View 1 DevTest", "fallback pairs")
    lines = []
    for result in results:
        r = summary_row(result)
        dev = "-" if r["view1_dev_test_accuracy"] is None else f"{100 * r['view1_dev_test_accuracy']:.2f}%"
        lines.append(
            (
                str(r["model"]),
                f"{100 * r['view2_accuracy']:.2f}% ± {100 * r['view2_std']:.2f}%",
                f"{100 * r['tar_at_far_1e-2']:.2f}%",
                f"{100 * r['tar_at_far_1e-3']:.2f}%",
                f"{100 * r['eer']:.2f}%",
                dev,
                str(r["view2_pairs_with_fallback"]),
            )
        )
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    out = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *lines]]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# `python -m training evaluate`: the command (wired into training.cli)


def add_evaluate_arguments(e: argparse.ArgumentParser) -> None:
    """The ``evaluate`` subcommand's options."""
    e.add_argument("--package", type=Path, default=None, help="model package folder (default: the shipped one)")
    e.add_argument("--lfw-cache", type=Path, required=True, help="aligned LFW cache (prepare --source lfw)")
    e.add_argument("--lfw", type=Path, required=True, help="LFW root (pairs.txt, images_deepfunneled/)")
    e.add_argument("--flip", action="store_true", help="add the flipped crop's embedding (flip TTA)")
    e.add_argument("--reference", choices=["dlib"], default=None, help="also evaluate dlib's ResNet model")
    e.add_argument("--dlib-cache", type=Path, default=None, help="dlib descriptor cache .npz (default: in --lfw-cache)")
    e.add_argument(
        "--dlib-fallback",
        choices=["median_box", "whole_image"],
        default="median_box",
        help="dlib, no HOG face: the median HOG box (default) or the whole image as the face rectangle",
    )
    e.add_argument(
        "--ported-teacher",
        action="store_true",
        help="also dlib's ResNet ported to torch (training.teacher_torch) on our own aligned crops",
    )
    e.add_argument("--calibrate", action="store_true", help="write calibration.json from all LFW image pairs")
    e.add_argument("--allow-untrained", action="store_true", help="let --calibrate write into an untrained package")
    e.add_argument("--no-view1", action="store_true", help="skip View 1 (DevTrain / DevTest)")
    e.add_argument("--folds", type=int, default=10, help="only the first N View 2 folds (a documented subset)")
    e.add_argument("--only-files", type=Path, default=None, help="only View 2 pairs whose images are both listed here")
    e.add_argument("--out", type=Path, default=Path("lfw_results.json"), help="results JSON")
    e.add_argument("--roc", type=Path, default=None, help="ROC/DET plot (default: --out with .png)")
    e.add_argument("--device", default=None, help="torch device (default: a GPU if present)")
    e.add_argument("--batch-size", type=int, default=256)
    e.add_argument(
        "--runtime",
        choices=["torch", "onnx"],
        default="torch",
        help="embed with PyTorch (the reference) or the package's embedder.onnx on ONNX Runtime",
    )


def run_evaluate(args: argparse.Namespace) -> dict[str, Any]:
    """``evaluate``: our package (and optionally dlib) on LFW → table, JSON, ROC plot, calibration."""
    import warnings

    from models.detection import Runtime
    from models.embedder import FaceEmbedder
    from models.package import UntrainedModelWarning, load_package
    from training.plots import plot_roc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedModelWarning)  # load_package still logs it loudly
        package = load_package(args.package)
    if args.calibrate and not package.trained and not args.allow_untrained:
        raise SystemExit(f"{package.source} is UNTRAINED: refusing to calibrate it (--allow-untrained to force)")
    if args.calibrate and (package.source is None or not package.source.is_dir()):
        raise SystemExit(f"--calibrate needs a package folder, got {package.source}")
    runtime: Runtime = "onnx" if getattr(args, "runtime", "torch") == "onnx" else "torch"  # --runtime's choices
    embedder = FaceEmbedder(
        package, device=args.device, flip_tta=args.flip, batch_size=args.batch_size, runtime=runtime, threads=2
    )
    name = f"facegate {package.model_id}{' +flip' if args.flip else ''}{'' if package.trained else ' (UNTRAINED)'}"
    name += " (onnx)" if runtime == "onnx" else ""

    only = frozenset(args.only_files.read_text().split()) if getattr(args, "only_files", None) else None
    evaluation = LfwEvaluation(args.lfw, args.lfw_cache, view1=not args.no_view1, folds=args.folds, only_files=only)
    ours = evaluation.evaluate(embedder.embed_crops, name=name, batch_size=args.batch_size)
    results = [ours]
    reference = None
    if args.reference == "dlib":
        cache = args.dlib_cache or args.lfw_cache / "dlib_embeddings.npz"
        results += _dlib_results(evaluation, args.lfw, cache, args.dlib_fallback, _cut_boxes(args.lfw_cache))
        reference = results[1]["reference"]

    if getattr(args, "ported_teacher", False):
        from training.teacher_torch import DlibResNet, teacher_embed_fn

        teacher = teacher_embed_fn(DlibResNet.from_dlib())
        vectors = evaluation.embed(teacher, batch_size=args.batch_size)
        for metric in ("euclidean", "cosine"):
            results.append(
                evaluation.evaluate_embeddings(
                    vectors, name=f"dlib resnet ported, our alignment ({metric})", metric=metric
                )
            )

    report: dict[str, Any] = {
        "lfw_root": str(args.lfw),
        "lfw_cache": str(args.lfw_cache),
        "package": {
            "path": str(package.source),
            "model_id": package.model_id,
            "trained": package.trained,
            "flip_tta": args.flip,
        },
        "reference": reference,
        "results": results,
    }
    if args.calibrate:
        report["calibration"] = _calibrate_on_lfw(args, package, embedder.embed_crops, ours).to_json()

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    roc_png = args.roc or args.out.with_suffix(".png")
    curves = {
        r["name"]: (np.asarray(r["view2"]["roc"]["far"]), np.asarray(r["view2"]["roc"]["tar"]))
        for r in results[:2]  # ours and dlib with its own metric
    }
    plot_roc(curves, roc_png, title="LFW View 2 ROC")
    print(format_table(results))  # noqa: T201
    logger.info("results: %s; ROC: %s", args.out, roc_png)
    return report


def _cut_boxes(cache_dir: Path) -> dict[str, list[int]]:
    """``{file: crop_box}`` of a ``prepare --crop tight`` cache (empty for a normal one)."""
    from training.prepare import read_manifest

    return {str(row["file"]): row["crop_box"] for row in read_manifest(cache_dir) if "crop_box" in row}


def _dlib_results(
    evaluation: LfwEvaluation,
    lfw_root: Path,
    cache: Path,
    fallback: str = "median_box",
    cut_boxes: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """dlib's descriptors (cached) through the same protocol: with its own metric (Euclidean
    distance) and with the cosine of the normalised descriptors. ``cut_boxes``: the tight
    cut-outs (``prepare --crop tight``) dlib gets instead of the whole images."""
    from training.evaluation.reference import describe_reference, dlib_embeddings, dlib_fallback_files

    files = evaluation.files()
    vectors = dlib_embeddings(lfw_root, files, cache, fallback=fallback, cut_boxes=cut_boxes)
    no_face = set(dlib_fallback_files(cache, files))
    info = {**describe_reference(fallback), "cache": str(cache)}
    results = []
    for metric in ("euclidean", "cosine"):
        result = evaluation.evaluate_embeddings(
            vectors,
            name=f"dlib resnet ({metric})",
            metric=metric,
            fallback=no_face,
            detector=info["detector"],
            fallback_note=info["fallback"],
        )
        result["reference"] = info
        results.append(result)
    return results


def _calibrate_on_lfw(args: argparse.Namespace, package: Any, embed_fn: EmbedFn, ours: Mapping[str, Any]) -> Any:
    """Thresholds from all pairs of the LFW images with a detected face, written into the package."""
    from models.package import load_package
    from training.evaluation.calibrate import calibrate, write_calibration
    from training.prepare import load_cache

    crops, rows = load_cache(args.lfw_cache)
    if not rows:
        raise SystemExit(f"{args.lfw_cache}: no aligned faces to calibrate on")
    embeddings = np.concatenate(
        [embed_fn(crops[i : i + args.batch_size]) for i in range(0, len(crops), args.batch_size)]
    )
    description = (
        "LFW (deep-funneled), every image in which the detector found a face, aligned as the service does"
        f"{', embedded with flip TTA' if args.flip else ''}. These thresholds come from LFW, the same data as "
        "the LFW accuracy figure; LFW identities are disjoint from the training set (CelebA), so they are "
        "identities not used in training."
    )
    v2 = ours["view2"]
    calibration = calibrate(
        embeddings,
        [row["identity"] for row in rows],
        description=description,
        extra_metrics={
            "model_id": package.model_id,
            "flip_tta": bool(args.flip),
            "lfw_view2_accuracy": v2["accuracy"],
            "lfw_view2_std": v2["std"],
            "lfw_view2_tar_at_far": v2["tar_at_far"],
            "lfw_view2_eer": v2["eer"],
            "lfw_view1_dev_test_accuracy": ours.get("view1", {}).get("dev_test_accuracy"),
        },
    )
    path = write_calibration(package.source, calibration)
    load_package(package.source, warn_untrained=False)  # it must still load
    logger.info("wrote %s: %s", path, [(p.far, round(p.threshold, 4), p.tar) for p in calibration.thresholds])
    return calibration
