"""Scoring of the DMCs: per window (as the paper and the SVMs score) and, labelled, per model."""
from __future__ import annotations

from typing import Any

import numpy as np

from . import results
from .data import balanced_models


def dmc_scores(probs: np.ndarray, model_ids: np.ndarray, labels: np.ndarray, classes: list[str], seed: int,
               draws: int = 10) -> dict[str, Any]:
    """Score window probabilities ``probs`` [P, R, C] (P window positions of R test records).

    The headline accuracy is per window: every (position, record) is one prediction, as the
    paper and the SVMs count, over ``draws`` class-balanced draws of test models. ``per_model``
    averages each model's probabilities over its windows and snapshots first, then scores the
    same draws (majority per model).
    """
    probs = np.asarray(probs)
    if probs.ndim == 2:
        probs = probs[None]
    models, inverse = np.unique(model_ids, return_inverse=True)
    model_labels = np.zeros(len(models), np.int64)
    model_labels[inverse] = labels
    summed = np.zeros((len(models), probs.shape[2]))
    np.add.at(summed, inverse, probs.sum(0))
    window_pred = probs.argmax(2)  # [P, R]
    model_pred = summed.argmax(1)
    w_true, w_pred, m_true, m_pred = [], [], [], []
    for r in range(draws):
        keep = balanced_models(models, model_labels, np.random.default_rng(seed + r))
        rows = np.isin(model_ids, models[keep])
        w_true.append(np.tile(labels[rows], probs.shape[0]))
        w_pred.append(window_pred[:, rows].reshape(-1))
        m_true.append(model_labels[keep])
        m_pred.append(model_pred[keep])
    out = results.classification_summary(w_true, w_pred, classes)
    per_model = results.classification_summary(m_true, m_pred, classes)
    out["per_model"] = {k: per_model[k] for k in ("accuracy_mean", "accuracy_std", "accuracy_rounds", "chance",
                                                   "per_class_accuracy", "confusion_matrix")}
    out["scoring"] = ("accuracy: per window (every window position of every test record is one prediction); "
                      "per_model: probabilities averaged over a model's windows and snapshots; both over "
                      f"{draws} class-balanced draws of test models")
    return out
