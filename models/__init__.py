"""facegate's networks and inference: backbones, detector + alignment, FaceEmbedder, model package.

``models`` imports neither ``training`` nor ``service``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # type checkers see the real names; at run time they load on first use
    from models.alignment import TEMPLATE_112, align_face, estimate_similarity
    from models.detection import Detection, FaceDetector, select_subject
    from models.embedder import Face, FaceEmbedder, ImageFaces
    from models.imageio import (
        EmptyImageError,
        ImageError,
        ImageLimits,
        ImageTooLargeError,
        NotAnImageError,
        TruncatedImageError,
        UnsupportedFormatError,
        decode_image,
    )
    from models.package import Calibration, ModelConfig, ModelPackage, ModelPackageError, load_package, save_package
    from models.quality import FaceQuality, measure_quality
    from models.registry import build_backbone, list_backbones, register_backbone

# Names are imported on first use (PEP 562), so that ``import models.imageio`` (the service's settings need it)
# does not load torch: a CLI command that never touches the model starts in a fraction of a second.
_WHERE = {
    "TEMPLATE_112": "alignment",
    "align_face": "alignment",
    "estimate_similarity": "alignment",
    "Detection": "detection",
    "FaceDetector": "detection",
    "select_subject": "detection",
    "Face": "embedder",
    "FaceEmbedder": "embedder",
    "ImageFaces": "embedder",
    "EmptyImageError": "imageio",
    "ImageError": "imageio",
    "ImageLimits": "imageio",
    "ImageTooLargeError": "imageio",
    "NotAnImageError": "imageio",
    "TruncatedImageError": "imageio",
    "UnsupportedFormatError": "imageio",
    "decode_image": "imageio",
    "Calibration": "package",
    "ModelConfig": "package",
    "ModelPackage": "package",
    "ModelPackageError": "package",
    "load_package": "package",
    "save_package": "package",
    "FaceQuality": "quality",
    "measure_quality": "quality",
    "build_backbone": "registry",
    "list_backbones": "registry",
    "register_backbone": "registry",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'models' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"models.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


__all__ = [
    "TEMPLATE_112",
    "Calibration",
    "Detection",
    "EmptyImageError",
    "Face",
    "FaceDetector",
    "FaceEmbedder",
    "FaceQuality",
    "ImageError",
    "ImageFaces",
    "ImageLimits",
    "ImageTooLargeError",
    "ModelConfig",
    "ModelPackage",
    "ModelPackageError",
    "NotAnImageError",
    "TruncatedImageError",
    "UnsupportedFormatError",
    "align_face",
    "build_backbone",
    "decode_image",
    "estimate_similarity",
    "list_backbones",
    "load_package",
    "measure_quality",
    "register_backbone",
    "save_package",
    "select_subject",
]
