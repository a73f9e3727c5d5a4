"""The confound baseline: how well the target is predicted from the *other* hyper-parameters.

Hyper-parameters are drawn independently, but a meta-classifier trains and tests on the
models that converged, and convergence depends on them (constant initialization never
converges, sigmoid converges less often, ...). Through that filter one hyper-parameter can
reveal another. This estimator never looks at the weights: it reads every hyper-parameter of
a record except the target (categorical ones one-hot, the learning rate as is) with a random
forest. A weight-space method that does not beat it by a clear margin may be reading the
confound, not the target.
"""
from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from threadpoolctl import threadpool_limits

from nws_datasets.space import HP, TARGETS

from .. import recipe
from ..data import WeightSet
from .base import MetaClassifier


class HyperParameterBaseline(MetaClassifier):
    """Random forest on the other hyper-parameters of each record (never the weights)."""

    snapshots = (-1,)  # hyper-parameters are the same at every snapshot: one record per model
    default_rounds = recipe.SVM_ROUNDS

    def __init__(self, target: str | None = None, n_estimators: int = 300, random_state: int = 0):
        self._keep(locals())

    def _design(self, records: WeightSet) -> np.ndarray:
        if not records.hparams:
            raise ValueError("the records carry no hyper-parameters (load them with metaclf.data.load_split)")
        if self.target not in records.hparams:
            raise ValueError(f"set target= to one of {', '.join(TARGETS)} (got {self.target!r})")
        cols = []
        for name in TARGETS:
            if name != self.target:
                width = len(HP[name].options)
                cols.append(np.asarray(records.hparams[name])[:, None] == np.arange(width)[None])  # one-hot
        cols.append(np.asarray(records.hparams["learning_rate"], float)[:, None])
        return np.hstack(cols).astype(float)

    def _fit(self, records: WeightSet, y: np.ndarray) -> None:
        self.forest_ = RandomForestClassifier(self.n_estimators, min_samples_leaf=2, random_state=self.random_state)
        with threadpool_limits(1):  # idle OpenMP/BLAS pools left spinning slow torch down afterwards
            self.forest_.fit(self._design(records), y)

    def _window_scores(self, records: WeightSet) -> np.ndarray:
        with threadpool_limits(1):
            return self.forest_.predict_proba(self._design(records))[None]
