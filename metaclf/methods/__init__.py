"""Every meta-classifier, in one registry.

``make(name, **params)`` builds an estimator (:class:`metaclf.methods.base.MetaClassifier`:
``fit``, ``predict_proba``, ``predict``, ``score``, ``window_scores``) from its registry name;
:func:`metaclf.evaluate.evaluate` runs any of them from a :class:`metaclf.spec.RunSpec`. The
registry names each estimator by its module, so reading it (the command lines do, to list
their choices) imports neither scikit-learn nor torch.

The registry holds the paper's methods, the confound baseline, the regressors of accuracy
from weights (``task="accuracy"``, :mod:`metaclf.methods.regressors`), and nothing else: variants
beyond the paper are options of a run (:class:`metaclf.spec.RunSpec`: ``norm``, ``bn_stats``,
``members``, ``test_configs``) when a result shows them best at something, and left the code
otherwise (``docs/experiments/``).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Method:
    """A registry entry: where its estimator lives, its parameters, what it is."""

    estimator: str  #: "module:Class", the module relative to this package
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    paper: bool = True  #: part of the paper's recipe (False: beyond the paper)
    fixed_architecture: bool = False  #: needs one architecture for every model
    windows: bool = False  #: reads windows of S weights (takes ``part`` and ``subset_size``)
    dmc: bool = False  #: a deep meta-classifier (takes the DMC options of a run)
    tunable: bool = False  #: its hyper-parameters can be chosen by grouped cross-validation (``tune``)
    task: str = "classification"  #: or "accuracy": a regressor of accuracy from weights

    def load(self) -> type:
        module, name = self.estimator.split(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), name)


_FEATURES = {"global": "16 statistics of the whole θ and ∇θ", "layerwise": "16 statistics per layer and weight kind",
             "local": "16 statistics of each of 10 windows of S weights"}

METHODS: dict[str, Method] = {
    **{f"svm-{k}-{f}": Method("svm:SVMClassifier", {"kernel": k, "features": f},
                              f"{'linear' if k == 'linear' else 'RBF'} SVM on {what}",
                              fixed_architecture=f == "layerwise", windows=f == "local", tunable=True)
       for f, what in _FEATURES.items() for k in ("linear", "rbf")},
    "dmc-local": Method("dmc:LocalDMC", {}, "the local DMC of Table 3: a 1D CNN on windows of S raw weights",
                        windows=True, dmc=True),
    "dmc-global": Method("dmc:GlobalDMC", {}, "the global DMC of Table 3: a 1D CNN on the whole θ",
                         fixed_architecture=True, dmc=True),
    "hparams-baseline": Method("baseline:HyperParameterBaseline", {},
                               "confound baseline: the target from the other hyper-parameters, no weights",
                               paper=False),
    "gbm-layerwise": Method("regressors:AccuracyRegressor", {"model": "gbm", "features": "layerwise"},
                            "accuracy from weights: gradient-boosted trees on layer-wise statistics (StatNN)",
                            paper=False, fixed_architecture=True, tunable=True, task="accuracy"),
    "linear-global": Method("regressors:AccuracyRegressor", {"model": "linear", "features": "global"},
                            "accuracy from weights: least squares on the global statistics", paper=False,
                            task="accuracy"),
    "constant": Method("regressors:AccuracyRegressor", {"model": "constant", "features": "global"},
                       "accuracy from weights: the training mean, the floor", paper=False, task="accuracy"),
}


def make(name: str, **params: Any) -> Any:
    """The estimator registered as ``name``, with ``params`` overriding its defaults."""
    try:
        m = METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; expected one of {', '.join(METHODS)}") from None
    return m.load()(**{**m.params, **params})


__all__ = ["METHODS", "Method", "make"]
