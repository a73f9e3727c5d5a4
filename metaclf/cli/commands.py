"""The meta-classifier commands: ``python -m metaclf.svm|local|global|all|results``.

Each parses its options into a :class:`metaclf.spec.RunSpec`, runs it through the one
evaluation loop (:func:`metaclf.evaluate.evaluate`), files the result as
``<out>/<config>/<stem>.json`` (:meth:`RunSpec.stem`) with its figures, rewrites the table of
every result in ``--out`` and prints one line. Heavy libraries load after parsing.
"""
from __future__ import annotations

import argparse
import inspect
from pathlib import Path
from typing import Any

from nws_datasets.space import TARGETS

from ..methods import METHODS
from . import (add_dmc_args, add_rounds_arg, add_test_config_arg, add_window_args, choice, command_parser,
               run_spec)

#: the smallest number of training models per class behind a result that we do not warn about
FEW_MODELS_PER_CLASS = 10


def warn_if_few(res: dict[str, Any]) -> None:
    """Say so when a result stands on so few models that its interval, not its point, is the news."""
    per_class = min(res["train"]["models_per_class"])
    if per_class < FEW_MODELS_PER_CLASS:
        lo, hi = res["ci95"]
        print(f"warning: {res['label']} {res['target']} was trained on {per_class} model(s) per class "
              f"({res['train']['models']} training models, {res['test']['models']} test models): too few for a "
              f"meta-classifier to learn much, so read its 95% CI [{lo:.3f}, {hi:.3f}], not its point estimate; "
              "generate more models (train.generate --shard all) for numbers that can tell methods apart",
              flush=True)


def run_and_save(spec: Any, args: argparse.Namespace, last: Any = None, path: Path | None = None) -> dict[str, Any]:
    """Evaluate ``spec`` with the command's data and output folders; save and print the result.
    ``last`` (a :class:`metaclf.evaluate.LastSplits`) hands the previous evaluation's splits on."""
    from .. import store
    from ..evaluate import evaluate

    path = path or store.result_path(args.out, spec)
    splits = None if last is None else last(spec, args.data_dir)
    res = evaluate(spec, data_dir=args.data_dir, splits=splits,
                   checkpoint=store.checkpoint_stem(args.out, spec) if spec.entry.dmc else None)
    store.save(path, res)
    if "feature_importance" in res:
        store.plot_importance(res, path.with_suffix(".importance.png"))
    print(f"{res['label']} {spec.target}: {store.cell(res)} (chance {res['chance']:.3f}, "
          f"{res['test']['models']} test models) -> {path}")
    warn_if_few(res)
    return res


def svm(argv: list[str] | None = None) -> int:
    """SVM baselines on hand-crafted statistics (App. E): global, layer-wise or local features,
    linear or RBF kernel, over class-balanced rounds."""
    p = command_parser("python -m metaclf.svm", svm.__doc__, target="optimizer")
    p.add_argument("--features", default="global", type=choice(["global", "layerwise", "local"]),
                   help="global, layerwise or local (default global)")
    p.add_argument("--kernel", default="linear", type=choice(["linear", "rbf"]), help="linear or rbf (default linear)")
    p.add_argument("--tune", action="store_true",
                   help="choose C (and the RBF kernel's gamma) by cross-validation over each round's training models, "
                        "grouped by model; filed as <method>-tuned, the values chosen in params.selected")
    add_rounds_arg(p)
    add_window_args(p)
    add_test_config_arg(p)
    args = p.parse_args(argv)
    run_and_save(run_spec(p, args, f"svm-{args.kernel}-{args.features}"), args)
    return 0


def local(argv: list[str] | None = None) -> int:
    """The local DMC: a window of S consecutive weights, a new random position for every
    sample; scored per window over evenly spaced positions. Several --subset-size values run
    the subset-size sweep of Fig. 18."""
    p = command_parser("python -m metaclf.local", local.__doc__, target="activation")
    add_window_args(p, sweep=True)
    add_dmc_args(p)
    add_rounds_arg(p)
    add_test_config_arg(p)
    args = p.parse_args(argv)
    specs = [run_spec(p, args, "dmc-local", subset_size=size) for size in args.subset_size]
    from .. import store
    from ..evaluate import LastSplits

    last, sweep = LastSplits(), len(specs) > 1
    rows = [run_and_save(s, args, last, store.result_path(args.out, s, f".s{s.subset_size}.json") if sweep else None)
            for s in specs]
    if sweep:
        path = store.result_path(args.out, specs[0], ".sweep.json")
        store.write_json(path, {"spec": specs[0].to_json(), "rows": [
            {"subset_size": r["params"]["subset_size"], "accuracy_mean": r["accuracy_mean"], "ci95": r["ci95"],
             "chance": r["chance"], "n_weights": r["n_weights"]} for r in rows]})
        store.plot_sweep(rows, path.with_suffix(".png"))
    return 0


def global_(argv: list[str] | None = None) -> int:
    """The global DMC on the whole θ of a fixed-architecture model (last 4 snapshots)."""
    p = command_parser("python -m metaclf.global", global_.__doc__, target="dataset")
    add_dmc_args(p)
    add_rounds_arg(p)
    add_test_config_arg(p)
    args = p.parse_args(argv)
    run_and_save(run_spec(p, args, "dmc-global"), args)
    return 0


GROUPS = {"svm": [m for m in METHODS if m.startswith("svm-")], "local": ["dmc-local"], "global": ["dmc-global"],
          "baseline": ["hparams-baseline"]}


def method_list(text: str) -> list[str]:
    """Comma-separated registry names or groups (svm, local, global, baseline)."""
    out: list[str] = []
    for part in text.split(","):
        names = GROUPS.get(part, [part] if part in METHODS else None)
        if names is None:
            raise argparse.ArgumentTypeError(f"{text!r} is not valid: expected groups {', '.join(GROUPS)} or methods "
                                             f"{', '.join(METHODS)}, comma-separated")
        out += [n for n in names if n not in out]
    return out


def _varies(target: str, config: str) -> bool:
    from ..data import TargetError, check_target

    try:
        check_target(target, config)
        return True
    except TargetError:
        return False


def all_(argv: list[str] | None = None) -> int:
    """Every method on every target that varies in the config. A result already in --out is
    kept when it was made by the same run specification, and made again (saying so) when not,
    so an interrupted run resumes. Prints the table of all results and the findings."""
    p = command_parser("python -m metaclf.all", all_.__doc__, target="all")
    p.add_argument("--methods", type=method_list, default=method_list("svm,local,global,baseline"),
                   help="registry methods or groups: svm, local, global, baseline (default all four groups)")
    add_dmc_args(p, members=False)
    add_test_config_arg(p)
    p.add_argument("--tune", action="store_true",
                   help="for the SVMs: choose C (and gamma) by cross-validation over each round's training models, "
                        "grouped by model; filed as <method>-tuned, the values chosen in params.selected")
    args = p.parse_args(argv)
    from nws_datasets.space import get_config

    targets = [t for t in TARGETS if _varies(t, args.config)] if args.target == "all" else [args.target]
    fixed = get_config(args.config).fixed_architecture
    specs = [run_spec(p, args, m, strict=False, target=t) for t in targets for m in args.methods
             if fixed or not METHODS[m].fixed_architecture]
    from .. import store
    from ..analyses.findings import summarize_with_findings
    from ..data import DataError
    from ..evaluate import LastSplits

    last = LastSplits()
    for spec in specs:
        path = store.result_path(args.out, spec)
        if store.reusable(path, spec):
            continue
        if path.exists():
            print(f"{path}: made by another run specification (or unreadable); running it again", flush=True)
        try:
            run_and_save(spec, args, last)
        except DataError as err:
            print(f"{spec.config} {spec.label()} {spec.target}: skipped, {err}", flush=True)
    print(summarize_with_findings(args.out))
    return 0


def results(argv: list[str] | None = None) -> int:
    """Rewrite the tables and bar charts of the results in --out, and the paper's findings that
    they address, decided from their 95% CIs (<out>/results.md). Every file that is not a
    usable result is named."""
    p = argparse.ArgumentParser(prog="python -m metaclf.results", description=inspect.cleandoc(results.__doc__))
    p.add_argument("--out", type=Path, default=Path("results"), help="folder of earlier metaclf runs (default ./results)")
    args = p.parse_args(argv)
    if not args.out.is_dir():
        p.error(f"--out {args.out} does not exist; run a metaclf command first")
    from .. import store
    from ..analyses.findings import summarize_with_findings

    from nws_datasets.cli import CLIError

    print(summarize_with_findings(args.out))
    problems: list[str] = []
    store.load_results(args.out, problems)
    if problems:
        raise CLIError(f"{len(problems)} file(s) left out of the tables: " + "; ".join(problems))
    return 0


