"""Performance maps (Fig. 5/20/21): where and when a hyper-parameter is readable in the weights.

A fitted local DMC (``python -m metaclf.maps`` trains one, or reuses its checkpoint) is
evaluated on every test model at P window positions a (x axis: position of the window centre,
% of θ) for each of the 20 snapshots j (y axis: % of training).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nws_datasets.space import NUM_SNAPSHOTS

from ..data import load_split
from ..features import part_bounds
from ..methods.dmc import LocalDMC


def performance_map(dmc: LocalDMC, config: str, target: str, positions: int, data_dir: str | None,
                    converged_only: bool = True) -> dict[str, Any]:
    """Accuracy of a fitted local DMC at every (snapshot j, window position a) on the test models.

    Each cell is the class-balanced accuracy over all converged test models (the evaluation
    loop's scoring), so chance is 1/classes present in every cell.
    """
    test = dmc.usable(load_split(config, "test", target, tuple(range(NUM_SNAPSHOTS)), data_dir, converged_only),
                      "test")
    us = np.linspace(0, 1, positions)
    acc = np.zeros((NUM_SNAPSHOTS, positions))
    classes = np.unique(test.labels)
    for j in range(NUM_SNAPSHOTS):
        rows = np.flatnonzero(test.snapshot == j)
        sub = test.subset(rows)
        for k, u in enumerate(us):
            pred = dmc.classes_[dmc.predict_proba_at(sub, u).argmax(1)]
            acc[j, k] = np.mean([np.mean(pred[sub.labels == c] == c) for c in classes])
    lo, hi = part_bounds(test.lengths(), test.n_conv, dmc.part)
    length = float(np.mean(hi - lo))
    size = dmc.subset_size
    centre = 100 * (us * (length - size) + size / 2) / length
    return {"config": config, "target": target, "part": dmc.part, "subset_size": size,
            "positions_percent": centre.tolist(), "snapshots": list(range(NUM_SNAPSHOTS)), "accuracy": acc.tolist(),
            "chance": 1 / len(classes), "test_models": int(len(np.unique(test.model_id))),
            "scoring": "class-balanced accuracy over the converged test models, per (snapshot, position)"}


def plot_map(m: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    acc = np.asarray(m["accuracy"])
    fig, ax = plt.subplots(figsize=(6, 3.6))
    pos = m["positions_percent"]
    im = ax.imshow(acc, origin="lower", aspect="auto", cmap="viridis", vmin=m["chance"], vmax=max(acc.max(), m["chance"] + 1e-3),
                   extent=[pos[0], pos[-1], 0, 100])
    fig.colorbar(im, ax=ax, label="test accuracy")
    ax.set_xlabel(f"window position (% of θ, {m['part']} weights)")
    ax.set_ylabel("training progress (%)")
    ax.set_title(f"Performance map – {m['target']} ({m['config']}, S={m['subset_size']})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
