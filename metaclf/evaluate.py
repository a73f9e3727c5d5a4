"""Model-level evaluation shared by the DMC entry points."""
from __future__ import annotations

from typing import Any

import numpy as np

from . import results
from .data import balanced_models


def model_level(probs: np.ndarray, model_ids: np.ndarray, labels: np.ndarray, classes: list[str], seed: int,
                draws: int = 10) -> dict[str, Any]:
    """Average record probabilities per model, then score ``draws`` class-balanced test draws of models."""
    models, inverse = np.unique(model_ids, return_inverse=True)
    summed = np.zeros((len(models), probs.shape[1]))
    np.add.at(summed, inverse, probs)
    model_labels = np.zeros(len(models), np.int64)
    model_labels[inverse] = labels
    pred = summed.argmax(1)
    truths, preds = [], []
    for r in range(draws):
        keep = balanced_models(models, model_labels, np.random.default_rng(seed + r))
        truths.append(model_labels[keep])
        preds.append(pred[keep])
    return results.classification_summary(truths, preds, classes)
