"""dlib's face-recognition ResNet as a PyTorch module, read from dlib's own serialisation.

The weights file is ``dlib_face_recognition_resnet_model_v1.dat`` of the ``face-recognition-models``
package (found with :func:`training.evaluation.reference.dlib_model_dir`, never imported). It holds
dlib's ``anet_type`` of ``dnn_face_recognition_ex.cpp`` (King, 2017), input first:

    input_rgb_image_sized<150>  →  con 32 7×7 /2 → affine → relu → max_pool 3×3 /2
    → 3 × res(32) → res_down(64) + 3 × res(64) → res_down(128) + 2 × res(128)
    → res_down(256) + 2 × res(256) → res_down(256) → avg_pool_everything → fc_no_bias 128

where ``res(N)`` is ``relu(x + affine(con3×3(relu(affine(con3×3(x))))))`` and ``res_down(N)`` is the
same with a stride-2 first convolution and a 2×2 stride-2 average pool of ``x`` as the shortcut. dlib's
convolutions and pools with a stride of 2 have no padding (3×3 stride-1 convolutions pad by 1), and its
``add_prev`` adds tensors of different shapes by zero-extending the smaller one at the end of each
dimension (channels, rows, columns): in the third ``res_down`` the branch is 3×3 and the shortcut
4×4. The ``affine`` layers are the frozen batch norms (``γ·x + β`` per channel).

Parsing: each layer's parameters follow its name string (``con_4``, ``affine_``, ``fc_2``) in the file;
dlib writes integers as a length byte then little-endian bytes, and tensors as a version, four
dimensions and raw little-endian float32 (``dlib/cuda/tensor.h``). The layers are read in file order,
which is input-first, and their counts and shapes are checked against the architecture above.

Input: ``(B, 3, 150, 150)`` RGB float in 0–255 (dlib's 150×150 face chip, ``dlib.get_face_chip`` with
padding 0.25); dlib subtracts its channel means (122.782, 117.001, 104.298) and divides by 256.
Output: ``(B, 128)``, dlib's raw descriptor (not normalised; dlib compares by Euclidean distance).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

CHIP_SIZE: Final = 150
CHIP_PADDING: Final = 0.25
INPUT_MEAN: Final = (122.782, 117.001, 104.298)
INPUT_SCALE: Final = 256.0
# (channels, downsample) of each residual block, input first.
BLOCKS: Final = (
    [(32, False)] * 3
    + [(64, True)]
    + [(64, False)] * 3
    + [(128, True)]
    + [(128, False)] * 2
    + [(256, True)]
    + [(256, False)] * 2
    + [(256, True)]
)
DESCRIPTOR_SIZE: Final = 128
# MTCNN's five landmarks (models.detection: eyes, nose tip, mouth corners) where they fall in dlib's
# 150×150 chip: the mean over 57 random LFW images whose two landmark sets agree within 10 px of the
# median (of 80; the exact image→chip map from dlib.extract_image_chip). Eye std 1.4 px, nose and mouth
# 3–4 px (dlib's five points are eye corners and the nose base, which move differently with pose).
DLIB_CHIP_TEMPLATE: Final = np.array(
    [[48.12, 46.08], [102.22, 45.76], [74.15, 78.05], [51.66, 105.01], [98.84, 105.03]], dtype=np.float64
)


class DlibFormatError(ValueError):
    """The file is not the dlib network this module ports."""


class _Reader:
    """dlib's ``serialize`` primitives over a byte buffer."""

    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos

    def int(self) -> int:
        head = self.data[self.pos]
        size, negative = head & 0x0F, bool(head & 0x80)
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if negative else value

    def string(self) -> str:
        n = self.int()
        text = self.data[self.pos : self.pos + n].decode("ascii")
        self.pos += n
        return text

    def tensor(self) -> np.ndarray:
        version = self.int()
        if version != 2:
            raise DlibFormatError(f"tensor version {version} at byte {self.pos}, expected 2")
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        if self.pos + 4 * count > len(self.data):
            raise DlibFormatError(f"a tensor of {shape} at byte {self.pos} runs past the end of the file")
        values = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos).astype(np.float32)
        self.pos += 4 * count
        return values.reshape(shape)


@dataclass(frozen=True)
class ConvParams:
    weight: np.ndarray  # (out, in, kh, kw)
    bias: np.ndarray  # (out,)
    stride: int
    padding: int


def _layer_offsets(data: bytes, name: str) -> list[int]:
    """Where each serialised ``name`` string ends (its parameters start), in file order."""
    token = bytes([1, len(name)]) + name.encode("ascii")
    return [m.end() for m in re.finditer(re.escape(token), data)]


def read_dlib_resnet(path: str | Path) -> tuple[list[ConvParams], list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """The convolutions, the affine layers (``γ``, ``β``) and the FC weight ``(128, 256)`` of the file,
    input first."""
    data = Path(path).read_bytes()
    convs = []
    for pos in _layer_offsets(data, "con_4"):
        r = _Reader(data, pos)
        params = r.tensor().reshape(-1)
        filters, rows, cols, stride_y, stride_x, pad_y, pad_x = (r.int() for _ in range(7))
        if rows != cols or stride_y != stride_x or pad_y != pad_x:
            raise DlibFormatError(f"con_ at byte {pos}: non-square {rows}x{cols} /{stride_y},{stride_x}")
        in_channels = (params.size - filters) // (filters * rows * cols)
        n_weights = filters * in_channels * rows * cols
        if n_weights + filters != params.size:
            raise DlibFormatError(f"con_ at byte {pos}: {params.size} parameters for {filters} {rows}x{cols} filters")
        weight = params[:n_weights].reshape(filters, in_channels, rows, cols)
        convs.append(ConvParams(weight, params[n_weights:].copy(), stride_y, pad_y))
    affines = []
    for pos in _layer_offsets(data, "affine_"):
        params = _Reader(data, pos).tensor().reshape(-1)
        half = params.size // 2
        affines.append((params[:half].copy(), params[half:].copy()))
    fcs = _layer_offsets(data, "fc_2")
    if len(fcs) != 1:
        raise DlibFormatError(f"expected one fc_2 layer, found {len(fcs)}")
    r = _Reader(data, fcs[0])
    outputs, inputs = r.int(), r.int()
    fc = r.tensor().reshape(-1)
    if fc.size != inputs * outputs:  # fc_no_bias: the weights only
        raise DlibFormatError(f"fc_2: {fc.size} parameters for {inputs} -> {outputs} without bias")
    expected = 1 + 2 * len(BLOCKS)
    if len(convs) != expected or len(affines) != expected:
        raise DlibFormatError(f"found {len(convs)} con_ and {len(affines)} affine_ layers, expected {expected} each")
    return convs, affines, fc.reshape(inputs, outputs).T.copy()


class _ConvAffine(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=True)
        self.gamma = nn.Parameter(torch.ones(c_out))
        self.beta = nn.Parameter(torch.zeros(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.conv(x) * self.gamma.view(1, -1, 1, 1) + self.beta.view(1, -1, 1, 1)
        return out


def _add_zero_extended(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's ``add_prev``: the sum over the larger shape, each input zero-extended at the end."""
    c, h, w = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))

    def extend(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (0, w - t.shape[3], 0, h - t.shape[2], 0, c - t.shape[1]))

    return extend(a) + extend(b)


class _Residual(nn.Module):
    def __init__(self, c_in: int, c_out: int, down: bool) -> None:
        super().__init__()
        self.down = down
        self.first = _ConvAffine(c_in, c_out, 3, 2 if down else 1, 0 if down else 1)
        self.second = _ConvAffine(c_out, c_out, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.second(F.relu(self.first(x)))
        shortcut = F.avg_pool2d(x, 2, 2) if self.down else x
        return F.relu(_add_zero_extended(branch, shortcut))


class DlibResNet(nn.Module):
    """dlib's face descriptor network: ``(B, 3, 150, 150)`` RGB 0–255 → ``(B, 128)``."""

    mean: torch.Tensor  # a buffer (register_buffer), typed here for the checker

    def __init__(self) -> None:
        super().__init__()
        self.stem = _ConvAffine(3, 32, 7, 2, 0)
        blocks: list[_Residual] = []
        c_in = 32
        for c_out, down in BLOCKS:
            blocks.append(_Residual(c_in, c_out, down))
            c_in = c_out
        self.residuals = blocks  # the same modules, typed, in order (nn.Sequential yields plain Modules)
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(c_in, DESCRIPTOR_SIZE, bias=False)
        self.register_buffer("mean", torch.tensor(INPUT_MEAN).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / INPUT_SCALE
        x = F.max_pool2d(F.relu(self.stem(x)), 3, 2)
        x = self.blocks(x)
        descriptors: torch.Tensor = self.fc(x.mean(dim=(2, 3)))
        return descriptors

    def conv_affines(self) -> list[_ConvAffine]:
        """Every conv + affine layer in dlib's file order: the stem, then each residual block's two."""
        return [self.stem, *(layer for block in self.residuals for layer in (block.first, block.second))]

    @classmethod
    def from_dlib(cls, path: str | Path | None = None) -> DlibResNet:
        """The network with the weights of dlib's file (default: ``face-recognition-models``' copy)."""
        if path is None:
            from training.evaluation.reference import RECOGNITION_MODEL_FILE, dlib_model_dir

            path = dlib_model_dir() / RECOGNITION_MODEL_FILE
        convs, affines, fc = read_dlib_resnet(path)
        net = cls()
        with torch.no_grad():
            for layer, conv, (gamma, beta) in zip(net.conv_affines(), convs, affines, strict=True):
                if tuple(layer.conv.weight.shape) != conv.weight.shape:
                    raise DlibFormatError(f"conv weight {conv.weight.shape}, expected {tuple(layer.conv.weight.shape)}")
                if layer.conv.stride[0] != conv.stride or layer.conv.padding[0] != conv.padding:
                    raise DlibFormatError(f"conv stride/padding {conv.stride}/{conv.padding}: not the architecture")
                layer.conv.weight.copy_(torch.from_numpy(conv.weight))
                assert layer.conv.bias is not None  # _ConvAffine builds its conv with a bias
                layer.conv.bias.copy_(torch.from_numpy(conv.bias))
                layer.gamma.copy_(torch.from_numpy(gamma))
                layer.beta.copy_(torch.from_numpy(beta))
            net.fc.weight.copy_(torch.from_numpy(fc))
        return net.eval()


def chip_from_aligned_matrix(size: int = 112) -> np.ndarray:
    """The ``(2, 3)`` map from dlib-chip pixels to the pixels of our ``size``×``size`` aligned crop
    (:func:`models.alignment.align_face`): both are similarity alignments of the same five points."""
    from models.alignment import estimate_similarity, template_for

    return estimate_similarity(DLIB_CHIP_TEMPLATE, template_for(size))


def chips_from_aligned(crops: torch.Tensor) -> torch.Tensor:
    """Our aligned crops ``(B, 3, S, S)`` (any value range) → the teacher's chips ``(B, 3, 150, 150)``,
    bilinear, on the crops' device: the chip lies inside the 112 crop (its 150 pixels span ≈97 of the
    crop's), so every augmented view the student sees can be shown to the teacher too."""
    size = crops.shape[-1]
    m = chip_from_aligned_matrix(size)
    # affine_grid works in [-1, 1] coordinates (align_corners=False: pixel centres at (2i + 1)/n − 1).
    to_pixels = np.array([[CHIP_SIZE / 2, 0, CHIP_SIZE / 2 - 0.5], [0, CHIP_SIZE / 2, CHIP_SIZE / 2 - 0.5], [0, 0, 1]])
    to_unit = np.array([[2 / size, 0, 1 / size - 1], [0, 2 / size, 1 / size - 1], [0, 0, 1]])
    theta = to_unit @ np.vstack([m, [0, 0, 1]]) @ to_pixels
    grid = F.affine_grid(
        torch.tensor(theta[:2], dtype=crops.dtype, device=crops.device).expand(crops.shape[0], 2, 3),
        [crops.shape[0], 3, CHIP_SIZE, CHIP_SIZE],
        align_corners=False,
    )
    return F.grid_sample(crops, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def teacher_embed_fn(net: DlibResNet, batch_size: int = 64) -> Callable[[np.ndarray], np.ndarray]:
    """Aligned RGB ``uint8`` crops ``(N, S, S, 3)`` → the ported teacher's descriptors ``(N, 128)``."""

    def embed(crops: np.ndarray) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for start in range(0, len(crops), batch_size):
                x = torch.from_numpy(np.ascontiguousarray(crops[start : start + batch_size])).permute(0, 3, 1, 2)
                out.append(net(chips_from_aligned(x.float())).numpy())
        return np.concatenate(out) if out else np.zeros((0, DESCRIPTOR_SIZE), np.float32)

    return embed
