"""Readers that turn a raw face data set into :class:`Sample` records (path, identity, labels).

Each reader only lists files and labels; detection and alignment happen in ``training.prepare``.
Attribute values are +1 / 0, and a missing label is simply absent from ``attributes``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".pgm", ".ppm"})
CELEBA_SPLITS = {"0": "train", "1": "val", "2": "test"}


@dataclass(frozen=True)
class Sample:
    """One raw image: ``path`` (absolute), ``identity`` (a string unique within its data set),
    ``attributes`` (name → 1 or 0, only the labels that exist) and ``split``."""

    path: Path
    identity: str
    attributes: dict[str, int] = field(default_factory=dict)
    split: str = "train"


def celeba_identity_set(images_dir: Path, labels_dir: Path) -> Iterator[Sample]:
    """The CelebA identity training set: ``{identity}_{original_file}.jpg``, 5 images per identity.

    The 40 attributes come from ``list_attr_celeba.txt`` and the split from
    ``list_eval_partition.txt`` (both in ``labels_dir``), looked up by the original file name.
    """
    attributes = _celeba_attributes(labels_dir / "list_attr_celeba.txt")
    partition = dict(_split_lines(labels_dir / "list_eval_partition.txt", skip=0))
    for path in sorted(images_dir.glob("*.jpg")):
        identity, _, original = path.name.partition("_")
        if not original or not identity.isdigit():
            raise ValueError(f"{path.name}: expected '{{identity}}_{{original_file}}.jpg'")
        yield Sample(
            path=path,
            identity=f"celeba:{identity}",
            attributes=attributes.get(original, {}),
            split=CELEBA_SPLITS.get(partition.get(original, "0"), "train"),
        )


def lfw_people(lfw_dir: Path) -> Iterator[Sample]:
    """LFW ``images_deepfunneled/<Name>/<Name>_NNNN.jpg`` with the gender and smile labels.

    Gender comes from ``labels/lfw_{male,female}_names.txt`` (a file in both lists is unknown),
    smile from ``labels/lfw_with_smile_label.txt``; the split is ``"lfw"`` (never for training
    when results are reported on LFW View 2).
    """
    labels = lfw_dir / "labels"
    male = set(_read_lines(labels / "lfw_male_names.txt"))
    female = set(_read_lines(labels / "lfw_female_names.txt"))
    smile = {Path(name).name: int(value) for name, value in _split_lines(labels / "lfw_with_smile_label.txt")}
    for path in sorted((lfw_dir / "images_deepfunneled").glob("*/*.jpg")):
        attrs: dict[str, int] = {}
        if (path.name in male) != (path.name in female):
            attrs["Male"] = int(path.name in male)
        if path.name in smile:
            attrs["Smiling"] = smile[path.name]
        yield Sample(path=path, identity=f"lfw:{path.parent.name}", attributes=attrs, split="lfw")


def att_faces(att_dir: Path) -> Iterator[Sample]:
    """AT&T (ORL) faces: ``sN/M.pgm``, 40 people × 10 images."""
    for path in sorted(att_dir.glob("s*/*.pgm"), key=lambda p: (int(p.parent.name[1:]), int(p.stem))):
        yield Sample(path=path, identity=f"att:{path.parent.name}", split="train")


def image_folder(root: Path) -> Iterator[Sample]:
    """Any ``identity/image`` tree: one sub-folder per person, images inside."""
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(person.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                yield Sample(path=path, identity=f"{root.name}:{person.name}", split="train")


def _celeba_attributes(path: Path) -> dict[str, dict[str, int]]:
    lines = path.read_text().splitlines()
    names = lines[1].split()
    table: dict[str, dict[str, int]] = {}
    for line in lines[2:]:
        parts = line.split()
        if len(parts) != len(names) + 1:
            continue
        table[parts[0]] = {name: int(value == "1") for name, value in zip(names, parts[1:], strict=True)}
    return table


def _read_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _split_lines(path: Path, skip: int = 0) -> Iterator[tuple[str, str]]:
    for line in _read_lines(path)[skip:]:
        key, _, value = line.partition(" ")
        yield key, value.strip()


def celeba_identities(labels_dir: Path) -> dict[str, str]:
    """``{CelebA file name: identity id}`` from ``identity_CelebA.txt`` (an optional header line is skipped)."""
    table: dict[str, str] = {}
    for line in _read_lines(labels_dir / "identity_CelebA.txt"):
        name, _, identity = line.partition(" ")
        if name.endswith(".jpg") and identity.strip().isdigit():
            table[name] = identity.strip()
    return table


def celeba_files(
    images_dir: Path, labels_dir: Path, pattern: str = "*.jpg", exclude_identities: frozenset[str] = frozenset()
) -> Iterator[Sample]:
    """CelebA images named by their CelebA file name (``NNNNNN.jpg``, in any sub-folder matching
    ``pattern``), e.g. the in-the-wild test-partition crops of ``/work/data/celeba_wild``: identity
    from ``identity_CelebA.txt``, attributes and split as :func:`celeba_identity_set` gives them, so
    both name a person ``celeba:<id>`` and merge. Files without an identity and identities in
    ``exclude_identities`` (``celeba:<id>``, e.g. held-out validation people) are skipped."""
    identities = celeba_identities(labels_dir)
    attributes = _celeba_attributes(labels_dir / "list_attr_celeba.txt")
    partition = dict(_split_lines(labels_dir / "list_eval_partition.txt", skip=0))
    for path in sorted(images_dir.glob(pattern)):
        identity = identities.get(path.name)
        if identity is None or f"celeba:{identity}" in exclude_identities:
            continue
        yield Sample(
            path=path,
            identity=f"celeba:{identity}",
            attributes=attributes.get(path.name, {}),
            split=CELEBA_SPLITS.get(partition.get(path.name, "0"), "train"),
        )


def celeba_merged(
    identity_dir: Path,
    extra_dirs: list[Path],
    labels_dir: Path,
    exclude_identities: frozenset[str] = frozenset(),
) -> Iterator[Sample]:
    """The CelebA identity set, then every image of ``extra_dirs`` (:func:`celeba_files`) whose CelebA
    file name is not already in: one sample per CelebA file, the identity set's copy first."""
    seen: set[str] = set()
    for sample in celeba_identity_set(identity_dir, labels_dir):
        if sample.identity in exclude_identities:
            continue
        seen.add(sample.path.name.partition("_")[2])
        yield sample
    for folder in extra_dirs:
        for sample in celeba_files(folder, labels_dir, "**/*.jpg", exclude_identities):
            if sample.path.name not in seen:
                seen.add(sample.path.name)
                yield sample
