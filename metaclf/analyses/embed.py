"""Embedding of the weight space (App. B): ``python -m metaclf.embed [--config c_fixed_mini] [--out DIR]``.

PCA to 10 components of the conv weights of every snapshot of every fixed-architecture model,
fitted incrementally on streamed batches (memory stays bounded by one batch, also for the
paper's 60K vectors), then UMAP (``umap-learn``) to 2D. Scatter plots coloured by dataset,
learning rate, augmentation, optimizer, activation, initialization, training progress and
test error (Fig. 13), with the 2D points and labels as JSON.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.decomposition import IncrementalPCA  # noqa: E402

from nws_datasets import load  # noqa: E402
from nws_datasets.space import get_config  # noqa: E402
from nws_datasets.storage import write_json  # noqa: E402

COLOURS = ("dataset", "learning_rate", "augmentation", "optimizer", "activation", "initialization", "progress",
           "test_error")
CATEGORIES = ("dataset", "augmentation", "optimizer", "activation", "initialization")


def embed(config: str, data_dir: str | None, out: Path, components: int = 10, batch_size: int = 500,
          seed: int = 0, n_neighbors: int = 15) -> dict[str, Any]:
    if not get_config(config).fixed_architecture:
        raise ValueError(f"the embedding needs a fixed architecture (c_fixed, c_fixed_mini), not {config!r}")
    splits = load(config, data_dir=data_dir)
    cols = ["progress", "learning_rate", "test_accuracy", *CATEGORIES]
    n_conv = splits[next(iter(splits))][0]["n_conv_weights"]
    total = sum(len(s) for s in splits.values())
    pca = IncrementalPCA(components, batch_size=batch_size)
    for part in splits.values():  # pass 1: fit, one batch in memory at a time
        for batch in part.with_format("numpy", columns=["weights"]).iter(batch_size=max(batch_size, components)):
            if len(batch["weights"]) >= components:
                pca.partial_fit(batch["weights"][:, :n_conv])
    reduced, labels = [], {c: [] for c in cols}
    for part in splits.values():  # pass 2: project
        for batch in part.with_format("numpy", columns=["weights", *cols]).iter(batch_size=batch_size):
            reduced.append(pca.transform(batch["weights"][:, :n_conv]))
            for c in cols:
                labels[c].append(batch[c])
    x = np.vstack(reduced)
    lab = {c: np.concatenate(v) for c, v in labels.items()}
    import umap

    xy = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, len(x) - 1), random_state=seed).fit_transform(x)
    feats = next(iter(splits.values())).features
    fig, axes = plt.subplots(2, 4, figsize=(16, 7.5))
    for ax, c in zip(axes.flat, COLOURS):
        if c in CATEGORIES:
            names = feats[c].names
            for i, name in enumerate(names):
                m = lab[c] == i
                if m.any():
                    ax.scatter(xy[m, 0], xy[m, 1], s=3, label=name)
            ax.legend(fontsize=7, markerscale=3)
        else:
            v = 1 - lab["test_accuracy"] if c == "test_error" else lab[c]
            sc = ax.scatter(xy[:, 0], xy[:, 1], c=v, s=3, cmap="viridis")
            fig.colorbar(sc, ax=ax)
        ax.set_title(c)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"UMAP of the first {components} principal components of conv weights, {config} ({total} snapshots)")
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "embedding.png", dpi=110)
    plt.close(fig)
    res = {"config": config, "vectors": int(total), "conv_weights": int(n_conv), "components": components,
           "explained_variance_ratio": pca.explained_variance_ratio_.tolist(),
           "xy": xy.round(4).tolist(), **{c: lab[c].tolist() for c in cols}}
    write_json(out / "embedding.json", res)
    return res
