"""Batched generation: up to K models of one architecture trained together in one process.

A small CNN of the NWS (92,868 weights) trained on mini-batches of 32–256 images leaves
most of a GPU idle; trained side by side, K models fill it. Each model keeps everything of
its own, as the one-at-a-time loop of :mod:`train.trainer` has it: learning rate and its
decay, optimizer and its state, activation, initialization, batch size, augmentation,
dataset, validation split, random streams, early stopping. Only the arithmetic is shared:

- parameters, BN statistics and optimizer slots are stacked [K, ...] tensors;
- a conv layer is one grouped convolution (``groups`` = models) over their feature maps laid
  side by side as channels, an FC layer one batched matrix product, BatchNorm one call with
  a channel per (model, channel), the activations one call per activation present;
- every optimizer step updates each model with its own rule (TensorFlow 1 Adam or RMSProp,
  momentum SGD: :mod:`train.optim`), learning rate and step count.

Models whose next mini-batch has the same size step together (batch sizes differ between
models, and an epoch may end on a shorter batch); a model that finishes — stopped early, at
the epoch cap, or failed — leaves its slot, and the next model takes it.

Equivalence: on the CPU every random draw comes from the stream and in the order of
one-at-a-time training — batches, validation split and augmentation from the model's
generator, the dropout masks from a generator that continues torch's global one after the
model's initialization, as ``F.dropout`` would — so the weights agree with
:func:`train.trainer.train_model` to float tolerance (grouped and single convolutions sum
in a different order): ``tests/test_batched.py``. On CUDA ``F.dropout`` is a fused kernel
with a stream of its own, so there the two paths draw different (equally distributed) masks.
"""
from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import torch
import torch.nn.functional as F

from nws_datasets.cnn import ACTIVATIONS, BN_DECAY, BN_EPS, DROPOUT, NWSCNN
from nws_datasets.space import ARCHITECTURE_KEYS, Profile

from . import augment as augmentation
from .optim import OPTIMIZERS
from .trainer import LR_DECAY, DeviceImages, ModelRun, TrainResult


@dataclass
class ModelSpec:
    """One model to train: what :func:`train.trainer.train_model` takes, plus a ``tag`` that
    comes back with its result."""

    tag: Any
    hparams: Mapping[str, Any]
    images: DeviceImages
    profile: Profile
    seed: int
    max_epochs: int | None = None
    on_epoch: Callable[[int, float], None] | None = None


@dataclass
class _Slot:
    spec: ModelSpec
    run: ModelRun
    lr: float
    dropout: torch.Generator
    batches: deque
    steps: int = 0  # optimizer steps taken (Adam's t)


def architecture_key(hparams: Mapping[str, Any]) -> tuple:
    """Models with equal keys have the same layers and can be trained in one group."""
    return tuple(hparams[k] for k in ARCHITECTURE_KEYS)


class ModelGroup:
    """Up to ``capacity`` models of one architecture with stacked parameters and state."""

    def __init__(self, hparams: Mapping[str, Any], capacity: int, device: torch.device | str):
        self.device, self.capacity = torch.device(device), capacity
        with torch.random.fork_rng(devices=[]):  # the shared module draws nothing from the models' streams
            self.ref = NWSCNN({**{k: hparams[k] for k in ARCHITECTURE_KEYS}, "activation": "relu",
                               "initialization": "constant"}).to(self.device)
        self.key = architecture_key(hparams)

        def stack(t: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
            return torch.full((capacity, *t.shape), fill, dtype=t.dtype, device=self.device)

        self.params = {n: stack(p) for n, p in self.ref.named_parameters()}
        self.buffers = {n: stack(b) for n, b in self.ref.named_buffers()}
        self.opt_state = {n: {"m": stack(p), "v": stack(p), "ms": stack(p, 1.0), "momentum": stack(p)}
                          for n, p in self.ref.named_parameters()}
        self.slots: list[_Slot | None] = [None] * capacity
        self.loss_sums = torch.zeros(capacity, device=self.device)  # each model's training loss this epoch

    # ---- slots ---------------------------------------------------------------------------
    def free(self) -> list[int]:
        return [k for k, s in enumerate(self.slots) if s is None]

    def active(self) -> list[int]:
        return [k for k, s in enumerate(self.slots) if s is not None]

    def add(self, spec: ModelSpec) -> None:
        """Start ``spec`` in a free slot: initialize it exactly as one-at-a-time training does."""
        if architecture_key(spec.hparams) != self.key:
            raise ValueError(f"model {spec.tag}: architecture {architecture_key(spec.hparams)} is not this group's "
                             f"{self.key}")
        k = self.free()[0]
        run = ModelRun(spec.hparams, spec.images, spec.profile, spec.seed, spec.max_epochs, spec.on_epoch)
        if run.max_epochs == 0:
            raise ValueError(f"model {spec.tag}: max_epochs 0 leaves nothing to train")
        model = run.new_model()
        if self.device.type == "cpu":  # F.dropout's masks: torch's global stream after the initialization
            dropout = torch.Generator()
            dropout.set_state(torch.get_rng_state())
        else:
            dropout = torch.Generator(device=self.device).manual_seed(spec.seed)
        with torch.no_grad():
            for n, t in model.state_dict().items():
                (self.params if n in self.params else self.buffers)[n][k] = t
            for n, st in self.opt_state.items():
                for name, t in st.items():
                    t[k] = 1.0 if name == "ms" else 0.0  # TF1 RMSProp's mean square starts at 1
        slot = _Slot(spec, run, float(spec.hparams["learning_rate"]), dropout, deque())
        self.loss_sums[k] = 0.0
        self.slots[k] = slot
        run.begin(model)
        slot.batches.extend(run.epoch_batches())

    def load(self, k: int) -> NWSCNN:
        """The shared module holding slot ``k``'s weights, BN statistics and activation."""
        act = ACTIVATIONS[str(self.slots[k].spec.hparams["activation"])]
        for b in self.ref.blocks.values():
            if b.act is not None:
                b.act = act
        with torch.no_grad():
            for n, t in self.ref.state_dict().items():
                t.copy_((self.params if n in self.params else self.buffers)[n][k])
        return self.ref

    # ---- one optimizer step of several models ----------------------------------------------
    def step(self, ks: list[int]) -> None:
        """One optimizer step of the models in slots ``ks``, whose next mini-batches have one size."""
        slots = [self.slots[k] for k in ks]
        idx = torch.tensor(ks, device=self.device)
        x, ys, aug = [], [], []
        for s in slots:
            xi, yi = s.run.inputs(s.batches.popleft())
            x.append(xi)
            ys.append(yi)
            if s.run.augment:
                aug.append((len(x) - 1, *augmentation.draw(xi.shape, s.run.generator, self.device)))
        if aug:
            rows, n = [a[0] for a in aug], len(x[0])
            p = {name: torch.cat([a[1][name].expand(n) for a in aug]) for name in aug[0][1]}
            warped = augmentation.apply(torch.cat([x[r] for r in rows]), p, torch.cat([a[2] for a in aug]))
            for r, xa in zip(rows, warped.split(n)):
                x[r] = xa
        params = {n: t[idx].requires_grad_() for n, t in self.params.items()}
        logits, running = self._forward(params, idx, x, slots)
        y = torch.stack(ys)
        losses = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(y.shape).mean(1)
        grads = torch.autograd.grad(losses.sum(), list(params.values()))
        with torch.no_grad():
            for n, t in running.items():
                self.buffers[n][idx] = t
            self.loss_sums.index_add_(0, idx, losses.detach().to(self.loss_sums.dtype))
            for s in slots:
                s.steps += 1
            self._update(ks, slots, dict(zip(params, grads)))

    def _act(self, h: torch.Tensor, slots: list[_Slot], dim: int) -> torch.Tensor:
        """Each model's activation on its part of ``h`` (models along ``dim``)."""
        names = [str(s.spec.hparams["activation"]) for s in slots]
        if len(set(names)) == 1:
            return ACTIVATIONS[names[0]](h)
        out = h
        for name in sorted(set(names)):
            sel = torch.tensor([i for i, a in enumerate(names) if a == name], device=h.device)
            out = out.index_copy(dim, sel, ACTIVATIONS[name](h.index_select(dim, sel)))
        return out

    def _bn(self, h: torch.Tensor, params: dict[str, torch.Tensor], idx: torch.Tensor, name: str,
            running: dict[str, torch.Tensor]) -> torch.Tensor:
        """TensorLayer BatchNorm in training mode on [b, models·channels, ...] (nws_datasets.cnn)."""
        dims = [0] + list(range(2, h.ndim))
        with torch.no_grad():
            var, mean = torch.var_mean(h, dims, correction=0)
            shape = self.buffers[f"{name}.running_mean"].shape[1:]
            running[f"{name}.running_mean"] = self.buffers[f"{name}.running_mean"][idx].lerp(
                mean.view(len(idx), *shape), 1 - BN_DECAY)
            running[f"{name}.running_var"] = self.buffers[f"{name}.running_var"][idx].lerp(
                var.view(len(idx), *shape), 1 - BN_DECAY)
        return F.batch_norm(h, None, None, params[f"{name}.weight"].flatten(), params[f"{name}.bias"].flatten(),
                            True, 0.0, BN_EPS)

    def _forward(self, params: dict[str, torch.Tensor], idx: torch.Tensor, x: list[torch.Tensor],
                 slots: list[_Slot]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Training-mode logits [S, b, 20] of the models ``idx`` on their batches ``x`` (S × [b, 3, H, W])."""
        n_models, b = len(x), len(x[0])
        running: dict[str, torch.Tensor] = {}
        h = torch.stack(x, 1).flatten(1, 2)  # [b, S·C, H, W]: model s owns channels s·C..(s+1)·C
        spatial = True
        for layer in self.ref.layers:
            pre = f"blocks.{layer.name}"
            w, bias = params[f"{pre}.linear.weight"], params[f"{pre}.linear.bias"]
            if layer.kind == "conv":
                h = F.conv2d(h, w.flatten(0, 1), bias.flatten(), padding="same", groups=n_models)
                h = self._bn(h, params, idx, f"{pre}.bn", running)
                h = self._act(h.view(b, n_models, -1, *h.shape[2:]), slots, 1).flatten(1, 2)
                if layer.pool:
                    h = F.max_pool2d(h, 2)
                continue
            if spatial:  # each model's maps flattened in TensorFlow's NHWC order
                h = h.view(b, n_models, -1, *h.shape[2:]).permute(1, 0, 3, 4, 2).flatten(2)
                spatial = False
            h = torch.baddbmm(bias.unsqueeze(1), h, w.transpose(1, 2))  # [S, b, out]
            if not layer.batch_norm:
                continue
            h = self._act(h, slots, 0)
            h = self._bn(h.transpose(0, 1).flatten(1), params, idx, f"{pre}.bn", running)
            h = h.view(b, n_models, -1).transpose(0, 1)
            if layer.dropout:  # F.dropout's arithmetic, each model's mask from its own stream
                h = h * torch.stack([torch.empty(h.shape[1:], dtype=h.dtype, device=h.device).bernoulli_(
                    1 - DROPOUT, generator=s.dropout).div_(1 - DROPOUT) for s in slots])
        return h, running

    def _update(self, ks: list[int], slots: list[_Slot], grads: dict[str, torch.Tensor]) -> None:
        """Each model's optimizer step with its own rule, learning rate and step count."""
        by_kind: dict[str, list[int]] = defaultdict(list)
        for i, s in enumerate(slots):
            by_kind[str(s.spec.hparams["optimizer"])].append(i)
        for kind, sel_list in by_kind.items():
            sel = torch.tensor(sel_list, device=self.device)
            rows = torch.tensor([ks[i] for i in sel_list], device=self.device)
            c = OPTIMIZERS[kind]
            if kind == "adam":
                b1, b2 = c["beta1"], c["beta2"]
                step_sizes = [slots[i].lr * (1 - b2 ** slots[i].steps) ** 0.5 / (1 - b1 ** slots[i].steps)
                              for i in sel_list]
            else:
                step_sizes = [slots[i].lr for i in sel_list]
            rates = torch.tensor(step_sizes, dtype=self.params[next(iter(grads))].dtype, device=self.device)
            for n, g_all in grads.items():
                g, p, st = g_all[sel], self.params[n][rows], self.opt_state[n]
                rate = rates.view(-1, *[1] * (p.ndim - 1))
                if kind == "adam":
                    m = st["m"][rows].mul_(b1).add_(g, alpha=1 - b1)
                    v = st["v"][rows].mul_(b2).addcmul_(g, g, value=1 - b2)
                    st["m"][rows], st["v"][rows] = m, v
                    p = p - rate * m / v.sqrt().add_(c["epsilon_hat"])
                elif kind == "rmsprop":
                    ms = st["ms"][rows].mul_(c["decay"]).addcmul_(g, g, value=1 - c["decay"])
                    st["ms"][rows] = ms
                    p = p - rate * g / ms.add(c["epsilon"]).sqrt_()
                else:
                    buf = st["momentum"][rows].mul_(c["momentum"]).add_(g)
                    st["momentum"][rows] = buf
                    p = p - rate * buf
                self.params[n][rows] = p

    # ---- epochs ------------------------------------------------------------------------------
    def end_epochs(self) -> list[tuple[ModelSpec, TrainResult]]:
        """Close the epoch of every model that has no mini-batch left; return those that finished."""
        done = []
        for k in self.active():
            s = self.slots[k]
            while not s.batches:
                s.lr *= LR_DECAY  # as ExponentialLR
                res = s.run.end_epoch(self.load(k), self.loss_sums[k])
                if res is not None:
                    done.append((s.spec, res))
                    self.slots[k] = None
                    break
                self.loss_sums[k] = 0.0
                s.batches.extend(s.run.epoch_batches())
        return done


def train_group(specs: Iterable[ModelSpec], capacity: int, device: torch.device | str,
                on_done: Callable[[ModelSpec, TrainResult], None]) -> None:
    """Train ``specs`` (one architecture), up to ``capacity`` at a time; ``on_done(spec, result)``
    is called as each finishes, with what :func:`train.trainer.train_model` would return."""
    queue = deque(specs)
    if not queue:
        return
    group = ModelGroup(queue[0].hparams, capacity, device)

    def fill() -> None:
        while queue and group.free():
            group.add(queue.popleft())
            for spec, res in group.end_epochs():  # a model with no mini-batch in its first epochs
                on_done(spec, res)

    fill()
    while group.active():
        by_size: dict[int, list[int]] = defaultdict(list)
        for k in group.active():
            by_size[len(group.slots[k].batches[0])].append(k)
        for ks in by_size.values():
            group.step(ks)
        for spec, res in group.end_epochs():
            on_done(spec, res)
        fill()
