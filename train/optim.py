"""The three optimizers of the NWS with TensorFlow 1 semantics, as ``torch.optim.Optimizer`` classes.

PyTorch's Adam and RMSprop differ from TensorFlow 1's in ways that change the weights
(docs/design.md): TF1's RMSProp starts its mean-square slot at 1 (PyTorch: 0, which makes the
first steps 40–80× larger) and puts ε inside the square root; TF1's Adam adds ε̂ to the
uncorrected √v and folds both bias corrections into the step size. Momentum SGD is the
same in both. Each rule is written once, over lists of tensors (``torch._foreach_*``), and
serves both the optimizer of one model here and the K stacked models of :mod:`train.batched`.

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


# ---- the update rules, once: over lists of tensors (torch._foreach_*), for one model or K ----
#: a step size: one number for every tensor (one model), or one tensor per parameter that
#: broadcasts each model's own step size over its rows (K models stacked, :mod:`train.batched`)
Rate = float | list[torch.Tensor]


def _descend(params: list[torch.Tensor], num: list[torch.Tensor], denom: list[torch.Tensor] | None,
             rate: Rate) -> None:
    """θ ← θ − rate · num / denom (denom None: θ ← θ − rate · num), in place."""
    if isinstance(rate, float):
        if denom is None:
            torch._foreach_add_(params, num, alpha=-rate)
        else:
            torch._foreach_addcdiv_(params, num, denom, value=-rate)
        return
    scaled = torch._foreach_mul(num, rate)
    if denom is None:
        torch._foreach_sub_(params, scaled)
    else:
        torch._foreach_sub_(params, torch._foreach_div(scaled, denom))


def adam_update(params: list[torch.Tensor], grads: list[torch.Tensor], m: list[torch.Tensor],
                v: list[torch.Tensor], rate: Rate, beta1: float, beta2: float, eps: float) -> None:
    """TF1 Adam with the bias corrections folded into ``rate`` (η·√(1−β2ᵗ)/(1−β1ᵗ))."""
    torch._foreach_mul_(m, beta1)
    torch._foreach_add_(m, grads, alpha=1 - beta1)
    torch._foreach_mul_(v, beta2)
    torch._foreach_addcmul_(v, grads, grads, value=1 - beta2)
    denom = torch._foreach_sqrt(v)
    torch._foreach_add_(denom, eps)
    _descend(params, m, denom, rate)


def rmsprop_update(params: list[torch.Tensor], grads: list[torch.Tensor], ms: list[torch.Tensor], rate: Rate,
                   decay: float, eps: float) -> None:
    """TF1 RMSProp without momentum: ε inside the square root, ``ms`` started at 1."""
    torch._foreach_mul_(ms, decay)
    torch._foreach_addcmul_(ms, grads, grads, value=1 - decay)
    denom = torch._foreach_add(ms, eps)
    torch._foreach_sqrt_(denom)
    _descend(params, grads, denom, rate)


def momentum_update(params: list[torch.Tensor], grads: list[torch.Tensor], bufs: list[torch.Tensor], rate: Rate,
                    momentum: float) -> None:
    """Momentum SGD (TF1 and PyTorch agree): a ← μ·a + g, θ ← θ − η·a, ``a`` started at 0."""
    torch._foreach_mul_(bufs, momentum)
    torch._foreach_add_(bufs, grads)
    _descend(params, bufs, None, rate)


class _TFOptimizer(torch.optim.Optimizer):
    """One model's optimizer: the slots of :attr:`slots` per parameter, one rule for all."""

    slots: dict[str, float] = {}  #: slot name → its initial value

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 - documented in the subclasses
        loss = None if closure is None else torch.enable_grad()(closure)()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            for p in params:
                if not self.state[p]:
                    self.state[p].update({"step": 0, **{k: torch.full_like(p, v) for k, v in self.slots.items()}})
                self.state[p]["step"] += 1
            self._update(group, params, [p.grad for p in params],
                         {k: [self.state[p][k] for p in params] for k in self.slots}, self.state[params[0]]["step"])
        return loss


class TFAdam(_TFOptimizer):
    """Adam as ``tf.compat.v1.train.AdamOptimizer`` (module docstring)."""

    slots = {"m": 0.0, "v": 0.0}

    def __init__(self, params: Iterable, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    def _update(self, group: dict[str, Any], params: list, grads: list, slots: dict[str, list], t: int) -> None:
        b1, b2 = group["betas"]
        adam_update(params, grads, slots["m"], slots["v"], group["lr"] * (1 - b2 ** t) ** 0.5 / (1 - b1 ** t),
                    b1, b2, group["eps"])


class TFRMSProp(_TFOptimizer):
    """RMSProp as ``tf.compat.v1.train.RMSPropOptimizer`` without momentum (module docstring)."""

    slots = {"ms": 1.0}

    def __init__(self, params: Iterable, lr: float, decay: float = 0.9, eps: float = 1e-10):
        super().__init__(params, {"lr": lr, "decay": decay, "eps": eps})

    def _update(self, group: dict[str, Any], params: list, grads: list, slots: dict[str, list], t: int) -> None:
        rmsprop_update(params, grads, slots["ms"], float(group["lr"]), group["decay"], group["eps"])


class TFMomentum(_TFOptimizer):
    """Momentum SGD as ``tf.compat.v1.train.MomentumOptimizer`` (PyTorch's ``SGD`` computes the same)."""

    slots = {"momentum": 0.0}

    def __init__(self, params: Iterable, lr: float, momentum: float = 0.95):
        super().__init__(params, {"lr": lr, "momentum": momentum})

    def _update(self, group: dict[str, Any], params: list, grads: list, slots: dict[str, list], t: int) -> None:
        momentum_update(params, grads, slots["momentum"], float(group["lr"]), group["momentum"])


def make_optimizer(name: str, params: Iterable, lr: float) -> torch.optim.Optimizer:
    """The optimizer ``name`` of Table 1 with TensorFlow 1's semantics and defaults."""
    if name == "adam":
        c = OPTIMIZERS["adam"]
        return TFAdam(params, lr, (c["beta1"], c["beta2"]), c["epsilon_hat"])
    if name == "rmsprop":
        c = OPTIMIZERS["rmsprop"]
        return TFRMSProp(params, lr, c["decay"], c["epsilon"])
    if name == "momentum":
        return TFMomentum(params, lr, OPTIMIZERS["momentum"]["momentum"])
    raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(HP['optimizer'].options)}")
