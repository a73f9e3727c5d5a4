"""The DMC estimators: :class:`LocalDMC` and :class:`GlobalDMC` (:mod:`metaclf.methods.base`).

The schedule counts optimizer steps: the paper's profile as its epochs (500 local, 100
global) of the training set, the CPU ``mini`` profile as a fixed number of steps
(:data:`metaclf.recipe.DMC_PROFILES`). A local DMC reads a window at a new random position
for every sample of every mini-batch (the authors' code; the paper's text says per batch)
and is scored at evenly spaced windows of every test record.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from nws_datasets.space import get_config

from ... import recipe
from ...data import WeightSet
from ...features import part_bounds, usable_windows, window_starts, windows_at
from ..base import MetaClassifier
from .batchnorm import Sampler, predict_proba
from .network import DMC, global_dmc, local_dmc, n_weights
from .training import train


class _DMCEstimator(MetaClassifier):
    """What the local and global DMC estimators share: profile, schedule, device, checkpoint."""

    kind = ""
    default_rounds = recipe.DMC_ROUNDS

    def _profile(self) -> recipe.DMCProfile:
        if self.profile not in recipe.DMC_PROFILES:
            raise ValueError(f"profile {self.profile!r} is not valid: expected {', '.join(recipe.DMC_PROFILES)}")
        return recipe.DMC_PROFILES[self.profile]

    def _network(self, build: Callable[..., DMC], length: int) -> DMC:
        """The untrained network; its initial weights depend on the seed only. (Which
        combinations of options fit together is :meth:`metaclf.spec.RunSpec.validate`'s to say.)"""
        torch.manual_seed(self.random_state)
        return build(length, len(self.classes_), self._profile(), self.norm)

    def _train(self, net: DMC, sample: Sampler, records: WeightSet, y: np.ndarray) -> None:
        prof = self._profile()
        steps = self.steps or prof.steps(self.kind, len(y))
        # what training depends on: not the checkpoint's path, nor how BN evaluates
        params = {k: v for k, v in self.get_params().items() if k not in ("bn_stats", "checkpoint")}
        settings = {**params, "profile": asdict(prof), "train_models": sorted(set(records.model_id.tolist()))}
        fit = train(net, sample, y, steps, Path(self.checkpoint) if self.checkpoint else None, settings,
                    self.device, self.random_state, desc=f"{self.kind} DMC")
        self.model_, self.history_, self.train_seconds_ = net, fit["history"], round(fit["train_seconds"], 2)
        self.n_weights_ = n_weights(net)
        self.steps_ = steps


class LocalDMC(_DMCEstimator):
    """The local DMC: a window of ``subset_size`` consecutive weights of the ``part`` weights."""

    snapshots = recipe.LOCAL_SNAPSHOTS
    kind = "local"

    def __init__(self, subset_size: int = recipe.SUBSET_SIZE, part: str = "all", profile: str = "mini",
                 steps: int | None = None, norm: str = "batch", eval_positions: int | None = None,
                 bn_stats: str = "population", device: str = "cpu", random_state: int = 0,
                 checkpoint: str | None = None):
        self._keep(locals())

    def usable(self, records: WeightSet, split: str) -> WeightSet:
        return usable_windows(records, self.part, self.subset_size, split)

    def windows(self, records: WeightSet, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Network inputs [len(rows), S]: the windows at relative positions ``u`` of the part."""
        lo, hi = part_bounds(records.lengths(), records.n_conv, self.part)
        starts = window_starts(lo[rows], hi[rows], self.subset_size, np.asarray(u, float))
        return np.asarray(windows_at(records, rows, starts, self.subset_size), np.float32)

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
    kind = "global"

    def __init__(self, profile: str = "mini", steps: int | None = None, norm: str = "batch",
                 bn_stats: str = "population", device: str = "cpu", random_state: int = 0,
                 checkpoint: str | None = None):
        self._keep(locals())

    def check_config(self, config: str) -> None:
        if not get_config(config).fixed_architecture:
            raise ValueError(f"the global DMC needs a fixed architecture; {config} has random architectures")

    def _fit(self, records: WeightSet, y: np.ndarray) -> None:
        if not records.fixed:
            raise ValueError("the global DMC needs records of one fixed architecture")
        net = self._network(global_dmc, records.weights.shape[1])
        self._train(net, lambda b, rng: np.asarray(records.weights[b], np.float32), records, y)

    def _window_scores(self, records: WeightSet) -> np.ndarray:
        return predict_proba(self.model_, np.asarray(records.weights, np.float32), self.device,
                             bn_stats=self.bn_stats, seed=self.random_state)[None]
