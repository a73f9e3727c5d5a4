"""The estimator API every meta-classifier shares, in the style of scikit-learn.

A meta-classifier is fitted on NWS records (:class:`metaclf.data.WeightSet`, or a plain
[n, L] weight matrix) and their labels. Parameters are set in ``__init__`` and read back by
``get_params`` (so :func:`sklearn.base.clone` works); fitted state ends in ``_``.

Beyond ``fit`` / ``predict_proba`` / ``predict`` / ``score``, every method exposes
:meth:`MetaClassifier.window_scores`: class scores of each *evaluation window* of every record
(one window for whole-θ methods, several positions for local ones), which is what the paper
scores and what :func:`metaclf.evaluate.score` counts.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from ..data import WeightSet


def as_records(X: WeightSet | np.ndarray, y: np.ndarray | None = None) -> WeightSet:
    """Records from a :class:`WeightSet` or a plain [n, L] array (``y`` then gives the labels)."""
    if isinstance(X, WeightSet):
        return X
    return WeightSet.from_array(X, np.zeros(len(X), np.int64) if y is None else y)


class MetaClassifier(ClassifierMixin, BaseEstimator):
    """Base class: subclasses implement ``_fit(records, y)`` and ``window_scores(X)``."""

    #: snapshots the method trains and is tested on (a recipe fact)
    snapshots: tuple[int, ...] = ()
    #: independent class-balanced training rounds the evaluation loop runs by default
    default_rounds: int = 1

    def _keep(self, params: dict[str, Any]) -> None:
        """Store ``__init__``'s arguments (``locals()``) as attributes of the same names, which
        is where scikit-learn's ``get_params`` reads them back."""
        for k, v in params.items():
            if k not in ("self", "__class__"):
                setattr(self, k, v)

    def fit(self, X: WeightSet | np.ndarray, y: np.ndarray | None = None) -> MetaClassifier:
        """Fit on records ``X`` with labels ``y`` (default: ``X.labels``)."""
        records = as_records(X, y)
        y = records.labels if y is None else np.asarray(y, np.int64)
        if len(np.unique(y)) < 2:
            raise ValueError(f"{type(self).__name__}.fit needs at least 2 classes, got {np.unique(y).tolist()}")
        self.classes_ = np.unique(y)
        self._fit(records, np.searchsorted(self.classes_, y))
        return self

    def _fit(self, records: WeightSet, y: np.ndarray) -> None:
        """Fit on labels ``y`` re-indexed to 0..len(classes_) − 1."""
        raise NotImplementedError

    def _window_scores(self, records: WeightSet) -> np.ndarray:
        """[W, n, len(classes_)] class scores of W evaluation windows of each record."""
        raise NotImplementedError

    def _probabilities(self, scores: np.ndarray) -> np.ndarray:
        """Window scores → probabilities (the DMCs already score with probabilities)."""
        return scores

    def window_scores(self, X: WeightSet | np.ndarray) -> np.ndarray:
        """Class scores [W, n, C] of the W evaluation windows of each of the n records, with
        one column per label index 0..max(classes_) (a class absent in training scores −inf)."""
        s = self._window_scores(as_records(X))
        out = np.full(s.shape[:-1] + (int(self.classes_.max()) + 1,), -np.inf)
        out[..., self.classes_] = s
        return out

    def predict_proba(self, X: WeightSet | np.ndarray) -> np.ndarray:
        """[n, len(classes_)] probabilities per record: its window probabilities averaged."""
        return self._probabilities(self._window_scores(as_records(X))).mean(0)

    def predict(self, X: WeightSet | np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(1)]

    def score(self, X: WeightSet | np.ndarray, y: np.ndarray | None = None, sample_weight: Any = None) -> float:
        """Accuracy per evaluation window (the paper's count), not per record."""
        records = as_records(X, y)
        y = records.labels if y is None else np.asarray(y)
        pred = self.classes_[self._window_scores(records).argmax(2)]
        return float(np.mean(pred == y[None]))

    # hooks of the evaluation loop
    def check_config(self, config: str) -> None:
        """Raise ``ValueError`` if the method cannot run on ``config`` (e.g. needs a fixed architecture)."""

    def usable(self, records: WeightSet, split: str) -> WeightSet:
        """The records this method can read (e.g. long enough for its window)."""
        return records
