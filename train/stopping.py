"""Early stopping (App. A.2) and the choice of the 20 kept snapshots."""
from __future__ import annotations

import numpy as np

from nws_datasets.space import NUM_SNAPSHOTS


class EarlyStopping:
    """The paper's three criteria on validation accuracy v_t, checked after every epoch t,
    counted as the authors' ``classifier.py`` counts them.

    With v̂_t = α·v_t + (1 − α)·v̂_{t−1}, stop when t ≥ ``min_epochs`` and any of:
    (1) ``decreasing`` consecutive v_t < v_{t−1} (over-fitting); a stationary epoch
        (|v_t − v_{t−1}| < ``tol``) pauses this count, only a rise resets it;
    (2) ``below_smoothed`` epochs in total with v_t < v̂_{t−1} (noisy plateau);
    (3) ``stationary`` consecutive |v_t − v_{t−1}| < ``tol`` (stuck).

    ``min_epochs`` is 19: the authors' code allows stopping once 20 validation evaluations
    exist (initialization and epochs 1–19), which is what guarantees 20 distinct snapshots;
    the paper's text says t ≥ 20.
    """

    def __init__(self, min_epochs: int = 19, decreasing: int = 5, below_smoothed: int = 30,
                 stationary: int = 30, alpha: float = 0.5, tol: float = 1e-8):
        self.min_epochs, self.alpha, self.tol = min_epochs, alpha, tol
        self.limits = {"decreasing": decreasing, "below_smoothed": below_smoothed, "stationary": stationary}
        self.counts = dict.fromkeys(self.limits, 0)
        self.t = -1
        self.prev = self.smoothed = float("nan")

    def update(self, v: float) -> str | None:
        """Feed v_t (the first call is epoch 0, at initialization); return the criterion that fires."""
        self.t += 1
        if self.t == 0:
            self.prev = self.smoothed = v
            return None
        c = self.counts
        if v < self.prev:
            c["decreasing"] += 1
            c["stationary"] = 0
        elif abs(v - self.prev) < self.tol:
            c["stationary"] += 1
        else:
            c["decreasing"] = c["stationary"] = 0
        c["below_smoothed"] += v < self.smoothed
        self.prev, self.smoothed = v, self.alpha * v + (1 - self.alpha) * self.smoothed
        if self.t >= self.min_epochs:
            for name, limit in self.limits.items():
                if c[name] >= limit:
                    return name
        return None


def snapshot_epochs(last_epoch: int, n: int = NUM_SNAPSHOTS) -> list[int]:
    """Epochs kept for a training that stopped after ``last_epoch``: round(linspace(0, T, 20))."""
    return [int(e) for e in np.round(np.linspace(0, last_epoch, n))]
