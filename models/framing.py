"""What the pipeline does at the picture's edge, in one place (service and training alike).

Two rules:

- :data:`OUTSIDE_FILL`: every pixel the pipeline needs from outside a picture is this colour (black):
  the aligned window reaching past the edge (:func:`models.alignment.align_face`), the frame added
  before detection (below), and training's augmented crops that reach past the picture
  (``training.data.augment``). So the network sees the same thing beyond the edge in training as in
  the service.
- :func:`detect_framed`: detection runs on the picture framed by a margin of :data:`OUTSIDE_FILL`,
  and boxes and landmarks are mapped back to the picture's own pixels. Every detector runtime goes
  through it (``FaceDetector.detect_batch`` passes its raw per-runtime function in).

Why the frame: when a face fills the picture (ID and badge photos, tight crops), MTCNN still finds it
with a score near 1, but its box reaches past the picture and the landmarks it regresses from that
box land off the eyes. Measured on 150 random LFW images cropped to MTCNN's own box (2026-12-02, see
docs/TRAINING.md "Faces that fill the picture"): eye landmarks off by a median 16% of the eye
distance without the frame (89% of faces off by more than 10%), 2.6% with a frame of a quarter of
the picture's side (2.7% of faces off by more than 10%), which is the error on the uncropped
picture. The frame costs detection time (the picture grows by ``(1 + 2·margin)²`` in area), so it is
only paid where it helps: a picture is framed and detected again when the plain pass finds no face or
a face at its edge (:func:`reaches_edge`); a door camera's centred face costs one plain pass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final

import numpy as np

if TYPE_CHECKING:  # models.detection imports this module
    from models.detection import Detection

OUTSIDE_FILL: Final[tuple[int, int, int]] = (0, 0, 0)
"""RGB of every pixel taken from outside a picture (alignment, detection frame, augmentation)."""

DEFAULT_FRAME_MARGIN: Final = 0.25
"""The frame's width on each side, as a fraction of the picture's longer side (see :func:`frame_width`)."""

RawDetect = Callable[[Sequence[np.ndarray]], "list[list[Detection]]"]
"""A detector runtime: RGB ``uint8`` ``(H, W, 3)`` images → each image's detections, in its pixels."""


def frame_width(shape: tuple[int, ...], margin: float) -> int:
    """The frame's width in pixels for a picture of ``shape`` ``(H, W, ...)``: ``margin`` of its
    longer side, that side counted at most twice the shorter one, so a long strip does not grow by its
    length. (The shorter side alone is not enough: a cut-out clipped at the picture's edge is narrower
    than the face, and one bundled face's eyes then land 9% of their distance off instead of 5%.)"""
    if margin < 0:
        raise ValueError(f"the frame margin must be >= 0, got {margin}")
    long, short = max(shape[0], shape[1]), min(shape[0], shape[1])
    return round(margin * min(long, 2 * short))


def add_frame(image: np.ndarray, width: int) -> np.ndarray:
    """``image`` ``(H, W, 3)`` inside a border of ``width`` pixels of :data:`OUTSIDE_FILL`:
    ``(H + 2·width, W + 2·width, 3)``; the picture's pixel ``(x, y)`` is at ``(x + width, y + width)``."""
    if width == 0:
        return image
    height, w = image.shape[:2]
    framed = np.empty((height + 2 * width, w + 2 * width, image.shape[2]), dtype=image.dtype)
    framed[...] = np.asarray(OUTSIDE_FILL, dtype=image.dtype)
    framed[width : width + height, width : width + w] = image
    return framed


def shift_detection(det: Detection, dx: float, dy: float) -> Detection:
    """``det`` with its box and landmarks moved by ``(dx, dy)`` pixels."""
    offset = np.array([dx, dy], dtype=np.float32)
    return dataclasses.replace(
        det,
        box=(det.box.reshape(2, 2) + offset).reshape(4).astype(np.float32),
        landmarks=(det.landmarks + offset).astype(np.float32),
    )


EDGE_REACH: Final = 0.1
"""A face whose box, grown by this fraction of its size, reaches past the picture is detected again in the frame."""


def reaches_edge(dets: Sequence[Detection], shape: tuple[int, ...], reach: float = EDGE_REACH) -> bool:
    """Whether the picture of ``shape`` needs the framed pass: no face found in it (a face that fills the
    picture can be missed altogether), or a face's box grown by ``reach`` of its size reaching past it."""
    if not dets:
        return True
    height, width = shape[:2]
    for det in dets:
        x1, y1, x2, y2 = (float(v) for v in det.box)
        dx, dy = reach * (x2 - x1), reach * (y2 - y1)
        if x1 - dx < 0 or y1 - dy < 0 or x2 + dx > width or y2 + dy > height:
            return True
    return False


def detect_framed(
    raw_detect: RawDetect, images: Sequence[np.ndarray], margin: float = DEFAULT_FRAME_MARGIN
) -> list[list[Detection]]:
    """Detect on each picture as it is; where that finds no face or a face at the picture's edge
    (:func:`reaches_edge`), detect again on the picture framed by ``margin`` (see the module docstring)
    and keep that pass's faces, mapped back to the picture's pixels (a box may still reach past it).
    A face in the middle of a door camera's frame costs one pass; a face that fills the picture two,
    the second on the framed, larger picture. ``margin=0`` runs ``raw_detect`` once, as it is."""
    found = raw_detect(images)
    if margin == 0:
        return found
    again = [i for i, (image, dets) in enumerate(zip(images, found, strict=True)) if reaches_edge(dets, image.shape)]
    if not again:
        return found
    widths = [frame_width(images[i].shape, margin) for i in again]
    framed = raw_detect([add_frame(images[i], w) for i, w in zip(again, widths, strict=True)])
    out = list(found)
    for i, w, dets in zip(again, widths, framed, strict=True):
        if dets:  # the framed pass found the face (it always does where the plain one did, measured)
            out[i] = [shift_detection(d, -w, -w) if w else d for d in dets]
    return out


def tight_box(box: np.ndarray, shape: tuple[int, ...], margin: float) -> tuple[int, int, int, int]:
    """A detector ``box`` (x1, y1, x2, y2) grown by ``margin`` of its width and height on each side,
    rounded outwards and clipped to an image of ``shape`` ``(H, W, ...)``: (left, top, right, bottom)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    dx, dy = margin * (x2 - x1), margin * (y2 - y1)
    height, width = shape[:2]
    left, top = max(0, int(np.floor(x1 - dx))), max(0, int(np.floor(y1 - dy)))
    right, bottom = min(width, int(np.ceil(x2 + dx))), min(height, int(np.ceil(y2 + dy)))
    return left, top, max(right, left + 1), max(bottom, top + 1)


def cut(image: np.ndarray, box: Sequence[int]) -> np.ndarray:
    """The pixels of ``image`` inside ``box`` (left, top, right, bottom), contiguous."""
    left, top, right, bottom = box
    return np.ascontiguousarray(image[top:bottom, left:right])
