"""Command line of the training side: `facegate-train` (also `python -m training`).

facegate-train prepare --source celeba --images DIR --labels ../shared/data/celeba --out CACHE
facegate-train prepare --source folder --images MY_PEOPLE --out CACHE
facegate-train export-onnx PKG          (adds embedder.onnx to a package folder)
facegate-train export-mtcnn [--out DIR]  (facenet-pytorch's P/R/O-Net as ONNX graphs, default models/mtcnn)
facegate-train evaluate --package PKG --lfw-cache CACHE --lfw ../shared/data/lfw [--flip] [--reference dlib]
    [--calibrate] [--folds N] [--out results.json]
facegate-train prepare --source lfw --images LFW --crop tight --out CACHE   (faces that fill the picture)
facegate-train evaluate-pairs --cache ATT_CACHE --images ../shared/data/att_faces [--reference dlib]
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from pathlib import Path

from training.data.sources import (
    Sample,
    att_faces,
    celeba_files,
    celeba_identity_set,
    celeba_merged,
    image_folder,
    lfw_people,
)
from training.prepare import prepare


def _samples(
    source: str, images: Path, labels: Path | None, extra: list[Path], exclude: frozenset[str]
) -> Iterator[Sample]:
    if source.startswith("celeba") and labels is None:
        raise SystemExit("--labels (the folder with the CelebA label files) is required for celeba sources")
    if source == "celeba" and labels is not None:
        return celeba_identity_set(images, labels)
    if source == "celeba_files" and labels is not None:
        return celeba_files(images, labels, "**/*.jpg", exclude)
    if source == "celeba_merged" and labels is not None:
        return celeba_merged(images, extra, labels, exclude)
    if source == "lfw":
        return lfw_people(images)
    if source == "att":
        return att_faces(images)
    return image_folder(images)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="facegate-train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="detect + align raw images into a cache of 112x112 faces")
    p.add_argument(
        "--source", choices=["celeba", "celeba_files", "celeba_merged", "lfw", "att", "folder"], required=True
    )
    p.add_argument("--extra", type=Path, action="append", default=[], help="celeba_merged: folders of NNNNNN.jpg")
    p.add_argument(
        "--exclude-identities", type=Path, default=None, help="celeba sources: a file of identities to leave out"
    )
    p.add_argument("--images", type=Path, required=True, help="the data set's image folder (LFW: its root)")
    p.add_argument("--labels", type=Path, help="CelebA label folder")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    p.add_argument("--chunk-size", type=int, default=512)
    p.add_argument("--limit", type=int, default=None, help="only the first N samples (smoke runs)")
    p.add_argument(
        "--crop",
        choices=["none", "tight"],
        default="none",
        help="tight: cut each image to its face's detector box + --tight-margin first (faces that fill the picture)",
    )
    p.add_argument("--tight-margin", type=float, default=0.05, help="--crop tight: margin, fraction of the box")
    p.add_argument(
        "--frame-margin",
        type=float,
        default=0.25,
        help="black frame around each image before detection, fraction of its longer side (0: none, the old pipeline)",
    )
    p.add_argument("--files", type=Path, default=None, help="only the images listed in this file (relative paths)")
    f = sub.add_parser("fit", help="train (or resume) a run; the config file and --set flags override defaults")
    f.add_argument("--config", type=Path, help="YAML experiment file")
    f.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    e = sub.add_parser("export", help="write the backbone of a run's last checkpoint as a model package")
    e.add_argument("run", type=Path)
    e.add_argument("--out", type=Path, required=True)
    o = sub.add_parser("export-onnx", help="add the package's network as an ONNX graph (embedder.onnx)")
    o.add_argument("package", type=Path)
    m = sub.add_parser("export-mtcnn", help="write facenet-pytorch's MTCNN stages as ONNX graphs")
    m.add_argument("--out", type=Path, default=None, help="default: models/mtcnn (the graphs the service loads)")
    from training.evaluation.lfw import add_evaluate_arguments

    add_evaluate_arguments(
        sub.add_parser("evaluate", help="LFW View 2 / View 1 figures, ROC, dlib reference, threshold calibration")
    )
    from training.evaluation.allpairs import add_evaluate_pairs_arguments

    add_evaluate_pairs_arguments(
        sub.add_parser("evaluate-pairs", help="every pair of a prepared cache (AT&T), optionally beside dlib")
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "evaluate":
        from training.evaluation.lfw import run_evaluate

        run_evaluate(args)
        return
    if args.command == "evaluate-pairs":
        from training.evaluation.allpairs import run_evaluate_pairs

        run_evaluate_pairs(args)
        return
    if args.command == "export":
        from training.export import export_package

        package = export_package(args.run, args.out)
        logging.getLogger("training").info("wrote %s (%s, trained=%s)", args.out, package.model_id, package.trained)
        return
    if args.command == "export-onnx":
        from training.export import export_onnx

        graph = export_onnx(args.package)
        logging.getLogger("training").info("wrote %s/embedder.onnx (%d bytes)", args.package, len(graph))
        return
    if args.command == "export-mtcnn":
        from models.mtcnn_onnx import MTCNN_DIR, export_mtcnn

        for path in export_mtcnn(args.out or MTCNN_DIR):
            logging.getLogger("training").info("wrote %s", path)
        return
    if args.command == "fit":
        from training.config import load_config
        from training.loop import train

        run = train(load_config(args.config, args.overrides))
        logging.getLogger("training").info("run folder: %s", run)
        return

    exclude = frozenset(args.exclude_identities.read_text().split()) if args.exclude_identities else frozenset()
    samples = list(_samples(args.source, args.images, args.labels, args.extra, exclude))
    if args.files is not None:
        keep = {line.strip() for line in args.files.read_text().splitlines() if line.strip()}
        samples = [s for s in samples if str(s.path.relative_to(args.images)) in keep]
    report = prepare(
        samples[: args.limit],
        args.out,
        root=args.images,
        chunk_size=args.chunk_size,
        workers=args.workers,
        crop=args.crop,
        tight_margin=args.tight_margin,
        frame_margin=args.frame_margin,
    )
    logging.getLogger("training").info(
        "%d images: %d aligned, %d without a face, %d unreadable",
        report.total,
        report.aligned,
        report.no_face,
        report.unreadable,
    )


if __name__ == "__main__":
    main()
