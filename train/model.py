"""PyTorch CNN of Algorithm 1, its initializations and optimizers, and state ⇄ θ.

The layers come from :func:`nws_datasets.architecture.layers_for`, so the module and the
layout of θ can never drift apart. BatchNorm uses TensorFlow's ε = 1e-3 and the
profile's running-statistics momentum (the paper profile: TensorFlow's decay 0.99, i.e. 0.01).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from nws_datasets.architecture import Layer, Layout, layers_for
from nws_datasets.space import HP

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "elu": nn.ELU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
INITIALIZERS = {
    "constant": lambda w: nn.init.constant_(w, 0.1),
    "random_normal": lambda w: nn.init.normal_(w, 0.0, 1.0),
    "glorot_uniform": nn.init.xavier_uniform_,
    "glorot_normal": nn.init.xavier_normal_,
}
assert set(ACTIVATIONS) == set(HP["activation"].options)
assert set(INITIALIZERS) == set(HP["initialization"].options)


class Block(nn.Module):
    """conv/FC → BN → activation [→ max-pool | dropout]; the output layer is linear only."""

    def __init__(self, layer: Layer, activation: str, bn_momentum: float):
        super().__init__()
        if layer.kind == "conv":
            self.linear = nn.Conv2d(layer.in_size, layer.out_size, layer.kernel, padding="same")
            bn = nn.BatchNorm2d
        else:
            self.linear = nn.Linear(layer.in_size, layer.out_size)
            bn = nn.BatchNorm1d
        self.bn = bn(layer.out_size, eps=1e-3, momentum=bn_momentum) if layer.batch_norm else None
        self.act = ACTIVATIONS[activation]() if layer.batch_norm else None
        self.pool = nn.MaxPool2d(2) if layer.pool else None
        self.dropout = nn.Dropout(0.5) if layer.dropout else None
        self.flatten = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.flatten:
            x = x.flatten(1)
        x = self.linear(x)
        for f in (self.bn, self.act, self.pool, self.dropout):
            if f is not None:
                x = f(x)
        return x


class NWSCNN(nn.Module):
    """The CNN of Algorithm 1 for one hyper-parameter setting (input N×3×32×32, 20 logits)."""

    def __init__(self, hparams: Mapping[str, Any], bn_momentum: float = 0.01):
        super().__init__()
        self.layers = layers_for(hparams)
        self.layout = Layout.for_hparams(hparams)
        self.blocks = nn.ModuleDict({l.name: Block(l, hparams["activation"], bn_momentum) for l in self.layers})
        first_fc = next(l.name for l in self.layers if l.kind == "fc")
        self.blocks[first_fc].flatten = True
        init = INITIALIZERS[hparams["initialization"]]
        for b in self.blocks.values():
            init(b.linear.weight)  # filters and FC matrices only; biases start at 0
            nn.init.zeros_(b.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in self.blocks.values():
            x = b(x)
        return x

    def _tensor(self, key: str) -> torch.Tensor:
        layer, kind = key.split(".")
        b = self.blocks[layer]
        return {"weight": b.linear.weight, "bias": b.linear.bias, "bn_beta": getattr(b.bn, "bias", None),
                "bn_gamma": getattr(b.bn, "weight", None), "bn_mean": getattr(b.bn, "running_mean", None),
                "bn_var": getattr(b.bn, "running_var", None)}[kind]

    @torch.no_grad()
    def theta(self) -> torch.Tensor:
        """θ as one flat float32 tensor on the model's device (layout of DESIGN.md)."""
        return torch.cat([self._tensor(e.key).detach().reshape(-1) for e in self.layout.entries])

    @torch.no_grad()
    def load_theta(self, theta: torch.Tensor | np.ndarray) -> None:
        """Set every parameter and BN statistic from θ (inverse of :meth:`theta`)."""
        t = torch.as_tensor(theta)
        for e in self.layout.entries:
            dst = self._tensor(e.key)
            dst.copy_(t[e.offset:e.offset + e.size].reshape(dst.shape))


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    """The three optimizers with TensorFlow's defaults (DESIGN.md)."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-10, momentum=0.0)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.95)
    raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(HP['optimizer'].options)}")
