"""How a DMC's BatchNorm normalizes outside training, and prediction under each way.

Training normalizes every mini-batch by its own statistics and tracks no moving averages.
After training, :func:`precise_bn` sets every BN layer's population statistics to the average
of its batch statistics over :data:`~metaclf.recipe.BN_BATCHES` mini-batches of training
inputs, dropout off ("precise BN", Wu & Johnson 2021): the moving averages of decay 0.9 track
only the last few batches, which misjudges records of very different scale.

:func:`predict_proba` evaluates with one of :data:`metaclf.recipe.BN_STATS`:

- ``population``: those population statistics; no test input is looked at (the default).
- ``test-batch`` (the authors' evaluation, transductive): each shuffled mini-batch of test
  inputs by its own statistics, so a window's prediction depends on its batch-mates.
- ``test-population`` (AdaBN, Li et al. 2017; transductive): the average statistics of the test
  mini-batches, then every input alone.

BN's stored statistics are restored after either test evaluation.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
from nws_datasets.cnn import TFBatchNorm

from ... import recipe
from .network import DMC

Sampler = Callable[[np.ndarray, np.random.Generator], np.ndarray]  # record indices → inputs [B, L]


def batch_norms(model: DMC) -> list[TFBatchNorm]:
    return [m for m in model.modules() if isinstance(m, TFBatchNorm)]


@torch.no_grad()
def set_bn_to_batch_means(model: DMC, batches: Iterable[torch.Tensor]) -> None:
    """Set every BN layer's running mean and (biased) variance to the average of its batch
    statistics over the mini-batches of inputs ``batches`` ([B, L] each), dropout off."""
    norms = batch_norms(model)
    sums = {id(m): [torch.zeros_like(m.running_mean), torch.zeros_like(m.running_var)] for m in norms}

    def record(module: torch.nn.Module, inputs: tuple[torch.Tensor]) -> None:
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
            model(x)
            n += 1
    finally:
        for h in hooks:
            h.remove()
    for m in norms:
        m.running_mean.copy_(sums[id(m)][0] / n)
        m.running_var.copy_(sums[id(m)][1] / n)
    model.eval()


def precise_bn(model: DMC, sample: Sampler, n_records: int, rng: np.random.Generator, device: str,
               batches: int = recipe.BN_BATCHES, batch_size: int = recipe.DMC_BATCH_SIZE) -> None:
    """Population statistics from ``batches`` random mini-batches of training inputs (nothing to
    do in a DMC without BatchNorm)."""
    if not batch_norms(model):
        return
    set_bn_to_batch_means(model, (torch.as_tensor(sample(rng.choice(n_records, min(batch_size, n_records),
                                                                     replace=False), rng), device=device)
                                  for _ in range(batches)))


@contextmanager
def bn_evaluation(model: DMC, bn_stats: str, inputs: np.ndarray, shuffled: list[np.ndarray],
                  device: str) -> Iterator[bool]:
    """Put ``model``'s BatchNorm into the ``bn_stats`` evaluation for ``inputs`` (``shuffled``:
    the test batches); yield whether batches must be normalized by their own statistics;
    restore BN's stored statistics afterwards."""
    if bn_stats not in recipe.BN_STATS:
        raise ValueError(f"bn_stats {bn_stats!r} is not valid: expected {' or '.join(recipe.BN_STATS)}")
    norms = batch_norms(model)
    if bn_stats != "population" and not norms:
        raise ValueError(f"bn_stats {bn_stats!r} needs a DMC with BatchNorm; this one normalizes each input alone")
    model.eval()
    stored = [(m.running_mean.clone(), m.running_var.clone()) for m in norms]
    if bn_stats == "test-population":
        set_bn_to_batch_means(model, (torch.as_tensor(inputs[g], device=device) for g in shuffled))
    for m in norms * (bn_stats == "test-batch"):
        m.train()
    try:
        yield bn_stats == "test-batch"
    finally:
        for m, (mean, var) in zip(norms, stored):
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
        model.eval()


@torch.inference_mode()
def predict_proba(model: DMC, inputs: np.ndarray, device: str, batch_size: int = 256,
                  bn_stats: str = "population", seed: int = 0,
                  batches: list[np.ndarray] | None = None) -> np.ndarray:
    """Softmax probabilities of inputs [N, L], dropout off, BatchNorm as ``bn_stats`` says.

    The test evaluations shuffle the inputs (``seed``) into near-equal batches of about
    :data:`~metaclf.recipe.DMC_BATCH_SIZE`; ``batches`` (index arrays covering the inputs)
    replaces them, e.g. to test what a batch's make-up does (:mod:`metaclf.analyses.batchmix`).
    """
    n = len(inputs)
    shuffled = batches if batches is not None else np.array_split(np.random.default_rng(seed).permutation(n),
                                                                  max(1, n // recipe.DMC_BATCH_SIZE))
    out = np.zeros((n, model.net[-1].out_features), np.float32)
    with bn_evaluation(model, bn_stats, inputs, shuffled, device) as by_batch:
        groups = shuffled if by_batch else [np.arange(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
        for g in groups:
            out[g] = torch.softmax(model(torch.as_tensor(inputs[g], device=device)), 1).cpu().numpy()
    return out
