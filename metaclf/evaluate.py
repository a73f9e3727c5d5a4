"""The one evaluation loop of every meta-classifier, and how its predictions are scored.

:func:`evaluate` loads the training and test splits of a config for a target (the snapshots
the method asks for), trains the method on ``rounds`` independent class-balanced draws of
training models (random K per class, K the smallest class), predicts every evaluation window
of every test record, and scores the predictions with :func:`score`. With ``members`` > 1 a
round is an ensemble of that many independently trained estimators (beyond the paper).

Scoring is the same for every method, so numbers compare:

- **accuracy** is class-balanced accuracy per window: every evaluation window of every test
  record is one prediction (as the paper and its SVMs count), and the per-class accuracies
  are averaged, which is the expected accuracy on class-balanced test draws (the paper's
  protocol) without discarding test models. ``per_model`` is labelled separately: a model's
  scores are averaged over its windows and snapshots and it gets one prediction.
- **chance** is 1 / (classes present among the test models), for every method: the
  balanced accuracy of any predictor that ignores the weights.
- **uncertainty**: ``ci95`` is a percentile bootstrap that resamples rounds and, within each
  class, test models (both sources of variation at once); ``ci95_test_models`` resamples test
  models only (rounds averaged); ``ci95_rounds`` is the t interval over rounds (null for one
  round). Every result carries the number of training and test models behind it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats
from sklearn.base import clone
from sklearn.metrics import confusion_matrix

from nws_datasets.space import get_config

from . import recipe
from .data import DataError, WeightSet, balanced_models, check_target, load_split
from .methods import MetaClassifier, make


def _balanced_accuracy(correct: np.ndarray, total: np.ndarray, member: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Class-balanced accuracy of resampled models: ``weights`` [B, M] model multiplicities,
    ``correct`` [R, M] right windows per round, ``total`` [M] windows, ``member`` [K, M] class
    masks → [B, R]."""
    per_class = []
    for mask in member:
        w = weights * mask
        per_class.append((w @ correct.T) / np.maximum(w @ total, 1)[:, None])
    return np.mean(per_class, axis=0)


def _interval(values: np.ndarray) -> list[float]:
    a = (1 - recipe.CONFIDENCE) / 2
    return [float(np.quantile(values, a)), float(np.quantile(values, 1 - a))]


def _summary(correct: np.ndarray, total: np.ndarray, model_labels: np.ndarray, seed: int) -> dict[str, Any]:
    """Point estimate and intervals of class-balanced accuracy from per-model counts."""
    classes = np.unique(model_labels)
    member = (model_labels[None] == classes[:, None]).astype(float)
    rounds = _balanced_accuracy(correct, total, member, np.ones((1, len(total))))[0]
    rng = np.random.default_rng(seed)
    b, r = recipe.BOOTSTRAP_REPLICATES, len(rounds)
    weights = np.zeros((b, len(total)))
    for mask in member.astype(bool):  # stratified: each class keeps its number of test models
        idx = np.flatnonzero(mask)
        draws = rng.choice(idx, (b, len(idx)))
        np.add.at(weights, (np.repeat(np.arange(b), len(idx)), draws.ravel()), 1)
    acc = _balanced_accuracy(correct, total, member, weights)  # [B, R]
    round_weights = rng.multinomial(r, np.full(r, 1 / r), size=b) / r  # resampled rounds
    out = {"accuracy_mean": float(rounds.mean()), "accuracy_std": float(rounds.std()),
           "accuracy_rounds": rounds.tolist(),
           "ci95": _interval((acc * round_weights).sum(1)), "ci95_test_models": _interval(acc.mean(1)),
           "ci95_rounds": None, "chance": 1.0 / len(classes)}
    if r > 1 and rounds.std() == 0:
        out["ci95_rounds"] = [float(rounds[0])] * 2
    elif r > 1:
        lo, hi = stats.t.interval(recipe.CONFIDENCE, r - 1, loc=rounds.mean(), scale=stats.sem(rounds))
        out["ci95_rounds"] = [float(lo), float(hi)]
    return out


def score(window_scores: list[np.ndarray], labels: np.ndarray, model_ids: np.ndarray, classes: list[str],
          seed: int = 0) -> dict[str, Any]:
    """Score the predictions of one or more rounds; ``window_scores[r]`` is [W, n, C]: class
    scores of W evaluation windows of the n test records (W = 1 for whole-θ methods).

    Returns per-window accuracy (the headline), its intervals, chance, per-class accuracy and
    the confusion matrix pooled over rounds, and ``per_model`` with the same fields.
    """
    labels, model_ids = np.asarray(labels), np.asarray(model_ids)
    models, inverse = np.unique(model_ids, return_inverse=True)
    model_labels = np.zeros(len(models), np.int64)
    model_labels[inverse] = labels
    n_windows = np.zeros(len(models))
    np.add.at(n_windows, inverse, window_scores[0].shape[0])
    w_correct, m_correct, cm = [], [], 0
    for s in window_scores:
        s = np.asarray(s)
        pred = s.argmax(2)  # [W, n]
        right = np.zeros(len(models))
        np.add.at(right, inverse, (pred == labels[None]).sum(0))
        w_correct.append(right)
        summed = np.zeros((len(models), s.shape[2]))
        np.add.at(summed, inverse, s.sum(0))
        m_correct.append((summed.argmax(1) == model_labels).astype(float))
        cm = cm + confusion_matrix(np.tile(labels, s.shape[0]), pred.ravel(), labels=range(len(classes)))
    cm = np.asarray(cm)
    out = _summary(np.array(w_correct), n_windows, model_labels, seed)
    out.update({
        "classes": classes, "confusion_matrix": cm.tolist(),
        "per_class_accuracy": {c: float(cm[i, i] / cm[i].sum()) if cm[i].sum() else None for i, c in enumerate(classes)},
        "test_windows_per_record": int(window_scores[0].shape[0]),
    })
    out["per_model"] = _summary(np.array(m_correct), np.ones(len(models)), model_labels, seed + 1)
    out["scoring"] = ("accuracy: class-balanced accuracy per window (every evaluation window of every test record is "
                      "one prediction); per_model: scores averaged over a model's windows and snapshots; chance: "
                      "1/classes present; ci95: bootstrap over rounds and, per class, test models")
    return out


@dataclass(frozen=True)
class Splits:
    """The training and test records of one config and target, as loaded for a method's
    snapshots: what :func:`evaluate` reads, loaded once by :func:`load_splits` when several
    evaluations share them (the points of a learning curve)."""

    config: str
    target: str
    snapshots: tuple[int, ...]
    converged_only: bool
    train: WeightSet
    test: WeightSet
    test_configs: tuple[str, ...] = ()

    def serves(self, config: str, target: str, snapshots: tuple[int, ...], converged_only: bool,
               test_configs: tuple[str, ...] = ()) -> bool:
        """Whether these are the splits an evaluation of ``config``/``target`` at ``snapshots`` reads."""
        return (self.config, self.target, self.snapshots, self.converged_only, self.test_configs) == (
            config, target, tuple(snapshots), converged_only, tuple(test_configs))


def load_splits(method: str | MetaClassifier, config: str, target: str, *, data_dir: str | None = None,
                converged_only: bool = True, test_configs: tuple[str, ...] = (), **params: Any) -> Splits:
    """Both splits of ``config`` for ``target``, at the snapshots ``method`` (with ``params``) reads.

    ``test_configs`` (beyond the paper) pools the test models of other configs of the same
    sources and architecture kind (e.g. ``c_fixed_cpu_holdout`` for ``c_fixed_cpu``) with
    ``config``'s own: more test models for the same trained meta-classifier. Their model ids are
    offset past the configs before them (the first test config's model i becomes
    ``config.num_models + i``), so every test model stays one model. Raises
    :class:`metaclf.data.DataError` when too few models qualify, ValueError for a test config
    whose labels would not mean the same.
    """
    check_target(target, config)
    test_configs = tuple(test_configs)
    base = get_config(config)
    for name in test_configs:
        other = get_config(name)
        if name == config or test_configs.count(name) > 1:
            raise ValueError(f"test config {name!r} is given twice (the config's own test models are always used)")
        if (other.sources, other.fixed_architecture) != (base.sources, base.fixed_architecture):
            raise ValueError(f"test config {name!r} does not match {config!r}: sources {other.sources} and "
                             f"fixed_architecture={other.fixed_architecture}, expected {base.sources} and "
                             f"{base.fixed_architecture}")
    snapshots = tuple(_estimator(method, target, params).snapshots)
    train = load_split(config, "train", target, snapshots, data_dir, converged_only)
    tests = []
    for name, offset in model_id_offsets(config, test_configs).items():  # pooled, each may hold one class
        part = load_split(name, "test", target, snapshots, data_dir, converged_only, 1 if test_configs else 2)
        part.model_id = part.model_id + offset
        tests.append(part)
    test = tests[0] if len(tests) == 1 else WeightSet.concat(tests)
    if len(np.unique(test.labels)) < 2:
        raise DataError(f"{config}: the test models of {config} and {', '.join(test_configs)} all have one "
                        f"{target}; a meta-classifier needs at least 2 classes")
    return Splits(config, target, snapshots, converged_only, train, test, test_configs)


def model_id_offsets(config: str, test_configs: tuple[str, ...]) -> dict[str, int]:
    """Where each config's model ids start in a pooled test set: ``config``'s at 0, each test
    config's past the model ids of the configs before it."""
    out, offset = {}, 0
    for name in (config, *test_configs):
        out[name] = offset
        offset += get_config(name).num_models
    return out


class LastSplits:
    """The splits of the last evaluation, handed to the next one that reads the same config,
    target and snapshots (the methods of ``metaclf.all``, the subset-size sweep): one set at a
    time, dropped before another is loaded, so memory stays that of one evaluation."""

    def __init__(self) -> None:
        self.splits: Splits | None = None

    def __call__(self, method: str | MetaClassifier, config: str, target: str, *, data_dir: str | None = None,
                 converged_only: bool = True, test_configs: tuple[str, ...] = (), **params: Any) -> Splits:
        est = _estimator(method, target, params)
        est.check_config(config)  # refuse before loading, as evaluate does
        if self.splits is None or not self.splits.serves(config, target, est.snapshots, converged_only,
                                                         test_configs):
            self.splits = None
            self.splits = load_splits(est, config, target, data_dir=data_dir, converged_only=converged_only,
                                      test_configs=test_configs)
        return self.splits


def _estimator(method: str | MetaClassifier, target: str, params: dict[str, Any]) -> MetaClassifier:
    est = make(method, **params) if isinstance(method, str) else clone(method).set_params(**params)
    if "target" in est.get_params():  # the confound baseline must leave the target out
        est.set_params(target=target)
    return est


def evaluate(method: str | MetaClassifier, config: str, target: str, *, data_dir: str | None = None,
             rounds: int | None = None, seed: int = 0, converged_only: bool = True,
             checkpoint: Path | None = None, return_estimators: bool = False, models_per_class: int | None = None,
             splits: Splits | None = None, members: int = 1, test_configs: tuple[str, ...] = (),
             **params: Any) -> dict[str, Any] | tuple[dict[str, Any], list[MetaClassifier]]:
    """Train and test ``method`` (a registry name or an estimator) on ``config`` for ``target``.

    ``params`` override the method's parameters; ``rounds`` defaults to the method's (10 for
    the SVMs, 1 for a DMC). ``models_per_class`` caps the class-balanced training models of
    every class (default: all of the smallest class; a point of a learning curve). A DMC
    checkpoints round r to ``<checkpoint>.r<r>.ckpt`` and resumes from there. ``splits``
    (from :func:`load_splits`, for the same config, target, snapshots and ``converged_only``)
    skips loading the data. ``members`` > 1 makes every round an ensemble (beyond the paper):
    ``members`` estimators, each trained as a round of its own (draw i = r·members + k: its own
    class-balanced models and seed ``seed + i``, checkpoint ``.r<i>.ckpt``, so the checkpoints of
    a ``rounds × members``-round run serve), whose class scores (a DMC's probabilities) are
    averaged per window before scoring. ``test_configs`` adds the test models of other configs
    (see :func:`load_splits`; beyond the paper). With ``return_estimators`` it returns (result,
    the fitted estimator of every draw). Raises :class:`metaclf.data.DataError` when too few models
    qualify, ValueError when ``splits`` were loaded for another evaluation or ``members`` < 1.
    """
    start = time.perf_counter()
    classes = check_target(target, config)
    est = _estimator(method, target, params)
    name = method if isinstance(method, str) else type(method).__name__
    est.check_config(config)
    rounds = rounds or est.default_rounds
    if members < 1:
        raise ValueError(f"members must be at least 1, got {members}")
    test_configs = tuple(test_configs)
    if splits is None:
        splits = load_splits(est, config, target, data_dir=data_dir, converged_only=converged_only,
                             test_configs=test_configs)
    if not splits.serves(config, target, est.snapshots, converged_only, test_configs):
        raise ValueError(f"splits loaded for (config, target, snapshots, converged_only, test_configs) = "
                         f"({splits.config}, {splits.target}, {splits.snapshots}, {splits.converged_only}, "
                         f"{splits.test_configs}), not ({config}, {target}, {tuple(est.snapshots)}, "
                         f"{converged_only}, {test_configs})")
    train, test = est.usable(splits.train, "train"), est.usable(splits.test, "test")
    train, test, left_out = drop_rare_classes(train, test, classes)
    scores, fitted, train_models, per_class = [], [], [], []
    for r in range(rounds):
        member_scores = []
        for i in range(r * members, (r + 1) * members):
            keep = balanced_models(train.model_id, train.labels, np.random.default_rng(seed + i), models_per_class)
            e = clone(est).set_params(random_state=seed + i)
            if checkpoint is not None and "checkpoint" in e.get_params():
                e.set_params(checkpoint=str(Path(checkpoint).with_name(f"{Path(checkpoint).name}.r{i}.ckpt")))
            sub = train.subset(keep)
            e.fit(sub, sub.labels)
            member_scores.append(e.window_scores(test))
            fitted.append(e)
            train_models.append(len(np.unique(sub.model_id)))
            per_class.append(train_models[-1] // len(np.unique(sub.labels)))  # exact: the subset is balanced
        scores.append(np.mean(member_scores, axis=0))
    out = score(scores, test.labels, test.model_id, classes, seed)
    out.update({
        "method": name, "config": config, "target": target, "params": _jsonable(est.get_params()),
        "part": est.get_params().get("part", "all"), "rounds": rounds, "members": members, "seed": seed,
        "snapshots": list(est.snapshots), "converged_only": converged_only,
        "train": {"models": int(len(np.unique(train.model_id))), "records": len(train),
                  "balanced_models_per_round": train_models,
                  "models_per_class": per_class, "models_per_class_cap": models_per_class},
        "classes_left_out": left_out,
        "test": {"models": int(len(np.unique(test.model_id))), "records": len(test),
                 "configs": _by_test_config(scores, test, splits, classes, seed)},
    })
    out.update(_round_extras(fitted))
    out["seconds"] = round(time.perf_counter() - start, 2)
    return (out, fitted) if return_estimators else out


def _by_test_config(scores: list[np.ndarray], test: WeightSet, splits: Splits, classes: list[str],
                    seed: int) -> dict[str, dict[str, Any]]:
    """Each config's share of the scored test models (after a method's filters) and, when the test
    set pools several configs, the accuracy [95% CI] on that config's test models alone."""
    out = {}
    for name, offset in model_id_offsets(splits.config, splits.test_configs).items():
        rows = (test.model_id >= offset) & (test.model_id < offset + get_config(name).num_models)
        entry: dict[str, Any] = {"models": int(len(np.unique(test.model_id[rows])))}
        if splits.test_configs and len(np.unique(test.labels[rows])) > 1:
            alone = score([s[:, rows] for s in scores], test.labels[rows], test.model_id[rows], classes, seed)
            entry.update({k: alone[k] for k in ("accuracy_mean", "ci95", "chance")})
        out[name] = entry
    return out


def drop_rare_classes(train: WeightSet, test: WeightSet, classes: list[str]) -> tuple[WeightSet, WeightSet, dict]:
    """Leave out of both splits every class with fewer than ``recipe.MIN_CLASS_MODELS`` training
    models, when at least two classes have that many (see :data:`metaclf.recipe.MIN_CLASS_MODELS`;
    an NWS too small for that keeps every class); return the splits and {class: training
    models} of those left out."""
    first = np.unique(train.model_id, return_index=True)[1]
    counts = np.bincount(train.labels[first], minlength=len(classes))
    present = np.unique(train.labels)
    rare = [c for c in present if counts[c] < recipe.MIN_CLASS_MODELS]
    if not rare or len(present) - len(rare) < 2:
        return train, test, {}
    return (train.subset(~np.isin(train.labels, rare)), test.subset(~np.isin(test.labels, rare)),
            {classes[c]: int(counts[c]) for c in rare})


def _round_extras(fitted: list[MetaClassifier]) -> dict[str, Any]:
    """What the fitted estimators report beyond predictions: feature importance; a DMC's
    history, weight count and training time (round 0's), and every round's training accuracy
    at the end and training time (``train_accuracy_rounds``, ``train_seconds_rounds``; with
    ensemble members, one entry per member, round-major, as ``balanced_models_per_round``)."""
    extra: dict[str, Any] = {}
    if hasattr(fitted[0], "history_"):
        extra["train_accuracy_rounds"] = [float(e.history_[-1]["train_accuracy"]) for e in fitted]
        extra["train_seconds_rounds"] = [float(e.train_seconds_) for e in fitted]
    if hasattr(fitted[0], "feature_importances_"):
        imp = np.array([e.feature_importances_ for e in fitted])
        extra["feature_importance"] = {"names": list(fitted[0].feature_names_), "mean": imp.mean(0).tolist(),
                                       "std": imp.std(0).tolist()}
    for key in ("history_", "n_weights_", "train_seconds_", "n_features_in_"):
        if hasattr(fitted[0], key):
            extra[key.rstrip("_")] = _jsonable(getattr(fitted[0], key))
    return extra


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x if x is None or isinstance(x, (str, int, float, bool)) else str(x)

