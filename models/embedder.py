"""``FaceEmbedder``: image → faces, each with box, landmarks, quality, aligned crop and embedding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort

from models.alignment import align_face
from models.detection import Detection, FaceDetector, Runtime, select_subject
from models.device import resolve_device
from models.imageio import ImageInput, ImageLimits, decode_image
from models.package import ModelPackage, ModelPackageError, load_package
from models.quality import FaceQuality, measure_quality

if TYPE_CHECKING:  # the ONNX runtime runs without torch; only the torch paths import it
    import torch
    from torch import nn


@dataclass(frozen=True)
class Face:
    """One face found in an image.

    ``box`` ``(4,)`` and ``landmarks`` ``(5, 2)`` in the image's pixels, ``score`` the detector's
    confidence, ``crop`` the aligned RGB ``uint8`` ``(S, S, 3)`` face, ``embedding`` a unit-norm
    float32 ``(E,)`` vector.
    """

    box: np.ndarray
    landmarks: np.ndarray
    score: float
    quality: FaceQuality
    crop: np.ndarray
    embedding: np.ndarray


@dataclass(frozen=True)
class ImageFaces:
    """Every face of one image, most confident first, and which of them the picture is *of*.

    ``subject_index`` indexes ``faces`` (:func:`models.detection.select_subject`: large and
    central); ``None`` when there is no face.
    """

    width: int
    height: int
    faces: list[Face]
    subject_index: int | None

    @property
    def subject(self) -> Face | None:
        return None if self.subject_index is None else self.faces[self.subject_index]


class FaceEmbedder:
    """The inference pipeline: decode → detect → align → embed.

    ``package`` is a loaded :class:`ModelPackage` or a path to one (``None``: the shipped
    default). ``flip_tta`` adds the horizontally flipped crop's embedding before normalising.
    ``runtime`` "torch" runs the PyTorch network (the reference; on the CPU unless a GPU is present or
    ``device`` says otherwise), "onnx" the package's ``embedder.onnx`` on ONNX Runtime's CPU provider
    with ``threads`` intra-op threads (and, unless a ``detector`` is given, MTCNN on ONNX Runtime too).
    The ONNX runtime neither imports torch nor builds the PyTorch network (a package path is loaded with
    ``network=False``); :attr:`network` builds it on first use there (which needs torch). Its ``device`` is
    ``"cpu"``.
    """

    def __init__(
        self,
        package: ModelPackage | str | Path | None = None,
        *,
        detector: FaceDetector | None = None,
        device: str | torch.device | None = None,
        flip_tta: bool = False,
        image_limits: ImageLimits | None = None,
        batch_size: int = 64,
        runtime: Runtime = "torch",
        threads: int = 1,
    ):
        self.runtime = runtime
        self.device: torch.device | str = "cpu"
        self._network: nn.Module | None = None
        self._session: Any = None
        if runtime not in ("onnx", "torch"):
            raise ValueError(f"unknown runtime {runtime!r} (expected 'onnx' or 'torch')")
        if runtime == "torch":
            self.device = resolve_device(device)
        self.package = (
            package if isinstance(package, ModelPackage) else load_package(package, network=runtime == "torch")
        )
        if runtime == "torch":
            self._network = self.package.network.to(self.device).eval()
        else:
            if self.package.onnx_graph is None:
                raise ModelPackageError(
                    f"model package {self.package.source} has no embedder.onnx for the onnx runtime: "
                    "add one with `facegate-train export-onnx PACKAGE`, or use the torch runtime"
                )
            from models.mtcnn_onnx import session_options

            self._session = ort.InferenceSession(
                self.package.onnx_graph, session_options(threads), providers=["CPUExecutionProvider"]
            )
        self.detector = detector or FaceDetector(device=self.device, runtime=runtime, threads=threads)
        self.flip_tta = flip_tta
        self.image_limits = image_limits or ImageLimits()
        self.batch_size = batch_size

    @property
    def network(self) -> nn.Module:
        """The package's PyTorch network on :attr:`device`, in eval mode (the ONNX runtime builds it only here,
        on first use: it needs torch)."""
        if self._network is None:
            self._network = self.package.network.to(self.device).eval()
        return self._network

    @property
    def model_id(self) -> str:
        return self.package.model_id

    @property
    def input_size(self) -> int:
        return self.package.config.input_size

    @property
    def embedding_size(self) -> int:
        return self.package.config.embedding_size

    def __call__(self, image: ImageInput) -> list[Face]:
        """Every face in one image, most confident first."""
        return self.process_batch([image])[0]

    def analyse(self, image: ImageInput) -> ImageFaces:
        """Decode one image (with this embedder's limits), find, align, measure and embed every
        face, and pick the subject. Raises a :class:`models.imageio.ImageError` for a bad image."""
        array = decode_image(image, self.image_limits)
        detections = self.detector.detect(array)
        faces = self.faces_from_detections([array], [detections])[0]
        subject = select_subject(detections, array.shape)
        subject_index = next((i for i, det in enumerate(detections) if det is subject), None)
        return ImageFaces(width=array.shape[1], height=array.shape[0], faces=faces, subject_index=subject_index)

    def process_batch(self, images: Sequence[ImageInput]) -> list[list[Face]]:
        """Every face in each image; detection and embedding run batched across the images."""
        arrays = [decode_image(image, self.image_limits) for image in images]
        detections = self.detector.detect_batch(arrays)
        return self.faces_from_detections(arrays, detections)

    def faces_from_detections(
        self, arrays: Sequence[np.ndarray], detections: Sequence[Sequence[Detection]]
    ) -> list[list[Face]]:
        """Align, measure and embed detections already made on decoded RGB images."""
        crops: list[np.ndarray] = []
        owners: list[tuple[int, Detection]] = []
        for i, (array, dets) in enumerate(zip(arrays, detections, strict=True)):
            for det in dets:
                crops.append(align_face(array, det.landmarks, size=self.input_size))
                owners.append((i, det))
        embeddings = self.embed_crops(np.stack(crops)) if crops else np.zeros((0, self.embedding_size), np.float32)
        faces: list[list[Face]] = [[] for _ in arrays]
        for (i, det), crop, embedding in zip(owners, crops, embeddings, strict=True):
            faces[i].append(
                Face(
                    box=det.box,
                    landmarks=det.landmarks,
                    score=det.score,
                    quality=measure_quality(det.landmarks, det.score, crop),
                    crop=crop,
                    embedding=embedding,
                )
            )
        return faces

    def embed_crops(self, crops: np.ndarray, flip_tta: bool | None = None) -> np.ndarray:
        """Aligned RGB ``uint8`` crops ``(N, S, S, 3)`` → unit-norm float32 embeddings ``(N, E)``."""
        if crops.ndim != 4 or crops.shape[1:] != (self.input_size, self.input_size, 3):
            raise ValueError(f"expected aligned crops (N, {self.input_size}, {self.input_size}, 3), got {crops.shape}")
        flip = self.flip_tta if flip_tta is None else flip_tta
        if self._session is not None:
            return self._embed_onnx(crops, flip)
        return self._embed_torch(crops, flip)

    def _embed_torch(self, crops: np.ndarray, flip: bool) -> np.ndarray:
        """:meth:`embed_crops` on the PyTorch network (the reference)."""
        import torch
        import torch.nn.functional as F

        cfg = self.package.config
        mean = torch.tensor(cfg.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(cfg.std, device=self.device).view(1, 3, 1, 1)
        out = []
        with torch.inference_mode():
            for start in range(0, len(crops), self.batch_size):
                x = torch.from_numpy(np.ascontiguousarray(crops[start : start + self.batch_size]))
                x = x.to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
                x = (x - mean) / std
                emb = self.network(x)
                if flip:
                    emb = emb + self.network(torch.flip(x, dims=[3]))
                out.append(F.normalize(emb.float(), dim=1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.embedding_size), np.float32)

    def _embed_onnx(self, crops: np.ndarray, flip: bool) -> np.ndarray:
        """:meth:`embed_crops` on ONNX Runtime: the same normalisation, the graph instead of the module."""
        cfg = self.package.config
        mean = np.asarray(cfg.mean, np.float32).reshape(1, 3, 1, 1)
        scale = 1.0 / (255.0 * np.asarray(cfg.std, np.float32).reshape(1, 3, 1, 1))
        out = []
        for start in range(0, len(crops), self.batch_size):
            x = crops[start : start + self.batch_size].transpose(0, 3, 1, 2).astype(np.float32)
            x = np.ascontiguousarray((x - 255.0 * mean) * scale, dtype=np.float32)
            emb = self._session.run(None, {"input": x})[0]
            if flip:
                emb = emb + self._session.run(None, {"input": np.ascontiguousarray(x[..., ::-1])})[0]
            out.append(emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12))
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, self.embedding_size), np.float32)
