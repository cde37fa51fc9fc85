"""The service's face model: :func:`load_embedder` builds the :class:`FaceEmbedder` (package, detector, device,
TTA, image limits) that the settings describe. The analysis of an image (decode → detect → subject → quality →
align → embed) lives in :mod:`models.embedder` and :mod:`service.domain.analysis`.

Loading blocks for seconds; the app does it in its lifespan, in a worker thread. The ONNX runtime (the default)
never imports torch; the torch runtime needs torch and facenet-pytorch and says so
(:class:`models.package.RuntimeUnavailableError`) when they are not installed.
"""

from __future__ import annotations

import logging
import time

from models.detection import FaceDetector, min_face_for_gate
from models.device import resolve_device
from models.embedder import FaceEmbedder
from models.package import require_torch
from service.config import Settings

logger = logging.getLogger(__name__)


def load_embedder(settings: Settings) -> FaceEmbedder:
    """Build the :class:`FaceEmbedder` the settings describe (model package, device, TTA, image limits).

    Slow (seconds): it reads and verifies the package and builds the detector. Raises
    :class:`models.package.ModelPackageError` when the package is unusable.
    """
    started = time.perf_counter()
    device: str | None = None
    check_inference_runtime(settings)
    if settings.inference_runtime == "torch":
        import torch

        torch.set_num_threads(settings.torch_threads)
        device = str(resolve_device(settings.device))
    embedder = FaceEmbedder(
        settings.model_path,
        detector=FaceDetector(
            device=device,
            min_face_size=detector_min_face(settings),
            factor=settings.detector_scale_factor,
            runtime=settings.inference_runtime,
            max_pixels=settings.detect_max_pixels,
            threads=settings.torch_threads,
        ),
        device=device,
        flip_tta=settings.flip_tta,
        image_limits=settings.image_limits(),
        runtime=settings.inference_runtime,
        threads=settings.torch_threads,
    )
    logger.info(
        "model %s loaded from %s on %s (%s) in %.1f s (trained: %s)",
        embedder.model_id,
        embedder.package.source,
        embedder.device,
        embedder.runtime,
        time.perf_counter() - started,
        embedder.package.trained,
    )
    return embedder


def check_inference_runtime(settings: Settings) -> None:
    """Raise :class:`models.package.RuntimeUnavailableError` (one line naming the missing package) when the
    settings' runtime needs what is not installed: torch and facenet-pytorch for ``torch``; ``onnx`` needs neither
    (and imports neither). Cheap when they are present (the torch runtime loads them anyway)."""
    if settings.inference_runtime == "torch":
        for module in ("torch", "facenet_pytorch"):
            require_torch("FACEGATE_INFERENCE_RUNTIME=torch", module)


def detector_min_face(settings: Settings) -> int:
    """The smallest face the detector searches for: ``detector_min_face_px`` when set, else the size the quality
    gate's ``min_interocular_px`` calls for (:func:`models.detection.min_face_for_gate`; 56 px by default)."""
    if settings.detector_min_face_px is not None:
        return settings.detector_min_face_px
    return min_face_for_gate(settings.min_interocular_px)
