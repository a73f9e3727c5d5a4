"""Global DMC: classify a hyper-parameter from the whole θ of a fixed-architecture model.

``python -m metaclf.global --target dataset [--config c_fixed] [--epochs E] [--device cpu|cuda]
[--profile mini|paper] [--out DIR]``

Trains on the last 4 snapshots of converged training-split models (random K models per
class), evaluates each test model by averaging the probabilities of its 4 snapshots. Needs a
fixed architecture (c_fixed, c_fixed_mini). Writes a JSON result, a confusion-matrix PNG and
a checkpoint from which an interrupted training resumes.
"""
from __future__ import annotations

import sys
import time

import numpy as np
import torch

from metaclf import results
from metaclf.cli import parser, validate
from metaclf.data import balanced_models, load_split
from metaclf.dmc import global_dmc, n_weights, predict_proba, profile_dict, train
from metaclf.evaluate import dmc_scores
from metaclf.local import add_dmc_args, check_dmc_args
from nws_datasets.cli import run_main
from nws_datasets.space import get_config

SNAPSHOTS = (-4, -3, -2, -1)


def run_global(config: str, target: str, profile, device: str, out, seed: int, data_dir: str | None,
               classes: list[str], epochs: int | None = None, converged_only: bool = True) -> dict:
    start = time.perf_counter()
    train_ws, test_ws = (load_split(config, s, target, SNAPSHOTS, data_dir, converged_only) for s in ("train", "test"))
    keep = np.flatnonzero(balanced_models(train_ws.model_id, train_ws.labels, np.random.default_rng(seed)))
    epochs = epochs or profile.global_epochs
    torch.manual_seed(seed)  # the initial DMC weights depend on the seed only
    model = global_dmc(train_ws.weights.shape[1], len(classes), profile)
    ckpt = results.result_path(out, config, "dmc-global", target).with_suffix(".ckpt")
    settings = {"config": config, "target": target, "profile": profile_dict(profile), "epochs": epochs,
                "seed": seed, "converged_only": converged_only, "train_models": sorted(set(train_ws.model_id[keep].tolist()))}
    fit = train(model, lambda b, rng: train_ws.weights[keep[b]], train_ws.labels[keep], epochs, ckpt, settings,
                device, seed, desc=f"global DMC {target}")
    probs = predict_proba(model, test_ws.weights, device)
    res = dmc_scores(probs, test_ws.model_id, test_ws.labels, classes, seed)
    res.update({"method": "dmc-global", "config": config, "target": target, "profile": profile_dict(profile),
                "epochs": epochs, "device": device, "seed": seed, "snapshots": list(SNAPSHOTS),
                "dmc_weights": n_weights(model), "train": {"models": len(settings["train_models"]),
                                                           "records": int(len(keep))},
                "test": {"models": int(len(np.unique(test_ws.model_id))), "records": int(len(test_ws))},
                "converged_only": converged_only, "checkpoint": str(ckpt), "history": fit["history"],
                "train_seconds": round(fit["train_seconds"], 2), "seconds": round(time.perf_counter() - start, 2)})
    return res


def main(argv: list[str] | None = None) -> int:
    p = parser("python -m metaclf.global", __doc__, "c_fixed_mini", "dataset")
    add_dmc_args(p)
    args = p.parse_args(argv)
    classes = validate(p, args)
    profile = check_dmc_args(p, args)
    if not get_config(args.config).fixed_architecture:
        p.error(f"--config {args.config!r}: the global DMC needs a fixed architecture (c_fixed or c_fixed_mini)")
    res = run_global(args.config, args.target, profile, args.device, args.out, args.seed, args.data_dir, classes,
                     args.epochs, not args.include_unconverged)
    path = results.result_path(args.out, args.config, "dmc-global", args.target)
    results.save(path, res)
    print(f"global DMC {args.target}: {res['accuracy_mean']:.3f} ± {res['accuracy_std']:.3f} "
          f"(chance {res['chance']:.3f}) -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
