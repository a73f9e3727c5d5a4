"""Where meta-classifier results live: JSON files, figures, and the table across runs.

Every run writes ``<out>/<config>/<method>-<target>[-<part>].json``; :func:`summarize` reads
them all back to draw the bar chart of Fig. 2/4 (methods vs chance per target, 95% CIs) and
the markdown table. ``python -m metaclf.results --out DIR`` regenerates both.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nws_datasets.space import TARGETS  # noqa: E402
from nws_datasets.storage import write_json  # noqa: E402

from .methods import METHODS  # noqa: E402


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
    ax.set_title(f"{result['method']} – {result['target']}\n{cell(result)}", fontsize=9)
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
        missing = [k for k in ("config", "accuracy_mean", "ci95", "chance", "test") if k not in r]
        if missing:
            raise ValueError(f"{p}: result file lacks {', '.join(missing)}; delete it and run its command again")
        key = r["method"] + ("-" + r["part"] if r.get("part", "all") != "all" else "")
        found.setdefault(r["config"], {})[(key, r["target"])] = r
    return found


def cell(result: dict[str, Any]) -> str:
    """'0.812 [0.774, 0.851]': accuracy and its 95% CI."""
    lo, hi = result["ci95"]
    return f"{result['accuracy_mean']:.3f} [{lo:.3f}, {hi:.3f}]"


def method_columns(names: set[str]) -> list[str]:
    """Registry order, each method followed by its other evaluations (``<method>@…``), then any
    other name."""
    ordered = [n for m in METHODS for n in (m, *sorted(x for x in names if x.startswith(m + "@"))) if n in names]
    return ordered + sorted(names - set(ordered))


def table(config: str, res: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """Markdown rows of one config: a row per target, a column per method (accuracy [95% CI]),
    chance, and the test models behind the numbers."""
    methods = method_columns({k[0] for k in res})
    targets = [t for t in TARGETS if any(k[1] == t for k in res)]
    md = ["| target | chance | test models | " + " | ".join(methods) + " |", "|---|---|---|" + "---|" * len(methods)]
    for t in targets:
        first = next(r for k, r in res.items() if k[1] == t)
        models = sorted({r["test"]["models"] for k, r in res.items() if k[1] == t})
        cells = [cell(res[(m, t)]) if (m, t) in res else "–" for m in methods]
        md.append(f"| {t} | {first['chance']:.3f} | {'/'.join(map(str, models))} | " + " | ".join(cells) + " |")
    return md


def by_part(res: dict[tuple[str, str], dict[str, Any]]) -> dict[str, dict[tuple[str, str], dict[str, Any]]]:
    """Split one config's results by the weights their windows cover (all, conv, fc; Fig. 4
    trains a local DMC on each), keyed by the plain method name within a part."""
    parts: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    for (_, target), r in res.items():
        parts.setdefault(r.get("part", "all"), {})[(r["method"], target)] = r
    return {p: parts[p] for p in sorted(parts, key=lambda p: (p != "all", p))}


def tables(config: str, res: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """Markdown of one config: a table of the results on all weights, then one per part
    (windows of conv or FC weights only), each under its own heading."""
    md = []
    for part, found in by_part(res).items():
        title = config if part == "all" else f"{config}: windows of {part} weights only"
        md += [f"### {title}", "", *table(config, found), "",
               "Class-balanced accuracy per window [95% CI over rounds and test models]; chance = 1/classes present.",
               ""]
    return md


def summarize(out: Path) -> str:
    """Write ``<out>/<config>/summary.png`` (``summary-<part>.png`` for windows of conv or
    FC weights only) and ``<out>/results.md``; return the markdown."""
    md = []
    for config, res in load_results(out).items():
        md += tables(config, res)
        for part, found in by_part(res).items():
            plot_summary(config, found, out / config / ("summary.png" if part == "all" else f"summary-{part}.png"),
                         part)
    text = "\n".join(md)
    (out / "results.md").write_text(text + "\n")
    return text


def plot_summary(config: str, res: dict[tuple[str, str], dict[str, Any]], path: Path, part: str = "all") -> None:
    """Bar chart of Fig. 2/4: every method per target with its 95% CI, and chance."""
    methods = method_columns({k[0] for k in res})
    targets = [t for t in TARGETS if any(k[1] == t for k in res)]
    fig, ax = plt.subplots(figsize=(1.5 + 1.3 * len(targets), 3.6))
    width = 0.8 / (len(methods) + 1)
    for i, m in enumerate(methods):
        vals = np.array([res[(m, t)]["accuracy_mean"] if (m, t) in res else np.nan for t in targets])
        lo = np.array([res[(m, t)]["ci95"][0] if (m, t) in res else np.nan for t in targets])
        hi = np.array([res[(m, t)]["ci95"][1] if (m, t) in res else np.nan for t in targets])
        ax.bar(np.arange(len(targets)) + i * width, vals, width, yerr=np.nan_to_num([vals - lo, hi - vals]),
               label=m, capsize=2)
    chance = [next(r["chance"] for k, r in res.items() if k[1] == t) for t in targets]
    ax.bar(np.arange(len(targets)) + len(methods) * width, chance, width, color="lightgrey", label="chance")
    ax.set_xticks(np.arange(len(targets)) + 0.4 - width / 2, targets, rotation=20)
    ax.set_ylabel("class-balanced accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(f"Meta-classification on {config}{'' if part == 'all' else f', {part} weights'} (test split, 95% CI)")
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_importance(result: dict[str, Any], path: Path) -> None:
    """Linear-SVM feature importance (Fig. 3/16/17): the 32 largest, mean ± std over rounds."""
    imp = result["feature_importance"]
    mean, std, names = np.array(imp["mean"]), np.array(imp["std"]), imp["names"]
    order = np.argsort(mean)[::-1][:32]
    fig, ax = plt.subplots(figsize=(max(6, 0.3 * len(order)), 3.5))
    ax.bar(range(len(order)), mean[order], yerr=std[order], capsize=2)
    ax.set_xticks(range(len(order)), [names[i] for i in order], rotation=90, fontsize=7)
    ax.set_ylabel("‖coefficients‖ over classes")
    ax.set_title(f"Linear SVM feature importance – {result['target']} ({result['method']}, {result['config']})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_sweep(rows: list[dict[str, Any]], path: Path) -> None:
    """Accuracy against window size (Fig. 18), with 95% CIs."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    sizes = [r["params"]["subset_size"] for r in rows]
    acc = np.array([r["accuracy_mean"] for r in rows])
    ci = np.array([r["ci95"] for r in rows]).T
    ax.errorbar(sizes, acc, yerr=[acc - ci[0], ci[1] - acc], marker="o", capsize=3, label="local DMC")
    ax.axhline(rows[0]["chance"], color="grey", ls="--", label="chance")
    ax.set_xscale("log")
    ax.set_xlabel("subset size (weights)")
    ax.set_ylabel("class-balanced accuracy")
    ax.set_title(f"Subset size – {rows[0]['target']} ({rows[0]['config']})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
