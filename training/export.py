"""Writing model packages: ``facegate-train export`` (a run's checkpoint), ``export-untrained`` (the placeholder),
``export-onnx`` (a package's network as ONNX) and ``export-mtcnn`` (the detector's stages as ONNX).

The placeholder exists so that the service and the tests run before a trained model ships: its
``model.json`` says ``"trained": false``, its model card says so in its first line, and loading it
logs a loud warning.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from models.package import Calibration, ModelConfig, ModelPackage, save_package

logger = logging.getLogger(__name__)

UNTRAINED_CARD = """# UNTRAINED placeholder model — it cannot recognise anyone

This package holds **randomly initialised** weights (seed {seed}) of `{backbone}` {cfg}.
It exists so that the pipeline (detect → align → embed → match) and the service can run end to
end before the trained default model ships. Its embeddings are deterministic but meaningless:
two photos of the same person are no closer than photos of two different people.

- Model id: `{model_id}`
- Training data: none.
- Calibration: none (`calibration.json` says `"calibrated": false`); the service must not grant
  access with it.
- Figures: none measured, because there is nothing to measure.
"""


def make_untrained_package(
    out: Path, backbone: str = "iresnet18", seed: int = 0, embedding_size: int = 512, **backbone_cfg: object
) -> ModelPackage:
    """A package of ``backbone`` with seeded random weights, plainly marked untrained."""
    config = ModelConfig(backbone=backbone, backbone_cfg=dict(backbone_cfg), embedding_size=embedding_size)
    torch.manual_seed(seed)
    network = config.build_network()
    calibration = Calibration(calibrated=False, measured_on="nothing: the weights are untrained")
    package = save_package(
        out,
        network,
        config,
        trained=False,
        calibration=calibration,
        card="",
        meta={"seed": seed, "note": "untrained placeholder"},
    )
    card = UNTRAINED_CARD.format(seed=seed, backbone=backbone, cfg=backbone_cfg, model_id=package.model_id)
    (out / "MODEL_CARD.md").write_text(card)
    package.card = card
    return package


TRAINED_CARD = """# facegate face model `{model_id}`

{status}

- Architecture: `{backbone}` {cfg}, {embedding_size}-d embedding, 112×112 input aligned on the
  five-point template (`models.alignment`), normalised to [-1, 1].
- Training: {training}
- Figures: see `calibration.json` and docs/TRAINING.md; the headline LFW figures are filled in
  by `python -m training evaluate --calibrate`.
- Data licences: CelebA and LFW are for non-commercial research use only; so is this model.
- Limits: no liveness detection (a printed photo of an enrolled person may pass); trained on
  celebrity photos, whose demographics are skewed (see docs/TRAINING.md, known biases).
"""


def export_package(run_dir: Path, out: Path, *, trained_note: str = "") -> ModelPackage:
    """The backbone of the run's last checkpoint as a package (auxiliary heads dropped).

    The calibration is left empty (``calibrated: false``) until ``python -m training evaluate
    --calibrate`` measures thresholds on identities the network never saw.
    """
    from training.checkpoint import CHECKPOINT
    from training.config import TrainConfig

    state = torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=False)
    config = TrainConfig.from_dict(state["config"])
    backbone_state = {k.removeprefix("backbone."): v for k, v in state["model"].items() if k.startswith("backbone.")}
    backbone_cfg = {"width": config.width, "block": config.block, "dropout": config.dropout}
    model_config = ModelConfig(
        backbone=config.backbone, backbone_cfg=backbone_cfg, embedding_size=config.embedding_size
    )
    network = model_config.build_network()
    network.load_state_dict(backbone_state)
    training = trained_note or (
        f"{state['epoch']} epochs of {config.metric} (margin {config.margin}, scale {config.scale}) on "
        f"`{config.cache or 'synthetic data'}`; auxiliary λ: attributes {config.attr_weight}, deep supervision "
        f"{config.deep_sup_weight}, reconstruction {config.recon_weight} (noise {config.recon_noise_std}), "
        f"distillation {config.distill_weight}."
    )
    package = save_package(
        out,
        network,
        model_config,
        trained=not config.synthetic,
        calibration=Calibration(calibrated=False, measured_on="not yet calibrated"),
        card="",
        meta={"run": str(run_dir), "epochs": state["epoch"], "train_config": config.to_dict()},
    )
    status = (
        "**Trained on synthetic data only: it cannot recognise real faces** (a smoke-test artefact)."
        if config.synthetic
        else "Trained on real faces; see the figures below before relying on it."
    )
    card = TRAINED_CARD.format(
        status=status,
        model_id=package.model_id,
        backbone=config.backbone,
        cfg=backbone_cfg,
        embedding_size=config.embedding_size,
        training=training,
    )
    (out / "MODEL_CARD.md").write_text(card)
    package.card = card
    return package


ONNX_OPSET = 17


def export_onnx(package_dir: Path, *, opset: int = ONNX_OPSET) -> bytes:
    """Add the package's network as an ONNX graph (``embedder.onnx``, float32, dynamic batch) and record it in
    ``model.json``; the model id stays (the graph encodes the same weights). Returns the graph's bytes.

    The graph is loaded back with ONNX Runtime and must reproduce the PyTorch embeddings of random inputs to
    cosine ≥ 0.9999 before it is written (tests/models/test_runtime_parity.py checks real faces).
    """
    import tempfile

    import numpy as np
    import onnxruntime as ort

    from models.package import load_package, record_onnx_graph

    package = load_package(package_dir, warn_untrained=False)
    size = package.config.input_size
    network = package.network.eval()
    with tempfile.TemporaryDirectory() as scratch:  # torch.onnx.export documents a path, not a file object
        path = Path(scratch) / "embedder.onnx"
        torch.onnx.export(
            network,
            (torch.zeros(1, 3, size, size),),
            path,
            input_names=["input"],
            output_names=["embedding"],
            dynamic_axes={"input": {0: "n"}, "embedding": {0: "n"}},
            opset_version=opset,
            dynamo=False,
        )
        graph = path.read_bytes()
    probe = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, size, size, generator=probe) * 2 - 1
    with torch.inference_mode():
        expected = torch.nn.functional.normalize(network(x), dim=1).numpy()
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.numpy()})[0]
    got = got / np.linalg.norm(got, axis=1, keepdims=True)
    worst = float((got * expected).sum(axis=1).min())
    if worst < 0.9999:
        raise RuntimeError(f"the exported graph disagrees with the network: cosine {worst:.6f} < 0.9999")
    record_onnx_graph(package_dir, graph, opset=opset, exporter=f"torch {torch.__version__}")
    return graph


# --- `facegate-train export`, `export-untrained`, `export-onnx`, `export-mtcnn` --------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``export`` subcommand's options."""
    parser.add_argument("run", type=Path, help="a run folder (its checkpoint.pt)")
    parser.add_argument("--out", type=Path, required=True, help="the package folder to write")


def run(args: argparse.Namespace) -> ModelPackage:
    package = export_package(args.run, args.out)
    logger.info("wrote %s (%s, trained=%s)", args.out, package.model_id, package.trained)
    return package


def add_untrained_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``export-untrained`` subcommand's options."""
    parser.add_argument("out", type=Path, help="the package folder to write")
    parser.add_argument("--backbone", default="iresnet18")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=0)


def run_untrained(args: argparse.Namespace) -> ModelPackage:
    package = make_untrained_package(args.out, backbone=args.backbone, seed=args.seed, width=args.width)
    logger.info("wrote %s (%s, UNTRAINED)", args.out, package.model_id)
    return package


def add_onnx_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``export-onnx`` subcommand's options."""
    parser.add_argument("package", type=Path, help="a package folder; embedder.onnx is added to it")


def run_onnx(args: argparse.Namespace) -> bytes:
    graph = export_onnx(args.package)
    logger.info("wrote %s/embedder.onnx (%d bytes)", args.package, len(graph))
    return graph


def add_mtcnn_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``export-mtcnn`` subcommand's options."""
    parser.add_argument("--out", type=Path, default=None, help="default: models/mtcnn (the graphs the service loads)")


def run_mtcnn(args: argparse.Namespace) -> list[Path]:
    from models.mtcnn_onnx import MTCNN_DIR, export_mtcnn

    paths = export_mtcnn(args.out or MTCNN_DIR)
    for path in paths:
        logger.info("wrote %s", path)
    return paths
