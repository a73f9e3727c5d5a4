"""Every ``python -m metaclf.<command>``: parse, run the library, write results, print one line.

Meta-classifier commands (``svm``, ``local``, ``global``, ``all``) run registry methods
(:mod:`metaclf.methods`) through the one evaluation loop (:func:`metaclf.evaluate.evaluate`)
and file each result as ``<out>/<config>/<method>-<target>[-<part>].json`` with its
confusion-matrix PNG; the table of every result in ``--out`` is rewritten after each.
"""
from __future__ import annotations

import argparse
import inspect
from pathlib import Path
from typing import Any

import numpy as np

from nws_datasets.cli import positive_int
from nws_datasets.space import TARGETS, get_config
from nws_datasets.storage import write_json

from .. import recipe, store
from ..analyses.batchmix import batch_dependence
from ..analyses.embed import embed as embed_analysis
from ..analyses.findings import summarize_with_findings
from ..analyses.learning_curve import learning_curve as learning_curve_analysis
from ..analyses.learning_curve import plot_learning_curve
from ..analyses.maps import performance_map, plot_map
from ..analyses.regress import regress as regress_analysis
from ..analyses.report import report as report_analysis
from ..analyses.trainstats import training_statistics
from ..data import DataError, TargetError, check_target, load_split
from ..evaluate import LastSplits, evaluate
from ..methods import METHODS, dmc_method
from ..methods.svm import FEATURE_SETS, KERNELS
from . import (add_dmc_args, add_rounds_arg, add_test_config_arg, add_window_args, choice, command_parser,
               dmc_params, int_list, target_classes)


def result_name(method: str, params: dict[str, Any], members: int = 1, test_configs: tuple[str, ...] = ()) -> str:
    """The name a result is saved and tabled under: the method's, with ``-ens<members>`` for an
    ensemble per round, ``@test-batch`` or ``@test-population`` when its BatchNorm evaluates
    on statistics of test inputs (training is the same: the evaluations of a DMC share its
    checkpoint and sit side by side in the table), and ``+<config>`` for every test config
    pooled with the config's own test models."""
    bn = params.get("bn_stats", "population")
    name = method if members == 1 else f"{method}-ens{members}"
    name = name if bn == "population" else f"{name}@{bn}"
    return name + "".join(f"+{c}" for c in test_configs)


def _run(method: str, args, out_name: str | None = None, last: LastSplits | None = None,
         **params: Any) -> dict[str, Any]:
    """Evaluate a registry method with the command's common options; save and print the result.
    ``last`` hands the previous evaluation's splits on when they serve (one data load for many)."""
    trained = store.result_path(args.out, args.config, out_name or method, args.target, params.get("part"))
    stem = trained.with_suffix(f".s{params['subset_size']}" if "subset_size" in params else "")  # checkpoint
    members = getattr(args, "members", 1)
    test_configs = tuple(args.test_config)
    name = result_name(out_name or method, params, members, test_configs)
    path = store.result_path(args.out, args.config, name, args.target, params.get("part"))
    converged_only = not args.include_unconverged
    splits = None if last is None else last(method, args.config, args.target, data_dir=args.data_dir,
                                            converged_only=converged_only, test_configs=test_configs, **params)
    res = evaluate(method, args.config, args.target, data_dir=args.data_dir, rounds=getattr(args, "rounds", None),
                   seed=args.seed, converged_only=converged_only, splits=splits, members=members,
                   test_configs=test_configs, checkpoint=stem if method.startswith("dmc") else None, **params)
    res["method"] = name
    store.save(path, res)
    if "feature_importance" in res:
        store.plot_importance(res, path.with_suffix(".importance.png"))
    print(f"{name} {args.target}: {store.cell(res)} (chance {res['chance']:.3f}, "
          f"{res['test']['models']} test models) -> {path}")
    return res


def svm(argv: list[str] | None = None) -> int:
    """SVM baselines on hand-crafted statistics (App. E): global, layer-wise or local features,
    linear or RBF kernel, over class-balanced rounds."""
    p = command_parser("python -m metaclf.svm", svm.__doc__, target="optimizer")
    p.add_argument("--features", default="global", type=choice(FEATURE_SETS), help="global, layerwise or local")
    p.add_argument("--kernel", default="linear", type=choice(KERNELS), help="linear or rbf")
    add_rounds_arg(p, recipe.SVM_ROUNDS)
    add_window_args(p)
    add_test_config_arg(p)
    args = p.parse_args(argv)
    target_classes(p, args)
    if args.features == "layerwise" and not get_config(args.config).fixed_architecture:
        p.error(f"--features layerwise needs a fixed architecture; {args.config} has random architectures")
    params = {"subset_size": args.subset_size, "part": args.part} if args.features == "local" else {}
    _run(f"svm-{args.kernel}-{args.features}", args, **params)
    return 0


def local(argv: list[str] | None = None) -> int:
    """The local DMC: a window of S consecutive weights, a new random position for every
    sample; scored per window over evenly spaced positions. Several --subset-size values run
    the subset-size sweep of Fig. 18."""
    p = command_parser("python -m metaclf.local", local.__doc__, target="activation")
    add_window_args(p, sweep=True)
    add_dmc_args(p)
    add_rounds_arg(p, None, members=True)
    add_test_config_arg(p)
    args = p.parse_args(argv)
    target_classes(p, args)
    params = dmc_params(p, args)
    method = dmc_method("local", args.inputs, args.norm)
    rows, last = [], LastSplits()
    for size in args.subset_size:
        sweep = len(args.subset_size) > 1
        res = _run(method, args, f"{method}.s{size}" if sweep else None, last, subset_size=size, part=args.part,
                   **params)
        rows.append(res)
    if len(rows) > 1:
        path = store.result_path(args.out, args.config, f"sweep-{method}", args.target, args.part)
        write_json(path, {"target": args.target, "config": args.config, "part": args.part, "rows": [
            {"subset_size": r["params"]["subset_size"], "accuracy_mean": r["accuracy_mean"], "ci95": r["ci95"],
             "chance": r["chance"], "n_weights": r["n_weights"]} for r in rows]})
        store.plot_sweep(rows, path.with_suffix(".png"))
    return 0


def global_(argv: list[str] | None = None) -> int:
    """The global DMC on the whole θ of a fixed-architecture model (last 4 snapshots)."""
    p = command_parser("python -m metaclf.global", global_.__doc__, target="dataset")
    add_dmc_args(p)
    add_rounds_arg(p, None, members=True)
    add_test_config_arg(p)
    args = p.parse_args(argv)
    target_classes(p, args)
    if not get_config(args.config).fixed_architecture:
        p.error(f"--config {args.config!r}: the global DMC needs a fixed architecture (c_fixed, c_fixed_cpu, "
                "c_fixed_mini)")
    _run(dmc_method("global", args.inputs, args.norm), args, **dmc_params(p, args))
    return 0


GROUPS = {"svm": [m for m in METHODS if m.startswith("svm-")], "local": ["dmc-local"], "global": ["dmc-global"],
          "baseline": ["hparams-baseline"], "beyond": [m for m, d in METHODS.items() if not d.paper
                                                       and m != "hparams-baseline"]}


def method_list(text: str) -> list[str]:
    """Comma-separated registry names or groups (svm, local, global, baseline, beyond)."""
    out: list[str] = []
    for part in text.split(","):
        names = GROUPS.get(part, [part] if part in METHODS else None)
        if names is None:
            raise argparse.ArgumentTypeError(f"{text!r} is not valid: expected groups {', '.join(GROUPS)} or methods "
                                             f"{', '.join(METHODS)}, comma-separated")
        out += [n for n in names if n not in out]
    return out


def all_(argv: list[str] | None = None) -> int:
    """Every method on every target that varies in the config; results already in --out are
    kept, so an interrupted run resumes. Prints the table of all results."""
    p = command_parser("python -m metaclf.all", all_.__doc__, target="all")
    p.add_argument("--methods", type=method_list, default=method_list("svm,local,global,baseline"),
                   help="registry methods or groups: svm, local, global, baseline, beyond (default "
                        "svm,local,global,baseline)")
    add_dmc_args(p, variant=False)
    add_test_config_arg(p)
    args = p.parse_args(argv)
    if args.target == "all":
        targets = [t for t in TARGETS if _varies(t, args.config)]
    else:
        target_classes(p, args)
        targets = [args.target]
    fixed = get_config(args.config).fixed_architecture
    dmc = dmc_params(p, args)
    last = LastSplits()
    for target in targets:
        args.target = target
        for method in args.methods:
            if METHODS[method].fixed_architecture and not fixed:
                continue
            if METHODS[method].params.get("norm", "batch") != "batch" and dmc["bn_stats"] != "population":
                continue  # no BatchNorm to evaluate otherwise
            params = dmc if method.startswith("dmc") else {}
            if store.result_path(args.out, args.config, result_name(method, params, 1, tuple(args.test_config)),
                                 target).exists():
                continue
            try:
                _run(method, args, last=last, **params)
            except DataError as err:
                print(f"{args.config} {method} {target}: skipped, {err}", flush=True)
    print(summarize_with_findings(args.out))
    return 0


def _varies(target: str, config: str) -> bool:
    try:
        check_target(target, config)
        return True
    except TargetError:
        return False


def trained_local_dmc(args: argparse.Namespace, method: str, params: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The local DMC of the command line ``args``, trained or resumed from its checkpoint in
    --out (the one ``metaclf.local`` writes), and evaluated: (its result, the fitted estimator)."""
    trained = store.result_path(args.out, args.config, method, args.target, args.part)
    res, fitted = evaluate(method, args.config, args.target, data_dir=args.data_dir, seed=args.seed,
                           converged_only=not args.include_unconverged,
                           checkpoint=trained.with_suffix(f".s{args.subset_size}"), return_estimators=True,
                           subset_size=args.subset_size, part=args.part, **params)
    return res, fitted[0]


def maps(argv: list[str] | None = None) -> int:
    """Performance map (Fig. 5): a local DMC (trained, or resumed from its checkpoint in --out)
    evaluated at every window position and every snapshot of the test models."""
    p = command_parser("python -m metaclf.maps", maps.__doc__, target="initialization")
    add_window_args(p)
    p.add_argument("--positions", type=positive_int, default=20, help="window positions across θ (default 20)")
    add_dmc_args(p)
    args = p.parse_args(argv)
    target_classes(p, args)
    if args.positions < 2:
        p.error(f"--positions {args.positions} must be ≥ 2")
    method, params = dmc_method("local", args.inputs, args.norm), dmc_params(p, args)
    res, dmc = trained_local_dmc(args, method, params)
    name = result_name(method, params)
    res["method"] = name
    store.save(store.result_path(args.out, args.config, name, args.target, args.part), res)
    m = performance_map(dmc, args.config, args.target, args.positions, args.data_dir,
                        not args.include_unconverged)
    # maps-…, maps@test-batch-…, maps-ln-…: the map of one DMC never overwrites another's
    variant = name[len(dmc_method("local", "raw")):]
    out = args.out / args.config / f"maps{variant}-{args.target}{'-' + args.part if args.part != 'all' else ''}.json"
    write_json(out, m)
    plot_map(m, out.with_suffix(".png"))
    acc = np.asarray(m["accuracy"])
    print(f"map {args.target}: mean {acc.mean():.3f}, last snapshot {acc[-1].mean():.3f}, first {acc[0].mean():.3f} "
          f"(chance {m['chance']:.3f}) -> {out}")
    return 0


def batchmix(argv: list[str] | None = None) -> int:
    """How much of a local DMC's test-batch accuracy comes from its batch-mates (beyond the paper):
    the DMC (trained, or resumed from its checkpoint in --out) evaluated with BatchNorm on
    population statistics, on all test windows (AdaBN), on shuffled class-mixed test batches
    (the authors' evaluation) and on test batches that each hold one true class; written to
    <out>/<config>/batchmix-<target>[-<part>].json."""
    p = command_parser("python -m metaclf.batchmix", batchmix.__doc__, target="initialization")
    add_window_args(p)
    add_dmc_args(p, bn_stats=False)
    args = p.parse_args(argv)
    classes = target_classes(p, args)
    if args.norm != "batch":
        p.error(f"--norm {args.norm}: batchmix evaluates BatchNorm's statistics, and this DMC has none")
    method, params = dmc_method("local", args.inputs, args.norm), dmc_params(p, args)
    res, dmc = trained_local_dmc(args, method, params)
    test = dmc.usable(load_split(args.config, "test", args.target, dmc.snapshots, args.data_dir,
                                 not args.include_unconverged), "test")
    test = test.subset(np.isin(test.labels, dmc.classes_))  # the classes it was trained on
    found = batch_dependence(dmc, test, classes, args.seed)
    out = args.out / args.config / f"batchmix-{args.target}{'-' + args.part if args.part != 'all' else ''}.json"
    # "dmc", not "method": this is not a result of the tables (metaclf.store.load_results)
    write_json(out, {"config": args.config, "target": args.target, "part": args.part, "dmc": method,
                     "steps": res["history"][-1]["step"], "train": res["train"], "test": res["test"],
                     "evaluations": found})
    print(f"{args.target}: " + ", ".join(f"{k} {store.cell(v)}" for k, v in found.items())
          + f" (chance {res['chance']:.3f}) -> {out}")
    return 0


#: the methods a learning curve can run: every SVM and local DMC of the registry
CURVE_METHODS = [m for m in METHODS if m.startswith(("svm-", "dmc-local"))]


def learning_curve(argv: list[str] | None = None) -> int:
    """Learning curve (beyond the paper): a method's accuracy per window against the number of
    class-balanced training models per class (--models), with the same split, seed and test
    models for every point; a size above the smallest class ends the curve at every model it
    allows. A curve still rising at its end says a larger NWS would lift the method. A DMC
    checkpoints every point (resumable; --bn-stats reuses the checkpoints). Written to
    <out>/<config>/learning_curve-<method>-<target>[-<part>].json and .png."""
    p = command_parser("python -m metaclf.learning_curve", learning_curve.__doc__, target="optimizer")
    p.add_argument("--method", default="svm-rbf-local", type=choice(CURVE_METHODS),
                   help="an SVM or local DMC of the registry (default svm-rbf-local)")
    p.add_argument("--models", type=int_list(1), default=[4, 8, 16, 32, 64, 128],
                   help="training models per class, comma-separated (default 4,8,16,32,64,128)")
    add_rounds_arg(p, None)
    add_window_args(p)
    add_dmc_args(p, variant=False)
    args = p.parse_args(argv)
    target_classes(p, args)
    method = args.method
    if method.endswith("-layerwise") and not get_config(args.config).fixed_architecture:
        p.error(f"--method {method} needs a fixed architecture; {args.config} has random architectures")
    local = method.endswith("-local") or method.startswith("dmc-local")
    params = {"subset_size": args.subset_size, "part": args.part} if local else {}
    if method.startswith("dmc"):
        params |= dmc_params(p, args)
    elif args.steps or args.profile or args.bn_stats != "population":
        p.error(f"--steps, --profile and --bn-stats apply to a DMC, not to --method {method}")
    stem = store.result_path(args.out, args.config, f"learning_curve-{method}", args.target, params.get("part"))
    curve = learning_curve_analysis(method, args.config, args.target, args.models, data_dir=args.data_dir,
                                    seed=args.seed, converged_only=not args.include_unconverged,
                                    rounds=args.rounds, checkpoint=stem.with_suffix(f".s{args.subset_size}"),
                                    **params)
    name = result_name(method, params)
    path = store.result_path(args.out, args.config, f"learning_curve-{name}", args.target, params.get("part"))
    write_json(path, curve)
    plot_learning_curve(curve, path.with_suffix(".png"))
    print(f"{name} {args.target}: " + ", ".join(f"{q['models_per_class']}{'(all)' if q['all'] else ''}: "
                                               f"{store.cell(q)}" for q in curve["points"])
          + f" (chance {curve['chance']:.3f}, {curve['test_models']} test models) -> {path}")
    return 0


def results(argv: list[str] | None = None) -> int:
    """Rewrite the tables and bar charts of the results in --out, and the paper's findings that
    they address, decided from their 95% CIs (<out>/results.md)."""
    p = argparse.ArgumentParser(prog="python -m metaclf.results", description=inspect.cleandoc(results.__doc__))
    p.add_argument("--out", type=Path, default=Path("results"), help="folder of earlier metaclf runs")
    args = p.parse_args(argv)
    if not args.out.is_dir():
        p.error(f"--out {args.out} does not exist; run a metaclf command first")
    print(summarize_with_findings(args.out))
    return 0


def report(argv: list[str] | None = None) -> int:
    """One report per config: training statistics, the accuracy regression, the embedding (fixed
    architecture) and the meta-classifier results in --out, in <out>/<config>/report/report.md."""
    p = command_parser("python -m metaclf.report", report.__doc__)
    args = p.parse_args(argv)
    print(report_analysis(args.config, args.data_dir, args.out))
    return 0


def trainstats(argv: list[str] | None = None) -> int:
    """Training statistics (App. A.3): accuracy over training, accuracy/size/time distributions,
    mean accuracy for pairs of hyper-parameters (Fig. 6–12)."""
    p = command_parser("python -m metaclf.trainstats", trainstats.__doc__)
    args = p.parse_args(argv)
    res = training_statistics(args.config, args.data_dir, args.out / args.config / "report")
    print(f"{res['models']} models, {res['converged']} converged -> {args.out / args.config / 'report'}")
    return 0


def regress(argv: list[str] | None = None) -> int:
    """Accuracy regression (Sec. 4.2): OLS of standardized test accuracy on the hyper-parameters,
    per dataset (Fig. 1/14/15)."""
    p = command_parser("python -m metaclf.regress", regress.__doc__, config="c_main_mini")
    args = p.parse_args(argv)
    res = regress_analysis(args.config, args.data_dir, args.out / args.config / "report")
    for d, r in res["per_dataset"].items():
        print(f"{d}: " + (f"{r['n_models']} models, R² {r['r_squared']:.3f}" if "r_squared" in r else r["skipped"]))
    return 0


def embed(argv: list[str] | None = None) -> int:
    """Embedding (Fig. 13): incremental PCA of the conv weights, then UMAP (fixed architecture)."""
    p = command_parser("python -m metaclf.embed", embed.__doc__)
    p.add_argument("--components", type=positive_int, default=10, help="PCA components (default 10)")
    args = p.parse_args(argv)
    if not get_config(args.config).fixed_architecture:
        p.error(f"--config {args.config!r}: the embedding needs a fixed architecture (c_fixed, c_fixed_cpu, "
                "c_fixed_mini)")
    res = embed_analysis(args.config, args.data_dir, args.out / args.config / "report", args.components)
    print(f"{res['vectors']} vectors, PCA explained variance {sum(res['explained_variance_ratio']):.3f} "
          f"-> {args.out / args.config / 'report' / 'embedding.png'}")
    return 0
