"""The networks of the deep meta-classifiers: the 1D CNNs of Table 3.

Local DMC: 12 conv + 6 FC layers on a window of S consecutive weights, with the max-pools of
layers 6–11 adapted to S (App. F.2) so that the flattened length stays that of the paper's
S = 5,000. Global DMC: 15 conv + 6 FC layers on the whole θ of the fixed architecture. At
paper width (``width=1``, ``fc=1024``) the weight counts are Table 3's (a test checks them).

Every layer is the authors' ``model.py`` (``conv1d`` and ``fc``): conv 5×1 "same" (or FC) +
bias → ReLU → TensorLayer BatchNorm (:class:`nws_datasets.cnn.TFBatchNorm`), truncated
Glorot-normal weights, zero biases. Table 3 lists "BN, ReLU"; the code puts ReLU first, and
we follow the code. ``norm="layer"`` (beyond the paper) puts a per-input normalization in
BatchNorm's place (GroupNorm with one group in conv layers, LayerNorm in FC layers).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from nws_datasets.cnn import INITIALIZERS, TFBatchNorm

from ... import recipe

# (channels, max-pool after) of the conv layers of Table 3
LOCAL_CONV = [(8, 1), (16, 1), (32, 0), (64, 1), (128, 0), (256, 1), (256, 1), (256, 1), (256, 1), (256, 0),
              (256, 0), (256, 1)]
GLOBAL_CONV = [(8, 1), (16, 1), (32, 1), (64, 1), (128, 1), (128, 1), (128, 1), (128, 1), (128, 1), (128, 0),
               (256, 1), (256, 0), (256, 1), (256, 0), (256, 1)]
ADAPTIVE_LAYERS = range(5, 11)  # layers 6–11 (0-based 5..10) of the local DMC
REFERENCE_LENGTH = recipe.SUBSET_SIZE / 2 ** 8  # flattened length of the paper's local DMC
#: no conv layer narrower than the paper's first: the mini profile's ×1/8 would make it one
#: channel wide, whose ReLU drops every negative weight before the network has seen it
MIN_CHANNELS = LOCAL_CONV[0][0]


def local_conv_spec(size: int) -> list[tuple[int, int]]:
    """Table 3's local conv layers with the pools of layers 6–11 adapted to the window size."""
    base = sum(p for i, (_, p) in enumerate(LOCAL_CONV) if i not in ADAPTIVE_LAYERS)
    k = int(np.clip(round(math.log2(size / REFERENCE_LENGTH)) - base, 0, len(ADAPTIVE_LAYERS)))
    return [(c, (i - ADAPTIVE_LAYERS.start) < k if i in ADAPTIVE_LAYERS else p) for i, (c, p) in enumerate(LOCAL_CONV)]


class PairMaxPool(nn.Module):
    """Max-pooling 2×1 (stride 2, a trailing odd element dropped): ``nn.MaxPool1d(2)``'s values
    and gradients, ties routed to the first element as it routes them; torch's CPU max-pool
    kernel is slow on the long, narrow inputs of the first layers (``python -m metaclf.bench``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1] // 2
        return x[..., :2 * n].unflatten(-1, (n, 2)).max(-1).values


def _norm(channels: int, norm: str, conv: bool) -> nn.Module:
    if norm == "batch":
        return TFBatchNorm(channels, track_running_stats=False)
    return nn.GroupNorm(1, channels) if conv else nn.LayerNorm(channels)


class DMC(nn.Module):
    """A 1D CNN meta-classifier: input [N, 1, L] weights → class logits.

    Its BN layers do not track moving averages in training: precise BN
    (:func:`metaclf.methods.dmc.batchnorm.precise_bn`) sets their population statistics after
    training, and every evaluation reads those or the test inputs' own.
    """

    def __init__(self, length: int, classes: int, conv: list[tuple[int, int]], width: float = 1.0, fc: int = 1024,
                 dropout: float = 0.5, norm: str = "batch"):
        super().__init__()
        if norm not in recipe.NORMS:
            raise ValueError(f"norm {norm!r} is not valid: expected {' or '.join(recipe.NORMS)}")
        layers: list[nn.Module] = []
        c_in = 1
        for c, pool in conv:
            c_out = max(MIN_CHANNELS, round(c * width))
            layers += [nn.Conv1d(c_in, c_out, 5, padding=2), nn.ReLU(), _norm(c_out, norm, True)]
            if pool:
                layers.append(PairMaxPool())
                length //= 2
            c_in = c_out
        if length < 1:
            raise ValueError("input too short for this DMC")
        f = c_in * length
        layers.append(nn.Flatten())
        for w in (fc, fc, fc, fc, 64):
            layers += [nn.Linear(f, w), nn.ReLU(), _norm(w, norm, False), nn.Dropout(dropout)]
            f = w
        layers.append(nn.Linear(f, classes))
        self.net = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv1d | nn.Linear):
                INITIALIZERS["glorot_normal"](m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.unsqueeze(1) if x.ndim == 2 else x)


def local_dmc(size: int, classes: int, profile: recipe.DMCProfile, norm: str = "batch") -> DMC:
    return DMC(size, classes, local_conv_spec(size), profile.width, profile.fc, profile.dropout, norm)


def global_dmc(length: int, classes: int, profile: recipe.DMCProfile, norm: str = "batch") -> DMC:
    return DMC(length, classes, GLOBAL_CONV, profile.width, profile.fc, profile.dropout, norm)


def n_weights(model: nn.Module) -> int:
    """Trainable parameters plus BN moving statistics (how Table 3 counts)."""
    return sum(p.numel() for p in model.parameters()) + sum(
        m.running_mean.numel() + m.running_var.numel() for m in model.modules() if isinstance(m, TFBatchNorm))
