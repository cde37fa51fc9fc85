"""Training augmentation on real aligned faces: each transform does what it says, the defaults change nothing,
and the tight-crop fill is the service's outside fill."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.alignment import align_face
from models.detection import FaceDetector, select_subject
from models.framing import OUTSIDE_FILL, cut, tight_box
from models.imageio import decode_image
from training.config import TrainConfig
from training.data.augment import augment, colour, greyscale, low_resolution, tight_crop
from training.data.dataset import to_tensor


@pytest.fixture(scope="module")
def faces(fixture_face_paths: list[Path], detector: FaceDetector) -> torch.Tensor:
    crops = []
    for path in fixture_face_paths:
        image = decode_image(path)
        subject = select_subject(detector.detect(image), image.shape)
        assert subject is not None
        crops.append(align_face(image, subject.landmarks))
    return to_tensor(np.stack(crops), torch.device("cpu"))


def test_defaults_leave_faces_untouched(faces: torch.Tensor) -> None:
    assert torch.equal(augment(faces, TrainConfig()), faces)


def test_tight_crop_bands_are_the_service_fill(faces: torch.Tensor) -> None:
    torch.manual_seed(0)
    out = tight_crop(faces, prob=1.0)
    fill = torch.tensor(OUTSIDE_FILL, dtype=torch.float32) / 127.5 - 1.0
    changed = (out != faces).any(dim=1)  # (B, S, S)
    assert changed.any()
    # Every changed pixel holds exactly the fill; the centre of the face is never cut.
    assert torch.equal(out.permute(0, 2, 3, 1)[changed], fill.expand(int(changed.sum()), 3))
    assert not changed[:, 40:80, 40:80].any()


def test_tight_crop_looks_like_the_services_crop_of_a_tight_photo(
    fixture_face_paths: list[Path], detector: FaceDetector
) -> None:
    """The service's aligned crop of a photo cut to the face box has black bands inside the limits the
    augmentation draws from (so training sees what the service produces)."""
    from training.data.augment import TIGHT_BANDS

    for path in fixture_face_paths:
        image = decode_image(path)
        whole = select_subject(detector.detect(image), image.shape)
        assert whole is not None
        tight = cut(image, tight_box(whole.box, image.shape, 0.05))
        subject = select_subject(detector.detect(tight), tight.shape)
        assert subject is not None
        crop = align_face(tight, subject.landmarks)
        content = crop.max(axis=2) > 0
        rows, cols = np.flatnonzero(content.any(axis=1)), np.flatnonzero(content.any(axis=0))
        bands = (rows[0], 111 - rows[-1], cols[0], 111 - cols[-1])
        assert all(b <= limit + 4 for b, limit in zip(bands, TIGHT_BANDS, strict=True)), (path.name, bands)


def test_low_resolution_blurs_but_keeps_the_face(faces: torch.Tensor) -> None:
    torch.manual_seed(1)
    out = low_resolution(faces, prob=1.0, min_side=28)
    assert out.shape == faces.shape
    detail = (faces[..., 1:] - faces[..., :-1]).abs().mean()
    assert (out[..., 1:] - out[..., :-1]).abs().mean() < detail  # fewer fine edges
    assert (out - faces).abs().mean() < 0.25  # still the same picture


def test_colour_and_greyscale(faces: torch.Tensor) -> None:
    torch.manual_seed(2)
    grey = greyscale(faces, prob=1.0)
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    coloured = colour(faces, prob=1.0, strength=0.3)
    assert coloured.min() >= -1.0 and coloured.max() <= 1.0
    assert not torch.equal(coloured, faces)
    assert torch.equal(colour(faces, prob=0.0, strength=0.3), faces)
