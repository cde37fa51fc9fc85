"""The architecture study's machinery end to end on synthetic data (every row trains, exports, is evaluated on
a synthetic LFW and measured; latency re-timed; table and plot generated), its rows, and its CelebA subset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.cli import main
from training.data.dataset import arrays_from_cache
from training.prepare import load_cache
from training.study import DEFAULT_CONFIG, load_study
from training.study_data import celeba_subset, write_cache
from training.study_report import END, START, write_table

LECTURE_BACKBONES = {"iresnet18", "vgg", "inception", "nin", "highway", "squeezenet"}
# What a row may change: the backbone and the auxiliary terms; never the data, the schedule or the budget.
ROW_KEYS = {"backbone", "attr_weight", "deep_sup_weight", "recon_weight", "decoder", "recon_noise_std"}


def test_rows_cover_every_backbone_and_auxiliary_loss_on_one_schedule() -> None:
    study = load_study(DEFAULT_CONFIG)
    assert {r.overrides["backbone"] for r in study.rows if r.kind == "backbone"} == LECTURE_BACKBONES
    aux = [r for r in study.rows if r.kind == "auxiliary"]
    assert {r.overrides["backbone"] for r in aux} == {study.spec["aux_backbone"]} == {"iresnet18"}
    sets = [r.overrides for r in aux]
    assert any(s.get("attr_weight", 0) > 0 for s in sets)
    assert any(s.get("deep_sup_weight", 0) > 0 for s in sets)
    assert {s.get("decoder") for s in sets if s.get("recon_noise_std", 0) == 0 and "decoder" in s} == {"plain", "unet"}
    assert any(s.get("recon_noise_std", 0) > 0 for s in sets)
    assert all(set(r.overrides) <= ROW_KEYS for r in study.rows)
    assert [r.kind for r in study.rows if r.package is not None] == ["reference"]
    other = load_study(DEFAULT_CONFIG, aux_backbone="vgg")
    assert all(
        r.name.startswith("vgg+") and r.overrides["backbone"] == "vgg" for r in other.rows if r.kind == "auxiliary"
    )


def test_quick_study_end_to_end(tmp_path: Path) -> None:
    results, published = tmp_path / "results", tmp_path / "published"
    main(["study", "run", "--quick", "--results", str(results), "--publish", str(published)])
    rows = {r.name: r for r in load_study(DEFAULT_CONFIG, quick=True).rows}
    found = {p.stem: json.loads(p.read_text()) for p in published.glob("*.json")}
    assert set(found) == set(rows)
    for name, result in found.items():
        assert (results / name / "result.json").is_file()
        model, lfw = result["model"], result["lfw"]
        assert 0.0 <= lfw["accuracy"] <= 1.0 and 0.0 <= lfw["tar_at_far_1e-3"] <= 1.0 and lfw["pairs"] == 60
        assert model["params"] > model["params_body"] > 0 and model["flops"] > 0
        assert model["cpu_ms_per_face"] > 0 and model["latency"]["runs"] >= 30 and model["latency"]["threads"] == 1
        assert result["quick"] is True
        if result["kind"] == "reference":
            assert result["training"] is None and model["trained"]
        else:
            assert result["training"]["images_per_s"] > 0 and model["backbone"] == rows[name].overrides["backbone"]
    attributes = found["iresnet18+attributes"]["attributes"]
    assert 0.0 <= attributes["mean_accuracy"] <= 1.0 and attributes["held_out_identities"] == 4
    assert set(attributes["per_attribute"]["Male"]) == {"accuracy", "majority_baseline", "faces"}
    assert "attributes" not in found["vgg"]
    assert found["iresnet18+recon_unet"]["aux"] == {"recon_weight": 1.0, "decoder": "unet"}
    assert found["iresnet18+denoising"]["aux"]["recon_noise_std"] == pytest.approx(0.2)

    main(["study", "latency", "--results", str(results), "--publish", str(published), "--runs", "10"])
    retimed = json.loads((published / "vgg.json").read_text())["model"]["latency"]
    assert retimed["interleaved_models"] == len(rows) and retimed["runs"] == 10

    doc, plot = tmp_path / "ARCHITECTURES.md", tmp_path / "img" / "plot.png"
    doc.write_text(f"# Study\n\nkept above\n{START}\nstale table\n{END}\nkept below\n")
    main(["study", "table", "--results", str(published), "--doc", str(doc), "--plot", str(plot)])
    text = doc.read_text()
    assert "kept above" in text and "kept below" in text and "stale table" not in text
    assert "QUICK RUN" in text
    for row in rows.values():
        assert f"| {row.title} |" in text
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    main(["study", "table", "--results", str(published), "--doc", str(doc), "--plot", str(plot)])
    assert doc.read_text() == text  # regenerating changes nothing

    repeat = tmp_path / "published-seed1"  # a rerun with another seed, found beside the results
    repeat.mkdir()
    vgg = json.loads((published / "vgg.json").read_text())
    vgg["lfw"]["accuracy"] = 0.1234
    (repeat / "vgg.json").write_text(json.dumps(vgg))
    main(["study", "table", "--results", str(published), "--doc", str(doc), "--plot", str(plot)])
    lines = doc.read_text().splitlines()
    assert "LFW, seed 1 |" in next(line for line in lines if line.startswith("| row |"))
    assert next(line for line in lines if line.startswith(f"| {rows['vgg'].title} |")).endswith("| 12.34% |")
    assert next(line for line in lines if line.startswith(f"| {rows['nin'].title} |")).endswith("| — |")


def test_table_needs_results_and_markers(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("no markers here\n")
    with pytest.raises(SystemExit, match="no results"):
        write_table(tmp_path, doc, tmp_path / "plot.png")
    (tmp_path / "row.json").write_text(json.dumps({"kind": "backbone", "order": 0, "row": "x"}))
    with pytest.raises(SystemExit, match="markers"):
        write_table(tmp_path, doc, tmp_path / "plot.png")


def _fake_cache(path: Path, identities: int = 10, per_identity: int = 3) -> None:
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, size=(identities * per_identity, 112, 112, 3), dtype=np.uint8)
    rows = [
        {"file": f"{k}_{j}.jpg", "identity": f"celeba:{k}", "attributes": {"Male": k % 2}, "split": "train"}
        for k in range(identities)
        for j in range(per_identity)
    ]
    write_cache(path, crops, rows, shard_size=7)


def test_celeba_subset_keeps_whole_identities_and_is_reused(tmp_path: Path) -> None:
    _fake_cache(tmp_path / "source")
    out = celeba_subset(tmp_path / "source", tmp_path / "subset", identities=4, seed=0)
    data, rows = arrays_from_cache(out, ("Male",))
    assert len({r["identity"] for r in rows}) == 4 and len(rows) == 12
    source_crops, source_rows = load_cache(tmp_path / "source")
    by_file = {r["file"]: c for r, c in zip(source_rows, source_crops, strict=True)}
    assert all(np.array_equal(by_file[r["file"]], c) for r, c in zip(rows, data.crops, strict=True))
    assert np.array_equal(data.attributes[:, 0], [float(r["attributes"]["Male"]) for r in rows])

    stamp = (out / "shard-00000.npy").stat().st_mtime_ns
    celeba_subset(tmp_path / "source", tmp_path / "subset", identities=4, seed=0)
    assert (out / "shard-00000.npy").stat().st_mtime_ns == stamp  # the same draw is reused, not rewritten
    celeba_subset(tmp_path / "source", tmp_path / "subset", identities=6, seed=0)
    assert len({r["identity"] for r in load_cache(out)[1]}) == 6
