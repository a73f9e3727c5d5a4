"""How much of a local DMC's accuracy comes from its batch-mates (beyond the paper).

The authors evaluated their DMCs with BatchNorm in training mode: each mini-batch of test
windows is normalized by its own statistics, so a window's prediction depends on the other
windows in its batch. Their batches were shuffled, so every batch mixes the classes. A
network trained on batch statistics can learn to judge a window *against* its batch-mates
("larger than the others here"), which only works while the batch holds several classes.

This analysis evaluates one trained DMC (its checkpoint) four ways, at the same window
positions and with the same scoring as :func:`metaclf.evaluate.evaluate`:

- ``population``: BN's population statistics from training inputs (ours, per window);
- ``test-population``: the statistics of all test windows at a position, then each window
  alone (AdaBN, per window);
- ``test-batch``: shuffled, class-mixed batches of about 64 (the authors' evaluation);
- ``test-batch, one class per batch``: the same batch statistics, but every batch holds
  windows of a single true class (the labels pick the batches: a diagnostic, not a
  classifier).

If ``test-batch`` is far above both per-window evaluations and ``one class per batch``
falls to chance, the test-batch accuracy comes from comparing windows of different classes
within a batch, not from reading each window.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..data import WeightSet
from ..evaluate import score
from ..methods.dmc import LocalDMC, predict_proba
from ..recipe import DMC_BATCH_SIZE as BATCH_SIZE

ONE_CLASS = "test-batch, one class per batch"
EVALUATIONS = {
    "population": "BN population statistics of training inputs (ours; each window alone)",
    "test-population": "BN statistics of all test windows at a position, then each window alone (AdaBN)",
    "test-batch": "each shuffled, class-mixed batch of ~64 test windows by its own statistics (the authors')",
    ONE_CLASS: "each batch of ~64 test windows of one true class by its own statistics (diagnostic)",
}


def class_batches(labels: np.ndarray, seed: int, batch_size: int = BATCH_SIZE) -> list[np.ndarray]:
    """Indices of ``labels`` split into batches of one class each, shuffled within the class,
    near-equal and of about ``batch_size`` (a class smaller than that is one batch)."""
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        out += np.array_split(idx, max(1, len(idx) // batch_size))
    return out


def batch_dependence(dmc: LocalDMC, test: WeightSet, classes: list[str], seed: int = 0) -> dict[str, Any]:
    """Score the fitted local ``dmc`` on ``test`` under every evaluation of :data:`EVALUATIONS`.

    ``test`` holds the test records of the classes ``dmc`` was trained on; each evaluation's
    entry is :func:`metaclf.evaluate.score`'s summary (class-balanced accuracy per window,
    95% CI over test models, per-class accuracy, per-model accuracy).
    """
    rows = np.arange(len(test))
    one_class = class_batches(test.labels, seed)
    scores = {name: np.full((len(dmc.positions()), len(test), int(dmc.classes_.max()) + 1), -np.inf)
              for name in EVALUATIONS}
    for k, u in enumerate(dmc.positions()):
        x = dmc.windows(test, rows, np.full(len(test), u))  # gathered once, scored every way
        for name, s in scores.items():
            s[k][:, dmc.classes_] = (
                predict_proba(dmc.model_, x, dmc.device, bn_stats="test-batch", batches=one_class) if name == ONE_CLASS
                else predict_proba(dmc.model_, x, dmc.device, bn_stats=name, seed=dmc.random_state))
    out: dict[str, Any] = {}
    for name, s in scores.items():
        res = score([s], test.labels, test.model_id, classes, seed)
        out[name] = {"what": EVALUATIONS[name], **{k: res[k] for k in ("accuracy_mean", "ci95", "chance",
                                                                        "per_class_accuracy", "confusion_matrix")},
                     "per_model": {k: res["per_model"][k] for k in ("accuracy_mean", "ci95")}}
    return out
