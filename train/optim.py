"""The three optimizers of the NWS with TensorFlow 1 semantics, as ``torch.optim.Optimizer`` classes.

PyTorch's Adam and RMSprop differ from TensorFlow 1's in ways that change the weights
(docs/design.md): TF1's RMSProp starts its mean-square slot at 1 (PyTorch: 0, which makes the
first steps 40–80× larger) and puts ε inside the square root; TF1's Adam adds ε̂ to the
uncorrected √v and folds both bias corrections into the step size. Momentum SGD is the
same in both, so PyTorch's ``SGD`` is used for it.

Update rules, for gradient g at step t (1-based) with learning rate η:

- :class:`TFAdam`: m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
  θ ← θ − η·√(1−β2ᵗ)/(1−β1ᵗ) · m / (√v + ε̂)   (β1 0.9, β2 0.999, ε̂ 1e-8; m = v = 0 at start)
- :class:`TFRMSProp`: ms ← ρ·ms + (1−ρ)·g²; θ ← θ − η·g / √(ms + ε)   (ρ 0.9, ε 1e-10, ms = 1 at start)
- momentum: a ← μ·a + g; θ ← θ − η·a   (μ 0.95, a = 0 at start)
"""
from __future__ import annotations

from typing import Any, Iterable

import torch

from nws_datasets.space import HP

#: The semantics above, recorded in every model's metadata.
OPTIMIZERS: dict[str, dict[str, Any]] = {
    "adam": {"semantics": "tensorflow1", "beta1": 0.9, "beta2": 0.999, "epsilon_hat": 1e-8,
             "epsilon_on": "uncorrected sqrt(v)", "step": "lr*sqrt(1-beta2^t)/(1-beta1^t)"},
    "rmsprop": {"semantics": "tensorflow1", "decay": 0.9, "momentum": 0.0, "epsilon": 1e-10,
                "epsilon_on": "inside the square root", "mean_square_init": 1.0},
    "momentum": {"semantics": "tensorflow1", "momentum": 0.95, "nesterov": False},
}
assert set(OPTIMIZERS) == set(HP["optimizer"].options)


class TFAdam(torch.optim.Optimizer):
    """Adam as ``tf.compat.v1.train.AdamOptimizer`` (module docstring)."""

    def __init__(self, params: Iterable, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 - documented in the class
        loss = None if closure is None else torch.enable_grad()(closure)()
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                m, v, g = state["m"], state["v"], p.grad
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                lr_t = group["lr"] * (1 - b2 ** t) ** 0.5 / (1 - b1 ** t)
                p.addcdiv_(m, v.sqrt().add_(group["eps"]), value=-lr_t)
        return loss


class TFRMSProp(torch.optim.Optimizer):
    """RMSProp as ``tf.compat.v1.train.RMSPropOptimizer`` without momentum (module docstring)."""

    def __init__(self, params: Iterable, lr: float, decay: float = 0.9, eps: float = 1e-10):
        super().__init__(params, {"lr": lr, "decay": decay, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 - documented in the class
        loss = None if closure is None else torch.enable_grad()(closure)()
        for group in self.param_groups:
            rho = group["decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["ms"] = torch.ones_like(p)
                ms, g = state["ms"], p.grad
                ms.mul_(rho).addcmul_(g, g, value=1 - rho)
                p.addcdiv_(g, ms.add(group["eps"]).sqrt_(), value=-group["lr"])
        return loss


def make_optimizer(name: str, params: Iterable, lr: float) -> torch.optim.Optimizer:
    """The optimizer ``name`` of Table 1 with TensorFlow 1's semantics and defaults."""
    if name == "adam":
        c = OPTIMIZERS["adam"]
        return TFAdam(params, lr, (c["beta1"], c["beta2"]), c["epsilon_hat"])
    if name == "rmsprop":
        c = OPTIMIZERS["rmsprop"]
        return TFRMSProp(params, lr, c["decay"], c["epsilon"])
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=OPTIMIZERS["momentum"]["momentum"])
    raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(HP['optimizer'].options)}")
