"""Face analysis for the service, without HTTP: load the embedder, then decode → detect → pick the
subject → align, measure quality and embed every face of one uploaded image.

These functions block (torch and PIL work); the HTTP layer runs them in a worker thread.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from models.detection import select_subject
from models.embedder import Face, FaceEmbedder
from models.imageio import decode_image
from service.config import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaceAnalysis:
    """Every face found in one image, most confident first.

    ``subject_index`` is the index in ``faces`` of the face the picture is *of*
    (:func:`models.detection.select_subject`), ``None`` when there is no face.
    """

    width: int
    height: int
    faces: list[Face]
    subject_index: int | None

    @property
    def subject(self) -> Face | None:
        return None if self.subject_index is None else self.faces[self.subject_index]


def load_embedder(settings: Settings) -> FaceEmbedder:
    """Build the :class:`FaceEmbedder` the settings describe (model package, device, TTA, image limits).

    Slow (seconds): it reads and verifies the package and builds the detector. Raises
    :class:`models.package.ModelPackageError` when the package is unusable.
    """
    started = time.perf_counter()
    embedder = FaceEmbedder(
        settings.model_path,
        device=settings.device,
        flip_tta=settings.flip_tta,
        image_limits=settings.image_limits(),
    )
    logger.info(
        "model %s loaded from %s on %s in %.1f s (trained: %s)",
        embedder.model_id,
        embedder.package.source,
        embedder.device,
        time.perf_counter() - started,
        embedder.package.trained,
    )
    return embedder


def analyse_image(embedder: FaceEmbedder, data: bytes) -> FaceAnalysis:
    """Decode ``data`` with the embedder's image limits and analyse every face in it.

    Raises a :class:`models.imageio.ImageError` subclass when ``data`` is not an acceptable image.
    """
    image = decode_image(data, embedder.image_limits)
    detections = embedder.detector.detect(image)
    faces = embedder.faces_from_detections([image], [detections])[0]
    subject = select_subject(detections, image.shape)
    subject_index = next((i for i, det in enumerate(detections) if det is subject), None)
    height, width = image.shape[:2]
    return FaceAnalysis(width=width, height=height, faces=faces, subject_index=subject_index)
