"""Where meta-classifier results live: JSON files, figures, and the table across runs.

Every run writes ``<out>/<config>/<stem>.json`` (:meth:`metaclf.spec.RunSpec.stem`), which
carries its spec; :func:`summarize` reads them all back, by their specs, to draw the bar chart
of Fig. 2/4 (methods vs chance per target, 95% CIs) and the markdown table.
``python -m metaclf.results --out DIR`` regenerates both.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nws_datasets.space import TARGETS  # noqa: E402
from nws_datasets.storage import read_json, write_json  # noqa: E402

from .methods import METHODS  # noqa: E402
from .spec import RunSpec  # noqa: E402


def result_path(out: Path, spec: RunSpec, suffix: str = ".json") -> Path:
    """Where the result of ``spec`` lives: ``<out>/<config>/<stem><suffix>`` (:meth:`RunSpec.stem`)."""
    return out / spec.config / f"{spec.stem()}{suffix}"


def checkpoint_stem(out: Path, spec: RunSpec) -> Path:
    """Where the DMC checkpoints of ``spec`` live (``.r<i>.ckpt`` is added per round)."""
    return out / spec.config / spec.training_stem()


def reusable(path: Path, spec: RunSpec) -> bool:
    """Whether ``path`` holds a result of exactly ``spec`` (a resumed run may keep it)."""
    try:
        return RunSpec.from_json(read_json(path).get("spec")) == spec
    except (ValueError, OSError, AttributeError):
        return False


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
    ax.set_title(f"{result['label']} – {result['target']}\n{cell(result)}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def load_results(out: Path, problems: list[str] | None = None) -> dict[str, dict[tuple[str, str], dict[str, Any]]]:
    """{config: {(label, target): result}} for every result JSON under ``out`` (label: the
    run's :meth:`RunSpec.label`, with ``-<part>`` for windows of part of θ); the spec a result
    carries is in ``result["spec"]`` as a :class:`RunSpec` after loading. A file that is not a
    usable result is left out and named in ``problems`` (with why), when a list is given."""
    found: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    for p in sorted(out.glob("*/*.json")):
        if "." in p.stem or p.stem.startswith(NOT_RESULTS):  # sweep members, maps, curves, …
            continue
        try:
            r = read_json(p)
            if not isinstance(r, dict):
                raise ValueError(f"expected a JSON object, got {type(r).__name__}")
            missing = [k for k in ("spec", "accuracy_mean", "ci95", "chance", "test") if k not in r]
            if missing:
                raise ValueError(f"lacks {', '.join(missing)}")
            r = {**r, "spec": RunSpec.from_json(r["spec"])}
        except (ValueError, OSError) as err:
            if problems is not None:
                problems.append(f"{err if str(p) in str(err) else f'{p}: {err}'} (run its command again)")
            continue
        spec = r["spec"]
        found.setdefault(spec.config, {})[(spec.label() + f"-{spec.part}" * (spec.part != "all"), spec.target)] = r
    return found


def map_path(out: Path, spec: RunSpec) -> Path:
    """Where the performance map of the local DMC of ``spec`` lives."""
    return out / spec.config / f"maps-{spec.stem()}.json"


def load_maps(folder: Path) -> list[dict[str, Any]]:
    """Every performance map in ``folder`` (a config's results), its spec loaded."""
    found = []
    for p in sorted(folder.glob("maps-*.json")):
        m = read_json(p)
        if isinstance(m, dict) and "spec" in m:
            found.append({**m, "spec": RunSpec.from_json(m["spec"])})
    return found


#: files in a results folder that are not results of the tables
NOT_RESULTS = ("maps", "batchmix-", "learning_curve-", "sweep-")


def cell(result: dict[str, Any]) -> str:
    """'0.812 [0.774, 0.851]': accuracy and its 95% CI."""
    lo, hi = result["ci95"]
    return f"{result['accuracy_mean']:.3f} [{lo:.3f}, {hi:.3f}]"


def method_columns(res: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """The labels of ``res``, in registry order of their methods, the paper's recipe first."""
    order = list(METHODS)
    specs = {label: r["spec"] for (label, _), r in res.items()}
    return sorted(specs, key=lambda k: (order.index(specs[k].method), k != specs[k].method, k))


def table(config: str, res: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """Markdown rows of one config: a row per target, a column per method (accuracy [95% CI]),
    chance, and the test models behind the numbers."""
    methods = method_columns(res)
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
        parts.setdefault(r["spec"].part, {})[(r["spec"].label(), target)] = r
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
    methods = method_columns(res)
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
    ax.set_title(f"Linear SVM feature importance – {result['target']} ({result['label']}, {result['config']})")
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
