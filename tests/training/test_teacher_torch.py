"""dlib's ResNet ported to PyTorch: the same 150×150 chip gives dlib's own 128 numbers.

Measured 2026-12-02 on the five bundled faces: largest difference 4.4e-7 (descriptor norms 1.3–1.6);
the test allows 1e-5.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.imageio import decode_image
from training.teacher_torch import CHIP_PADDING, CHIP_SIZE, DlibFormatError, DlibResNet, _add_zero_extended

PARITY_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def dlib_model():  # type: ignore[no-untyped-def]
    from training.evaluation.reference import DlibFaceModel, dlib_available

    assert dlib_available(), "dlib reference missing: run ./scripts/bootstrap"
    return DlibFaceModel()


@pytest.fixture(scope="module")
def ported() -> DlibResNet:
    return DlibResNet.from_dlib()


def test_same_chip_same_descriptor(
    fixture_face_paths: list[Path], fixture_pgm_path: Path, dlib_model, ported: DlibResNet
) -> None:  # type: ignore[no-untyped-def]
    import dlib

    for path in [*fixture_face_paths, fixture_pgm_path]:
        image = decode_image(path)
        boxes = list(dlib_model.detector(image, 1))
        box = boxes[0] if boxes else dlib.rectangle(0, 0, image.shape[1], image.shape[0])
        shape = dlib_model.shape_predictor(image, box)
        chip = np.asarray(dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING))
        expected = np.asarray(dlib_model.recognizer.compute_face_descriptor(chip), np.float32)
        # dlib's own chip-based call agrees with its whole-image call (the chip is what it embeds).
        whole = np.asarray(dlib_model.recognizer.compute_face_descriptor(image, shape), np.float32)
        np.testing.assert_allclose(expected, whole, atol=1e-6)
        with torch.no_grad():
            got = ported(torch.from_numpy(chip).permute(2, 0, 1)[None].float())[0].numpy()
        assert got.shape == (128,)
        assert np.abs(got - expected).max() <= PARITY_TOLERANCE, path.name


def test_add_prev_zero_extends_the_smaller_tensor() -> None:
    a = torch.ones(1, 2, 3, 3)
    b = torch.full((1, 1, 4, 4), 2.0)
    out = _add_zero_extended(a, b)
    assert out.shape == (1, 2, 4, 4)
    assert out[0, 0, :3, :3].eq(3).all() and out[0, 0, 3, :].eq(2).all() and out[0, 0, :, 3].eq(2).all()
    assert out[0, 1, :3, :3].eq(1).all() and out[0, 1, 3, :].eq(0).all()


def test_a_truncated_file_is_refused(tmp_path: Path) -> None:
    from training.evaluation.reference import RECOGNITION_MODEL_FILE, dlib_model_dir

    data = (dlib_model_dir() / RECOGNITION_MODEL_FILE).read_bytes()
    broken = tmp_path / "half.dat"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(DlibFormatError):
        DlibResNet.from_dlib(broken)
