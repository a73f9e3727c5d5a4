"""Training statistics of an NWS (App. A.3): ``python -m metaclf.trainstats [--config C] [--out DIR]``.

Figures, each with its data as JSON, in ``<out>/<config>/report``:
accuracy over training progress per dataset (train/validation/test, mean ± std, Fig. 7);
final test-accuracy distributions with the convergence thresholds (Fig. 8); model size,
epochs and training-time distributions (Fig. 6); and mean final test accuracy for
initialization × activation, initialization × optimizer, initialization × augmentation and
activation × optimizer (Fig. 9–12). All finished models, converged or not.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nws_datasets.space import CONVERGENCE_THRESHOLDS, HP, NUM_SNAPSHOTS, get_config  # noqa: E402
from nws_datasets.storage import write_json  # noqa: E402

from ..data import model_frame  # noqa: E402

PAIRS = [("initialization", "activation"), ("initialization", "optimizer"), ("initialization", "augmentation"),
         ("activation", "optimizer")]


def training_statistics(config: str, data_dir: str | None, out: Path) -> dict[str, Any]:
    """Every figure of the module docstring in ``out``; returns (and writes) their data."""
    out.mkdir(parents=True, exist_ok=True)
    every = model_frame(config, data_dir, snapshots=tuple(range(NUM_SNAPSHOTS)))
    last = every[every["snapshot"] == NUM_SNAPSHOTS - 1]
    res: dict[str, Any] = {"config": config, "models": int(len(last)),
                           "converged": int(last["converged"].sum())}
    datasets = [d for d in get_config(config).sources if (last["dataset"] == d).any()]
    res["per_dataset"] = _accuracy_over_training(every, last, datasets, out)
    res["test_accuracy_histograms"] = _accuracy_distributions(last, datasets, out)
    res.update(_size_and_time(last, out))
    res["pairs"] = _pairs(last, config, out)
    write_json(out / "training_statistics.json", res)
    return res


def _accuracy_over_training(every: Any, last: Any, datasets: list[str], out: Path) -> dict[str, Any]:
    """Fig. 7: train, validation and test accuracy over training progress, per dataset."""
    per_dataset = {}
    fig, axes = plt.subplots(1, len(datasets), figsize=(4 * len(datasets), 3.2), squeeze=False)
    for ax, d in zip(axes[0], datasets):
        sub = every[every["dataset"] == d]
        curves = {}
        for k in ("train_accuracy", "val_accuracy", "test_accuracy"):
            g = sub.groupby("snapshot")[k]
            mean, std, prog = g.mean(), g.std().fillna(0), sub.groupby("snapshot")["progress"].mean()
            ax.plot(100 * prog, mean, label=k.split("_")[0])
            ax.fill_between(100 * prog, mean - std, mean + std, alpha=0.2)
            curves[k] = {"progress": prog.tolist(), "mean": mean.tolist(), "std": std.tolist()}
        acc = last[last["dataset"] == d]["final_test_accuracy"]
        per_dataset[d] = {"models": int(len(acc)), "converged": int((acc >= CONVERGENCE_THRESHOLDS[d]).sum()),
                          "final_test_accuracy_mean": float(acc.mean()), "curves": curves}
        ax.set_title(d)
        ax.set_xlabel("training progress (%)")
        ax.set_ylim(0, 1)
    axes[0][0].set_ylabel("accuracy")
    axes[0][0].legend()
    _save(fig, out / "accuracy_over_training.png")
    return per_dataset


def _accuracy_distributions(last: Any, datasets: list[str], out: Path) -> dict[str, Any]:
    """Fig. 8: final test accuracy distributions with the convergence thresholds."""
    fig, axes = plt.subplots(1, len(datasets), figsize=(4 * len(datasets), 3), squeeze=False)
    hist = {}
    for ax, d in zip(axes[0], datasets):
        acc = last[last["dataset"] == d]["final_test_accuracy"]
        counts, edges = np.histogram(acc, bins=20, range=(0, 1))
        ax.bar(edges[:-1], counts, width=0.05, align="edge")
        ax.axvline(CONVERGENCE_THRESHOLDS[d], color="red", ls="--", label="convergence threshold")
        ax.set_title(d)
        ax.set_xlabel("final test accuracy")
        hist[d] = {"edges": edges.tolist(), "counts": counts.tolist(), "threshold": CONVERGENCE_THRESHOLDS[d]}
    axes[0][0].legend(fontsize=7)
    _save(fig, out / "test_accuracy_distribution.png")
    return hist


def _size_and_time(last: Any, out: Path) -> dict[str, Any]:
    """Fig. 6: model size, epochs and training time."""
    res = {}
    fig, axes = plt.subplots(1, 3, figsize=(12, 3))
    for ax, (k, label) in zip(axes, (("n_weights", "weights"), ("epochs", "epochs T"), ("wall_time_s", "time (s)"))):
        ax.hist(last[k], bins=30)
        ax.set_xlabel(label)
        res[f"{k}_summary"] = {q: float(getattr(last[k], q)()) for q in ("min", "median", "max", "mean")}
    axes[0].set_ylabel("models")
    _save(fig, out / "size_and_time_distribution.png")
    return res


def _pairs(last: Any, config: str, out: Path) -> dict[str, Any]:
    """Fig. 9–12: mean final test accuracy for pairs of hyper-parameters."""
    pairs = {}
    fig, axes = plt.subplots(1, len(PAIRS), figsize=(4.2 * len(PAIRS), 3.4))
    for ax, (a, b) in zip(axes, PAIRS):
        ra, rb = [str(o) for o in HP[a].options], [str(o) for o in HP[b].options]
        table = last.groupby([a, b])["final_test_accuracy"].mean().unstack().reindex(index=ra, columns=rb)
        ax.imshow(table.to_numpy(float), vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(len(rb)), rb, rotation=30)
        ax.set_yticks(range(len(ra)), ra)
        for i in range(len(ra)):
            for j in range(len(rb)):
                v = table.iloc[i, j]
                ax.text(j, i, "–" if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=7, color="w")
        ax.set_xlabel(b)
        ax.set_ylabel(a)
        pairs[f"{a}x{b}"] = {"rows": ra, "columns": rb,
                             "mean_test_accuracy": [[None if np.isnan(v) else float(v) for v in r]
                                                    for r in table.to_numpy(float)]}
    fig.suptitle(f"Mean final test accuracy, {config}")
    _save(fig, out / "hyperparameter_pairs.png")
    return pairs


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
