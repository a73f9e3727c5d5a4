"""Weights and labels for meta-classification, read through the public loading API (:func:`nws_datasets.load`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nws_datasets import load
from nws_datasets.schema import features
from nws_datasets.space import CONFIGS, TARGETS, get_config


@dataclass
class WeightSet:
    """Records of one split: θ (a 2D array for a fixed architecture, else a list of 1D arrays)."""

    weights: np.ndarray | list[np.ndarray]
    n_conv: np.ndarray  # conv/FC split point of each record
    labels: np.ndarray  # class index of the target
    model_id: np.ndarray
    snapshot: np.ndarray
    layout: str  # JSON layout of the first record (all records share it for a fixed architecture)
    #: every hyper-parameter of each record (class indices; ``learning_rate`` as a float), for
    #: the confound baseline that predicts the target from the other hyper-parameters
    hparams: dict[str, np.ndarray] = field(default_factory=dict)
    #: a real-valued target per record (accuracy from weights), None for classification
    values: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, rows: np.ndarray) -> WeightSet:
        """The records ``rows`` (indices or a boolean mask), in that order."""
        rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows, np.int64)
        weights = self.weights[rows] if self.fixed else [self.weights[i] for i in rows]
        return WeightSet(weights, self.n_conv[rows], self.labels[rows], self.model_id[rows], self.snapshot[rows],
                         self.layout, {k: v[rows] for k, v in self.hparams.items()},
                         None if self.values is None else self.values[rows])

    @classmethod
    def concat(cls, sets: list[WeightSet]) -> WeightSet:
        """The records of ``sets`` one after another (their model ids must already be distinct)."""
        fixed = all(w.fixed for w in sets)
        weights = np.concatenate([w.weights for w in sets]) if fixed else [x for w in sets for x in w.weights]
        cat = {k: np.concatenate([getattr(w, k) for w in sets]) for k in ("n_conv", "labels", "model_id", "snapshot")}
        values = None if any(w.values is None for w in sets) else np.concatenate([w.values for w in sets])
        return cls(weights, **cat, layout=sets[0].layout,
                   hparams={k: np.concatenate([w.hparams[k] for w in sets]) for k in sets[0].hparams}, values=values)

    @classmethod
    def from_array(cls, weights: np.ndarray, labels: np.ndarray) -> WeightSet:
        """Records from a plain [n, L] array (one model per row, no conv/FC split): the
        scikit-learn view, so that any estimator also fits a bare weight matrix."""
        weights = np.asarray(weights, np.float32)
        if weights.ndim != 2:
            raise ValueError(f"expected weights of shape [records, weights], got {weights.shape}")
        n = len(weights)
        return cls(weights, np.full(n, weights.shape[1]), np.asarray(labels, np.int64), np.arange(n),
                   np.zeros(n, np.int64), "")

    @property
    def fixed(self) -> bool:
        return isinstance(self.weights, np.ndarray)

    def lengths(self) -> np.ndarray:
        return np.full(len(self), self.weights.shape[1]) if self.fixed else np.array([len(w) for w in self.weights])


class TargetError(ValueError):
    """A target that does not exist or cannot be learned from this config."""


def check_target(target: str, config: str) -> list[str]:
    """Class names of ``target`` in ``config``; raise :class:`TargetError` if it is unusable."""
    if target not in TARGETS:
        raise TargetError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")
    cfg = get_config(config)
    if len(cfg.options(target)) < 2:
        raise TargetError(f"target {target!r} is fixed to {cfg.options(target)[0]} in {config}; "
                          f"use a random-architecture config ({', '.join(c for c in CONFIGS if 'main' in c)})")
    return cfg.label_names(target)


class DataError(ValueError):
    """The NWS holds too few usable models for a meta-classifier; the message says how many and why."""


def load_split(config: str, split: str, target: str, snapshots: tuple[int, ...], data_dir: str | None = None,
               converged_only: bool = True, min_classes: int = 2) -> WeightSet:
    """Load one split of an NWS config for one target (converged models only by default).

    Raises :class:`DataError` when the split has no model or fewer than ``min_classes``
    classes of ``target``, naming how many models there are and why too few qualify.
    """
    which = "converged " if converged_only else ""
    try:
        ds = load(config, split=split, data_dir=data_dir, snapshots=snapshots, converged_only=converged_only)
    except ValueError as err:
        if "split" not in str(err).lower():
            raise
        if split == "train" and get_config(config).num_train_models == 0:
            raise DataError(f"{config} holds test models only: train on another config and pass {config} "
                            "as a test config (--test-config)") from None
        total = model_frame(config, data_dir, converged_only=False)
        n = int((total["split"] == split).sum()) if len(total) else 0
        raise DataError(f"{config}: no {which}model in the {split} split ({n} finished models there"
                        + (", none converged; --include-unconverged uses them all" if converged_only and n else "")
                        + ")") from None
    found = np.unique(np.asarray(ds[target]))
    if len(found) < min_classes:
        names = ds.features[target].names
        n_models = len(np.unique(np.asarray(ds["model_id"])))
        raise DataError(f"{config}: the {split} split has {n_models} {which}models, all with {target} = "
                        f"{', '.join(names[i] for i in found)}; a meta-classifier needs at least 2 classes "
                        "(generate more models" + (" or pass --include-unconverged)" if converged_only else ")"))
    hp_names = [*TARGETS, "learning_rate"]
    cols = ds.with_format("numpy", columns=["weights", "n_conv_weights", "model_id", "snapshot", *hp_names])[:]
    weights = cols["weights"]
    if weights.dtype == object:
        weights = [np.asarray(w, np.float32) for w in weights]
    return WeightSet(weights, cols["n_conv_weights"].astype(np.int64), cols[target].astype(np.int64),
                     cols["model_id"].astype(np.int64), cols["snapshot"].astype(np.int64), ds[0]["layout"],
                     {k: cols[k] for k in hp_names})


def load_accuracy_split(config: str, split: str, target: str, data_dir: str | None = None,
                        converged_only: bool = False) -> WeightSet:
    """Every snapshot of every finished model of one split (converged only if asked), with the
    accuracy target ``target`` of :data:`metaclf.recipe.ACCURACY_TARGETS` as ``values``: test
    accuracy, or the generalization gap (train − test accuracy) of each snapshot."""
    from .recipe import ACCURACY_TARGETS

    if target not in ACCURACY_TARGETS:
        raise TargetError(f"unknown accuracy target {target!r}; expected one of {', '.join(ACCURACY_TARGETS)}")
    try:
        ds = load(config, split=split, data_dir=data_dir, snapshots=None, converged_only=converged_only)
    except ValueError as err:
        if "split" not in str(err).lower():
            raise
        raise DataError(f"{config}: no {'converged ' * converged_only}model in the {split} split") from None
    cols = ds.with_format("numpy", columns=["weights", "n_conv_weights", "model_id", "snapshot", "test_accuracy",
                                            "train_accuracy"])[:]
    weights = cols["weights"]
    if weights.dtype == object:
        weights = [np.asarray(w, np.float32) for w in weights]
    test, train = cols["test_accuracy"].astype(np.float64), cols["train_accuracy"].astype(np.float64)
    n = len(test)
    return WeightSet(weights, cols["n_conv_weights"].astype(np.int64), np.zeros(n, np.int64),
                     cols["model_id"].astype(np.int64), cols["snapshot"].astype(np.int64), ds[0]["layout"],
                     values=test if target == "test_accuracy" else train - test)


def balanced_models(model_ids: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                    per_class: int | None = None) -> np.ndarray:
    """Boolean mask of records whose model is in a random class-balanced subset of models.

    Every class keeps K models, K being the size of the smallest class present, or
    ``per_class`` where that is smaller (a learning curve's point); all records (snapshots,
    windows) of a kept model are kept. Models are drawn at random, not first-K.
    """
    if per_class is not None and per_class < 1:
        raise ValueError(f"per_class={per_class}: expected at least 1 model per class")
    models, first = np.unique(model_ids, return_index=True)
    model_labels = labels[first]
    classes, counts = np.unique(model_labels, return_counts=True)
    k = counts.min() if per_class is None else min(counts.min(), per_class)
    keep = np.concatenate([rng.choice(models[model_labels == c], k, replace=False) for c in classes])
    return np.isin(model_ids, keep)


def model_frame(config: str, data_dir: str | None = None, snapshots: tuple[int, ...] | None = (-1,),
                converged_only: bool = False):
    """A pandas DataFrame of the NWS records without θ (one row per model and kept snapshot).

    Categorical hyper-parameters are decoded to their option names. It loads every column
    but ``weights``, so only each file's header is read and θ never enters the Arrow cache:
    this stays small and fast for the paper-sized configs.
    """
    ds = load(config, split=None, data_dir=data_dir, snapshots=snapshots, converged_only=converged_only,
              columns=list(features(get_config(config), weights=False)))
    import pandas as pd

    frames = []
    for split, part in ds.items():
        part = part.remove_columns(["layout"])
        df = part.to_pandas()
        for name in TARGETS:
            df[name] = [part.features[name].names[i] for i in df[name]]
        df["split"] = split
        frames.append(df)
    if not frames:  # e.g. converged_only and nothing converged: no split exists
        names = [k for k in features(get_config(config), weights=False) if k != "layout"]
        return pd.DataFrame(columns=[*names, "split"])
    return pd.concat(frames, ignore_index=True)
