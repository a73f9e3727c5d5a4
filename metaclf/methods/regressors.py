"""Accuracy from weights (beyond the paper): regressors of a snapshot's accuracy on statistics of θ.

The Small CNN Zoo's task (Unterthiner et al. 2020, "Predicting Neural Network Accuracy from
Weights"): ``gbm`` is StatNN's gradient-boosted trees (scikit-learn's
``HistGradientBoostingRegressor``) on the layer-wise statistics, ``linear`` an ordinary least
squares on the standardized global statistics, ``constant`` the training mean, the floor every
method must clear. With ``tune`` the GBM's depth and learning rate are chosen by grouped
cross-validation over the training models (:mod:`metaclf.tuning`).
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .. import recipe
from ..data import WeightSet
from ..features import whole_theta_features
from ..tuning import grouped_search

MODELS = ("gbm", "linear", "constant")


class AccuracyRegressor(RegressorMixin, BaseEstimator):
    """A regressor of each record's accuracy target from global or layer-wise statistics of θ."""

    snapshots: tuple[int, ...] | None = None  #: every snapshot of every model
    default_rounds = 1

    def __init__(self, model: str = "gbm", features: str = "layerwise", tune: bool = False, random_state: int = 0):
        self.model, self.features, self.tune, self.random_state = model, features, tune, random_state

    def check_config(self, config: str) -> None:
        from nws_datasets.space import get_config

        if self.model not in MODELS:
            raise ValueError(f"model {self.model!r} is not valid: expected one of {', '.join(MODELS)}")
        if self.features == "layerwise" and not get_config(config).fixed_architecture:
            raise ValueError(f"layer-wise features need a fixed architecture; {config} has random architectures")

    def _estimator(self):
        if self.model == "gbm":
            return HistGradientBoostingRegressor(random_state=self.random_state)
        if self.model == "linear":
            return make_pipeline(StandardScaler(), LinearRegression())
        return DummyRegressor(strategy="mean")

    def fit(self, records: WeightSet, y: np.ndarray | None = None) -> AccuracyRegressor:
        """Fit on ``records`` and their targets ``y`` (default: ``records.values``)."""
        y = np.asarray(records.values if y is None else y, np.float64)
        X, self.feature_names_ = whole_theta_features(records, self.features)
        self.n_features_in_ = X.shape[1]
        if self.tune and self.model == "gbm":
            self.estimator_, self.selected_ = grouped_search(self._estimator(), recipe.GRIDS["gbm"], X, y,
                                                             records.model_id, scoring="r2")
        else:
            self.estimator_ = self._estimator().fit(X, y)
        return self

    def predict(self, records: WeightSet) -> np.ndarray:
        return self.estimator_.predict(whole_theta_features(records, self.features)[0])
