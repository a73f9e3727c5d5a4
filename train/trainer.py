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


def train_model(hparams: Mapping[str, Any], images: DeviceImages, profile: Profile, seed: int,
                max_epochs: int | None = None,
                on_epoch: Callable[[int, float], None] | None = None) -> TrainResult:
    """Train one model; ``seed`` fixes initialization, dropout, batch order and augmentation."""
    start = time.perf_counter()
    device = images.y_pool.device
    max_epochs = profile.max_epochs if max_epochs is None else max_epochs
    torch.manual_seed(seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    data = ModelData(images, profile, gen)
    model = NWSCNN(hparams).to(device)
    opt = make_optimizer(hparams["optimizer"], model.parameters(), hparams["learning_rate"])
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, LR_DECAY)
    stopper = EarlyStopping(min_epochs=min(profile.min_epochs, max_epochs))
    bs, aug, ebs = int(hparams["batch_size"]), hparams["augmentation"] == "on", profile.eval_batch_size

    def failed(why: str, epoch: int) -> TrainResult:
        return TrainResult("failed", reason=why, epochs=epoch, val_history=val_hist,
                           wall_time_s=time.perf_counter() - start)

    thetas = [model.theta().cpu()]
    val_hist = [accuracy(model, data.x_val, data.y_val, ebs)]
    stopper.update(val_hist[0])
    stop_reason, epoch = "max_epochs", 0
    for epoch in range(1, max_epochs + 1):
        model.train()
        idx = data.epoch_indices(gen, profile.train_images_per_epoch)
        loss_sum = torch.zeros((), device=device)
        for i in range(0, len(idx), bs):
            b = idx[i:i + bs]
            if len(b) < 2:  # BatchNorm cannot train on a single image
                continue
            x = to_input(images.x_pool[b])
            if aug:
                x = augmentation.augment(x, gen)
            loss = F.cross_entropy(model(x), images.y_pool[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach()
        sched.step()
        theta = model.theta()
        if not math.isfinite(loss_sum.item()):
            return failed(f"non-finite training loss in epoch {epoch}", epoch)
        if not torch.isfinite(theta).all():
            return failed(f"non-finite weights after epoch {epoch}", epoch)
        thetas.append(theta.cpu())
        val_hist.append(accuracy(model, data.x_val, data.y_val, ebs))
        if on_epoch is not None:
            on_epoch(epoch, val_hist[-1])
        reason = stopper.update(val_hist[-1])
        if reason:
            stop_reason = reason
            break

    kept = snapshot_epochs(epoch)
    res = TrainResult("done", stop_reason=stop_reason, epochs=epoch, snapshot_epochs=kept, val_history=val_hist,
                      val_accuracy=[val_hist[e] for e in kept])
    for e in kept:
        model.load_theta(thetas[e].to(device))
        res.test_accuracy.append(accuracy(model, images.x_test, images.y_test, ebs))
        res.train_accuracy.append(accuracy(model, data.x_train_eval, data.y_train_eval, ebs))
    res.theta = torch.stack([thetas[e] for e in kept]).numpy()
    res.wall_time_s = time.perf_counter() - start
    return res
