"""Deep meta-classifiers (DMCs): the 1D CNNs of Table 3 and their training recipe (App. F).

Local DMC: 12 conv + 6 FC layers on a window of S consecutive weights (5,000 in the paper),
with the max-pools of layers 6–11 adapted to S (App. F.2) so the flattened length stays
≈ 19. Global DMC: 15 conv + 6 FC layers on the whole θ of the fixed architecture (92,868).
Dropout 0.5 in the FC layers; Adam 1e-3, batch 64, learning rate ×0.95 fifty times over
training. With ``width=1`` and ``fc=1024`` the local DMC has 10,407,685 and the global
10,948,997 weights for 5 classes, as in Table 3.

Every layer is the authors' ``model.py`` (``conv1d`` and ``fc``): conv 5×1 "same" (or FC)
+ bias → ReLU → TensorLayer BatchNorm (ε 1e-5, decay 0.9, γ ~ N(1, 0.002), biased running
variance: :class:`nws_datasets.cnn.TFBatchNorm`), Glorot-normal initialization as TensorFlow 1
draws it (truncated at 2σ), zero biases. The paper's Table 3 lists "BN, ReLU"; the code puts
ReLU first, and we follow the code.

Evaluation uses BatchNorm's population statistics (the authors' local DMC kept BN in
training mode at test time, a defect DESIGN.md does not copy). The moving averages of
training (decay 0.9: the last ~10 mini-batches) estimate them badly when records of very
different scale share a batch (random-normal θ is ~15× larger than Glorot θ): measured on
c_fixed_cpu, a trained local DMC scored 0.67 on its own training records with batch
statistics and 0.42 with the moving averages. So after training every BN layer's statistics
are recomputed as the average over ``BN_BATCHES`` mini-batches of training inputs, dropout
off ("precise BN", Wu & Johnson 2021), before any evaluation. Even these can fail: a DMC
trained on batch statistics may learn to judge a record against the others in its batch.
Measured on c_fixed_cpu, the 8,000-step local DMC for the dataset on conv windows scored
0.79 on its own training records with batch statistics and 0.50 (one class) with population
statistics. ``bn_stats="test-batch"`` evaluates as the authors' code did, each shuffled
mini-batch of test inputs normalized by its own statistics (without the other half of that
defect: BN's stored statistics stay as they are); results report it beside ours, labelled.
Its prediction for a window depends on which windows share its batch. ``"test-population"``
(beyond the paper; AdaBN, Li et al. 2017) keeps what helps in it, statistics of the test
inputs, without that: BN takes the average statistics of the test mini-batches, then every
window is classified alone in eval mode.

The schedule counts optimizer steps: the paper's profile gives them as its epochs (500 local,
100 global) of the training set, the CPU ``mini`` profile as a fixed number of steps, so that
a small NWS still gets thousands of steps. The ``mini`` profile narrows the conv layers 8×
but none below 8 channels (:data:`MIN_CHANNELS`). Training checkpoints after every pass over the
training set (atomically) and resumes from the checkpoint when the same run starts again.

:class:`LocalDMC` and :class:`GlobalDMC` are the estimators (:mod:`metaclf.methods.base`).
``inputs="raw"`` is the paper's input. Beyond the paper, a second channel holds every window
either standardized to zero mean and unit variance (``raw+standardized``: the weights' shape
apart from their scale) or sorted (``raw+sorted``: the window's quantile function, at fixed
positions where the FC layers can read it; the local SVMs' information is mostly in the
percentiles, App. Fig. 17, which the raw channel gives the network only through learned
order statistics), or each weight's index in θ over θ's length (``raw+position``: which layer
a window lies in, so that its scale can be judged against that layer's; the layer-wise SVMs,
which see that, read optimizer and activation where the local ones do not).

``norm="layer"`` (beyond the paper, registry names ``…-ln``) replaces every BatchNorm by a
per-input normalization: GroupNorm with one group (each input over its own channels and
positions) in the conv layers, LayerNorm in the FC layers. Training and evaluation then
classify every window alone, so no evaluation of BN's statistics applies and none is needed;
the price is that a common rescaling of a window reaches the network only through its
biases (with zero biases ReLU and the normalization cancel it).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from nws_datasets.cnn import INITIALIZERS, TFBatchNorm
from nws_datasets.space import get_config

from .. import checkpoint as checkpoints
from .. import recipe
from ..data import DataError, WeightSet
from ..features import part_bounds, window_starts, windows_at
from .base import MetaClassifier

# (channels, max-pool after) of the conv layers of Table 3
LOCAL_CONV = [(8, 1), (16, 1), (32, 0), (64, 1), (128, 0), (256, 1), (256, 1), (256, 1), (256, 1), (256, 0),
              (256, 0), (256, 1)]
GLOBAL_CONV = [(8, 1), (16, 1), (32, 1), (64, 1), (128, 1), (128, 1), (128, 1), (128, 1), (128, 1), (128, 0),
               (256, 1), (256, 0), (256, 1), (256, 0), (256, 1)]
ADAPTIVE_LAYERS = range(5, 11)  # layers 6–11 (0-based 5..10) of the local DMC
REFERENCE_LENGTH = recipe.SUBSET_SIZE / 2 ** 8  # flattened length of the paper's local DMC (≈ 19.5)


#: no conv layer narrower than the paper's first (8 channels): the mini profile's ×1/8 would
#: make the first layer one channel wide, whose ReLU drops every negative weight before the
#: network has seen it (the narrow layers are the cheap ones, on the longest inputs)
MIN_CHANNELS = LOCAL_CONV[0][0]
BATCH_SIZE = 64
BN_BATCHES = 100  #: mini-batches of training inputs that estimate BN's population statistics
#: how BN normalizes at evaluation → what it is
BN_STATS = {"population": "population statistics from training inputs (precise BN; ours)",
            "test-batch": "each shuffled mini-batch of test inputs by its own statistics (the authors' code)",
            "test-population": "population statistics of the test inputs, then each input alone (AdaBN; beyond "
                               "the paper)"}


@dataclass(frozen=True)
class DMCProfile:
    """Width and schedule of DMC training: the paper's, or a CPU-sized ``mini`` one.

    The schedule is ``*_steps`` optimizer steps if set, else ``*_epochs`` passes over the
    training set (the paper's unit).
    """

    name: str
    width: float = 1.0  # multiplier of the conv channel counts
    fc: int = 1024  # width of the hidden FC layers (the last hidden one is 64)
    local_epochs: int | None = 500
    global_epochs: int | None = 100
    local_steps: int | None = None
    global_steps: int | None = None
    eval_positions: int = 20  # window positions per test record at evaluation
    #: dropout of the FC layers; the mini profile's FC layers are 8× narrower, where 0.5
    #: slows fitting several-fold (tests/test_metaclf.py), so it uses 0.2
    dropout: float = 0.5

    def steps(self, kind: str, n_train: int, batch_size: int = BATCH_SIZE) -> int:
        """Optimizer steps of a ``kind`` ('local' or 'global') DMC on ``n_train`` records."""
        steps, epochs = getattr(self, f"{kind}_steps"), getattr(self, f"{kind}_epochs")
        return steps if steps is not None else epochs * max(1, math.ceil(n_train / batch_size))


DMC_PROFILES = {
    "paper": DMCProfile("paper"),
    "mini": DMCProfile("mini", width=0.125, fc=128, local_epochs=None, global_epochs=None, local_steps=2000,
                       global_steps=400, eval_positions=10, dropout=0.2),
}
#: the inputs a DMC reads → (suffix of its registry name, what it is)
INPUTS = {"raw": ("", "raw weights (the paper)"),
          "raw+standardized": ("-std", "raw + standardized weights (each window to zero mean, unit variance)"),
          "raw+sorted": ("-sorted", "raw + sorted weights (each window's quantile function)"),
          "raw+position": ("-pos", "raw weights + each weight's relative index in θ (where in the network a window lies)")}
#: the normalization layer of a DMC → (suffix of its registry name, what it is)
NORMS = {"batch": ("", "BatchNorm (the paper)"),
         "layer": ("-ln", "per-input normalization (LayerNorm over each input's channels and positions in the conv "
                          "layers, over its features in the FC layers): every window is classified alone, in "
                          "training as at evaluation (beyond the paper)")}


def local_conv_spec(size: int) -> list[tuple[int, int]]:
    """Table 3's local conv layers with the pools of layers 6–11 adapted to the window size."""
    base = sum(p for i, (_, p) in enumerate(LOCAL_CONV) if i not in ADAPTIVE_LAYERS)
    k = int(np.clip(round(math.log2(size / REFERENCE_LENGTH)) - base, 0, len(ADAPTIVE_LAYERS)))
    return [(c, (i - ADAPTIVE_LAYERS.start) < k if i in ADAPTIVE_LAYERS else p) for i, (c, p) in enumerate(LOCAL_CONV)]


class PairMaxPool(nn.Module):
    """Max-pooling 2×1 (stride 2, a trailing odd element dropped): ``nn.MaxPool1d(2)``'s values
    and gradients, ties routed to the first element as it routes them, about 1.5× faster
    training of the CPU DMC (``python -m metaclf.bench``); torch's CPU max-pool kernel is slow on
    the long, narrow inputs of the first layers."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1] // 2
        return x[..., :2 * n].unflatten(-1, (n, 2)).max(-1).values


class DMC(nn.Module):
    """A 1D CNN meta-classifier: input [N, 1, L] weights → class logits.

    Its BN layers do not track moving averages in training: :func:`precise_bn` sets their
    population statistics after training, and every evaluation reads those or the test
    inputs' own, never the training-time averages.
    """

    def __init__(self, length: int, classes: int, conv: list[tuple[int, int]], width: float = 1.0, fc: int = 1024,
                 dropout: float = 0.5, channels: int = 1, norm: str = "batch"):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm {norm!r} is not valid: expected {' or '.join(NORMS)}")
        layers: list[nn.Module] = []
        c_in = channels
        for c, pool in conv:
            c_out = max(MIN_CHANNELS, round(c * width))
            layers += [nn.Conv1d(c_in, c_out, 5, padding=2), nn.ReLU(),
                       TFBatchNorm(c_out, track_running_stats=False) if norm == "batch" else nn.GroupNorm(1, c_out)]
            if pool:
                layers.append(PairMaxPool())
                length //= 2
            c_in = c_out
        if length < 1:
            raise ValueError("input too short for this DMC")
        f = c_in * length
        layers.append(nn.Flatten())
        for w in (fc, fc, fc, fc, 64):
            layers += [nn.Linear(f, w), nn.ReLU(),
                       TFBatchNorm(w, track_running_stats=False) if norm == "batch" else nn.LayerNorm(w),
                       nn.Dropout(dropout)]
            f = w
        layers.append(nn.Linear(f, classes))
        self.net = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv1d | nn.Linear):
                INITIALIZERS["glorot_normal"](m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def local_dmc(size: int, classes: int, profile: DMCProfile, channels: int = 1, norm: str = "batch") -> DMC:
    return DMC(size, classes, local_conv_spec(size), profile.width, profile.fc, profile.dropout, channels, norm)


def global_dmc(length: int, classes: int, profile: DMCProfile, channels: int = 1, norm: str = "batch") -> DMC:
    return DMC(length, classes, GLOBAL_CONV, profile.width, profile.fc, profile.dropout, channels, norm)


def to_channels(x: np.ndarray, inputs: str, position: np.ndarray | None = None) -> np.ndarray:
    """Inputs [B, L] → [B, channels, L]: the raw weights, plus (``raw+standardized``) each row
    standardized to zero mean and unit variance, (``raw+sorted``) each row sorted, or
    (``raw+position``) ``position`` [B, L], each weight's index in its θ over θ's length."""
    x = np.asarray(x, np.float32)
    if inputs == "raw":
        return x[:, None]
    if inputs == "raw+standardized":
        z = (x - x.mean(1, keepdims=True)) / (x.std(1, keepdims=True) + 1e-8)
        return np.stack([x, z], axis=1)
    if inputs == "raw+sorted":
        return np.stack([x, np.sort(x, axis=1)], axis=1)
    if inputs == "raw+position":
        if position is None or np.shape(position) != x.shape:
            raise ValueError(f"inputs 'raw+position' needs the relative index of every weight, shape {x.shape}")
        return np.stack([x, np.asarray(position, np.float32)], axis=1)
    raise ValueError(f"inputs {inputs!r} is not valid: expected {' or '.join(INPUTS)}")


def relative_index(starts: np.ndarray, size: int, lengths: np.ndarray) -> np.ndarray:
    """[n, size] index of each weight of the windows θ[s : s + size] over the length of its θ, in [0, 1)."""
    return (np.asarray(starts)[:, None] + np.arange(size)) / np.asarray(lengths, np.float64)[:, None]


def n_weights(model: nn.Module) -> int:
    """Trainable parameters plus BN moving statistics (how Table 3 counts)."""
    return sum(p.numel() for p in model.parameters()) + sum(
        m.running_mean.numel() + m.running_var.numel() for m in model.modules() if isinstance(m, TFBatchNorm))


@torch.no_grad()
def precise_bn(model: DMC, sample: Sampler, n_records: int, rng: np.random.Generator, device: str,
               batches: int = BN_BATCHES, batch_size: int = BATCH_SIZE) -> None:
    """Set every BN layer's running mean and (biased) variance to the average of its batch
    statistics over ``batches`` random mini-batches of training inputs, dropout off (nothing
    to do in a DMC without BatchNorm)."""
    if not any(isinstance(m, TFBatchNorm) for m in model.modules()):
        return
    set_bn_to_batch_means(model, (torch.as_tensor(sample(rng.choice(n_records, min(batch_size, n_records),
                                                                     replace=False), rng), device=device)
                                  for _ in range(batches)))


@torch.no_grad()
def set_bn_to_batch_means(model: DMC, batches: Iterable[torch.Tensor]) -> None:
    """Set every BN layer's running mean and (biased) variance to the average of its batch
    statistics over the mini-batches of inputs ``batches`` ([B, (C,) L] each), dropout off."""
    norms = [m for m in model.modules() if isinstance(m, TFBatchNorm)]
    sums = {id(m): [torch.zeros_like(m.running_mean), torch.zeros_like(m.running_var)] for m in norms}

    def record(module: nn.Module, inputs: tuple[torch.Tensor]) -> None:
        x = inputs[0]
        var, mean = torch.var_mean(x, [0] + list(range(2, x.ndim)), correction=0)
        sums[id(module)][0] += mean
        sums[id(module)][1] += var

    hooks = [m.register_forward_pre_hook(record) for m in norms]
    model.eval()
    for m in norms:
        m.train()  # normalize with batch statistics, as in training
    n = 0
    try:
        for x in batches:
            model(x.unsqueeze(1) if x.ndim == 2 else x)
            n += 1
    finally:
        for h in hooks:
            h.remove()
    for m in norms:
        m.running_mean.copy_(sums[id(m)][0] / n)
        m.running_var.copy_(sums[id(m)][1] / n)
    model.eval()


Sampler = Callable[[np.ndarray, np.random.Generator], np.ndarray]  # record indices → inputs [B, (C,) L]


def train(model: DMC, sample: Sampler, labels: np.ndarray, steps: int, checkpoint: Path | None,
          settings: dict[str, Any], device: str, seed: int, batch_size: int = BATCH_SIZE,
          desc: str = "dmc") -> dict[str, Any]:
    """Train ``steps`` optimizer steps with Adam 1e-3, LR ×0.95 fifty times over them.

    Passes over the shuffled records (the last one cut at ``steps``); after each pass the
    state is checkpointed to ``checkpoint`` (if given), from which a run with the same
    ``settings`` resumes bit-identically. Finally BN's population statistics are set from
    training inputs (:func:`precise_bn`).
    """
    torch.manual_seed(seed)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.95 ** min(50, (50 * step) // steps))
    rng = np.random.default_rng(seed)
    step, history = 0, []
    settings = json.loads(json.dumps({**settings, "steps": steps}))  # as it reads back from the checkpoint
    if checkpoint is not None and checkpoint.exists() and checkpoints.read_state(checkpoint)["settings"] == settings:
        state = checkpoints.load(checkpoint, model, opt, device)
        sched.load_state_dict(state["sched"])
        rng.bit_generator.state = state["rng"]
        step, history = state["step"], state["history"]
    start_step = step
    y_all = torch.as_tensor(labels, device=device)
    bar = tqdm(total=steps, initial=step, desc=desc, unit="step")
    t0 = time.perf_counter()
    while step < steps:
        model.train()
        order = rng.permutation(len(labels))
        loss_sum, correct, seen = 0.0, 0, 0
        for i in range(0, len(order), batch_size):
            b = order[i:i + batch_size]
            if len(b) < 2 or step >= steps:
                continue
            x = torch.as_tensor(sample(b, rng), device=device)
            logits = model(x.unsqueeze(1) if x.ndim == 2 else x)
            loss = nn.functional.cross_entropy(logits, y_all[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            loss_sum += loss.item() * len(b)
            correct += (logits.argmax(1) == y_all[b]).sum().item()
            seen += len(b)
        bar.update(step - bar.n)
        history.append({"step": step, "loss": loss_sum / max(seen, 1), "train_accuracy": correct / max(seen, 1)})
        bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", acc=f"{history[-1]['train_accuracy']:.3f}")
        if checkpoint is not None:
            checkpoints.save(checkpoint, model, opt, {"settings": settings, "sched": sched.state_dict(),
                                                      "rng": rng.bit_generator.state, "step": step,
                                                      "history": history})
    bar.close()
    precise_bn(model, sample, len(labels), rng, device)
    return {"history": history, "train_seconds": time.perf_counter() - t0, "resumed_from_step": start_step}


@torch.inference_mode()
def predict_proba(model: DMC, inputs: np.ndarray, device: str, batch_size: int = 256,
                  bn_stats: str = "population", seed: int = 0,
                  batches: list[np.ndarray] | None = None) -> np.ndarray:
    """Softmax probabilities of inputs [N, (C,) L], dropout off.

    ``bn_stats="population"``: BN normalizes with its population statistics (eval mode).
    ``"test-batch"``: as the authors' evaluation, BN normalizes each mini-batch of test inputs
    with that batch's own statistics; the inputs are shuffled (``seed``) into near-equal batches
    of about :data:`BATCH_SIZE`. ``"test-population"`` (AdaBN, Li et al. 2017): BN's statistics
    are first set to the average of those batches' statistics, then every input is classified
    in eval mode, independently of its batch-mates. BN's stored statistics are restored after
    either test evaluation. ``batches`` (index arrays covering the inputs) replaces the
    shuffled batches of both, e.g. to test what a batch's make-up does
    (:mod:`metaclf.analyses.batchmix`).
    """
    if bn_stats not in BN_STATS:
        raise ValueError(f"bn_stats {bn_stats!r} is not valid: expected {' or '.join(BN_STATS)}")
    norms = [m for m in model.modules() if isinstance(m, TFBatchNorm)]
    if bn_stats != "population" and not norms:
        raise ValueError(f"bn_stats {bn_stats!r} needs a DMC with BatchNorm; this one normalizes each input alone")
    model.eval()
    n = len(inputs)
    groups = [np.arange(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
    if bn_stats != "population":
        shuffled = batches if batches is not None else np.array_split(np.random.default_rng(seed).permutation(n),
                                                                      max(1, n // BATCH_SIZE))
        stored = [(m.running_mean.clone(), m.running_var.clone()) for m in norms]
        if bn_stats == "test-batch":
            groups = shuffled
            for m in norms:
                m.train()
        else:
            set_bn_to_batch_means(model, (torch.as_tensor(inputs[g], device=device) for g in shuffled))
    out = np.zeros((n, model.net[-1].out_features), np.float32)
    try:
        for g in groups:
            x = torch.as_tensor(inputs[g], device=device)
            out[g] = torch.softmax(model(x.unsqueeze(1) if x.ndim == 2 else x), 1).cpu().numpy()
    finally:
        if bn_stats != "population":
            for m, (mean, var) in zip(norms, stored):
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
            model.eval()
    return out


class _DMCEstimator(MetaClassifier):
    """What the local and global DMC estimators share: profile, schedule, device, checkpoint."""

    kind = ""

    def _profile(self) -> DMCProfile:
        if self.profile not in DMC_PROFILES:
            raise ValueError(f"profile {self.profile!r} is not valid: expected {', '.join(DMC_PROFILES)}")
        return DMC_PROFILES[self.profile]

    def _network(self, build: Callable[..., DMC], length: int) -> DMC:
        """The untrained network ``build(length, classes, profile, channels, norm)``; its initial
        weights depend on the seed only (an unknown ``norm`` is refused by :class:`DMC`)."""
        if self.norm != "batch" and self.bn_stats != "population":
            raise ValueError(f"bn_stats {self.bn_stats!r} needs norm 'batch'; norm {self.norm!r} has no BatchNorm")
        torch.manual_seed(self.random_state)
        return build(length, len(self.classes_), self._profile(), len(self.inputs.split("+")), self.norm)

    def _train(self, net: DMC, sample: Sampler, records: WeightSet, y: np.ndarray) -> None:
        prof = self._profile()
        steps = self.steps or prof.steps(self.kind, len(y))
        # what training depends on: not the checkpoint's path, nor how BN evaluates; the paper's
        # norm is left out so that checkpoints written before the norm option still resume
        params = {k: v for k, v in self.get_params().items()
                  if k != "bn_stats" and not (k == "norm" and v == "batch")}
        settings = {**params, "checkpoint": None, "profile": asdict(prof),
                    "train_models": sorted(set(records.model_id.tolist()))}
        fit = train(net, sample, y, steps, Path(self.checkpoint) if self.checkpoint else None, settings,
                    self.device, self.random_state, desc=f"{self.kind} DMC")
        self.model_, self.history_, self.train_seconds_ = net, fit["history"], round(fit["train_seconds"], 2)
        self.n_weights_ = n_weights(net)
        self.steps_ = steps


class LocalDMC(_DMCEstimator):
    """The local DMC: a window of ``subset_size`` consecutive weights at a random position
    for every sample of every mini-batch (the authors' code); evaluated at
    ``eval_positions`` evenly spaced windows of every test record."""

    snapshots = recipe.LOCAL_SNAPSHOTS
    default_rounds = recipe.DMC_ROUNDS
    kind = "local"

    def __init__(self, subset_size: int = recipe.SUBSET_SIZE, part: str = "all", profile: str = "mini",
                 steps: int | None = None, inputs: str = "raw", norm: str = "batch", eval_positions: int | None = None,
                 bn_stats: str = "population", device: str = "cpu", random_state: int = 0,
                 checkpoint: str | None = None):
        self.subset_size = subset_size
        self.part = part
        self.profile = profile
        self.steps = steps
        self.inputs = inputs
        self.norm = norm
        self.eval_positions = eval_positions
        self.bn_stats = bn_stats
        self.device = device
        self.random_state = random_state
        self.checkpoint = checkpoint

    def usable(self, records: WeightSet, split: str) -> WeightSet:
        lo, hi = part_bounds(records.lengths(), records.n_conv, self.part)
        ok = hi - lo >= self.subset_size
        if not ok.any():
            raise DataError(f"--subset-size {self.subset_size} is larger than the {self.part} weights of every "
                            f"{split} record (at most {int((hi - lo).max())}); use a smaller --subset-size")
        return records.subset(ok)

    def windows(self, records: WeightSet, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Network inputs [len(rows), channels, S] of windows at relative positions ``u``."""
        lengths = records.lengths()
        lo, hi = part_bounds(lengths, records.n_conv, self.part)
        starts = window_starts(lo[rows], hi[rows], self.subset_size, np.asarray(u, float))
        position = relative_index(starts, self.subset_size, lengths[rows]) if self.inputs == "raw+position" else None
        return to_channels(windows_at(records, rows, starts, self.subset_size), self.inputs, position)

    def _fit(self, records: WeightSet, y: np.ndarray) -> None:
        net = self._network(local_dmc, self.subset_size)
        self._train(net, lambda b, rng: self.windows(records, b, rng.random(len(b))), records, y)

    def positions(self) -> np.ndarray:
        return np.linspace(0, 1, self.eval_positions or self._profile().eval_positions)

    def predict_proba_at(self, records: WeightSet, u: float) -> np.ndarray:
        """[n, len(classes_)] probabilities of the window at relative position ``u`` of each record."""
        rows = np.arange(len(records))
        return predict_proba(self.model_, self.windows(records, rows, np.full(len(rows), u)), self.device,
                             bn_stats=self.bn_stats, seed=self.random_state)

    def _window_scores(self, records: WeightSet) -> np.ndarray:
        return np.stack([self.predict_proba_at(records, u) for u in self.positions()])


class GlobalDMC(_DMCEstimator):
    """The global DMC: the whole θ of a fixed-architecture model."""

    snapshots = recipe.GLOBAL_SNAPSHOTS
    default_rounds = recipe.DMC_ROUNDS
    kind = "global"

    def __init__(self, profile: str = "mini", steps: int | None = None, inputs: str = "raw", norm: str = "batch",
                 bn_stats: str = "population", device: str = "cpu", random_state: int = 0,
                 checkpoint: str | None = None):
        self.profile = profile
        self.steps = steps
        self.inputs = inputs
        self.norm = norm
        self.bn_stats = bn_stats
        self.device = device
        self.random_state = random_state
        self.checkpoint = checkpoint

    def check_config(self, config: str) -> None:
        if not get_config(config).fixed_architecture:
            raise ValueError(f"the global DMC needs a fixed architecture; {config} has random architectures")

    def _fit(self, records: WeightSet, y: np.ndarray) -> None:
        if not records.fixed:
            raise ValueError("the global DMC needs records of one fixed architecture")
        net = self._network(global_dmc, records.weights.shape[1])
        self._train(net, lambda b, rng: self.inputs_of(records, b), records, y)

    def _window_scores(self, records: WeightSet) -> np.ndarray:
        return predict_proba(self.model_, self.inputs_of(records, np.arange(len(records))), self.device,
                             bn_stats=self.bn_stats, seed=self.random_state)[None]

    def inputs_of(self, records: WeightSet, rows: np.ndarray) -> np.ndarray:
        """Network inputs [len(rows), channels, |θ|] of whole θ."""
        x = records.weights[rows]
        n, length = x.shape
        position = np.broadcast_to(np.arange(length) / length, (n, length)) if self.inputs == "raw+position" else None
        return to_channels(x, self.inputs, position)
