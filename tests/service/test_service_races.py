"""Deletions racing the requests that read the deleted rows, through the real app (SQLite).

A person deleted while their face was being checked got a denial that was never logged; an enrolment racing the
person's deletion answered 500 (a foreign-key violation) instead of 404. Each race is forced: a hook inside the
request deletes the person from another thread (another connection) at the worst moment. Where the request now
holds a lock the deletion waits for, the hook gives up waiting after a short while and lets the request go on;
that wait only decides how quickly the test ends, never what it asserts."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.core import access, enrolment
from service.repositories.people import delete_person
from service.runtime import Runtime

HOOK_WAIT_S = 1.0


def _delete_from_another_thread(runtime: Runtime, person_id: int) -> threading.Thread:
    """Delete the person as ``DELETE /v1/people/{id}`` does (SQL, then this replica's index)."""

    def run() -> None:
        with runtime.sessionmaker.begin() as session:
            template_ids, revision = delete_person(session, person_id=person_id)
        runtime.index.apply(removed_template_ids=template_ids, revision=revision)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=HOOK_WAIT_S)  # done, or waiting for the request's lock: both are fine
    return thread


def _lfw_face(lfw_dir: Path, name: str) -> bytes:
    """A real face that no other test of this session's database enrols (the bundled fixtures are enrolled by
    several, which would make the match ambiguous)."""
    return (lfw_dir / name / f"{name}_0001.jpg").read_bytes()


def _enrolled(admin: TestClient, face: bytes, external_id: str) -> int:
    person = admin.post("/v1/people", json={"external_id": external_id, "display_name": "Race"}).json()["id"]
    response = admin.post(f"/v1/people/{person}/faces?force=true", files=[("images", ("f.jpg", face, "image/jpeg"))])
    assert response.status_code == 201, response.text
    return int(person)


def test_a_person_deleted_during_their_check_still_gets_a_logged_decision(
    admin: TestClient, lfw_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    face = _lfw_face(lfw_dir, "Nancy_Pelosi")
    person = _enrolled(admin, face, "race-check-1")
    door = admin.post("/v1/doors", json={"name": "race-check-door", "timezone": "UTC"}).json()["id"]
    assert admin.post("/v1/rules", json={"person_id": person, "door_id": door}).status_code == 201
    runtime = admin.app.state.runtime
    real: Callable[..., Any] = access.decide_rights
    threads: list[threading.Thread] = []

    def deciding_while_deleted(*args: Any, **kwargs: Any) -> Any:
        threads.append(_delete_from_another_thread(runtime, person))
        return real(*args, **kwargs)

    monkeypatch.setattr(access, "decide_rights", deciding_while_deleted)
    response = admin.post(
        "/v1/access/check", data={"door_id": str(door)}, files=[("frames", ("f.jpg", face, "image/jpeg"))]
    )
    for thread in threads:
        thread.join()
    assert response.status_code == 200, response.text
    decision = response.json()
    assert decision["log_id"] is not None, decision
    entry = admin.get("/v1/access/log", params={"door_id": door}).json()["items"][0]
    assert entry["id"] == decision["log_id"] and entry["decision"] == decision["decision"]
    assert entry["person_external_id"] == "race-check-1" and entry["person_id"] is None
    assert admin.get(f"/v1/people/{person}").status_code == 404


def test_an_enrolment_racing_the_persons_deletion_is_404_or_done_never_500(
    admin: TestClient, lfw_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    face = _lfw_face(lfw_dir, "Nancy_Reagan")
    person = admin.post("/v1/people", json={"external_id": "race-enrol-1", "display_name": "R"}).json()["id"]
    runtime = admin.app.state.runtime
    real: Callable[..., Any] = enrolment.add_templates
    threads: list[threading.Thread] = []

    def adding_while_deleted(*args: Any, **kwargs: Any) -> Any:
        threads.append(_delete_from_another_thread(runtime, person))
        return real(*args, **kwargs)

    monkeypatch.setattr(enrolment, "add_templates", adding_while_deleted)
    response = admin.post(f"/v1/people/{person}/faces?force=true", files=[("images", ("f.jpg", face, "image/jpeg"))])
    for thread in threads:
        thread.join()
    assert response.status_code in (201, 404), response.text
    if response.status_code == 404:
        assert response.json()["code"] == "person_not_found"
    assert admin.get(f"/v1/people/{person}").status_code == 404
    # The index holds no template of the deleted person either way.
    assert admin.post("/v1/identify", files={"image": ("f.jpg", face, "image/jpeg")}).json()["match"] is None


def test_a_template_deleted_by_another_replica_is_never_matched_afterwards(admin: TestClient, att_pgm: bytes) -> None:
    """After a template was deleted on one replica, another granted once 65 ms later (before its follower polled).
    Here the deletion is committed in SQL without this app's index hearing of it, as another replica would, and
    this app's follower is stopped: the check itself must see the newer template revision and not match."""
    from service.repositories.templates import delete_template

    runtime: Runtime = admin.app.state.runtime
    face = att_pgm
    person = admin.post("/v1/people", json={"external_id": "race-replica-1", "display_name": "Rep"}).json()["id"]
    door = admin.post("/v1/doors", json={"name": "race-replica-door", "timezone": "UTC"}).json()["id"]
    assert admin.post("/v1/rules", json={"person_id": person, "door_id": door}).status_code == 201
    files = [("images", ("f.pgm", face, "image/x-portable-graymap"))]
    enrolled = admin.post(f"/v1/people/{person}/faces?force=true", files=files)
    assert enrolled.status_code == 201, enrolled.text
    template = enrolled.json()["images"][0]["template_id"]
    frames = [("frames", ("f.pgm", face, "image/x-portable-graymap"))]
    runtime.index.stop()
    try:
        with runtime.sessionmaker.begin() as session:  # "another replica" deletes it
            delete_template(session, person_id=person, template_id=template)
        decision = admin.post("/v1/access/check", data={"door_id": str(door)}, files=frames).json()
    finally:
        runtime.index.run_polling(runtime.settings.index_poll_interval_s)
    assert decision["decision"] == "denied" and (decision["person"] or {}).get("id") != person, decision
