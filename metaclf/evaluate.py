"""The one evaluation loop of every meta-classifier, and how its predictions are scored.

:func:`evaluate` runs a :class:`metaclf.spec.RunSpec`: it loads the training and test splits of
the config for the target (the snapshots the method reads), trains the method on independent
class-balanced draws of training models (random K per class, K the smallest class), predicts
every evaluation window of every test record, and scores the predictions with :func:`score`.

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
from .methods import make
from .methods.base import MetaClassifier
from .spec import RunSpec


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
    evaluations share them (the points of a learning curve, the methods of ``metaclf.all``)."""

    key: tuple[Any, ...]  #: (config, target, snapshots, converged_only, test_configs)
    train: WeightSet
    test: WeightSet

    def serves(self, spec: RunSpec) -> bool:
        """Whether these are the splits an evaluation of ``spec`` reads."""
        return self.key == _splits_key(spec)


def _splits_key(spec: RunSpec) -> tuple[Any, ...]:
    return (spec.config, spec.target, tuple(estimator(spec).snapshots), spec.converged_only, spec.test_configs)


def estimator(spec: RunSpec) -> MetaClassifier:
    """The unfitted estimator of ``spec``'s method with the parameters ``spec`` sets."""
    return make(spec.method, **spec.estimator_params())


def load_splits(spec: RunSpec, data_dir: str | None = None) -> Splits:
    """Both splits of ``spec.config`` for its target, at the snapshots its method reads.

    ``spec.test_configs`` (beyond the paper) pools the test models of other configs of the same
    sources and architecture kind (e.g. ``c_fixed_cpu_holdout`` for ``c_fixed_cpu``) with the
    config's own; their model ids are offset past the configs before them
    (:func:`model_id_offsets`), so every test model stays one model. Raises
    :class:`metaclf.data.DataError` when too few models qualify.
    """
    spec.validate()
    snapshots = tuple(estimator(spec).snapshots)
    train = load_split(spec.config, "train", spec.target, snapshots, data_dir, spec.converged_only)
    tests = []
    for name, offset in model_id_offsets(spec.config, spec.test_configs).items():  # pooled, each may hold one class
        part = load_split(name, "test", spec.target, snapshots, data_dir, spec.converged_only,
                          1 if spec.test_configs else 2)
        part.model_id = part.model_id + offset
        tests.append(part)
    test = tests[0] if len(tests) == 1 else WeightSet.concat(tests)
    if len(np.unique(test.labels)) < 2:
        raise DataError(f"{spec.config}: the test models of {spec.config} and {', '.join(spec.test_configs)} all "
                        f"have one {spec.target}; a meta-classifier needs at least 2 classes")
    return Splits(_splits_key(spec), train, test)


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
    target and snapshots: one set at a time, dropped before another is loaded, so memory stays
    that of one evaluation."""

    def __init__(self) -> None:
        self.splits: Splits | None = None

    def __call__(self, spec: RunSpec, data_dir: str | None = None) -> Splits:
        estimator(spec.validate()).check_config(spec.config)  # refuse before loading, as evaluate does
        if self.splits is None or not self.splits.serves(spec):
            self.splits = None
            self.splits = load_splits(spec, data_dir)
        return self.splits


def _fit_round(est: MetaClassifier, train: WeightSet, spec: RunSpec, draw: int,
               checkpoint: Path | None) -> tuple[MetaClassifier, int, int]:
    """Fit draw ``draw`` (its own class-balanced models and seed ``spec.seed + draw``): (the
    fitted estimator, its training models, its models per class)."""
    keep = balanced_models(train.model_id, train.labels, np.random.default_rng(spec.seed + draw),
                           spec.models_per_class)
    e = clone(est).set_params(random_state=spec.seed + draw)
    if checkpoint is not None and "checkpoint" in e.get_params():
        e.set_params(checkpoint=str(Path(checkpoint).with_name(f"{Path(checkpoint).name}.r{draw}.ckpt")))
    sub = train.subset(keep)
    e.fit(sub, sub.labels)
    models = len(np.unique(sub.model_id))
    return e, models, models // len(np.unique(sub.labels))  # exact: the subset is balanced


def evaluate(spec: RunSpec, *, data_dir: str | None = None, checkpoint: Path | None = None,
             splits: Splits | None = None,
             return_estimators: bool = False) -> dict[str, Any] | tuple[dict[str, Any], list[MetaClassifier]]:
    """Train and test the run ``spec`` describes; return its result (every number, and the spec).

    The method trains on ``spec.rounds`` class-balanced draws of training models (default: the
    method's, 10 for the SVMs, 1 for a DMC). With ``spec.members`` > 1 a round is an ensemble
    (beyond the paper): draw i = r·members + k is trained as round i of a plain run (so the
    checkpoints of a ``rounds × members``-round run serve) and the members' class scores are
    averaged per window. A DMC checkpoints draw i to ``<checkpoint>.r<i>.ckpt`` and resumes from
    there. ``splits`` (from :func:`load_splits` for an equal key) skips loading the data. With
    ``return_estimators`` it returns (result, the fitted estimator of every draw). Raises
    :class:`metaclf.spec.SpecError` for a spec that does not fit together,
    :class:`metaclf.data.DataError` when too few models qualify, ValueError for ``splits`` of
    another evaluation.
    """
    start = time.perf_counter()
    if spec.validate().entry.task == "accuracy":  # accuracy from weights: a regressor, its own scores
        from .regression import evaluate_accuracy

        return evaluate_accuracy(spec, data_dir=data_dir, return_estimators=return_estimators)
    classes = check_target(spec.target, spec.config)
    est = estimator(spec)
    est.check_config(spec.config)
    rounds = spec.rounds or est.default_rounds
    splits = splits if splits is not None else load_splits(spec, data_dir)
    if not splits.serves(spec):
        raise ValueError(f"splits loaded for (config, target, snapshots, converged_only, test_configs) = "
                         f"{splits.key}, not {_splits_key(spec)}")
    train, test = est.usable(splits.train, "train"), est.usable(splits.test, "test")
    train, test, left_out = drop_rare_classes(train, test, classes)
    scores, fitted, train_models, per_class = [], [], [], []
    for r in range(rounds):
        member_scores = []
        for i in range(r * spec.members, (r + 1) * spec.members):
            e, models, k = _fit_round(est, train, spec, i, checkpoint)
            member_scores.append(e.window_scores(test))
            fitted.append(e)
            train_models.append(models)
            per_class.append(k)
        scores.append(np.mean(member_scores, axis=0))
    out = score(scores, test.labels, test.model_id, classes, spec.seed)
    params = _jsonable(est.get_params())
    if spec.tune:  # the values grouped cross-validation chose, per round
        params["selected"] = [_jsonable(getattr(e, "selected_", None)) for e in fitted]
    out.update({
        "method": spec.method, "label": spec.label(), "spec": spec.to_json(), "config": spec.config,
        "target": spec.target, "params": params, "rounds": rounds,
        "snapshots": list(est.snapshots),
        "train": {"models": int(len(np.unique(train.model_id))), "records": len(train),
                  "balanced_models_per_round": train_models, "models_per_class": per_class},
        "classes_left_out": left_out,
        "test": {"models": int(len(np.unique(test.model_id))), "records": len(test),
                 "configs": _by_test_config(scores, test, spec, classes)},
    })
    out.update(_round_extras(fitted))
    out["seconds"] = round(time.perf_counter() - start, 2)
    return (out, fitted) if return_estimators else out


def _by_test_config(scores: list[np.ndarray], test: WeightSet, spec: RunSpec,
                    classes: list[str]) -> dict[str, dict[str, Any]]:
    """Each config's share of the scored test models (after a method's filters) and, when the test
    set pools several configs, the accuracy [95% CI] on that config's test models alone."""
    out = {}
    for name, offset in model_id_offsets(spec.config, spec.test_configs).items():
        rows = (test.model_id >= offset) & (test.model_id < offset + get_config(name).num_models)
        entry: dict[str, Any] = {"models": int(len(np.unique(test.model_id[rows])))}
        if spec.test_configs and len(np.unique(test.labels[rows])) > 1:
            alone = score([s[:, rows] for s in scores], test.labels[rows], test.model_id[rows], classes, spec.seed)
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

