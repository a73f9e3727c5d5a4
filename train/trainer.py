"""Train one CNN of the NWS with the paper's protocol and return its 20 kept snapshots.

The images live as uint8 tensors on the training device; each step gathers one batch,
augments it there in one call and steps the optimizer. Validation accuracy is measured after
every epoch (it drives early stopping); θ is captured at initialization and after every
epoch, and once training stops the kept snapshots are re-loaded to measure train and test
accuracy at each of them. A loss or weight that turns non-finite ends the training as
``failed`` with its reason instead of raising.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from nws_datasets.sources import ImageSet
from nws_datasets.space import Profile

from .augment import augment
from .model import NWSCNN, make_optimizer
from .stopping import EarlyStopping, snapshot_epochs

LR_DECAY = 0.96  #: learning rate multiplier applied after every epoch


class DeviceImages:
    """An :class:`ImageSet` as tensors on one device, cut to the sizes a profile asks for."""

    def __init__(self, images: ImageSet, profile: Profile, device: torch.device | str):
        def t(x: np.ndarray, n: int | None = None) -> torch.Tensor:
            x = x[:n] if n is not None else x
            x = torch.from_numpy(np.ascontiguousarray(x))
            return (x.permute(0, 3, 1, 2).contiguous() if x.ndim == 4 else x).to(device)

        self.name = images.name
        self.x_train, self.y_train = t(images.x_train), t(images.y_train)
        self.x_val, self.y_val = t(images.x_val, profile.val_images), t(images.y_val, profile.val_images)
        self.x_test, self.y_test = t(images.x_test, profile.test_images), t(images.y_test, profile.test_images)
        n = profile.train_eval_images
        self.x_train_eval, self.y_train_eval = self.x_train[:n], self.y_train[:n]
        # SVHN is class-balanced by drawing K images per class anew every epoch (App. A.2)
        self.class_indices = ([torch.nonzero(self.y_train == c).flatten() for c in range(10)]
                              if images.name == "svhn" else None)

    def epoch_indices(self, generator: torch.Generator, limit: int | None) -> torch.Tensor:
        """Shuffled training indices for one epoch (balanced for SVHN, capped at ``limit``)."""
        dev = self.y_train.device
        if self.class_indices is not None:
            k = min(len(ix) for ix in self.class_indices)
            idx = torch.cat([ix[torch.randperm(len(ix), generator=generator, device=dev)[:k]]
                             for ix in self.class_indices])
        else:
            idx = torch.arange(len(self.y_train), device=dev)
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


@torch.inference_mode()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    """Top-1 accuracy in eval mode (BN running statistics, no dropout), batched."""
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=y.device)
    for i in range(0, len(y), batch_size):
        xb = x[i:i + batch_size].float().div_(255)
        correct += (model(xb).argmax(1) == y[i:i + batch_size]).sum()
    return correct.item() / max(len(y), 1)


def train_model(hparams: Mapping[str, Any], images: DeviceImages, profile: Profile, seed: int,
                max_epochs: int | None = None,
                on_epoch: Callable[[int, float], None] | None = None) -> TrainResult:
    """Train one model; ``seed`` fixes initialization, dropout, batch order and augmentation."""
    start = time.perf_counter()
    device = images.y_train.device
    max_epochs = profile.max_epochs if max_epochs is None else max_epochs
    torch.manual_seed(seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    model = NWSCNN(hparams, profile.bn_momentum).to(device)
    opt = make_optimizer(hparams["optimizer"], model.parameters(), hparams["learning_rate"])
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, LR_DECAY)
    stopper = EarlyStopping(min_epochs=min(profile.min_epochs, max_epochs))
    bs, aug, ebs = int(hparams["batch_size"]), hparams["augmentation"] == "on", profile.eval_batch_size

    def failed(why: str, epoch: int) -> TrainResult:
        return TrainResult("failed", reason=why, epochs=epoch, val_history=val_hist,
                           wall_time_s=time.perf_counter() - start)

    thetas = [model.theta().cpu()]
    val_hist = [accuracy(model, images.x_val, images.y_val, ebs)]
    stopper.update(val_hist[0])
    stop_reason, epoch = "max_epochs", 0
    for epoch in range(1, max_epochs + 1):
        model.train()
        idx = images.epoch_indices(gen, profile.train_images_per_epoch)
        loss_sum = torch.zeros((), device=device)
        for i in range(0, len(idx), bs):
            b = idx[i:i + bs]
            if len(b) < 2:  # BatchNorm cannot train on a single image
                continue
            x = images.x_train[b].float().div_(255)
            if aug:
                x = augment(x, gen)
            loss = F.cross_entropy(model(x), images.y_train[b])
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
        val_hist.append(accuracy(model, images.x_val, images.y_val, ebs))
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
        res.train_accuracy.append(accuracy(model, images.x_train_eval, images.y_train_eval, ebs))
    res.theta = torch.stack([thetas[e] for e in kept]).numpy()
    res.wall_time_s = time.perf_counter() - start
    return res
