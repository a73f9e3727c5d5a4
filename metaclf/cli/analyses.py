"""The analysis commands: ``python -m metaclf.maps|batchmix|learning_curve|report|trainstats|
regress|embed``. Each writes JSON with PNG figures and prints one line; heavy libraries load
after parsing."""
from __future__ import annotations

import argparse
import sys
import warnings
from contextlib import contextmanager
from typing import Any, Iterator

from nws_datasets.cli import positive_int

from ..methods import METHODS
from . import (add_dmc_args, add_rounds_arg, add_window_args, choice, command_parser, int_list, run_spec)


@contextmanager
def library_warnings_kept_quiet() -> Iterator[None]:
    """Keep the warnings statsmodels, UMAP, scikit-learn and numba raise for their own developers
    (rank-deficient designs of a tiny NWS, parallelism notes) out of the terminal; the report
    lists them in report.md. ``PYTHONWARNINGS=default`` shows them."""
    with warnings.catch_warnings():
        if not sys.warnoptions:
            warnings.simplefilter("ignore")
        yield


def _fixed_only(p: argparse.ArgumentParser, config: str, what: str) -> None:
    from nws_datasets.space import get_config

    if not get_config(config).fixed_architecture:
        p.error(f"--config {config!r}: {what} needs a fixed architecture (c_fixed, c_fixed_cpu, c_fixed_mini)")


def trained_local_dmc(args: argparse.Namespace, spec: Any) -> tuple[dict[str, Any], Any]:
    """The local DMC of ``spec``, trained or resumed from its checkpoint in --out (the one
    ``metaclf.local`` writes), evaluated and saved: (its result, the fitted estimator)."""
    from .. import store
    from ..evaluate import evaluate

    res, fitted = evaluate(spec, data_dir=args.data_dir, checkpoint=store.checkpoint_stem(args.out, spec),
                           return_estimators=True)
    store.save(store.result_path(args.out, spec), res)
    return res, fitted[0]


def maps(argv: list[str] | None = None) -> int:
    """Performance map (Fig. 5): a local DMC (trained, or resumed from its checkpoint in --out)
    evaluated at every window position and every snapshot of the test models."""
    p = command_parser("python -m metaclf.maps", maps.__doc__, target="initialization")
    add_window_args(p)
    p.add_argument("--positions", type=positive_int, default=20, help="window positions across θ (default 20)")
    add_dmc_args(p, members=False)
    args = p.parse_args(argv)
    if args.positions < 2:
        p.error(f"--positions {args.positions} must be ≥ 2")
    spec = run_spec(p, args, "dmc-local")
    import numpy as np

    from .. import store
    from ..analyses.maps import performance_map, plot_map

    res, dmc = trained_local_dmc(args, spec)
    m = performance_map(dmc, spec.config, spec.target, args.positions, args.data_dir, spec.converged_only)
    out = store.map_path(args.out, spec)
    store.write_json(out, {"spec": spec.to_json(), **m})
    plot_map(m, out.with_suffix(".png"))
    acc = np.asarray(m["accuracy"])
    print(f"map {spec.target}: mean {acc.mean():.3f}, last snapshot {acc[-1].mean():.3f}, first {acc[0].mean():.3f} "
          f"(chance {m['chance']:.3f}, {m['test_models']} test models) -> {out}")
    return 0


def batchmix(argv: list[str] | None = None) -> int:
    """How much of a local DMC's test-batch accuracy comes from its batch-mates (beyond the paper):
    the DMC (trained, or resumed from its checkpoint in --out) evaluated with BatchNorm on
    population statistics, on all test windows (AdaBN), on shuffled class-mixed test batches
    (the authors' evaluation) and on test batches that each hold one true class; written to
    <out>/<config>/batchmix-<run>.json."""
    p = command_parser("python -m metaclf.batchmix", batchmix.__doc__, target="initialization")
    add_window_args(p)
    add_dmc_args(p, bn_stats=False, members=False)
    args = p.parse_args(argv)
    spec = run_spec(p, args, "dmc-local")
    import numpy as np

    from .. import store
    from ..analyses.batchmix import batch_dependence
    from ..data import check_target, load_split

    res, dmc = trained_local_dmc(args, spec)
    test = dmc.usable(load_split(spec.config, "test", spec.target, dmc.snapshots, args.data_dir,
                                 spec.converged_only), "test")
    test = test.subset(np.isin(test.labels, dmc.classes_))  # the classes it was trained on
    found = batch_dependence(dmc, test, check_target(spec.target, spec.config), spec.seed)
    out = args.out / spec.config / f"batchmix-{spec.stem()}.json"
    store.write_json(out, {"spec": spec.to_json(), "steps": res["history"][-1]["step"], "train": res["train"],
                           "test": res["test"], "evaluations": found})
    print(f"{spec.target}: " + ", ".join(f"{k} {store.cell(v)}" for k, v in found.items())
          + f" (chance {res['chance']:.3f}) -> {out}")
    return 0


#: the methods a learning curve can run: every SVM and the local DMC
CURVE_METHODS = [m for m in METHODS if m.startswith("svm-") or m == "dmc-local"]


def learning_curve(argv: list[str] | None = None) -> int:
    """Learning curve (beyond the paper): a method's accuracy per window against the number of
    class-balanced training models per class (--models), with the same split, seed and test
    models for every point; a size above the smallest class ends the curve at every model it
    allows. A curve still rising at its end says a larger NWS would lift the method. A DMC
    checkpoints every point (resumable). Written to <out>/<config>/learning_curve-<run>.json and .png."""
    p = command_parser("python -m metaclf.learning_curve", learning_curve.__doc__, target="optimizer")
    p.add_argument("--method", default="svm-rbf-local", type=choice(CURVE_METHODS),
                   help="an SVM or the local DMC (default svm-rbf-local)")
    p.add_argument("--models", type=int_list(1), default=[4, 8, 16, 32, 64, 128],
                   help="training models per class, comma-separated (default 4,8,16,32,64,128)")
    add_rounds_arg(p)
    add_window_args(p)
    add_dmc_args(p, members=False)
    args = p.parse_args(argv)
    spec = run_spec(p, args, args.method)
    from .. import store
    from ..analyses.learning_curve import learning_curve as curve_of
    from ..analyses.learning_curve import plot_learning_curve

    stem = args.out / spec.config / f"learning_curve-{spec.training_stem()}"  # + .k<K>.r<i>.ckpt per point
    curve = curve_of(spec, args.models, data_dir=args.data_dir, checkpoint=stem)
    path = args.out / spec.config / f"learning_curve-{spec.stem()}.json"
    store.write_json(path, curve)
    plot_learning_curve(curve, path.with_suffix(".png"))
    print(f"{spec.label()} {spec.target}: " + ", ".join(f"{q['models_per_class']}{'(all)' if q['all'] else ''}: "
                                                       f"{store.cell(q)}" for q in curve["points"])
          + f" (chance {curve['chance']:.3f}, {curve['test_models']} test models) -> {path}")
    return 0


def report(argv: list[str] | None = None) -> int:
    """One report per config: training statistics, the accuracy regression, the embedding (fixed
    architecture) and the meta-classifier results in --out, in <out>/<config>/report/report.md."""
    args = command_parser("python -m metaclf.report", report.__doc__).parse_args(argv)
    from ..analyses.report import report as report_of

    print(report_of(args.config, args.data_dir, args.out))
    return 0


def trainstats(argv: list[str] | None = None) -> int:
    """Training statistics (App. A.3): accuracy over training, accuracy/size/time distributions,
    mean accuracy for pairs of hyper-parameters (Fig. 6–12)."""
    args = command_parser("python -m metaclf.trainstats", trainstats.__doc__).parse_args(argv)
    from ..analyses.trainstats import training_statistics

    with library_warnings_kept_quiet():
        res = training_statistics(args.config, args.data_dir, args.out / args.config / "report")
    print(f"{res['models']} models, {res['converged']} converged -> {args.out / args.config / 'report'}")
    return 0


def regress(argv: list[str] | None = None) -> int:
    """Accuracy regression (Sec. 4.2): OLS of standardized test accuracy on the hyper-parameters,
    per dataset (Fig. 1/14/15)."""
    args = command_parser("python -m metaclf.regress", regress.__doc__, config="c_main_mini").parse_args(argv)
    from ..analyses.regress import regress as regress_of

    with library_warnings_kept_quiet():
        res = regress_of(args.config, args.data_dir, args.out / args.config / "report")
    for d, r in res["per_dataset"].items():
        print(f"{d}: " + (f"{r['n_models']} models, R² {r['r_squared']:.3f}" if "r_squared" in r else r["skipped"]))
    return 0


def embed(argv: list[str] | None = None) -> int:
    """Embedding (Fig. 13): incremental PCA of the conv weights, then UMAP (fixed architecture)."""
    p = command_parser("python -m metaclf.embed", embed.__doc__)
    p.add_argument("--components", type=positive_int, default=10, help="PCA components (default 10)")
    args = p.parse_args(argv)
    _fixed_only(p, args.config, "the embedding")
    from ..analyses.embed import embed as embed_of

    with library_warnings_kept_quiet():
        res = embed_of(args.config, args.data_dir, args.out / args.config / "report", args.components)
    print(f"{res['vectors']} vectors, PCA explained variance {sum(res['explained_variance_ratio']):.3f} "
          f"-> {args.out / args.config / 'report' / 'embedding.png'}")
    return 0
