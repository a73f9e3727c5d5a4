"""Accuracy from weights: how :func:`metaclf.evaluate.evaluate` runs and scores a regressor.

Train on every snapshot of every finished training model of the config (converged only if the
spec asks), predict every snapshot of every test model (the config's split by model), and
score the predictions over test records:

- **r2** (``sklearn.metrics.r2_score``), **kendall_tau** (τ-b, ``scipy.stats.kendalltau``) and
  **rmse**, each with a percentile bootstrap 95% CI that resamples test models (all snapshots
  of a drawn model together);
- **chance**: what ignoring the weights gives: R² and τ of 0, and the RMSE of predicting the
  training models' mean.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
from scipy import stats
from sklearn.base import clone
from sklearn.metrics import r2_score

from . import recipe
from .data import load_accuracy_split
from .spec import RunSpec

METRICS = ("r2", "kendall_tau", "rmse")


def _metrics(true: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    tau = stats.kendalltau(true, pred).statistic if np.ptp(pred) > 0 and np.ptp(true) > 0 else 0.0
    return {"r2": float(r2_score(true, pred)), "kendall_tau": float(tau),
            "rmse": float(np.sqrt(np.mean((true - pred) ** 2)))}


def regression_score(true: np.ndarray, pred: np.ndarray, model_id: np.ndarray, train_mean: float,
                     seed: int = 0) -> dict[str, Any]:
    """R², Kendall τ and RMSE of ``pred`` against ``true`` over test records, with bootstrap
    95% CIs over test models, and the chance levels."""
    true, pred = np.asarray(true, np.float64), np.asarray(pred, np.float64)
    models, inverse = np.unique(model_id, return_inverse=True)
    rows = [np.flatnonzero(inverse == i) for i in range(len(models))]
    rng = np.random.default_rng(seed)
    boot = {k: [] for k in METRICS}
    for _ in range(recipe.BOOTSTRAP_REPLICATES):
        idx = np.concatenate([rows[i] for i in rng.integers(0, len(models), len(models))])
        for k, v in _metrics(true[idx], pred[idx]).items():
            boot[k].append(v)
    a = (1 - recipe.CONFIDENCE) / 2
    out: dict[str, Any] = _metrics(true, pred)
    out["ci95"] = {k: [float(np.quantile(v, a)), float(np.quantile(v, 1 - a))] for k, v in boot.items()}
    out["chance"] = {"r2": 0.0, "kendall_tau": 0.0, "rmse": float(np.sqrt(np.mean((true - train_mean) ** 2)))}
    out["scoring"] = ("over test records (every snapshot of every test model); ci95: percentile bootstrap over "
                      "test models; chance: ignoring the weights (R² 0, τ 0, RMSE of the training mean)")
    return out


def evaluate_accuracy(spec: RunSpec, *, data_dir: str | None = None,
                      return_estimators: bool = False) -> dict[str, Any] | tuple[dict[str, Any], list[Any]]:
    """Train the regressor of ``spec`` on the training models and score it on the test models."""
    from .evaluate import _jsonable, estimator

    start = time.perf_counter()
    est = estimator(spec.validate())
    est.check_config(spec.config)
    train = load_accuracy_split(spec.config, "train", spec.target, data_dir, spec.converged_only)
    test = load_accuracy_split(spec.config, "test", spec.target, data_dir, spec.converged_only)
    fitted = clone(est).set_params(random_state=spec.seed).fit(train)
    pred = fitted.predict(test)
    out = regression_score(test.values, pred, test.model_id, float(np.mean(train.values)), spec.seed)
    params = _jsonable(est.get_params())
    if spec.tune:
        params["selected"] = [_jsonable(getattr(fitted, "selected_", None))]
    which = "converged models" if spec.converged_only else "every finished model, converged or not"
    out.update({
        "task": "accuracy", "method": spec.method, "label": spec.label(), "spec": spec.to_json(),
        "config": spec.config, "target": spec.target, "params": params,
        "records": f"all {len(np.unique(test.snapshot))} snapshots of {which}",
        "train": {"models": int(len(np.unique(train.model_id))), "records": len(train)},
        "test": {"models": int(len(np.unique(test.model_id))), "records": len(test)},
        "predictions": {"model_id": test.model_id.tolist(), "snapshot": test.snapshot.tolist(),
                        "true": np.round(test.values, 6).tolist(), "predicted": np.round(pred, 6).tolist()},
        "seconds": round(time.perf_counter() - start, 2),
    })
    return (out, [fitted]) if return_estimators else out
