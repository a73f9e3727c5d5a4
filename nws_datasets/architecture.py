"""Algorithm 1 as data: the layers of a CNN and the layout of its weight vector θ.

Pure Python/numpy (no torch), so that the builder and the meta-classifiers share the exact
layout that ``train/`` writes. θ (Eq. 1–2) runs layer by layer from input to output; within
a layer: the weight tensor flattened filter by filter (PyTorch's [out, in, kh, kw] in C
order), then the bias, then BN β, γ, running mean, running variance.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from .space import IMAGE_SHAPE, NUM_OUTPUTS

#: Order of the parameter kinds inside one layer.
KINDS: tuple[str, ...] = ("weight", "bias", "bn_beta", "bn_gamma", "bn_mean", "bn_var")


@dataclass(frozen=True)
class Layer:
    """One conv or FC layer of Algorithm 1 (followed by BN + activation unless it is the output)."""

    name: str
    kind: str  # "conv" or "fc"
    in_size: int  # input channels (conv) or features (fc)
    out_size: int
    kernel: int = 1  # conv filter size
    pool: bool = False  # 2×2 max-pool after this conv layer
    batch_norm: bool = True
    dropout: bool = False

    def shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """(kind, shape) of each parameter tensor, in θ order."""
        w = ((self.out_size, self.in_size, self.kernel, self.kernel) if self.kind == "conv"
             else (self.out_size, self.in_size))
        out = [("weight", w), ("bias", (self.out_size,))]
        if self.batch_norm:
            out += [(k, (self.out_size,)) for k in KINDS[2:]]
        return out


def layers_for(hparams: Mapping[str, Any]) -> list[Layer]:
    """The layers Algorithm 1 builds from filter size, conv/FC depth and conv/FC width.

    ``conv_width`` is the channel count of the last conv layer (w_c = conv_width / 4);
    ``fc_depth`` counts the 20-unit output layer, so there are fc_depth − 1 hidden FC layers.
    """
    s, dc, df = int(hparams["filter_size"]), int(hparams["conv_depth"]), int(hparams["fc_depth"])
    wc, wf = int(hparams["conv_width"]) // 4, int(hparams["fc_width"])
    widths = [(wc, True), (2 * wc, dc <= 4)]
    if dc > 4:
        widths.append((2 * wc, True))
    widths.append((4 * wc, dc <= 3))
    if dc > 3:
        widths.append((4 * wc, True))
    layers, c = [], IMAGE_SHAPE[2]
    for i, (w, pool) in enumerate(widths, 1):
        layers.append(Layer(f"conv{i}", "conv", c, w, kernel=s, pool=pool))
        c = w
    side = IMAGE_SHAPE[0] // 8  # three 2×2 pools
    f = side * side * c
    for i in range(1, df):
        width = wf // 2 ** (i - 1)
        layers.append(Layer(f"fc{i}", "fc", f, width, dropout=True))
        f = width
    layers.append(Layer(f"fc{df}", "fc", f, NUM_OUTPUTS, batch_norm=False))
    return layers


@dataclass(frozen=True)
class LayoutEntry:
    layer: str
    kind: str
    offset: int
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def key(self) -> str:
        """Tensor name used in the model files: ``"<layer>.<kind>"``."""
        return f"{self.layer}.{self.kind}"


class Layout:
    """Where each parameter tensor lives inside θ, and the conv/FC split point."""

    def __init__(self, entries: list[LayoutEntry]):
        self.entries = entries
        self.n_weights = entries[-1].offset + entries[-1].size
        conv = [e for e in entries if e.layer.startswith("conv")]
        self.n_conv_weights = conv[-1].offset + conv[-1].size if conv else 0

    @classmethod
    def for_hparams(cls, hparams: Mapping[str, Any]) -> "Layout":
        entries, offset = [], 0
        for layer in layers_for(hparams):
            for kind, shape in layer.shapes():
                entries.append(LayoutEntry(layer.name, kind, offset, shape))
                offset += int(np.prod(shape))
        return cls(entries)

    @classmethod
    def from_table(cls, table: list[Mapping[str, Any]]) -> "Layout":
        """Rebuild from the JSON table stored with every record (see :meth:`table`)."""
        return cls([LayoutEntry(r["layer"], r["kind"], int(r["offset"]), tuple(r["shape"])) for r in table])

    @classmethod
    def from_json(cls, text: str) -> "Layout":
        """Rebuild from the ``layout`` string of a dataset record."""
        import json

        return cls.from_table(json.loads(text))

    def table(self) -> list[dict[str, Any]]:
        return [{"layer": e.layer, "kind": e.kind, "offset": e.offset, "shape": list(e.shape)}
                for e in self.entries]

    def keys(self) -> list[str]:
        return [e.key for e in self.entries]

    def flatten(self, tensors: Mapping[str, np.ndarray]) -> np.ndarray:
        """θ from named tensors ``"<layer>.<kind>"``; a leading batch axis (snapshots) is kept."""
        first = np.asarray(tensors[self.entries[0].key])
        lead = first.shape[: first.ndim - len(self.entries[0].shape)]
        parts = []
        for e in self.entries:
            t = np.asarray(tensors[e.key])
            if t.shape != lead + e.shape:
                raise ValueError(f"tensor {e.key} has shape {t.shape}, expected {lead + e.shape}")
            parts.append(t.reshape(lead + (-1,)))
        return np.concatenate(parts, axis=-1).astype(np.float32, copy=False)

    def unflatten(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Named tensors (views into θ) from θ; a leading batch axis is kept."""
        theta = np.asarray(theta)
        if theta.shape[-1] != self.n_weights:
            raise ValueError(f"θ has {theta.shape[-1]} weights, layout expects {self.n_weights}")
        lead = theta.shape[:-1]
        return {e.key: theta[..., e.offset:e.offset + e.size].reshape(lead + e.shape) for e in self.entries}
