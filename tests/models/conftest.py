"""Deterministic LFW samples for the detector, alignment and pose tests (real data: skip or fail via ``lfw_dir``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from models.detection import Detection, FaceDetector, select_subject
from models.imageio import decode_image

LFW_STEP = 19  # the first image of every 19th person, in sorted order: 303 people, spread over the alphabet
LFW_SAMPLE = 300
SUBJECT_SAMPLE = 30  # images whose subject is detected once per session for the alignment and pose tests


@dataclass(frozen=True)
class Subject:
    path: Path
    image: np.ndarray
    detection: Detection


@pytest.fixture(scope="session")
def lfw_sample_paths(lfw_dir: Path) -> list[Path]:
    """300 LFW images: the first (sorted) image of every 19th person in sorted order."""
    people = sorted(p for p in lfw_dir.iterdir() if p.is_dir())
    paths = []
    for person in people[::LFW_STEP]:
        images = sorted(person.glob("*.jpg"))
        if images:
            paths.append(images[0])
    assert len(paths) >= LFW_SAMPLE, f"{lfw_dir} holds too few people for the sample ({len(paths)} picked)"
    return paths[:LFW_SAMPLE]


@pytest.fixture(scope="session")
def lfw_subjects(lfw_sample_paths: list[Path], detector: FaceDetector) -> list[Subject]:
    """The subject of each of the first 30 sample images (image, path, MTCNN detection)."""
    paths = lfw_sample_paths[:SUBJECT_SAMPLE]
    images = [decode_image(path) for path in paths]
    subjects = []
    for path, image, detections in zip(paths, images, detector.detect_batch(images), strict=True):
        subject = select_subject(detections, image.shape)
        assert subject is not None, f"no face found in {path}"
        subjects.append(Subject(path=path, image=image, detection=subject))
    return subjects
