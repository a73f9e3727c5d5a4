"""Train one CNN of the NWS with the paper's protocol and return its 20 kept snapshots.

The images live as uint8 tensors on the training device. Each model draws, from its own
seed, a random 10% of the source's training pool as its validation set; every epoch it draws
K images of each class from the rest at random (K = its smallest class; the authors'
``util.shuffle_data``), shuffles them, and steps through them in mini-batches, augmenting each
batch on the device. Validation accuracy is measured after every epoch (it drives early
stopping); θ is captured at initialization and after every epoch, and once training stops
the kept snapshots are re-loaded to measure train and test accuracy at each of them. A loss
or weight that turns non-finite ends the training as ``failed`` with its reason instead of
raising.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from nws_datasets.cnn import PROTOCOL as CNN_PROTOCOL
from nws_datasets.cnn import NWSCNN, accuracy, to_input
from nws_datasets.sources import ImageSet, images_sha256
from nws_datasets.space import NUM_CLASSES, Profile

from . import augment as augmentation
from .optim import OPTIMIZERS, make_optimizer
from .stopping import EarlyStopping, snapshot_epochs

LR_DECAY = 0.96  #: learning rate multiplier applied after every epoch
VALIDATION_FRACTION = 0.1  #: of the training pool, drawn per model (the authors' 90/10 split)

#: Everything about the training process that shapes the weights, recorded in every model file.
PROTOCOL: dict[str, Any] = {
    **CNN_PROTOCOL,
    "optimizers": OPTIMIZERS,
    "learning_rate_decay": {"factor": LR_DECAY, "every": "epoch"},
    "augmentation": augmentation.PROTOCOL,
    "class_balancing": "every source: K random images per class, redrawn every epoch; K = the smallest class "
                       "of the model's training split",
    "validation_split": f"random {VALIDATION_FRACTION:.0%} of the training pool, drawn per model from its seed",
    "loss": "softmax cross-entropy over 20 logits",
    "input": "uint8 / 255, N×3×32×32",
}


class DeviceImages:
    """An :class:`ImageSet` as tensors on one device: the training pool and the test set.

    The test images (the first ``profile.test_images``) are the same for every model: they
    are the stored evaluation images of the records, fingerprinted by :attr:`test_sha256`.
    """

    def __init__(self, images: ImageSet, profile: Profile, device: torch.device | str):
        def t(x: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(x)).to(device)

        self.name = images.name
        self.x_pool, self.y_pool = t(images.x_train), t(images.y_train)
        n = profile.test_images
        x_test, y_test = images.x_test[:n], images.y_test[:n]
        self.x_test, self.y_test = t(x_test), t(y_test)
        self.test_sha256 = images_sha256((x_test, y_test))


class ModelData:
    """One model's view of a source: its own validation split and class-balanced epochs."""

    def __init__(self, images: DeviceImages, profile: Profile, generator: torch.Generator):
        dev = images.y_pool.device
        n = len(images.y_pool)
        perm = torch.randperm(n, generator=generator, device=dev)
        n_train = int((1 - VALIDATION_FRACTION) * n)
        train, val = perm[:n_train], perm[n_train:][: profile.val_images]
        self.images, self.val_indices = images, val
        self.x_val, self.y_val = images.x_pool[val], images.y_pool[val]
        eval_idx = train[: profile.train_eval_images]
        self.x_train_eval, self.y_train_eval = images.x_pool[eval_idx], images.y_pool[eval_idx]
        y = images.y_pool[train]
        self.class_indices = [train[y == c] for c in range(NUM_CLASSES)]
        self.per_class = min(len(ix) for ix in self.class_indices)
        if self.per_class == 0:
            raise ValueError(f"{images.name}: a class has no training image in this model's split")

    def epoch_indices(self, generator: torch.Generator, limit: int | None) -> torch.Tensor:
        """One epoch: K random images of every class, shuffled, capped at ``limit``."""
        dev = self.images.y_pool.device
        k = self.per_class
        idx = torch.cat([ix[torch.randperm(len(ix), generator=generator, device=dev)[:k]]
                         for ix in self.class_indices])
        idx = idx[torch.randperm(len(idx), generator=generator, device=dev)]
        return idx[:limit] if limit is not None else idx


@dataclass
class TrainResult:
    status: str  # "done" or "failed"
    reason: str | None = None  # why a failed training failed
    stop_reason: str | None = None  # early-stopping criterion, or "max_epochs"
    epochs: int = 0  # T, the last epoch trained
    snapshot_epochs: list[int] = field(default_factory=list)
    theta: np.ndarray | None = None  # [20, n_weights] float32
    train_accuracy: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    val_history: list[float] = field(default_factory=list)  # every epoch, 0..T
    wall_time_s: float = 0.0


class ModelRun:
    """The per-model bookkeeping of one training, shared by the one-at-a-time loop
    (:func:`train_model`) and the batched one (:mod:`train.batched`): its data split and
    random stream, θ after every epoch, validation history, early stopping and, once it
    stops, the measurement of the kept snapshots.

    ``model`` is an :class:`NWSCNN` holding this model's current weights whenever a method
    is called (the batched loop loads them into a shared module first).
    """

    def __init__(self, hparams: Mapping[str, Any], images: DeviceImages, profile: Profile, seed: int,
                 max_epochs: int | None = None, on_epoch: Callable[[int, float], None] | None = None):
        self.start = time.perf_counter()
        self.hparams, self.images, self.profile = hparams, images, profile
        self.device = images.y_pool.device
        self.max_epochs = profile.max_epochs if max_epochs is None else max_epochs
        self.on_epoch = on_epoch
        torch.manual_seed(seed)  # the initial weights, then (one-at-a-time) the dropout masks
        self.generator = torch.Generator(device=self.device).manual_seed(seed)  # split, batches, augmentation
        self.data = ModelData(images, profile, self.generator)
        self.stopper = EarlyStopping(min_epochs=min(profile.min_epochs, self.max_epochs))
        self.batch_size = int(hparams["batch_size"])
        self.augment = hparams["augmentation"] == "on"
        self.thetas: list[torch.Tensor] = []
        self.val_hist: list[float] = []
        self.epoch = 0

    def new_model(self) -> NWSCNN:
        """The initial network, drawn from torch's global generator right after the seed."""
        return NWSCNN(self.hparams).to(self.device)

    def begin(self, model: NWSCNN) -> None:
        """Record θ and validation accuracy at initialization (epoch 0)."""
        self.thetas.append(model.theta().cpu())
        self.val_hist.append(accuracy(model, self.data.x_val, self.data.y_val, self.profile.eval_batch_size))
        self.stopper.update(self.val_hist[0])

    def epoch_batches(self) -> list[torch.Tensor]:
        """Start the next epoch: its mini-batches of image indices (a last one of < 2 images,
        on which BatchNorm cannot train, is dropped)."""
        self.epoch += 1
        idx = self.data.epoch_indices(self.generator, self.profile.train_images_per_epoch)
        return [b for b in (idx[i:i + self.batch_size] for i in range(0, len(idx), self.batch_size)) if len(b) >= 2]

    def inputs(self, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Network input (not augmented) and labels of the mini-batch ``b``."""
        return to_input(self.images.x_pool[b]), self.images.y_pool[b]

    def batch(self, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Network input and labels of the mini-batch ``b``, augmented from this model's stream."""
        x, y = self.inputs(b)
        return (augmentation.augment(x, self.generator) if self.augment else x), y

    def end_epoch(self, model: NWSCNN, loss_sum: torch.Tensor) -> TrainResult | None:
        """After an epoch: keep θ, measure validation accuracy, test the stopping criteria.

        Returns the finished :class:`TrainResult` when training ends (stopped early, at the
        epoch cap, or failed on a non-finite loss or weight), else None.
        """
        theta = model.theta()
        if not math.isfinite(loss_sum.item()):
            return self._failed(f"non-finite training loss in epoch {self.epoch}")
        if not torch.isfinite(theta).all():
            return self._failed(f"non-finite weights after epoch {self.epoch}")
        self.thetas.append(theta.cpu())
        self.val_hist.append(accuracy(model, self.data.x_val, self.data.y_val, self.profile.eval_batch_size))
        if self.on_epoch is not None:
            self.on_epoch(self.epoch, self.val_hist[-1])
        reason = self.stopper.update(self.val_hist[-1])
        if reason or self.epoch >= self.max_epochs:
            return self.finish(model, reason or "max_epochs")
        return None

    def _failed(self, why: str) -> TrainResult:
        return TrainResult("failed", reason=why, epochs=self.epoch, val_history=self.val_hist,
                           wall_time_s=time.perf_counter() - self.start)

    def finish(self, model: NWSCNN, stop_reason: str) -> TrainResult:
        kept = snapshot_epochs(self.epoch)
        res = TrainResult("done", stop_reason=stop_reason, epochs=self.epoch, snapshot_epochs=kept,
                          val_history=self.val_hist, val_accuracy=[self.val_hist[e] for e in kept])
        ebs, data = self.profile.eval_batch_size, self.data
        for e in kept:
            model.load_theta(self.thetas[e].to(self.device))
            res.test_accuracy.append(accuracy(model, self.images.x_test, self.images.y_test, ebs))
            res.train_accuracy.append(accuracy(model, data.x_train_eval, data.y_train_eval, ebs))
        res.theta = torch.stack([self.thetas[e] for e in kept]).numpy()
        res.wall_time_s = time.perf_counter() - self.start
        return res


def train_model(hparams: Mapping[str, Any], images: DeviceImages, profile: Profile, seed: int,
                max_epochs: int | None = None,
                on_epoch: Callable[[int, float], None] | None = None) -> TrainResult:
    """Train one model; ``seed`` fixes initialization, dropout, batch order and augmentation."""
    run = ModelRun(hparams, images, profile, seed, max_epochs, on_epoch)
    model = run.new_model()
    opt = make_optimizer(hparams["optimizer"], model.parameters(), hparams["learning_rate"])
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, LR_DECAY)
    run.begin(model)
    if run.max_epochs == 0:
        return run.finish(model, "max_epochs")
    while True:
        model.train()
        loss_sum = torch.zeros((), device=run.device)
        for b in run.epoch_batches():
            x, y = run.batch(b)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach()
        sched.step()
        res = run.end_epoch(model, loss_sum)
        if res is not None:
            return res
