"""``python -m metaclf.accuracy``: accuracy from weights (beyond the paper).

Each regressor (``--methods``, default all three) is trained on every snapshot of the config's
training models and scored on every snapshot of its test models by the one evaluation loop;
its result goes to ``<out>/<config>/accuracy/<stem>.json`` (R², Kendall τ and RMSE with 95%
CIs over test models, the model counts, every prediction) with a predicted-vs-true scatter
``<stem>.png`` beside it, and one line per method is printed.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..methods import METHODS
from . import command_parser, run_spec

REGRESSORS = [m for m, e in METHODS.items() if e.task == "accuracy"]


def regressor_list(text: str) -> list[str]:
    names = text.split(",")
    bad = [n for n in names if n not in REGRESSORS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"{text!r} is not valid: expected regressors {', '.join(REGRESSORS)}, "
                                         "comma-separated")
    return list(dict.fromkeys(names))


def accuracy_path(out: Path, spec: Any, suffix: str = ".json") -> Path:
    """Where an accuracy-from-weights result lives (apart from the classification results)."""
    return out / spec.config / "accuracy" / f"{spec.stem()}{suffix}"


def plot_scatter(result: dict[str, Any], path: Path) -> None:
    """Predicted against true target of every test record, the diagonal, and the scores."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    true, pred = result["predictions"]["true"], result["predictions"]["predicted"]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(true, pred, s=4, alpha=0.4)
    lo, hi = min(min(true), min(pred)), max(max(true), max(pred))
    ax.plot([lo, hi], [lo, hi], color="grey", ls="--", lw=1)
    ax.set_xlabel(f"true {result['target']}")
    ax.set_ylabel(f"predicted {result['target']}")
    ax.set_title(f"{result['label']} – {result['config']}\nR² {result['r2']:.3f}, τ {result['kendall_tau']:.3f}, "
                 f"{result['test']['models']} test models", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def describe(res: dict[str, Any]) -> str:
    ci = res["ci95"]
    return (f"{res['label']} {res['target']}: R² {res['r2']:.3f} [{ci['r2'][0]:.3f}, {ci['r2'][1]:.3f}], "
            f"τ {res['kendall_tau']:.3f} [{ci['kendall_tau'][0]:.3f}, {ci['kendall_tau'][1]:.3f}], "
            f"RMSE {res['rmse']:.4f} (chance: R² 0, τ 0, RMSE {res['chance']['rmse']:.4f}; "
            f"{res['train']['models']} training / {res['test']['models']} test models)")


def main(argv: list[str] | None = None) -> int:
    """Accuracy from weights: regress each snapshot's test accuracy (or generalization gap) on
    statistics of its θ; split by model."""
    p = command_parser("python -m metaclf.accuracy", main.__doc__, target="test_accuracy", accuracy=True)
    p.add_argument("--methods", type=regressor_list, default=REGRESSORS,
                   help=f"regressors, comma-separated (default {','.join(REGRESSORS)})")
    p.add_argument("--tune", action="store_true",
                   help="choose gbm-layerwise's depth and learning rate by cross-validation over the training "
                        "models, grouped by model (the values chosen go to params.selected)")
    args = p.parse_args(argv)
    from ..evaluate import evaluate
    from nws_datasets.storage import write_json

    for method in args.methods:
        spec = run_spec(p, args, method, strict=False)
        res = evaluate(spec, data_dir=args.data_dir)
        path = accuracy_path(args.out, spec)
        write_json(path, res)
        plot_scatter(res, path.with_suffix(".png"))
        print(describe(res) + f" -> {path}", flush=True)
    return 0
