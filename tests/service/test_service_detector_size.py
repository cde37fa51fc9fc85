"""The service's detector searches from the size its quality gate calls for, unless told otherwise."""

from __future__ import annotations

from service.config import Settings
from service.faces import detector_min_face


def test_the_service_derives_the_smallest_face_from_the_gate_unless_told() -> None:
    assert Settings().detector_min_face_px is None
    assert detector_min_face(Settings()) == 56  # floor(1.96 · 20 / 0.7): models.detection.min_face_for_gate
    assert detector_min_face(Settings(min_interocular_px=30)) == 84
    assert detector_min_face(Settings(detector_min_face_px=40)) == 40
