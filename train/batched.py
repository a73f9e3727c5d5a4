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

from nws_datasets.cnn import ACTIVATIONS, DROPOUT, NWSCNN, batch_norm_train, flatten_nhwc, layer_forward, max_pool
from nws_datasets.space import ARCHITECTURE_KEYS, Profile

from . import augment as augmentation
from .optim import OPTIMIZERS, TFAdam, TFMomentum, TFRMSProp, adam_update, momentum_update, rmsprop_update

#: each optimizer's slots → their initial values, as the one-model optimizers define them
SLOTS = {"adam": TFAdam.slots, "rmsprop": TFRMSProp.slots, "momentum": TFMomentum.slots}
INITIAL = {k: v for slots in SLOTS.values() for k, v in slots.items()}
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
        self.opt_state = {n: {k: stack(p, v) for k, v in INITIAL.items()} for n, p in self.ref.named_parameters()}
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
                    t[k] = INITIAL[name]  # TF1 RMSProp's mean square starts at 1
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
        """BatchNorm in training mode on [b, models·channels, ...], with the rules of
        :mod:`nws_datasets.cnn` (each model's channels are channels of their own)."""
        out, mean, var = batch_norm_train(h, params[f"{name}.weight"].flatten(), params[f"{name}.bias"].flatten(),
                                          self.buffers[f"{name}.running_mean"][idx],
                                          self.buffers[f"{name}.running_var"][idx])
        running[f"{name}.running_mean"], running[f"{name}.running_var"] = mean, var
        return out

    def _forward(self, params: dict[str, torch.Tensor], idx: torch.Tensor, x: list[torch.Tensor],
                 slots: list[_Slot]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Training-mode logits [S, b, 20] of the models ``idx`` on their batches ``x`` (S × [b, 3, H, W]):
        every layer by :func:`nws_datasets.cnn.layer_forward`, with a grouped convolution or a
        batched matrix product in place of one model's layer."""
        n, b = len(x), len(x[0])
        running: dict[str, torch.Tensor] = {}
        h = torch.stack(x, 1).flatten(1, 2)  # [b, S·C, H, W]: model s owns channels s·C..(s+1)·C
        for layer in self.ref.layers:
            pre = f"blocks.{layer.name}"
            w, bias = params[f"{pre}.linear.weight"], params[f"{pre}.linear.bias"]
            norm = (lambda t, name=f"{pre}.bn": self._bn(t, params, idx, name, running)) if layer.batch_norm else None
            if layer.kind == "conv":
                h = layer_forward("conv", h, lambda t: F.conv2d(t, w.flatten(0, 1), bias.flatten(), padding="same",
                                                                 groups=n), norm,
                                  lambda t: self._act(t.view(b, n, -1, *t.shape[2:]), slots, 1).flatten(1, 2),
                                  max_pool if layer.pool else None, None)
                continue
            if h.ndim == 4:  # each model's maps flattened in TensorFlow's NHWC order: [S, b, features]
                h = flatten_nhwc(h.view(b, n, -1, *h.shape[2:]).transpose(0, 1))
            fc_norm = None if norm is None else (lambda t, f=norm: f(t.transpose(0, 1).flatten(1)).view(b, n, -1)
                                                 .transpose(0, 1))
            h = layer_forward("fc", h, lambda t: torch.baddbmm(bias.unsqueeze(1), t, w.transpose(1, 2)), fc_norm,
                              lambda t: self._act(t, slots, 0),
                              None, (lambda t: self._dropout(t, slots)) if layer.dropout else None)
        return h, running

    @staticmethod
    def _dropout(h: torch.Tensor, slots: list[_Slot]) -> torch.Tensor:
        """F.dropout's arithmetic on [S, b, features], each model's mask from its own stream."""
        return h * torch.stack([torch.empty(h.shape[1:], dtype=h.dtype, device=h.device).bernoulli_(
            1 - DROPOUT, generator=s.dropout).div_(1 - DROPOUT) for s in slots])

    def _update(self, ks: list[int], slots: list[_Slot], grads: dict[str, torch.Tensor]) -> None:
        """Each model's optimizer step with its own rule (:mod:`train.optim`'s, the one-model
        optimizers' own), learning rate and step count."""
        by_kind: dict[str, list[int]] = defaultdict(list)
        for i, s in enumerate(slots):
            by_kind[str(s.spec.hparams["optimizer"])].append(i)
        names = list(grads)
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
            rates = torch.tensor(step_sizes, dtype=self.params[names[0]].dtype, device=self.device)
            params = [self.params[n][rows] for n in names]
            rate = [rates.view(-1, *[1] * (p.ndim - 1)) for p in params]
            g = [grads[n][sel] for n in names]
            state = {k: [self.opt_state[n][k][rows] for n in names] for k in SLOTS[kind]}
            if kind == "adam":
                adam_update(params, g, state["m"], state["v"], rate, b1, b2, c["epsilon_hat"])
            elif kind == "rmsprop":
                rmsprop_update(params, g, state["ms"], rate, c["decay"], c["epsilon"])
            else:
                momentum_update(params, g, state["momentum"], rate, c["momentum"])
            for n, p in zip(names, params):
                self.params[n][rows] = p
            for k, values in state.items():
                for n, t in zip(names, values):
                    self.opt_state[n][k][rows] = t

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
