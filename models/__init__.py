"""facegate's networks and inference: backbones, detector + alignment, FaceEmbedder, model package.

``models`` imports neither ``training`` nor ``service``.
"""

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
from models.package import (
    Calibration,
    ModelConfig,
    ModelPackage,
    ModelPackageError,
    load_package,
    save_package,
)
from models.quality import FaceQuality, measure_quality
from models.registry import build_backbone, list_backbones, register_backbone

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
