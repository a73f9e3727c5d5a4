"""Accuracy against the number of training models (beyond the paper).

The paper trains its meta-classifiers on thousands of models; a CPU NWS gives them a few
hundred. Whether a meta-classifier is limited by the data or by what the weights carry shows
in its learning curve: the same method, split, seed and test models, trained on K
class-balanced models per class for growing K. A curve still rising at the largest K says
more models would help; a flat one says they would not.

Every point is one :func:`metaclf.evaluate.evaluate` run with ``models_per_class=K`` (its
rounds draw K models per class at random, all their records kept) on splits loaded once
for the whole curve, scored on every test model as usual: class-balanced accuracy per
window with its 95% CI over rounds and test models. A K above the smallest class is cut to
it; the curve ends at the first such point (``"all"``: every model the class balance allows).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..evaluate import evaluate, load_splits  # noqa: E402
from ..spec import RunSpec  # noqa: E402


def learning_curve(spec: RunSpec, sizes: list[int], *, data_dir: str | None = None,
                   checkpoint: Path | None = None) -> dict[str, Any]:
    """The accuracy of the run ``spec`` trained on K models per class, for each K in ``sizes``.

    A DMC checkpoints the point of K models per class to ``<checkpoint>.k<K>`` (one training
    per point; a run started again resumes it).

    Returns {"spec", "config", "target", "test_models", "chance", "rounds", "points"}, each point
    {"models_per_class", "all" (K reached every model the balance allows), "accuracy_mean",
    "ci95", "train_accuracy" (DMCs only, last pass)}.
    """
    points, last = [], None
    splits = load_splits(spec, data_dir)
    for k in sorted(set(sizes)):
        res = evaluate(replace(spec, models_per_class=k), splits=splits,
                       checkpoint=None if checkpoint is None else checkpoint.with_name(f"{checkpoint.name}.k{k}"))
        reached = min(res["train"]["models_per_class"])
        points.append({"models_per_class": reached, "all": reached < k, "accuracy_mean": res["accuracy_mean"],
                       "ci95": res["ci95"],
                       "train_accuracy": res["history"][-1]["train_accuracy"] if "history" in res else None})
        last = res
        if reached < k:
            break
    return {"spec": spec.to_json(), "label": spec.label(), "config": spec.config, "target": spec.target,
            "test_models": last["test"]["models"], "chance": last["chance"], "rounds": last["rounds"],
            "points": points}


def plot_learning_curve(curve: dict[str, Any], path: Path) -> None:
    """Accuracy per window against training models per class (log scale), 95% CIs, chance."""
    pts = curve["points"]
    k = [p["models_per_class"] for p in pts]
    acc = [p["accuracy_mean"] for p in pts]
    err = [[a - p["ci95"][0] for a, p in zip(acc, pts)], [p["ci95"][1] - a for a, p in zip(acc, pts)]]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.errorbar(k, acc, yerr=err, marker="o", capsize=3, label=curve["label"])
    ax.axhline(curve["chance"], color="grey", ls="--", label="chance")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("training models per class")
    ax.set_ylabel("class-balanced accuracy per window")
    part = curve["spec"].get("part", "all")
    part = "" if part == "all" else f", {part} windows"
    ax.set_title(f"{curve['target']}{part} ({curve['config']}, {curve['test_models']} test models)", fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
