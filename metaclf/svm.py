"""SVM baselines on hand-crafted statistics: ``python -m metaclf.svm --target optimizer``.

Features (App. E): ``global`` (16 statistics of θ and ∇θ), ``layerwise`` (16 per layer and
weight kind, 480 for the fixed architecture) or ``local`` (16 over each of 10 fixed random
windows of ``--subset-size`` weights). Linear or RBF kernel, one-vs-rest, on standardized
features; every round draws a new class-balanced subset of models (random K per class, K the
smallest class) for training and for testing, so chance is 1/classes. Global and layer-wise
features use the last 4 snapshots, local ones the last 2. Writes a JSON result, a confusion
matrix PNG and, for the linear kernel, feature importance (norm over classes of the
coefficients, Fig. 3/16/17) as JSON and PNG.
"""
from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC
from tqdm.auto import tqdm

from nws_datasets.architecture import Layout
from nws_datasets.cli import positive_int, run_main

from . import results
from .cli import parser, validate
from .data import WeightSet, balanced_models, load_split
from .features import FEATURES, global_features, layerwise_features, local_features

SNAPSHOTS = {"global": (-4, -3, -2, -1), "layerwise": (-4, -3, -2, -1), "local": (-2, -1)}


def featurize(ws: WeightSet, kind: str, subset_size: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(features, record index of each row, feature names) of a split."""
    if kind == "global":
        return global_features(ws.weights), np.arange(len(ws)), list(FEATURES)
    if kind == "layerwise":
        f, names = layerwise_features(ws.weights, Layout.from_json(ws.layout))
        return f, np.arange(len(ws)), names
    f, rows = local_features(ws.weights, ws.n_conv, subset_size, 10, "all", seed)
    return f, rows, list(FEATURES)


def make_svm(kernel: str, seed: int):
    clf = LinearSVC(C=1.0, dual="auto", max_iter=5000, random_state=seed) if kernel == "linear" \
        else OneVsRestClassifier(SVC(kernel="rbf", C=1.0, gamma="scale"))
    return make_pipeline(StandardScaler(), clf)


def run(config: str, target: str, features: str, kernel: str, rounds: int, subset_size: int, seed: int,
        data_dir: str | None, classes: list[str], converged_only: bool = True) -> dict[str, Any]:
    start = time.perf_counter()
    snaps = SNAPSHOTS[features]
    train, test = (load_split(config, s, target, snaps, data_dir, converged_only) for s in ("train", "test"))
    (xtr, rtr, names), (xte, rte, _) = (featurize(ws, features, subset_size, seed) for ws in (train, test))
    ytr, yte = train.labels[rtr], test.labels[rte]
    truths, preds, importance = [], [], []
    for r in tqdm(range(rounds), desc=f"svm {kernel} {features} {target}", unit="round"):
        rng = np.random.default_rng(seed + r)
        mtr, mte = balanced_models(train.model_id[rtr], ytr, rng), balanced_models(test.model_id[rte], yte, rng)
        model = make_svm(kernel, seed + r).fit(xtr[mtr], ytr[mtr])
        truths.append(yte[mte])
        preds.append(model.predict(xte[mte]))
        if kernel == "linear":
            importance.append(np.linalg.norm(model[-1].coef_, axis=0))
    out = results.classification_summary(truths, preds, classes)
    out.update({"method": f"svm-{kernel}-{features}", "config": config, "target": target, "features": features,
                "kernel": kernel, "rounds": rounds, "snapshots": list(snaps), "seed": seed,
                "subset_size": subset_size if features == "local" else None, "n_features": xtr.shape[1],
                "train": {"models": int(len(np.unique(train.model_id))), "rows": int(len(xtr))},
                "test": {"models": int(len(np.unique(test.model_id))), "rows": int(len(xte))},
                "converged_only": converged_only, "seconds": round(time.perf_counter() - start, 2)})
    if importance:
        imp = np.array(importance)
        out["feature_importance"] = {"names": names, "mean": imp.mean(0).tolist(), "std": imp.std(0).tolist()}
    return out


def plot_importance(result: dict[str, Any], path) -> None:
    import matplotlib.pyplot as plt

    imp = result["feature_importance"]
    mean, std, names = np.array(imp["mean"]), np.array(imp["std"]), imp["names"]
    order = np.argsort(mean)[::-1][:32]
    fig, ax = plt.subplots(figsize=(max(6, 0.3 * len(order)), 3.5))
    ax.bar(range(len(order)), mean[order], yerr=std[order], capsize=2)
    ax.set_xticks(range(len(order)), [names[i] for i in order], rotation=90, fontsize=7)
    ax.set_ylabel("‖coefficients‖ over classes")
    ax.set_title(f"Linear SVM feature importance – {result['target']} ({result['features']}, {result['config']})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = parser("python -m metaclf.svm", __doc__, "c_fixed_mini", "optimizer")
    p.add_argument("--features", default="global", help="global, layerwise or local")
    p.add_argument("--kernel", default="linear", help="linear or rbf")
    p.add_argument("--rounds", type=positive_int, default=10, help="independent balanced rounds (default 10)")
    p.add_argument("--subset-size", type=positive_int, default=5000, help="window size of local features (default 5000)")
    args = p.parse_args(argv)
    classes = validate(p, args)
    if args.features not in SNAPSHOTS:
        p.error(f"--features {args.features!r} is not valid: expected global, layerwise or local")
    if args.kernel not in ("linear", "rbf"):
        p.error(f"--kernel {args.kernel!r} is not valid: expected linear or rbf")
    if args.rounds < 1 or args.subset_size < 2:
        p.error("--rounds must be ≥ 1 and --subset-size ≥ 2")
    res = run(args.config, args.target, args.features, args.kernel, args.rounds, args.subset_size, args.seed,
              args.data_dir, classes, not args.include_unconverged)
    path = results.result_path(args.out, args.config, res["method"], args.target)
    results.save(path, res)
    if "feature_importance" in res:
        plot_importance(res, path.with_suffix(".importance.png"))
    print(f"{res['method']} {args.target}: {res['accuracy_mean']:.3f} ± {res['accuracy_std']:.3f} "
          f"(chance {res['chance']:.3f}) -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
