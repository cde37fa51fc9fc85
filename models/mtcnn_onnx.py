"""MTCNN on ONNX Runtime: facenet-pytorch's P/R/O-Net weights as ONNX graphs, the cascade in NumPy.

The cascade follows ``facenet_pytorch.models.utils.detect.detect_face`` step for step (same pyramid, same
"area" resampling, same NMS thresholds, same box regression), so both runtimes find the same faces
(tests/models/test_runtime_parity.py measures how close). What differs is only where the time goes: no torch
dispatch per pyramid level, R-Net and O-Net run once on all candidates of an image batch, and the crops are
resampled with two small matrix products each instead of one interpolate call per box.

The three graphs (≈2 MB together) ship in ``models/mtcnn/``; ``facegate-train export-mtcnn`` re-creates them from
the weights inside facenet-pytorch's wheel. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Final

import numpy as np
import onnxruntime as ort

MTCNN_DIR: Final = Path(__file__).resolve().parent / "mtcnn"
STAGES: Final = ("pnet", "rnet", "onet")


def session_options(threads: int) -> ort.SessionOptions:
    """ONNX Runtime options for ``threads`` intra-op threads, no inter-op pool, no spinning between calls (the
    service's requests come from several worker threads; spinning threads would steal their cores)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


@lru_cache(maxsize=1024)
def area_bounds(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The windows of torch's ``interpolate(mode="area")`` (adaptive average pooling): output ``i`` averages
    inputs ``floor(i·n/m)`` to ``ceil((i+1)·n/m)``. Returns starts, ends and 1 / lengths, each ``(size_out,)``.
    Cached: a camera's frames repeat the same pyramid sizes, and crop sides repeat too."""
    i = np.arange(size_out)
    starts = (i * size_in) // size_out
    ends = -((-(i + 1) * size_in) // size_out)
    for array in (starts, ends):
        array.flags.writeable = False
    inverse = 1.0 / (ends - starts)
    inverse.flags.writeable = False
    return starts, ends, inverse


def summed_area(images: np.ndarray) -> np.ndarray:
    """``(N, H + 1, W + 1, C)`` float64 summed-area tables of ``(N, H, W, C)`` images: every area average the
    cascade needs (each pyramid level, every R-Net and O-Net crop) is then four look-ups per output pixel,
    so a frame is summed once instead of resampled once per level and per box."""
    count, height, width, channels = images.shape
    table = np.zeros((count, height + 1, width + 1, channels), dtype=np.float64)
    np.cumsum(images, axis=1, out=table[:, 1:, 1:])
    np.cumsum(table[:, 1:, 1:], axis=2, out=table[:, 1:, 1:])
    return table


def _window_sums(
    table: np.ndarray, owner: np.ndarray, y: tuple[np.ndarray, ...], x: tuple[np.ndarray, ...]
) -> np.ndarray:
    """Averages over windows ``y`` = (starts, ends, 1/len) ``(K, h)`` × ``x`` ``(K, w)`` of image ``owner`` ``(K,)``
    → float32 ``(K, h, w, C)``."""
    n = owner[:, None, None]
    y0, y1 = y[0][:, :, None], y[1][:, :, None]
    x0, x1 = x[0][:, None, :], x[1][:, None, :]
    sums = table[n, y1, x1] - table[n, y0, x1] - table[n, y1, x0] + table[n, y0, x0]
    scale = y[2][:, :, None, None] * x[2][:, None, :, None]
    out: np.ndarray = (sums * scale).astype(np.float32)
    return out


def area_resize(table: np.ndarray, boxes: np.ndarray, owner: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area-resample integer pixel windows ``boxes`` ``(K, 4)`` (x0, y0, x1, y1, end exclusive) of the images
    summed in ``table`` to float32 ``(K, height, width, C)``: the same windows and weights as torch's
    ``interpolate(mode="area")`` applied to each cropped window."""
    ys, xs = [], []
    for x0, y0, x1, y1 in boxes.tolist():
        starts, ends, inverse = area_bounds(y1 - y0, height)
        ys.append((starts + y0, ends + y0, inverse))
        starts, ends, inverse = area_bounds(x1 - x0, width)
        xs.append((starts + x0, ends + x0, inverse))
    y = tuple(np.stack([part[i] for part in ys]) for i in range(3))
    x = tuple(np.stack([part[i] for part in xs]) for i in range(3))
    return _window_sums(table, owner, y, x)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, method: str = "union") -> np.ndarray:
    """Indices kept by greedy non-maximum suppression. ``boxes`` ``(N, 4)`` x1, y1, x2, y2; ``method`` "union"
    (IoU, torchvision's convention: no +1 on sides, best first) or "min" (facenet's O-Net step: +1 on sides,
    and its order: ``np.argsort`` of the scores, taken from the end). O-Net scores of clear faces saturate at
    1.0 in float32, so ties are common there and the order decides which of two boxes of one face is kept."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    plus = 1.0 if method == "min" else 0.0
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x2 - x1 + plus) * (y2 - y1 + plus)
    order = np.argsort(scores)[::-1] if method == "min" else np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + plus)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + plus)
        inter = w * h
        denom = np.minimum(area[i], area[rest]) if method == "min" else area[i] + area[rest] - inter
        order = rest[inter / np.maximum(denom, 1e-12) <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _square(boxes: np.ndarray) -> np.ndarray:
    """facenet's ``rerec``: each box grown to a square around its centre."""
    out = boxes.copy()
    h = boxes[:, 3] - boxes[:, 1]
    w = boxes[:, 2] - boxes[:, 0]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """facenet's ``bbreg``: shift the box sides by ``reg`` × the box size (+1 pixel convention)."""
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    out[:, 0] += reg[:, 0] * w
    out[:, 1] += reg[:, 1] * h
    out[:, 2] += reg[:, 2] * w
    out[:, 3] += reg[:, 3] * h
    return out


class OnnxMTCNN:
    """The MTCNN cascade on ONNX Runtime. ``detect(images)`` with equal-size RGB ``uint8`` images ``(N, H, W, 3)``
    returns, per image, boxes ``(K, 4)``, scores ``(K,)`` and landmarks ``(K, 5, 2)`` (most confident first)."""

    def __init__(
        self,
        min_face_size: int = 20,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        factor: float = 0.709,
        threads: int = 1,
        graphs: Path = MTCNN_DIR,
    ):
        options = session_options(threads)
        providers = ["CPUExecutionProvider"]
        self.pnet, self.rnet, self.onet = (
            ort.InferenceSession(str(graphs / f"{name}.onnx"), options, providers=providers) for name in STAGES
        )
        self.min_face_size = min_face_size
        self.thresholds = thresholds
        self.factor = factor

    def scales(self, height: int, width: int) -> list[float]:
        """The pyramid: from the scale where ``min_face_size`` becomes P-Net's 12-pixel window, down by
        ``factor`` until the short side drops under 12 pixels (facenet's rule)."""
        scale = 12.0 / self.min_face_size
        short = min(height, width) * scale
        out = []
        while short >= 12:
            out.append(scale)
            scale *= self.factor
            short *= self.factor
        return out

    def detect(self, images: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        if images.ndim != 4 or images.shape[3] != 3:
            raise ValueError(f"expected RGB images (N, H, W, 3), got {images.shape}")
        count = images.shape[0]
        table = summed_area(images)
        candidates, owners = self._stage_one(table)
        boxes, owners = self._refine(table, candidates, owners, size=24)
        boxes, owners, points = self._output(table, boxes, owners)
        results = []
        for n in range(count):
            mine = owners == n
            order = np.argsort(-boxes[mine, 4], kind="stable")
            results.append((boxes[mine, :4][order], boxes[mine, 4][order], points[mine][order]))
        return results

    def _stage_one(self, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """P-Net over the pyramid: candidate boxes ``(K, 9)`` (x1, y1, x2, y2, score, 4 regressions) and owners."""
        count, height, width = table.shape[0], table.shape[1] - 1, table.shape[2] - 1
        all_boxes, all_owners = [], []
        whole = np.tile(np.array([[0, 0, width, height]]), (count, 1))
        everyone = np.arange(count)
        for scale in self.scales(height, width):
            h, w = int(height * scale + 1), int(width * scale + 1)
            level = area_resize(table, whole, everyone, h, w)
            level = ((level - 127.5) * 0.0078125).transpose(0, 3, 1, 2)
            reg, prob = self.pnet.run(None, {"input": np.ascontiguousarray(level)})
            owner, ys, xs = np.nonzero(prob[:, 1] >= self.thresholds[0])
            if owner.size == 0:
                continue
            cells = np.stack([xs, ys], axis=1).astype(np.float32)
            q1 = np.floor((2 * cells + 1) / scale)
            q2 = np.floor((2 * cells + 12) / scale)
            boxes = np.concatenate([q1, q2, prob[owner, 1, ys, xs][:, None], reg[owner, :, ys, xs]], axis=1).astype(
                np.float32
            )
            keep = _batched_nms(boxes, owner, 0.5)
            all_boxes.append(boxes[keep])
            all_owners.append(owner[keep])
        if not all_boxes:
            return np.zeros((0, 5), np.float32), np.zeros(0, np.int64)
        boxes, owners = np.concatenate(all_boxes), np.concatenate(all_owners)
        keep = _batched_nms(boxes, owners, 0.7)
        boxes, owners = boxes[keep], owners[keep]
        w = boxes[:, 2] - boxes[:, 0]
        h = boxes[:, 3] - boxes[:, 1]
        shifted = np.stack(
            [
                boxes[:, 0] + boxes[:, 5] * w,
                boxes[:, 1] + boxes[:, 6] * h,
                boxes[:, 2] + boxes[:, 7] * w,
                boxes[:, 3] + boxes[:, 8] * h,
                boxes[:, 4],
            ],
            axis=1,
        )
        return _square(shifted), owners

    @staticmethod
    def _crops(table: np.ndarray, boxes: np.ndarray, owners: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        """The boxes' pixels (clipped to the image, as facenet's ``pad`` does) resampled to ``size``², normalised,
        ``(K', 3, size, size)``, and which boxes they are (a box wholly outside the image has none)."""
        height, width = table.shape[1] - 1, table.shape[2] - 1
        ints = np.trunc(boxes[:, :4]).astype(np.int64)
        x0 = np.maximum(ints[:, 0], 1) - 1
        y0 = np.maximum(ints[:, 1], 1) - 1
        x1 = np.minimum(ints[:, 2], width)
        y1 = np.minimum(ints[:, 3], height)
        kept = np.flatnonzero((y1 > y0) & (x1 > x0))
        if kept.size == 0:
            return np.zeros((0, 3, size, size), np.float32), kept
        windows = np.stack([x0, y0, x1, y1], axis=1)[kept]
        crops = area_resize(table, windows, owners[kept], size, size)
        batch = ((crops - 127.5) * 0.0078125).transpose(0, 3, 1, 2)
        return np.ascontiguousarray(batch, dtype=np.float32), kept

    def _refine(
        self, table: np.ndarray, boxes: np.ndarray, owners: np.ndarray, size: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """R-Net on every candidate at once: survivors, NMS, regression, squared."""
        if len(boxes) == 0:
            return boxes, owners
        batch, kept = self._crops(table, boxes, owners, size)
        boxes, owners = boxes[kept], owners[kept]
        if len(kept) == 0:
            return boxes, owners
        reg, prob = self.rnet.run(None, {"input": batch})
        passed = prob[:, 1] > self.thresholds[1]
        boxes = np.concatenate([boxes[passed, :4], prob[passed, 1:2]], axis=1)
        owners, reg = owners[passed], reg[passed]
        keep = _batched_nms(boxes, owners, 0.7)
        return _square(_regress(boxes[keep], reg[keep])), owners[keep]

    def _output(
        self, table: np.ndarray, boxes: np.ndarray, owners: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """O-Net on every survivor at once: final boxes ``(K, 5)``, owners and landmarks ``(K, 5, 2)``."""
        empty = (np.zeros((0, 5), np.float32), np.zeros(0, np.int64), np.zeros((0, 5, 2), np.float32))
        if len(boxes) == 0:
            return empty
        batch, kept = self._crops(table, boxes, owners, 48)
        boxes, owners = boxes[kept], owners[kept]
        if len(kept) == 0:
            return empty
        reg, marks, prob = self.onet.run(None, {"input": batch})
        passed = prob[:, 1] > self.thresholds[2]
        boxes = np.concatenate([boxes[passed, :4], prob[passed, 1:2]], axis=1)
        owners, reg, marks = owners[passed], reg[passed], marks[passed]
        w = boxes[:, 2] - boxes[:, 0] + 1
        h = boxes[:, 3] - boxes[:, 1] + 1
        points = np.stack(
            [w[:, None] * marks[:, :5] + boxes[:, 0:1] - 1, h[:, None] * marks[:, 5:10] + boxes[:, 1:2] - 1], axis=2
        )
        boxes = _regress(boxes, reg)
        keep = _batched_nms(boxes, owners, 0.7, method="min")
        return boxes[keep].astype(np.float32), owners[keep], points[keep].astype(np.float32)


def _batched_nms(boxes: np.ndarray, owners: np.ndarray, threshold: float, method: str = "union") -> np.ndarray:
    """NMS within each image (the owners), indices into ``boxes`` in no particular order across images."""
    keep = [
        np.flatnonzero(owners == n)[nms(boxes[owners == n, :4], boxes[owners == n, 4], threshold, method)]
        for n in np.unique(owners)
    ]
    return np.concatenate(keep) if keep else np.zeros(0, np.int64)


def export_mtcnn(out: Path = MTCNN_DIR) -> list[Path]:
    """Write facenet-pytorch's P/R/O-Net (the weights in its wheel) as ONNX graphs into ``out``. Needs torch,
    facenet-pytorch and onnx (the training side); the service only reads the files."""
    import torch
    from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

    out.mkdir(parents=True, exist_ok=True)
    specs: Sequence[tuple[str, torch.nn.Module, tuple[int, ...], list[str], dict[str, dict[int, str]]]] = (
        ("pnet", PNet(), (1, 3, 48, 64), ["reg", "prob"], {"input": {0: "n", 2: "h", 3: "w"}}),
        ("rnet", RNet(), (1, 3, 24, 24), ["reg", "prob"], {"input": {0: "n"}}),
        ("onet", ONet(), (1, 3, 48, 48), ["reg", "landmarks", "prob"], {"input": {0: "n"}}),
    )
    written = []
    for name, net, shape, outputs, axes in specs:
        path = out / f"{name}.onnx"
        torch.onnx.export(
            net.eval(),
            (torch.zeros(*shape),),
            str(path),
            input_names=["input"],
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
        written.append(path)
    return written
