"""SVM baselines on hand-crafted statistics of the weights (App. E).

Features: ``global`` (16 statistics of θ and ∇θ), ``layerwise`` (16 per layer and weight
kind: 480 for the fixed architecture) or ``local`` (16 over each of ``windows`` random windows
of ``subset_size`` weights, each window one evaluation window). Standardized features, a
linear or RBF kernel, one-vs-rest, C = 1 (the paper's); with ``tune``, C (and γ of the RBF
kernel) chosen by cross-validation over the round's training models, grouped by model
(:mod:`metaclf.tuning`), the values chosen in ``selected_``.
"""
from __future__ import annotations

import numpy as np
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

from nws_datasets.space import get_config

from .. import recipe
from ..data import WeightSet
from ..features import FEATURES, local_features, usable_windows, whole_theta_features
from ..tuning import grouped_search
from .base import MetaClassifier

FEATURE_SETS = ("global", "layerwise", "local")
KERNELS = ("linear", "rbf")


class SVMClassifier(MetaClassifier):
    """Linear or RBF SVM on global, layer-wise or local statistics of θ."""

    default_rounds = recipe.SVM_ROUNDS

    def __init__(self, kernel: str = "linear", features: str = "global", subset_size: int = recipe.SUBSET_SIZE,
                 windows: int = recipe.LOCAL_FEATURE_WINDOWS, part: str = "all", tune: bool = False,
                 random_state: int = 0):
        self._keep(locals())

    @property
    def snapshots(self) -> tuple[int, ...]:
        return recipe.SNAPSHOTS[self.features]

    def _check(self) -> None:
        if self.kernel not in KERNELS:
            raise ValueError(f"kernel {self.kernel!r} is not valid: expected {' or '.join(KERNELS)}")
        if self.features not in FEATURE_SETS:
            raise ValueError(f"features {self.features!r} is not valid: expected {', '.join(FEATURE_SETS)}")

    def check_config(self, config: str) -> None:
        self._check()
        if self.features == "layerwise" and not get_config(config).fixed_architecture:
            raise ValueError(f"layer-wise features need a fixed architecture; {config} has random architectures")

    def usable(self, records: WeightSet, split: str) -> WeightSet:
        if self.features != "local":
            return records
        return usable_windows(records, self.part, self.subset_size, split)

    def _featurize(self, records: WeightSet) -> tuple[np.ndarray, list[str]]:
        """[W, n, F] features of the W evaluation windows of every record, and their names."""
        if self.features != "local":
            f, names = whole_theta_features(records, self.features)
            return f[None], names
        f, rows = local_features(records.weights, records.n_conv, self.subset_size, self.windows, self.part,
                                 self.random_state)
        if len(rows) != len(records) * self.windows:
            raise ValueError(f"a record is shorter than the window of {self.subset_size} weights")
        return f.reshape(len(records), self.windows, -1).transpose(1, 0, 2), list(FEATURES)

    def _fit(self, records: WeightSet, y: np.ndarray) -> None:
        self._check()
        f, names = self._featurize(records)
        clf = LinearSVC(C=1.0, dual="auto", max_iter=5000, random_state=self.random_state) if self.kernel == "linear" \
            else OneVsRestClassifier(SVC(kernel="rbf", C=1.0, gamma="scale"))
        X, Y = f.reshape(-1, f.shape[2]), np.tile(y, len(f))
        if self.tune:
            self.pipeline_, self.selected_ = grouped_search(make_pipeline(StandardScaler(), clf), self._grid(f.shape[2]),
                                                            X, Y, np.tile(records.model_id, len(f)))
        else:
            self.pipeline_ = make_pipeline(StandardScaler(), clf).fit(X, Y)
        self.n_features_in_ = f.shape[2]
        self.feature_names_ = names
        if self.kernel == "linear":  # Fig. 3/16/17: norm over classes of the coefficients
            self.feature_importances_ = np.linalg.norm(self.pipeline_[-1].coef_, axis=0)

    def _grid(self, n_features: int) -> dict[str, list]:
        """The search grid of :data:`metaclf.recipe.GRIDS`, named as the pipeline's steps (γ
        scaled by 1/features, the ``gamma="scale"`` of standardized features)."""
        if self.kernel == "linear":
            return {f"linearsvc__{k}": v for k, v in recipe.GRIDS["linear"].items()}
        grid = recipe.GRIDS["rbf"]
        return {"onevsrestclassifier__estimator__C": grid["C"],
                "onevsrestclassifier__estimator__gamma": [g / n_features for g in grid["gamma"]]}

    def _window_scores(self, records: WeightSet) -> np.ndarray:
        f, _ = self._featurize(records)
        d = self.pipeline_.decision_function(f.reshape(-1, f.shape[2]))
        if d.ndim == 1:  # binary: one margin, for the second class
            d = np.stack([-d, d], axis=1)
        return d.reshape(f.shape[0], f.shape[1], -1)

    def _probabilities(self, scores: np.ndarray) -> np.ndarray:
        """One-vs-rest margins → normalized logistic scores (not calibrated probabilities)."""
        p = 1 / (1 + np.exp(-scores))
        return p / p.sum(-1, keepdims=True)
