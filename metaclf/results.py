"""Results of meta-classifier runs: JSON files, figures, and the summary table across runs.

Every run writes ``<out>/<config>/<method>-<target>[-<part>].json``; :func:`summarize` reads
them all back to draw the bar chart of Fig. 2/4 (DMC vs SVM vs chance per target) and the
markdown table. ``python -m metaclf.results --out DIR`` regenerates both.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import confusion_matrix  # noqa: E402

from nws_datasets.cli import run_main
from nws_datasets.space import TARGETS  # noqa: E402
from nws_datasets.storage import write_json  # noqa: E402

METHODS = ("svm-linear-global", "svm-linear-layerwise", "svm-linear-local", "svm-rbf-global", "svm-rbf-layerwise",
           "svm-rbf-local", "dmc-local", "dmc-global")


def classification_summary(y_true: list[np.ndarray], y_pred: list[np.ndarray], classes: list[str]) -> dict[str, Any]:
    """Accuracy mean ± std over rounds, pooled confusion matrix and per-class accuracy.

    Chance is 1 / (classes present in the balanced test draws): a class with no converged
    model cannot be drawn, and each draw holds the same number of models of every class.
    """
    accs = [float(np.mean(t == p)) for t, p in zip(y_true, y_pred)]
    cm = sum(confusion_matrix(t, p, labels=range(len(classes))) for t, p in zip(y_true, y_pred))
    per_class = {c: float(cm[i, i] / cm[i].sum()) if cm[i].sum() else None for i, c in enumerate(classes)}
    return {"accuracy_mean": float(np.mean(accs)), "accuracy_std": float(np.std(accs)), "accuracy_rounds": accs,
            "chance": float(np.mean([1.0 / len(np.unique(t)) for t in y_true])), "classes": classes, "per_class_accuracy": per_class,
            "confusion_matrix": np.asarray(cm).tolist()}


def result_path(out: Path, config: str, method: str, target: str, part: str | None = None) -> Path:
    return out / config / f"{method}-{target}{'-' + part if part and part != 'all' else ''}.json"


def save(path: Path, result: dict[str, Any]) -> None:
    write_json(path, result)
    plot_confusion(result, path.with_suffix(".confusion.png"))
    summarize(path.parents[1])


def plot_confusion(result: dict[str, Any], path: Path) -> None:
    cm = np.asarray(result["confusion_matrix"], float)
    cm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * len(cm), 1 + 0.6 * len(cm)))
    ax.imshow(cm, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(len(cm)), result["classes"], rotation=45, ha="right")
    ax.set_yticks(range(len(cm)), result["classes"])
    for i in range(len(cm)):
        for j in range(len(cm)):
            ax.text(j, i, f"{cm[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if cm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{result['method']} – {result['target']}\n{result['accuracy_mean']:.3f} ± {result['accuracy_std']:.3f}",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def load_results(out: Path) -> dict[str, dict[tuple[str, str], dict[str, Any]]]:
    """{config: {(method, target): result}} for every result JSON under ``out``."""
    found: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    for p in sorted(out.glob("*/*.json")):
        if "." in p.stem:  # members of a subset-size sweep (<method>-<target>.s<size>.json)
            continue
        try:
            r = json.loads(p.read_text())
        except ValueError as err:
            raise ValueError(f"{p}: result file is not valid JSON ({err}); delete it and run its command again") \
                from None
        if not isinstance(r, dict) or "method" not in r or "target" not in r:
            continue
        missing = [k for k in ("config", "accuracy_mean", "accuracy_std", "chance") if k not in r]
        if missing:
            raise ValueError(f"{p}: result file lacks {', '.join(missing)}; delete it and run its command again")
        key = r["method"] + ("-" + r["part"] if r.get("part", "all") != "all" else "")
        found.setdefault(r["config"], {})[(key, r["target"])] = r
    return found


def summarize(out: Path) -> str:
    """Write ``<out>/<config>/summary.png`` and ``<out>/results.md``; return the markdown."""
    md = []
    for config, res in load_results(out).items():
        methods = [m for m in METHODS if any(k[0] == m for k in res)] + \
                  sorted({k[0] for k in res} - set(METHODS))
        targets = [t for t in TARGETS if any(k[1] == t for k in res)]
        md += [f"### {config}", "", "| target | chance | " + " | ".join(methods) + " |",
               "|---|---|" + "---|" * len(methods)]
        for t in targets:
            chance = next(r["chance"] for k, r in res.items() if k[1] == t)
            cells = [f"{res[(m, t)]['accuracy_mean']:.3f} ± {res[(m, t)]['accuracy_std']:.3f}" if (m, t) in res
                     else "–" for m in methods]
            md.append(f"| {t} | {chance:.3f} | " + " | ".join(cells) + " |")
        md.append("")
        fig, ax = plt.subplots(figsize=(1.5 + 1.3 * len(targets), 3.6))
        width = 0.8 / (len(methods) + 1)
        for i, m in enumerate(methods):
            vals = [res[(m, t)]["accuracy_mean"] if (m, t) in res else np.nan for t in targets]
            errs = [res[(m, t)]["accuracy_std"] if (m, t) in res else 0 for t in targets]
            ax.bar(np.arange(len(targets)) + i * width, vals, width, yerr=errs, label=m, capsize=2)
        chance = [next(r["chance"] for k, r in res.items() if k[1] == t) for t in targets]
        ax.bar(np.arange(len(targets)) + len(methods) * width, chance, width, color="lightgrey", label="chance")
        ax.set_xticks(np.arange(len(targets)) + 0.4 - width / 2, targets, rotation=20)
        ax.set_ylabel("test accuracy")
        ax.set_ylim(0, 1)
        ax.set_title(f"Meta-classification on {config} (converged models, test split)")
        ax.legend(fontsize=7, ncol=3)
        fig.tight_layout()
        fig.savefig(out / config / "summary.png", dpi=120)
        plt.close(fig)
    text = "\n".join(md)
    (out / "results.md").write_text(text + "\n")
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m metaclf.results", description=__doc__)
    p.add_argument("--out", type=Path, default=Path("results"), help="folder of earlier metaclf runs")
    args = p.parse_args(argv)
    if not args.out.is_dir():
        p.error(f"--out {args.out} does not exist; run a metaclf command first")
    print(summarize(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
