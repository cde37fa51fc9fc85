"""The reference: dlib's ResNet face model run through the same LFW protocol as ours.

Optional dependency (``pip install dlib-bin==20.0.1.post1 face-recognition-models==0.3.0``);
nothing else in ``training`` needs it, and it is imported only when a function here runs.
``face_recognition_models`` is located with :func:`importlib.util.find_spec` and never imported
(its ``__init__`` imports ``pkg_resources``); its ``models/`` folder holds the ``.dat`` files.

Pipeline per image, as the ``face_recognition`` package does it: dlib's HOG detector (frontal
face, upsampled once) → the 5-point shape predictor → ``compute_face_descriptor`` (128-d, no
jitter). Where HOG finds several faces, the one whose box centre is nearest the image centre is
the subject (LFW centres the named person). Where HOG finds **no** face (≈50 of the 9,056 images
the LFW pair lists use), the shape predictor is run in a fixed rectangle, the ``fallback``:

- ``"median_box"`` (default): :data:`MEDIAN_HOG_BOX`, the median of HOG's own boxes on deep-funneled
  LFW, ≈ (67, 80)–(175, 187) on the 250×250 image (scaled to other sizes) — the same idea as the
  fixed-box fallback our own model gets in :mod:`training.evaluation.lfw`;
- ``"whole_image"``: ``dlib.rectangle(0, 0, w, h)``. The shape predictor expects a face-sized
  box, so in a 250×250 frame whose face spans ~110 pixels it places the points badly: measured on
  View 2, only 65 % of the 63 pairs that use such an image are decided correctly (vs 98.8 % of the
  rest), which costs the reference ≈0.3 points (98.45 % vs 98.75 % with ``"median_box"``).

Either way such images are recorded as fallbacks (``detected=False``) and counted in the report,
like our own detector's misses.

Descriptors are computed once per image and cached in an ``.npz`` (``files``, ``embeddings``,
``detected``), saved every few hundred images, so an interrupted run resumes and a rerun is
instant. The cached vectors are dlib's raw descriptors (not normalised): dlib compares them by
Euclidean distance (its documented threshold is 0.6), the evaluation reports both that and the
cosine of the normalised vectors.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

logger = logging.getLogger(__name__)

DESCRIPTOR_SIZE = 128
SHAPE_PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"
RECOGNITION_MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
HOG_UPSAMPLE = 1
LFW_SIZE = 250
# (left, top, right, bottom): the median box of dlib's HOG detector on 250×250 deep-funneled LFW
# (measured on 800 random View 2 images with a detection).
MEDIAN_HOG_BOX = (67, 80, 175, 187)
FALLBACKS = ("median_box", "whole_image")
DEFAULT_FALLBACK = "median_box"


def fallback_note(fallback: str = DEFAULT_FALLBACK) -> str:
    """How images without a HOG detection are handled, in words (for the results JSON)."""
    if fallback == "median_box":
        return (
            f"images where dlib's HOG detector finds no face: the 5-point shape predictor runs in the fixed box "
            f"{MEDIAN_HOG_BOX} (left, top, right, bottom; the median HOG box on 250x250 LFW, scaled to the image)"
        )
    if fallback == "whole_image":
        return (
            "images where dlib's HOG detector finds no face: the 5-point shape predictor runs in the whole "
            "image rectangle dlib.rectangle(0, 0, w, h)"
        )
    raise ValueError(f"fallback must be one of {FALLBACKS}, got {fallback!r}")


class ReferenceUnavailableError(RuntimeError):
    """dlib or the ``face_recognition_models`` weights are not installed."""


def dlib_available() -> bool:
    """Whether dlib and the model files can be found (without importing them)."""
    try:
        return importlib.util.find_spec("dlib") is not None and dlib_model_dir() is not None
    except ReferenceUnavailableError:
        return False


def dlib_model_dir() -> Path:
    """``face_recognition_models``' ``models/`` folder, found without importing the package."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ReferenceUnavailableError(
            "face_recognition_models is not installed: pip install face-recognition-models==0.3.0"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    missing = [name for name in (SHAPE_PREDICTOR_FILE, RECOGNITION_MODEL_FILE) if not (folder / name).is_file()]
    if missing:
        raise ReferenceUnavailableError(f"{folder}: missing {', '.join(missing)}")
    return folder


class DlibFaceModel:
    """dlib's HOG detector, 5-point shape predictor and ResNet descriptor, loaded once."""

    def __init__(self, fallback: str = DEFAULT_FALLBACK) -> None:
        fallback_note(fallback)  # validates
        try:
            import dlib
        except ImportError as exc:
            raise ReferenceUnavailableError("dlib is not installed: pip install dlib-bin==20.0.1.post1") from exc
        folder = dlib_model_dir()
        self._dlib = dlib
        self.fallback = fallback
        self.detector = dlib.get_frontal_face_detector()
        self.shape_predictor = dlib.shape_predictor(str(folder / SHAPE_PREDICTOR_FILE))
        self.recognizer = dlib.face_recognition_model_v1(str(folder / RECOGNITION_MODEL_FILE))

    def fallback_rectangle(self, width: int, height: int) -> Any:
        """The ``dlib.rectangle`` used when HOG finds no face in a ``width``×``height`` image (dlib ships no
        type information, so its objects are ``Any`` here)."""
        if self.fallback == "whole_image":
            return self._dlib.rectangle(0, 0, width, height)
        sx, sy = width / LFW_SIZE, height / LFW_SIZE
        left, top, right, bottom = MEDIAN_HOG_BOX
        return self._dlib.rectangle(round(left * sx), round(top * sy), round(right * sx), round(bottom * sy))

    def describe(
        self, image: np.ndarray, fallback_box: tuple[int, int, int, int] | None = None
    ) -> tuple[np.ndarray, bool]:
        """RGB ``uint8`` ``(H, W, 3)`` → ``(128-d float32 descriptor, whether HOG found a face)``.
        ``fallback_box`` (left, top, right, bottom) replaces the fallback rectangle where HOG finds no face."""
        image = np.ascontiguousarray(image)
        height, width = image.shape[:2]
        boxes = list(self.detector(image, HOG_UPSAMPLE))
        if boxes:
            cx, cy = width / 2.0, height / 2.0
            box = min(
                boxes, key=lambda r: ((r.left() + r.right()) / 2 - cx) ** 2 + ((r.top() + r.bottom()) / 2 - cy) ** 2
            )
        elif fallback_box is not None:
            box = self._dlib.rectangle(*fallback_box)
        else:
            box = self.fallback_rectangle(width, height)
        shape = self.shape_predictor(image, box)
        descriptor = np.asarray(self.recognizer.compute_face_descriptor(image, shape), dtype=np.float32)
        return descriptor, bool(boxes)


class DlibCache(NamedTuple):
    """The descriptor cache: ``{file: descriptor}``, ``{file: HOG found a face}`` and the fallback
    mode the other images were described with."""

    vectors: dict[str, np.ndarray]
    detected: dict[str, bool]
    fallback: str


def read_dlib_cache(cache_path: str | Path) -> DlibCache:
    """The cache at ``cache_path`` (empty when there is none). A cache written before the fallback
    mode was recorded used ``"whole_image"``."""
    path = Path(cache_path)
    if not path.is_file():
        return DlibCache({}, {}, DEFAULT_FALLBACK)
    with np.load(path, allow_pickle=False) as data:
        files = [str(f) for f in data["files"]]
        embeddings = data["embeddings"].astype(np.float32)
        detected = data["detected"].astype(bool)
        fallback = str(data["fallback"]) if "fallback" in data.files else "whole_image"
    return DlibCache(
        {f: embeddings[i] for i, f in enumerate(files)},
        {f: bool(detected[i]) for i, f in enumerate(files)},
        fallback,
    )


def _write_cache(path: Path, vectors: dict[str, np.ndarray], detected: dict[str, bool], fallback: str) -> None:
    files = sorted(vectors)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        np.savez(
            fh,
            files=np.array(files, dtype=str),
            embeddings=np.stack([vectors[f] for f in files]).astype(np.float32)
            if files
            else np.zeros((0, DESCRIPTOR_SIZE), np.float32),
            detected=np.array([detected[f] for f in files], dtype=bool),
            fallback=np.array(fallback),
        )
    os.replace(tmp, path)


def dlib_embeddings(
    lfw_root: str | Path,
    files: Iterable[str | Path],
    cache_path: str | Path | None = None,
    *,
    fallback: str = DEFAULT_FALLBACK,
    save_every: int = 250,
    model: DlibFaceModel | None = None,
    cut_boxes: Mapping[str, Sequence[int]] | None = None,
) -> dict[str, np.ndarray]:
    """dlib descriptors ``{file: (128,) float32}`` for ``files`` (paths relative to ``lfw_root``).

    Files already in ``cache_path`` are not recomputed, except the images without a HOG face
    when the cache holds them for another ``fallback`` mode; new ones are added to the cache
    (every ``save_every`` images and at the end). :func:`dlib_fallback_files` says which images had
    no HOG face. ``cut_boxes`` (``prepare --crop tight``): ``{file: (left, top, right, bottom)}``,
    the cut-out dlib is given instead of the whole image; where HOG finds no face in a cut-out the
    shape predictor runs in the whole cut-out (the face fills it). The cache file must then be
    one for those cut-outs.
    """
    fallback_note(fallback)  # validates
    root = Path(lfw_root)
    wanted = list(dict.fromkeys(str(f) for f in files))
    cache = Path(cache_path) if cache_path is not None else None
    vectors, detected, cached_fallback = read_dlib_cache(cache) if cache is not None else DlibCache({}, {}, fallback)
    if cached_fallback != fallback:  # the no-face images were described with the other fallback
        stale = [f for f, found in detected.items() if not found]
        for f in stale:
            del vectors[f], detected[f]
        logger.info("dlib: %d cached no-face images redone with fallback %r", len(stale), fallback)
    todo = [f for f in wanted if f not in vectors]
    if todo:
        from models.imageio import decode_image

        model = model or DlibFaceModel(fallback)
        if model.fallback != fallback:
            raise ValueError(f"the model's fallback is {model.fallback!r}, asked for {fallback!r}")
        logger.info("dlib: %d of %d images to describe (%d cached)", len(todo), len(wanted), len(wanted) - len(todo))
        start = time.perf_counter()
        for n, file in enumerate(todo, start=1):
            image = decode_image(root / file)
            box = (cut_boxes or {}).get(file)
            if box is None:
                vectors[file], detected[file] = model.describe(image)
            else:
                left, top, right, bottom = (int(v) for v in box)
                image = np.ascontiguousarray(image[top:bottom, left:right])
                whole = (0, 0, image.shape[1], image.shape[0])
                vectors[file], detected[file] = model.describe(image, fallback_box=whole)
            if cache is not None and (n % save_every == 0 or n == len(todo)):
                _write_cache(cache, vectors, detected, fallback)
            if n % save_every == 0 or n == len(todo):
                rate = n / max(time.perf_counter() - start, 1e-9)
                logger.info("dlib: %d/%d images, %.1f images/s", n, len(todo), rate)
    elif cache is not None and cached_fallback != fallback:
        _write_cache(cache, vectors, detected, fallback)
    return {f: vectors[f] for f in wanted}


def dlib_fallback_files(cache_path: str | Path, files: Iterable[str | Path]) -> list[str]:
    """Which of ``files`` had no HOG detection (the fallback rectangle was used), per the cache."""
    detected = read_dlib_cache(cache_path).detected
    return [str(f) for f in files if not detected.get(str(f), True)]


def describe_reference(fallback: str = DEFAULT_FALLBACK) -> dict[str, Any]:
    """What the reference is, for the results JSON."""
    return {
        "model": "dlib_face_recognition_resnet_model_v1 (face-recognition-models 0.3.0)",
        "detector": f"dlib HOG frontal face detector, upsample {HOG_UPSAMPLE}, the face nearest the centre",
        "fallback": fallback_note(fallback),
        "alignment": "dlib 5-point shape predictor (shape_predictor_5_face_landmarks)",
        "descriptor": f"{DESCRIPTOR_SIZE}-d, no jitter",
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``reference`` subcommand's options: ``LFW_ROOT CACHE.npz [pairs files...]``."""
    parser.add_argument("lfw_root", type=Path)
    parser.add_argument("cache", type=Path, help="the .npz of dlib embeddings to fill (kept between runs)")
    parser.add_argument("pairs", nargs="*", default=["pairs.txt"], help="pair lists, relative to LFW_ROOT")
    parser.add_argument("--fallback", choices=FALLBACKS, default=DEFAULT_FALLBACK, help="no HOG face: which box")


def run(args: argparse.Namespace) -> None:
    """``reference``: dlib's embedding of every image the pair lists name, into the cache."""
    from training.evaluation.pairs import read_pairs

    files: list[str] = []
    for name in args.pairs:
        for pair in read_pairs(args.lfw_root / name):
            files += [str(pair.path_a), str(pair.path_b)]
    dlib_embeddings(args.lfw_root, files, args.cache, fallback=args.fallback)
