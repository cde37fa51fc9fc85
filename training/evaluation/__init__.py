"""Evaluation: LFW pair lists, the verification protocol (k-fold accuracy, ROC, TAR@FAR, EER), the LFW
benchmark, threshold calibration; the dlib reference lives in ``training.evaluation.reference`` (optional)."""

from training.evaluation.calibrate import (
    PairScores,
    all_pair_scores,
    calibrate,
    threshold_from_top,
    write_calibration,
)
from training.evaluation.lfw import (
    FALLBACK_BOX,
    LfwEvaluation,
    LfwFaces,
    fallback_crop,
    format_table,
    load_lfw_faces,
    pair_scores,
)
from training.evaluation.pairs import Pair, image_path, parse_pairs, read_pairs, same_and_folds
from training.evaluation.protocol import (
    KFoldAccuracy,
    accuracy,
    best_threshold,
    eer,
    kfold_accuracies,
    kfold_accuracy,
    roc_curve,
    tar_at_far,
    threshold_at_far,
)

__all__ = [
    "FALLBACK_BOX",
    "KFoldAccuracy",
    "LfwEvaluation",
    "LfwFaces",
    "Pair",
    "PairScores",
    "accuracy",
    "all_pair_scores",
    "best_threshold",
    "calibrate",
    "eer",
    "fallback_crop",
    "format_table",
    "image_path",
    "kfold_accuracies",
    "kfold_accuracy",
    "load_lfw_faces",
    "pair_scores",
    "parse_pairs",
    "read_pairs",
    "roc_curve",
    "same_and_folds",
    "tar_at_far",
    "threshold_at_far",
    "threshold_from_top",
    "write_calibration",
]
