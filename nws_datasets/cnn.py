"""The CNN of Algorithm 1 as a torch module, exactly as the authors' TensorFlow ``model.py`` has it.

This is the module that ``train/`` trains and that :func:`model_from_record` rebuilds from a
record, so a researcher can turn any θ back into the network it came from. The facts it
implements (docs/design.md, checked against the authors' code):

- conv layer: conv + bias → BN → activation [→ 2×2 max-pool]; hidden FC layer:
  FC + bias → activation → BN → dropout 0.5; output layer: FC + bias (20 logits).
- BN as TensorLayer's ``BatchNormLayer``: ε = 1e-5, moving-average decay 0.9, β = 0,
  γ ~ N(1, 0.002); the running variance moves toward the *biased* batch variance.
- The flatten before the first FC layer is TensorFlow's NHWC order (h, w, c).
- Initializers of TensorFlow 1, on conv filters and FC matrices only (biases start at 0):
  constant 0.1, N(0, 1), Glorot uniform, and Glorot normal truncated at 2σ with σ rescaled
  by 1/0.8796 (``VarianceScaling(distribution="truncated_normal")``).

Inputs are float N×3×32×32 in [0, 1]; :func:`to_input` converts the uint8 N×32×32×3 images
of :mod:`nws_datasets.sources`.
"""
from __future__ import annotations

import json
import math
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .architecture import Layer, Layout, layers_for
from .space import HP

BN_EPS = 1e-5  #: TensorLayer BatchNormLayer epsilon
BN_DECAY = 0.9  #: TensorLayer moving-average decay (PyTorch momentum 1 − decay = 0.1)
BN_GAMMA_STD = 0.002  #: γ ~ N(1, 0.002)
CONSTANT_INIT = 0.1
#: Standard deviation of a unit normal truncated at ±2, by which TensorFlow divides σ.
TRUNCATED_NORMAL_STD = 0.87962566103423978
DROPOUT = 0.5

ACTIVATIONS: dict[str, Any] = {"relu": torch.relu, "elu": F.elu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}
assert set(ACTIVATIONS) == set(HP["activation"].options)


def _glorot_normal_tf(w: torch.Tensor) -> torch.Tensor:
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(w)
    std = math.sqrt(2.0 / (fan_in + fan_out)) / TRUNCATED_NORMAL_STD
    return nn.init.trunc_normal_(w, 0.0, std, -2 * std, 2 * std)


INITIALIZERS = {
    "constant": lambda w: nn.init.constant_(w, CONSTANT_INIT),
    "random_normal": lambda w: nn.init.normal_(w, 0.0, 1.0),
    "glorot_uniform": nn.init.xavier_uniform_,
    "glorot_normal": _glorot_normal_tf,
}
assert set(INITIALIZERS) == set(HP["initialization"].options)

#: The choices above, as recorded in every model's metadata and the dataset card.
PROTOCOL: dict[str, Any] = {
    "layer_order": {"conv": "conv+bias, batch_norm, activation, max_pool",
                    "fc": "fc+bias, activation, batch_norm, dropout", "output": "fc+bias"},
    "batch_norm": {"eps": BN_EPS, "decay": BN_DECAY, "torch_momentum": round(1 - BN_DECAY, 10),
                   "beta_init": 0.0, "gamma_init": f"normal(1, {BN_GAMMA_STD})",
                   "running_variance": "biased batch variance",
                   "moving_statistics": "one pass with the batch statistics (torch's running update, the "
                                        "variance step rescaled by (n-1)/n)"},
    "flatten": "NHWC (h, w, c)",
    "initialization": {"constant": CONSTANT_INIT, "random_normal": "normal(0, 1)",
                       "glorot_uniform": "uniform(±sqrt(6/(fan_in+fan_out)))",
                       "glorot_normal": "truncated normal at 2σ, σ = sqrt(2/(fan_in+fan_out))/0.87962566",
                       "biases": 0.0},
    "dropout": DROPOUT,
}


# ---- the layer rules, once: NWSCNN and the K stacked models of train.batched both apply these ----
def batch_norm_train(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, running_mean: torch.Tensor,
                     running_var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """BatchNorm in training mode (each channel of ``x`` [N, C, ...] by the batch's own
    statistics, ε = 1e-5), and TensorLayer's moving averages after this batch: each moves by
    1 − decay toward the batch mean and the *biased* batch variance σ². Both come from one
    pass of torch's kernel, whose running variance moves toward the unbiased n/(n−1)·σ²; that
    step is rescaled by (n−1)/n. ``running_*`` may be shaped [K, C/K] for K stacked models and
    are not modified: (output, new mean, new variance) come back, the statistics in their shape."""
    mean, var = running_mean.reshape(-1).clone(), running_var.reshape(-1).clone()
    out = F.batch_norm(x, mean, var, gamma, beta, True, 1 - BN_DECAY, BN_EPS)
    n = x.numel() // x.shape[1]
    with torch.no_grad():
        kept = running_var.reshape(-1) * BN_DECAY
        var = (var - kept).mul_((n - 1) / n).add_(kept)
    return out, mean.view_as(running_mean), var.view_as(running_var)


def layer_forward(kind: str, x: torch.Tensor, linear: Any, norm: Any, act: Any, pool: Any,
                  dropout: Any) -> torch.Tensor:
    """One layer in the authors' order: conv + bias → BN → activation [→ pool]; FC + bias →
    activation → BN [→ dropout]; the output layer (``norm`` None) is FC + bias alone. The
    operations are callables, so that one model and K stacked models share the order."""
    x = linear(x)
    if norm is None:
        return x
    if kind == "conv":
        x = act(norm(x))
        return pool(x) if pool is not None else x
    x = norm(act(x))
    return dropout(x) if dropout is not None else x


def max_pool(x: torch.Tensor) -> torch.Tensor:
    """The 2×2 max-pool of Algorithm 1."""
    return F.max_pool2d(x, 2)


class TFBatchNorm(nn.Module):
    """Batch normalization with TensorLayer's semantics (see the module docstring).

    ``weight`` is γ and ``bias`` is β, as in PyTorch's BatchNorm, so θ's layout maps onto it
    the same way; only the running-variance update (biased) and the initial γ differ.
    """

    def __init__(self, channels: int, track_running_stats: bool = True):
        super().__init__()
        #: False: training mode leaves the running statistics alone (same output, one reduction
        #: less per call), for a network whose population statistics are set after training
        #: (the DMCs' precise BN, :func:`metaclf.methods.dmc.precise_bn`)
        self.track_running_stats = track_running_stats
        self.weight = nn.Parameter(torch.empty(channels).normal_(1.0, BN_GAMMA_STD))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.track_running_stats:
            out, mean, var = batch_norm_train(x, self.weight, self.bias, self.running_mean, self.running_var)
            with torch.no_grad():
                self.running_mean.copy_(mean)
                self.running_var.copy_(var)
            return out
        if self.training:
            return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, BN_EPS)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, BN_EPS)


class Block(nn.Module):
    """One layer of Algorithm 1 with the authors' order of operations (module docstring)."""

    def __init__(self, layer: Layer, activation: str):
        super().__init__()
        self.kind = layer.kind
        if layer.kind == "conv":
            self.linear = nn.Conv2d(layer.in_size, layer.out_size, layer.kernel, padding="same")
        else:
            self.linear = nn.Linear(layer.in_size, layer.out_size)
        self.bn = TFBatchNorm(layer.out_size) if layer.batch_norm else None
        self.act = ACTIVATIONS[activation] if layer.batch_norm else None
        self.pool = layer.pool
        self.dropout = layer.dropout
        self.flatten = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.flatten:
            x = flatten_nhwc(x)
        return layer_forward(self.kind, x, self.linear, self.bn, self.act, max_pool if self.pool else None,
                             self._dropout if self.dropout else None)

    def _dropout(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, DROPOUT, self.training)


def flatten_nhwc(x: torch.Tensor) -> torch.Tensor:
    """Flatten …×C×H×W feature maps in TensorFlow's order: feature (h·W + w)·C + c (leading
    dimensions, e.g. models × images, are kept)."""
    return x.movedim(-3, -1).flatten(-3)


class NWSCNN(nn.Module):
    """The CNN of Algorithm 1 for one hyper-parameter setting (input N×3×32×32, 20 logits).

    Construction draws the initial weights from torch's global generator, with the
    initializer of ``hparams["initialization"]``.
    """

    def __init__(self, hparams: Mapping[str, Any]):
        super().__init__()
        self.layers = layers_for(hparams)
        self.layout = Layout.for_hparams(hparams)
        self.blocks = nn.ModuleDict({l.name: Block(l, str(hparams["activation"])) for l in self.layers})
        first_fc = next(l.name for l in self.layers if l.kind == "fc")
        self.blocks[first_fc].flatten = True
        init = INITIALIZERS[str(hparams["initialization"])]
        for b in self.blocks.values():
            init(b.linear.weight)
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
        """θ as one flat float32 tensor on the model's device (layout of docs/design.md)."""
        return torch.cat([self._tensor(e.key).detach().reshape(-1) for e in self.layout.entries])

    @torch.no_grad()
    def load_theta(self, theta: torch.Tensor | np.ndarray) -> None:
        """Set every parameter and BN statistic from θ (inverse of :meth:`theta`)."""
        t = torch.as_tensor(np.asarray(theta) if not isinstance(theta, torch.Tensor) else theta)
        if t.shape[-1] != self.layout.n_weights:
            raise ValueError(f"θ has {t.shape[-1]} weights, this architecture has {self.layout.n_weights}")
        for e in self.layout.entries:
            dst = self._tensor(e.key)
            dst.copy_(t[e.offset:e.offset + e.size].reshape(dst.shape))


def to_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 images N×32×32×3, as :mod:`nws_datasets.sources` stores them → N×3×32×32 in [0, 1], in
    torch's default float dtype (float32; tests of batched training use float64)."""
    return images.permute(0, 3, 1, 2).to(torch.get_default_dtype()).div_(255)


@torch.inference_mode()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy in eval mode (BN running statistics, no dropout) on uint8 images, batched."""
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=labels.device)
    for i in range(0, len(labels), batch_size):
        correct += (model(to_input(images[i:i + batch_size])).argmax(1) == labels[i:i + batch_size]).sum()
    return correct.item() / max(len(labels), 1)


def _value(name: str, value: Any) -> Any:
    """A hyper-parameter value from a record: a ClassLabel index or the option itself."""
    hp = HP[name]
    if hp.categorical and isinstance(value, (int, np.integer)) and not isinstance(value, bool) \
            and value not in hp.options:
        return hp.options[int(value)]
    if hp.categorical and isinstance(value, str) and value not in hp.options:
        return next(o for o in hp.options if str(o) == value)
    return value


def model_from_record(record: Mapping[str, Any]) -> NWSCNN:
    """Rebuild the trained CNN of one record, in eval mode, on the CPU.

    ``record`` is one row of ``load_dataset("nws", ...)`` (hyper-parameters as ClassLabel
    indices or names, ``weights`` as a list, numpy array or tensor). The architecture comes
    from the record's hyper-parameters and θ is put in place through the record's layout,
    which must agree with the architecture. Evaluate with :func:`accuracy`.
    """
    hparams = {name: _value(name, record[name]) for name in
               ("filter_size", "conv_depth", "fc_depth", "conv_width", "fc_width", "activation")}
    hparams["initialization"] = "constant"  # overwritten by θ; constant needs no random draws
    model = NWSCNN(hparams)
    if "layout" in record and record["layout"] is not None:
        stored = record["layout"]
        stored = json.loads(stored) if isinstance(stored, str) else stored
        if Layout.from_table(stored).table() != model.layout.table():
            raise ValueError("the record's layout disagrees with the architecture of its hyper-parameters "
                             f"({hparams})")
    weights = record["weights"]
    weights = weights.detach().cpu().numpy() if isinstance(weights, torch.Tensor) else np.asarray(weights)
    model.load_theta(torch.from_numpy(np.ascontiguousarray(weights, dtype=np.float32)))
    return model.eval()
