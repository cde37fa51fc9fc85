"""The commands that look at faces, on the real model (loaded once per session): ``enroll``, ``check`` (and the
log entry it writes), ``enroll-folder`` in this process (resume, --again, the table of refused images) and
``model reembed`` from kept crops."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_support import Cli, CliEnv, error_line, write_folder
from sqlalchemy import select, update

from models.embedder import FaceEmbedder
from service.db.models import FaceTemplate
from service.db.session import create_db_engine, make_sessionmaker
from service.domain.crops import CropCipher

pytestmark = pytest.mark.usefixtures("with_model")


def test_enroll(cli: Cli, fixture_face_paths: list[Path], faceless_png: Path) -> None:
    cli("people", "add", "B-1", "AJ Cook")
    result = cli("enroll", "B-1", str(fixture_face_paths[0]), str(faceless_png))
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["IMAGE", "RESULT"]
    assert lines[1].startswith("AJ_Cook_0001.jpg  template 1") and lines[2].startswith(
        "wall.png          refused: no_face"
    )
    assert "enrolled 1 of 2 images for 'B-1' (template revision 1)" in lines[3]
    person = json.loads(cli("people", "show", "B-1", "--json").stdout)
    assert person["person"]["templates"] == 1 and person["templates"][0]["has_crop"] is False

    as_json = json.loads(cli("enroll", "1", str(fixture_face_paths[0]), "--json").stdout)
    assert as_json["enrolled"] == 1 and as_json["images"][0]["quality"]["det_score"] > 0.9


def test_enroll_refusals(cli: Cli, fixture_face_paths: list[Path], faceless_png: Path, tmp_path: Path) -> None:
    cli("people", "add", "B-1", "AJ Cook")
    cli("people", "add", "B-2", "Someone else")
    no_face = cli("enroll", "B-1", str(faceless_png), code=1)
    assert "refused: no_face" in no_face.stdout
    assert error_line(no_face) == "error: no image gave a usable face: #0: no_face (no_usable_face)"

    cli("enroll", "B-1", str(fixture_face_paths[0]))
    duplicate = cli("enroll", "B-2", str(fixture_face_paths[0]), code=1)
    line = error_line(duplicate)
    assert "this face matches person 'B-1' (score 1.000)" in line and "--force enrols anyway" in line
    assert "(duplicate_identity;" in line
    assert "template" in cli("enroll", "B-2", str(fixture_face_paths[0]), "--force").stdout

    assert "(person_not_found)" in error_line(cli("enroll", "B-9", str(fixture_face_paths[1]), code=1))
    missing = cli("enroll", "B-1", str(tmp_path / "nope.jpg"), code=1)
    assert error_line(missing) == f"error: {tmp_path / 'nope.jpg'}: No such file or directory"
    garbage = tmp_path / "notes.jpg"
    garbage.write_text("not a picture")
    assert "image_not_an_image" in cli("enroll", "B-1", str(garbage), code=1).stdout


def test_check_decides_and_logs(cli: Cli, fixture_face_paths: list[Path], faceless_png: Path) -> None:
    cli("people", "add", "B-1", "AJ Cook")
    cli("people", "add", "B-2", "Abdullah")
    cli("enroll", "B-1", str(fixture_face_paths[0]))
    cli("enroll", "B-2", str(fixture_face_paths[1]))
    cli("doors", "add", "main", "--tz", "Europe/Paris")
    cli("grant", "--person", "B-1", "--door", "main")

    granted = json.loads(cli("check", "main", str(fixture_face_paths[0]), "--json").stdout)
    assert granted["decision"] == "granted" and granted["person"]["external_id"] == "B-1"
    assert granted["score"] == pytest.approx(1.0, abs=1e-4) and granted["log_id"] == 1
    no_rule = cli("check", "main", str(fixture_face_paths[1]), code=3).stdout
    assert "decision:  denied at 'main'" in no_rule and "reason:    no_rule" in no_rule and "B-2 (Abdullah)" in no_rule
    assert "reason:    no_face" in cli("check", "#1", str(faceless_png), code=3).stdout
    assert "(door_not_found)" in error_line(cli("check", "back", str(fixture_face_paths[0]), code=1))

    log = json.loads(cli("log", "--json").stdout)["items"]
    assert [(e["reason"], e["person_external_id"], e["key_id"]) for e in log] == [
        ("no_face", None, None),
        ("no_rule", "B-2", None),
        ("granted", "B-1", None),
    ]
    assert "WRITTEN TO THE ACCESS LOG" in cli("check", "--help").stdout


def test_enroll_folder_here(
    cli: Cli, cli_env: CliEnv, fixture_face_paths: list[Path], faceless_png: Path, fixture_pgm_path: Path
) -> None:
    root = write_folder(
        cli_env.folder / "people",
        {
            "p10": [fixture_face_paths[0]],
            "p2": [fixture_face_paths[1], faceless_png],
            "p3": [faceless_png],
            "empty": [],
            "bad name": [fixture_face_paths[2]],
        },
    )
    (root / "p2" / "notes.txt").write_text("ignored: not an image")
    first = cli("enroll-folder", str(root), "--workers", "1", code=1)
    assert first.stdout.splitlines()[:2] == [
        "5 folders: 2 people enrolled (3 created), 0 skipped (already enrolled), 3 without any template",
        "2 templates stored, 4 images refused",
    ]
    refused = [line.split()[:3] for line in first.stdout.splitlines()[4:]]
    assert refused == [
        ["bad", "name", "-"],
        ["empty", "-", "no_images"],
        ["p2", "wall.png", "no_face"],
        ["p3", "wall.png", "no_face"],
    ]
    assert error_line(first) == "error: 3 of 5 people got no template (see the refused images)"
    people = json.loads(cli("people", "list", "--json").stdout)["items"]
    assert [(p["external_id"], p["display_name"], p["templates"]) for p in people] == [
        ("p2", "p2", 1),
        ("p3", "p3", 0),
        ("p10", "p10", 1),
    ]  # created in natural order: p2 before p10

    (root / "p3" / "wall.png").unlink()
    (root / "p3" / fixture_pgm_path.name).write_bytes(fixture_pgm_path.read_bytes())
    for folder in ("empty", "bad name"):
        for file in (root / folder).iterdir():
            file.unlink()
        (root / folder).rmdir()
    again = json.loads(cli("enroll-folder", str(root), "--workers", "1", "--json").stdout)
    assert again["people_skipped"] == ["p2", "p10"] and again["people_enrolled"] == 1 and again["templates"] == 1
    everyone = json.loads(cli("enroll-folder", str(root), "--workers", "1", "--again", "--force", "--json").stdout)
    assert everyone["people_skipped"] == [] and everyone["templates"] == 3
    assert [r["reason"] for r in everyone["rejected"]] == ["no_face"]
    assert "is not a folder" in error_line(cli("enroll-folder", str(root / "nothing"), code=1))


def test_reembed_from_kept_crops(
    cli: Cli, cli_env: CliEnv, fixture_face_paths: list[Path], monkeypatch: pytest.MonkeyPatch, with_model: FaceEmbedder
) -> None:
    cli("people", "add", "B-1", "kept")
    cli("people", "add", "B-2", "not kept")
    cli("enroll", "B-2", str(fixture_face_paths[1]))
    needs_key = cli("model", "reembed", code=1)
    assert "needs FACEGATE_KEEP_CROPS=true and FACEGATE_CROP_KEY" in error_line(needs_key)
    monkeypatch.setenv("FACEGATE_KEEP_CROPS", "true")
    monkeypatch.setenv("FACEGATE_CROP_KEY", CropCipher.generate_key())
    cli("enroll", "B-1", str(fixture_face_paths[0]), str(fixture_face_paths[2]), "--force")

    engine = create_db_engine(cli_env.database_url)
    factory = make_sessionmaker(engine)
    with factory.begin() as session:  # as if enrolled by the previous model
        session.execute(update(FaceTemplate).values(model_id="fg1-previous00000"))
    done = cli("model", "reembed").stdout
    assert f"re-embedded 2 templates with {with_model.model_id}" in done and "0 done before" in done
    assert "1 templates have no kept crop; enrol these people again:" in done and "B-2" in done

    with factory() as session:
        rows = session.execute(
            select(FaceTemplate.person_id, FaceTemplate.model_id, FaceTemplate.embedding).order_by(FaceTemplate.id)
        ).all()
    engine.dispose()
    assert [(r.person_id, r.model_id) for r in rows] == [
        (2, "fg1-previous00000"),
        (1, "fg1-previous00000"),
        (1, "fg1-previous00000"),
        (1, with_model.model_id),
        (1, with_model.model_id),
    ]
    old, new = (np.frombuffer(rows[i].embedding, "<f4") for i in (1, 3))
    assert float(old @ new) == pytest.approx(1.0, abs=1e-4)  # the same crop through the same network

    twice = json.loads(cli("model", "reembed", "--json").stdout)
    assert twice["reembedded"] == 0 and twice["already"] == 2 and twice["without_crop"] == {"B-2": 1}
    shown = json.loads(cli("people", "show", "B-1", "--json").stdout)
    assert shown["person"]["templates"] == 2 and all(t["has_crop"] for t in shown["templates"])
    assert json.loads(cli("index", "status", "--json").stdout)["sql_templates"] == 2
