"""Performance maps (Fig. 5/20/21): where and when a hyper-parameter is readable in the weights.

``python -m metaclf.maps --target initialization [--config c_fixed_mini] [--part all] [--positions P]``

Uses the local DMC of ``metaclf.local`` for the same config/target/part/subset size (trained
first if ``--out`` has none) and evaluates it on every test model at P window positions a
(x axis: position of the window centre, % of θ) for each of the 20 snapshots j (y axis: %
of training). Each cell is the accuracy over a class-balanced set of converged test models.
Writes ``maps-<target>.json`` (the matrix) and ``maps-<target>.png``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from nws_datasets.cli import positive_int, run_main
from nws_datasets.space import NUM_SNAPSHOTS
from nws_datasets.storage import write_json

from . import checkpoint as checkpoints
from . import results
from .cli import parser, validate
from .data import balanced_models, load_split
from .dmc import DMCProfile, local_dmc
from .features import part_bounds
from .local import add_dmc_args, check_dmc_args, run_local, windows


def performance_map(config: str, target: str, part: str, size: int, positions: int, profile, device: str,
                    out: Path, seed: int, data_dir: str | None, classes: list[str], converged_only: bool = True) -> dict:
    ckpt = results.result_path(out, config, "dmc-local", target, part).with_suffix(f".s{size}.ckpt")
    local_json = results.result_path(out, config, "dmc-local", target, part)
    if not ckpt.exists() or not local_json.exists():
        results.save(local_json, run_local(config, target, part, size, profile, device, out, seed, data_dir, classes,
                                               converged_only=converged_only))
    model = local_dmc(size, len(classes), DMCProfile(**checkpoints.read_state(ckpt)["settings"]["profile"]))
    checkpoints.load(ckpt, model, None, device)
    model.eval()
    test = load_split(config, "test", target, tuple(range(NUM_SNAPSHOTS)), data_dir, converged_only)
    lo, hi = part_bounds(test.lengths(), test.n_conv, part)
    ok = np.flatnonzero(hi - lo >= size)
    keep = ok[balanced_models(test.model_id[ok], test.labels[ok], np.random.default_rng(seed))]
    us = np.linspace(0, 1, positions)
    acc = np.zeros((NUM_SNAPSHOTS, positions))
    with torch.inference_mode():
        for j in range(NUM_SNAPSHOTS):
            rows = keep[test.snapshot[keep] == j]
            for k, u in enumerate(us):
                x = torch.as_tensor(windows(test, rows, lo, hi, size, np.full(len(rows), u)), device=device)
                acc[j, k] = (model(x.unsqueeze(1)).argmax(1).cpu().numpy() == test.labels[rows]).mean()
    length = float(np.mean(hi[keep] - lo[keep]))
    centre = 100 * (us * (length - size) + size / 2) / length
    return {"config": config, "target": target, "part": part, "subset_size": size, "positions_percent": centre.tolist(),
            "snapshots": list(range(NUM_SNAPSHOTS)), "accuracy": acc.tolist(), "chance": 1 / len(np.unique(test.labels[keep])),
            "test_models": int(len(np.unique(test.model_id[keep]))), "classes": classes}


def plot_map(m: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    acc = np.asarray(m["accuracy"])
    fig, ax = plt.subplots(figsize=(6, 3.6))
    pos = m["positions_percent"]
    im = ax.imshow(acc, origin="lower", aspect="auto", cmap="viridis", vmin=m["chance"], vmax=max(acc.max(), m["chance"] + 1e-3),
                   extent=[pos[0], pos[-1], 0, 100])
    fig.colorbar(im, ax=ax, label="test accuracy")
    ax.set_xlabel(f"window position (% of θ, {m['part']} weights)")
    ax.set_ylabel("training progress (%)")
    ax.set_title(f"Performance map – {m['target']} ({m['config']}, S={m['subset_size']})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = parser("python -m metaclf.maps", __doc__, "c_fixed_mini", "initialization")
    p.add_argument("--part", default="all", choices=["all", "conv", "fc"], help="weights the windows cover")
    p.add_argument("--subset-size", type=positive_int, default=5000)
    p.add_argument("--positions", type=positive_int, default=20, help="window positions across θ (default 20)")
    add_dmc_args(p)
    args = p.parse_args(argv)
    classes = validate(p, args)
    profile = check_dmc_args(p, args)
    if args.positions < 2:
        p.error(f"--positions {args.positions} must be ≥ 2")
    m = performance_map(args.config, args.target, args.part, args.subset_size, args.positions, profile, args.device,
                        args.out, args.seed, args.data_dir, classes, not args.include_unconverged)
    path = args.out / args.config / f"maps-{args.target}{'-' + args.part if args.part != 'all' else ''}.json"
    write_json(path, m)
    plot_map(m, path.with_suffix(".png"))
    acc = np.asarray(m["accuracy"])
    print(f"map {args.target}: mean {acc.mean():.3f}, last snapshot {acc[-1].mean():.3f}, first {acc[0].mean():.3f} "
          f"(chance {m['chance']:.3f}) -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
