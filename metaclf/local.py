"""Local DMC: classify a hyper-parameter from a window of consecutive weights.

``python -m metaclf.local --target activation [--config c_main] [--part all|conv|fc]
[--subset-size 5000] [--epochs E] [--device cpu|cuda] [--profile mini|paper] [--out DIR]``

Trains on the last 2 snapshots of converged training-split models (classes balanced by a
random K models per class), with a new random window position for every sample of every
mini-batch (the authors' ``meta_classifier.py``); windows of ``--part conv``/``fc`` never
cross the conv/FC split. Evaluates every test record at ``eval_positions`` evenly spaced
windows and scores each window (the paper's and the SVMs' count); ``per_model`` averages a
model's probabilities over its windows and snapshots.
Several ``--subset-size`` values (comma-separated) run the subset-size sweep of Fig. 18.
Writes JSON results, a confusion-matrix PNG and the DMC checkpoint (which resumes training).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nws_datasets.cli import positive_int, run_main

from . import results
from .cli import parser, validate
from .data import DataError, WeightSet, balanced_models, load_split
from .dmc import DMC_PROFILES, DMCProfile, local_dmc, n_weights, predict_proba, profile_dict, train
from .evaluate import dmc_scores
from .features import gather_windows, part_bounds, window_starts

SNAPSHOTS = (-2, -1)


def windows(ws: WeightSet, rows: np.ndarray, lo: np.ndarray, hi: np.ndarray, size: int, u: np.ndarray) -> np.ndarray:
    """Windows [len(rows), size] at relative positions ``u`` (one per row) inside [lo, hi)."""
    starts = window_starts(lo[rows], hi[rows], size, np.asarray(u, float))[:, None]
    sub = ws.weights[rows] if ws.fixed else [ws.weights[i] for i in rows]
    return gather_windows(sub, starts, size)[:, 0]


def run_local(config: str, target: str, part: str, size: int, profile: DMCProfile, device: str, out: Path,
              seed: int, data_dir: str | None, classes: list[str], epochs: int | None = None,
              converged_only: bool = True) -> dict[str, Any]:
    start = time.perf_counter()
    train_ws, test_ws = (load_split(config, s, target, SNAPSHOTS, data_dir, converged_only) for s in ("train", "test"))
    bounds = {}
    for name, ws in (("train", train_ws), ("test", test_ws)):
        lo, hi = part_bounds(ws.lengths(), ws.n_conv, part)
        bounds[name] = (lo, hi, np.flatnonzero(hi - lo >= size))
        if not len(bounds[name][2]):
            raise DataError(f"--subset-size {size} is larger than the {part} weights of every {name} record "
                            f"(at most {int((hi - lo).max())}); use a smaller --subset-size")
    lo, hi, ok = bounds["train"]
    keep = ok[balanced_models(train_ws.model_id[ok], train_ws.labels[ok], np.random.default_rng(seed))]
    epochs = epochs or profile.local_epochs
    torch.manual_seed(seed)  # the initial DMC weights depend on the seed only
    model = local_dmc(size, len(classes), profile)
    method = "dmc-local"
    ckpt = results.result_path(out, config, method, target, part).with_suffix(f".s{size}.ckpt")
    settings = {"config": config, "target": target, "part": part, "size": size, "profile": profile_dict(profile),
                "epochs": epochs, "seed": seed, "converged_only": converged_only, "train_models": sorted(set(train_ws.model_id[keep].tolist()))}

    def sample(b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return windows(train_ws, keep[b], lo, hi, size, rng.random(len(b)))  # a new position for every sample

    fit = train(model, sample, train_ws.labels[keep], epochs, ckpt, settings, device, seed,
                desc=f"local DMC {target} ({part}, S={size})")
    lo_t, hi_t, ok_t = bounds["test"]
    positions = np.linspace(0, 1, profile.eval_positions)
    probs = np.stack([predict_proba(model, windows(test_ws, ok_t, lo_t, hi_t, size, np.full(len(ok_t), u)), device)
                      for u in positions])
    res = dmc_scores(probs, test_ws.model_id[ok_t], test_ws.labels[ok_t], classes, seed)
    one = predict_proba(model, windows(test_ws, ok_t, lo_t, hi_t, size,
                                       np.random.default_rng(seed).random(len(ok_t))), device)
    res.update({
        "method": method, "config": config, "target": target, "part": part, "subset_size": size,
        "profile": profile_dict(profile), "epochs": epochs, "device": device, "seed": seed,
        "snapshots": list(SNAPSHOTS), "dmc_weights": n_weights(model), "eval_positions": profile.eval_positions,
        "single_window_record_accuracy": float(np.mean(one.argmax(1) == test_ws.labels[ok_t])),
        "train": {"models": len(settings["train_models"]), "records": int(len(keep)),
                  "skipped_short_records": int(len(train_ws) - len(ok))},
        "test": {"models": int(len(np.unique(test_ws.model_id[ok_t]))), "records": int(len(ok_t)),
                 "skipped_short_records": int(len(test_ws) - len(ok_t))},
        "converged_only": converged_only, "checkpoint": str(ckpt), "history": fit["history"],
        "train_seconds": round(fit["train_seconds"], 2), "seconds": round(time.perf_counter() - start, 2),
    })
    return res


def plot_sweep(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    sizes = [r["subset_size"] for r in rows]
    ax.errorbar(sizes, [r["accuracy_mean"] for r in rows], yerr=[r["accuracy_std"] for r in rows], marker="o",
                capsize=3, label="local DMC")
    ax.axhline(rows[0]["chance"], color="grey", ls="--", label="chance")
    ax.set_xscale("log")
    ax.set_xlabel("subset size (weights)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"Subset size – {rows[0]['target']} ({rows[0]['config']})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def add_dmc_args(p) -> None:
    p.add_argument("--epochs", type=positive_int, help="training epochs (default: the profile's)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--profile", help="mini (small widths/epochs, CPU minutes) or paper; default: paper on cuda, "
                   "mini on cpu")


def check_dmc_args(p, args) -> DMCProfile:
    if args.device not in ("cpu", "cuda"):
        p.error(f"--device {args.device!r} is not valid: expected cpu or cuda")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda was asked for but torch.cuda.is_available() is False")
    name = args.profile or ("paper" if args.device == "cuda" else "mini")
    if name not in DMC_PROFILES:
        p.error(f"--profile {name!r} is not valid: expected {', '.join(DMC_PROFILES)}")
    if args.epochs is not None and args.epochs < 1:
        p.error(f"--epochs {args.epochs} must be a positive integer")
    return DMC_PROFILES[name]


def main(argv: list[str] | None = None) -> int:
    p = parser("python -m metaclf.local", __doc__, "c_fixed_mini", "activation")
    p.add_argument("--part", default="all", choices=["all", "conv", "fc"], help="weights the windows cover")
    p.add_argument("--subset-size", default="5000", help="window size, or a comma-separated list for the sweep")
    add_dmc_args(p)
    args = p.parse_args(argv)
    classes = validate(p, args)
    profile = check_dmc_args(p, args)
    try:
        sizes = [int(s) for s in args.subset_size.split(",")]
        assert all(s >= 16 for s in sizes)
    except (ValueError, AssertionError):
        p.error(f"--subset-size {args.subset_size!r} is not valid: expected integers ≥ 16, comma-separated")
    rows = []
    for size in sizes:
        res = run_local(args.config, args.target, args.part, size, profile, args.device, args.out, args.seed,
                        args.data_dir, classes, args.epochs, not args.include_unconverged)
        path = results.result_path(args.out, args.config, "dmc-local", args.target, args.part)
        if len(sizes) > 1:
            path = path.with_suffix(f".s{size}.json")
        results.save(path, res)
        rows.append(res)
        print(f"local DMC {args.target} ({args.part}, S={size}): {res['accuracy_mean']:.3f} ± "
              f"{res['accuracy_std']:.3f} (chance {res['chance']:.3f}) -> {path}")
    if len(sizes) > 1:
        sweep = results.result_path(args.out, args.config, "sweep-local", args.target, args.part)
        from nws_datasets.storage import write_json

        write_json(sweep, {"target": args.target, "config": args.config, "part": args.part, "rows": [
            {k: r[k] for k in ("subset_size", "accuracy_mean", "accuracy_std", "chance", "dmc_weights")} for r in rows]})
        plot_sweep(rows, sweep.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
