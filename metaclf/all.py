"""Run every meta-classifier on every applicable target: ``python -m metaclf.all --config c_fixed_mini``.

For each categorical target that varies in the config: linear and RBF SVMs on global and
local features (and layer-wise ones for a fixed architecture), the local DMC, and the global
DMC for a fixed architecture. Results already in ``--out`` are kept (the run resumes where
it stopped); the table of all of them is printed and written to ``<out>/results.md``.
"""
from __future__ import annotations

import sys

from nws_datasets.cli import run_main
from nws_datasets.space import TARGETS, get_config

from . import results, svm
from .cli import parser, validate
from .data import DataError, TargetError, check_target
from .local import add_dmc_args, check_dmc_args, run_local


def main(argv: list[str] | None = None) -> int:
    p = parser("python -m metaclf.all", __doc__, "c_fixed_mini", "all")
    p.add_argument("--methods", default="svm,local,global", help="comma-separated subset of svm, local, global")
    add_dmc_args(p)
    args = p.parse_args(argv)
    if args.target == "all":
        targets = []
        for t in TARGETS:
            try:
                check_target(t, args.config)
                targets.append(t)
            except TargetError:
                pass
    else:
        validate(p, args)
        targets = [args.target]
    profile = check_dmc_args(p, args)
    methods = set(args.methods.split(","))
    if not methods <= {"svm", "local", "global"}:
        p.error(f"--methods {args.methods!r} is not valid: expected a subset of svm, local, global")
    fixed = get_config(args.config).fixed_architecture
    converged_only = not args.include_unconverged
    feature_sets = ("global", "local", "layerwise") if fixed else ("global", "local")
    for target in targets:
        classes = check_target(target, args.config)
        jobs = []
        if "svm" in methods:
            jobs += [(f"svm-{k}-{f}", lambda k=k, f=f: svm.run(args.config, target, f, k, 10, 5000, args.seed,
                                                               args.data_dir, classes, converged_only))
                     for f in feature_sets for k in ("linear", "rbf")]
        if "local" in methods:
            jobs.append(("dmc-local", lambda: run_local(args.config, target, "all", 5000, profile, args.device,
                                                        args.out, args.seed, args.data_dir, classes, args.epochs,
                                                        converged_only)))
        if "global" in methods and fixed:
            from importlib import import_module

            run_global = import_module("metaclf.global").run_global
            jobs.append(("dmc-global", lambda: run_global(args.config, target, profile, args.device, args.out,
                                                          args.seed, args.data_dir, classes, args.epochs,
                                                          converged_only)))
        for method, job in jobs:
            path = results.result_path(args.out, args.config, method, target)
            if path.exists():
                continue
            try:
                res = job()
            except DataError as err:
                print(f"{args.config} {method} {target}: skipped, {err}", flush=True)
                continue
            results.save(path, res)
            print(f"{args.config} {method} {target}: {res['accuracy_mean']:.3f} ± {res['accuracy_std']:.3f} "
                  f"(chance {res['chance']:.3f})", flush=True)
    print(results.summarize(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
