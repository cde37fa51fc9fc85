"""Data readers and the aligned-face cache (``training.data``, ``training.prepare``) on real faces."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from models.alignment import align_face
from models.detection import FaceDetector, select_subject
from models.imageio import decode_image
from training.data.sources import att_faces, celeba_files, celeba_identity_set, celeba_merged, image_folder, lfw_people
from training.prepare import load_cache, prepare, read_manifest


def test_celeba_reader_takes_identity_from_the_name_and_labels_from_the_original_file(
    data_dir: Path, tmp_path: Path
) -> None:
    source = data_dir / "att_faces" / "s1" / "1.pgm"
    images = tmp_path / "celeba"
    images.mkdir()
    for name in ("2880_000001.jpg", "2937_000002.jpg"):
        shutil.copy(source, images / name)
    samples = list(celeba_identity_set(images, data_dir / "celeba"))
    assert [s.identity for s in samples] == ["celeba:2880", "celeba:2937"]
    first = samples[0].attributes
    assert len(first) == 40
    # 000001.jpg in list_attr_celeba.txt: not Male, Smiling, no Eyeglasses, Young.
    assert (first["Male"], first["Smiling"], first["Eyeglasses"], first["Young"]) == (0, 1, 0, 1)
    assert samples[0].split == "train"


def test_celeba_reader_rejects_a_foreign_file_name(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(ValueError, match="identity"):
        list(celeba_identity_set(tmp_path, data_dir / "celeba"))


def test_lfw_reader_labels(data_dir: Path) -> None:
    samples = {s.path.name: s for s in lfw_people(data_dir / "lfw")}
    assert len(samples) == 13233
    assert samples["Aaron_Peirsol_0001.jpg"].attributes == {"Male": 1, "Smiling": 1}
    assert samples["Aaron_Eckhart_0001.jpg"].attributes == {"Male": 1, "Smiling": 0}
    assert samples["Adriana_Lima_0001.jpg"].attributes.get("Male") == 0
    assert "Male" not in samples["Claudia_Coslovich_0001.jpg"].attributes  # listed as both: unknown
    assert all(s.split == "lfw" for s in samples.values())
    unknown_gender = [name for name, s in samples.items() if "Male" not in s.attributes]
    assert len(unknown_gender) == 8  # 5 listed as both, 3 in neither list


def test_att_and_folder_readers(data_dir: Path, tmp_path: Path) -> None:
    att = list(att_faces(data_dir / "att_faces"))
    assert len(att) == 400 and len({s.identity for s in att}) == 40
    assert att[0].path.parts[-2:] == ("s1", "1.pgm") and att[9].path.name == "10.pgm"
    for person in ("ann", "bob"):
        (tmp_path / person).mkdir()
        (tmp_path / person / "a.jpg").write_bytes(b"")
        (tmp_path / person / "notes.txt").write_text("not an image")
    assert [s.identity for s in image_folder(tmp_path)] == [f"{tmp_path.name}:ann", f"{tmp_path.name}:bob"]


@pytest.fixture
def mixed_folder(data_dir: Path, tmp_path: Path) -> Path:
    """6 AT&T faces of 2 people, one image without a face, one corrupt file."""
    root = tmp_path / "people"
    for person in ("s1", "s2"):
        (root / person).mkdir(parents=True)
        for i in (1, 2, 3):
            shutil.copy(data_dir / "att_faces" / person / f"{i}.pgm", root / person / f"{i}.pgm")
    rng = np.random.default_rng(0)
    noise = (rng.random((112, 92)) * 40 + 100).astype(np.uint8)  # flat grey texture, no face
    from PIL import Image

    Image.fromarray(noise).save(root / "s2" / "9_noface.png")
    (root / "s2" / "9_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return root


def test_prepare_caches_aligned_faces_reports_failures_and_resumes(mixed_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "cache"
    samples = list(image_folder(mixed_folder))
    report = prepare(samples, out, root=mixed_folder, chunk_size=3, workers=1, progress=False)
    assert (report.total, report.aligned, report.no_face, report.unreadable) == (8, 6, 1, 1)
    assert report.chunks_done == 3 and report.chunks_skipped == 0

    crops, rows = load_cache(out)
    assert crops.shape == (6, 112, 112, 3) and crops.dtype == np.uint8
    assert [r["identity"].split(":")[1] for r in rows] == ["s1"] * 3 + ["s2"] * 3
    assert rows[0]["file"] == "s1/1.pgm"

    # The cached crop is exactly what the shared alignment function gives.
    image = decode_image(mixed_folder / "s1" / "1.pgm")
    subject = select_subject(FaceDetector(device="cpu").detect(image), image.shape)
    assert subject is not None
    np.testing.assert_array_equal(crops[0], align_face(image, subject.landmarks))

    statuses = {Path(r["file"]).name: r["status"] for r in read_manifest(out)}
    assert statuses["9_noface.png"] == "no_face" and statuses["9_broken.jpg"] == "unreadable"

    # An interrupted run: the last chunk's manifest never got written. Only that chunk is redone.
    (out / "shard-00002.jsonl").unlink()
    again = prepare(samples, out, root=mixed_folder, chunk_size=3, workers=1, progress=False)
    assert (again.chunks_done, again.chunks_skipped) == (1, 2)
    assert again.total == 8 and again.aligned == 6
    assert json.loads((out / "summary.json").read_text())["aligned"] == 6


def test_prepare_keeps_files_outside_the_root_by_their_absolute_path(data_dir: Path, tmp_path: Path) -> None:
    """celeba_merged's extra folders lie outside --images (the manifest's root): their rows keep an absolute
    path, the root's rows a relative one, and both still lead a reader back to the image (``root / file``).
    Before, the first chunk with an extra folder's file stopped the whole prepare with a ValueError."""
    root, extra = tmp_path / "identity", tmp_path / "wild"
    root.mkdir()
    extra.mkdir()
    shutil.copy(data_dir / "att_faces" / "s1" / "1.pgm", root / "2880_000001.pgm")
    shutil.copy(data_dir / "att_faces" / "s2" / "1.pgm", extra / "000002.pgm")
    from training.data.sources import Sample

    samples = [Sample(root / "2880_000001.pgm", "celeba:2880"), Sample(extra / "000002.pgm", "celeba:2937")]
    report = prepare(samples, tmp_path / "cache", root=root, chunk_size=1, workers=1, progress=False)
    assert report.aligned == 2
    files = [row["file"] for row in read_manifest(tmp_path / "cache")]
    assert files == ["2880_000001.pgm", str(extra / "000002.pgm")]
    assert all((root / f).exists() for f in files)


def test_celeba_files_and_merge_one_sample_per_celeba_file(data_dir: Path, tmp_path: Path) -> None:
    """In-the-wild CelebA files take their identity from identity_CelebA.txt and merge with the identity set
    by CelebA file name: a file in both comes once (the identity set's copy); excluded people stay out."""
    identity_set = tmp_path / "identity"
    wild = tmp_path / "wild" / "part"
    identity_set.mkdir()
    wild.mkdir(parents=True)
    (identity_set / "2880_000001.jpg").write_bytes(b"")
    (wild / "000001.jpg").write_bytes(b"")  # the same CelebA file as the identity set's
    (wild / "000002.jpg").write_bytes(b"")  # identity 2937
    (wild / "000003.jpg").write_bytes(b"")  # identity 8692, held out below
    (wild / "notceleba.jpg").write_bytes(b"")
    labels = data_dir / "celeba"
    wild_samples = list(celeba_files(tmp_path / "wild", labels, "**/*.jpg"))
    assert [(s.path.name, s.identity) for s in wild_samples] == [
        ("000001.jpg", "celeba:2880"),
        ("000002.jpg", "celeba:2937"),
        ("000003.jpg", "celeba:8692"),
    ]
    merged = list(celeba_merged(identity_set, [tmp_path / "wild"], labels, frozenset({"celeba:8692"})))
    assert [s.path.name for s in merged] == ["2880_000001.jpg", "000002.jpg"]
    assert merged[1].attributes == next(s for s in wild_samples if s.path.name == "000002.jpg").attributes
