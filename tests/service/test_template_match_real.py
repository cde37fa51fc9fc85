"""Several templates per person, matched by their mean (``template_match = mean``), through the real app: real LFW
photos, the real detector and shipped model, HTTP enrolment, access checks and template deletion (SQLite).

A person enrolled with three photos is let in on a fourth with the score of the normalised mean of the three
templates (not the best one's); deleting a template changes the mean, and the next check's score with it; the
threshold is the mean-template tail's for the number of people enrolled; a stranger is refused. Two frames fused
are matched once, at the fused-vs-mean tail's threshold."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from models.package import UntrainedModelWarning
from models.tail import per_comparison_far
from service.config import Settings
from service.domain.analysis import analyse_subject
from service.main import create_app
from service.runtime import Runtime

PERSON, STRANGER, OTHERS = "Colin_Powell", "Serena_Williams", ("Tony_Blair", "Hugo_Chavez")


@pytest.fixture(scope="module")
def mean_client(
    settings: Settings, admin_headers: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("mean-templates")
    mine = settings.model_copy(
        update={
            "database_url": f"sqlite:///{folder / 'facegate.db'}",
            "index_path": folder / "index.fgi",
            "template_match": "mean",
            "frame_fusion": "fused",
        }
    )
    client = TestClient(create_app(mine))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedModelWarning)
        client.__enter__()
    client.headers.update(admin_headers)
    try:
        yield client
    finally:
        client.__exit__(None, None, None)


def _photo(lfw_dir: Path, name: str, number: int) -> Path:
    return lfw_dir / name / f"{name}_{number:04d}.jpg"


def _embedding(runtime: Runtime, path: Path, *, enrolment: bool) -> np.ndarray:
    """The embedding the app itself makes of ``path`` (same decoding, detector and model)."""
    face = analyse_subject(runtime.embedder, path.read_bytes(), runtime.gate, enrolment=enrolment)
    assert face.embedding is not None, path
    return face.embedding


def _enrol(client: TestClient, name: str, photos: list[Path]) -> tuple[int, list[int]]:
    person = client.post("/v1/people", json={"external_id": name, "display_name": name}).json()["id"]
    files = [("images", (p.name, p.read_bytes(), "image/jpeg")) for p in photos]
    response = client.post(f"/v1/people/{person}/faces", files=files)
    assert response.status_code == 201, response.text
    assert response.json()["enrolled"] == len(photos), response.text
    return int(person), [int(image["template_id"]) for image in response.json()["images"]]


def _check(client: TestClient, door: int, photo: Path) -> dict[str, object]:
    files = [("frames", (photo.name, photo.read_bytes(), "image/jpeg"))]
    response = client.post("/v1/access/check", data={"door_id": str(door)}, files=files)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _unit_mean(rows: list[np.ndarray]) -> np.ndarray:
    mean = np.mean(rows, axis=0)
    return mean / np.linalg.norm(mean)


def test_three_photos_matched_by_their_mean_and_a_deletion_moves_it(mean_client: TestClient, lfw_dir: Path) -> None:
    client = mean_client
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    assert runtime.threshold_policy.template_match == "mean"
    enrol = [_photo(lfw_dir, PERSON, n) for n in (1, 2, 3)]
    probe = _photo(lfw_dir, PERSON, 4)
    person, templates = _enrol(client, PERSON, enrol)
    for other in OTHERS:  # other people, one photo each: the gallery holds 5 templates of 3 people
        _enrol(client, other, [_photo(lfw_dir, other, 1)])
    door = client.post("/v1/doors", json={"name": "mean-door", "timezone": "UTC"}).json()["id"]
    assert client.post("/v1/rules", json={"person_id": person, "door_id": door}).status_code == 201

    vectors = [_embedding(runtime, p, enrolment=True) for p in enrol]
    face = _embedding(runtime, probe, enrolment=False)
    decision = _check(client, door, probe)
    assert (decision["decision"], decision["person"]["id"]) == ("granted", person)  # type: ignore[index]
    by_mean = float(_unit_mean(vectors) @ face)
    assert decision["score"] == pytest.approx(by_mean, abs=1e-4)
    assert abs(by_mean - max(float(v @ face) for v in vectors)) > 5e-3  # not the best template's score
    # the mean-template tail's threshold for 3 people (one mean each), not the single-face tail's for 5 templates
    calibration = runtime.embedder.package.calibration
    far = per_comparison_far(1e-3, 3) / calibration.domain_factor
    assert decision["gallery_size"] == 3
    assert decision["threshold"] == pytest.approx(calibration.tail_for("single", "mean").score_at(far), abs=1e-4)

    assert client.delete(f"/v1/people/{person}/faces/{templates[0]}").status_code in (200, 204)
    again = _check(client, door, probe)
    by_two = float(_unit_mean(vectors[1:]) @ face)
    assert again["score"] == pytest.approx(by_two, abs=1e-4)
    assert abs(by_two - by_mean) > 5e-3 and again["score"] != pytest.approx(decision["score"], abs=1e-3)

    stranger = _check(client, door, _photo(lfw_dir, STRANGER, 1))
    assert (stranger["decision"], stranger["reason"]) == ("denied", "unknown_face")


def test_fused_frames_are_matched_at_the_fused_tails_threshold(mean_client: TestClient, lfw_dir: Path) -> None:
    client = mean_client
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    enrol = [_photo(lfw_dir, "Gerhard_Schroeder", n) for n in (1, 2, 3)]
    person, _ = _enrol(client, "Gerhard_Schroeder", enrol)
    door = client.post("/v1/doors", json={"name": "fused-door", "timezone": "UTC"}).json()["id"]
    assert client.post("/v1/rules", json={"person_id": person, "door_id": door}).status_code == 201
    frames = [_photo(lfw_dir, "Gerhard_Schroeder", n) for n in (4, 5)]
    files = [("frames", (p.name, p.read_bytes(), "image/jpeg")) for p in frames]
    response = client.post("/v1/access/check", data={"door_id": str(door)}, files=files)
    assert response.status_code == 200, response.text
    decision = response.json()
    calibration = runtime.embedder.package.calibration
    tail = calibration.tail_for("fused", "mean")
    assert tail is not None
    people = decision["gallery_size"]
    assert people == runtime.index.people_count >= 1
    far = per_comparison_far(1e-3, people) / calibration.domain_factor
    assert decision["threshold"] == pytest.approx(tail.score_at(far), abs=1e-4)
    assert decision["threshold"] > runtime.threshold_in_force().threshold  # a fused probe's tail sits higher
    fused = _unit_mean([_embedding(runtime, p, enrolment=False) for p in frames])
    mean = _unit_mean([_embedding(runtime, p, enrolment=True) for p in enrol])
    assert decision["score"] == pytest.approx(float(fused @ mean), abs=1e-4)
    assert (decision["decision"], decision["person"]["id"]) == ("granted", person)
