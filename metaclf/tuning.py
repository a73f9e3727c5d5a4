"""Model selection that never sees a test model: grid search over the training models of a
round, cross-validated in folds grouped by model.

Every record of a model (its snapshots and windows) falls into one fold, so no model is on
both sides of a split; the estimator is then refitted on all of the round's training records
with the best values. Only the training records a round hands to ``fit`` reach the search.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.model_selection import GridSearchCV, GroupKFold

from . import recipe


def grouped_search(estimator: Any, grid: dict[str, list], X: np.ndarray, y: np.ndarray, groups: np.ndarray,
                   scoring: str | None = None) -> tuple[Any, dict[str, Any]]:
    """(``estimator`` refitted with the best values of ``grid``, those values) by a grid search
    cross-validated over :data:`metaclf.recipe.CV_FOLDS` folds grouped by ``groups`` (model ids)."""
    folds = min(recipe.CV_FOLDS, len(np.unique(groups)))
    if folds < 2:
        raise ValueError(f"model selection needs at least 2 training models, got {len(np.unique(groups))}")
    search = GridSearchCV(estimator, grid, cv=GroupKFold(folds), scoring=scoring, refit=True, n_jobs=1,
                          error_score="raise")
    search.fit(X, y, groups=groups)
    selected = {k.rsplit("__", 1)[-1]: _plain(v) for k, v in search.best_params_.items()}
    return search.best_estimator_, {**selected, "cv_score": float(search.best_score_), "folds": folds}


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v
