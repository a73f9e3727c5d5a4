"""Benchmark meta-classification: ``python -m metaclf.bench`` prints one JSON line.

Feature extraction (the 16 statistics over 10 windows of 5,000 weights per θ) in weights/s,
next to numpy's plain ``np.sort`` of the same windows (the floor for exact percentiles) in
the same run; and local DMC training samples/s (mini and paper widths) on the device, next
to the same network with torch's ``MaxPool1d`` and BN layers that track moving averages
(``*_vs_torch_layers``: the speed-up of :class:`~metaclf.methods.dmc.PairMaxPool` and of
leaving those averages to precise BN).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from nws_datasets.architecture import Layout
from nws_datasets.cli import positive_int, run_main
from nws_datasets.cnn import TFBatchNorm
from nws_datasets.space import FIXED_ARCHITECTURE
from nws_datasets.timing import steady_rate

from .methods.dmc import DMC, PairMaxPool, local_dmc
from .recipe import DMC_PROFILES
from .recipe import LOCAL_FEATURE_WINDOWS as W
from .recipe import SUBSET_SIZE as S
from .features import local_features


def _timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def with_torch_layers(model: DMC) -> DMC:
    """The baseline of the DMC speed: ``model`` with torch's ``MaxPool1d`` and BN layers that
    keep moving averages in training (what the DMC was built with before; same outputs)."""
    for i, m in enumerate(model.net):
        if isinstance(m, PairMaxPool):
            model.net[i] = torch.nn.MaxPool1d(2)
        elif isinstance(m, TFBatchNorm):
            m.track_running_stats = True
    return model


def dmc_samples_per_s(profile: str, device: str, seconds: float, baseline: bool = False) -> float:
    """Local DMC training throughput (64-window steps) after 2 warm-up steps, over ``seconds``."""
    model = local_dmc(S, 5, DMC_PROFILES[profile])
    model = (with_torch_layers(model) if baseline else model).to(device)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x, y = torch.randn(64, 1, S, device=device), torch.randint(0, 5, (64,), device=device)

    def step() -> None:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return steady_rate(step, 64, 2, seconds, device)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m metaclf.bench", description=__doc__)
    p.add_argument("--models", type=positive_int, default=200, help="θ vectors of the fixed architecture (default 200)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--seconds", type=float, default=5.0)
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    layout = Layout.for_hparams(FIXED_ARCHITECTURE)
    weights = rng.standard_normal((args.models, layout.n_weights)).astype(np.float32)
    n_conv = np.full(args.models, layout.n_conv_weights)
    t_feat = _timed(lambda: local_features(weights, n_conv, S, W, "all", 0))
    n_win_weights = args.models * W * S
    starts = rng.integers(0, layout.n_weights - S, (args.models, W))
    windows = np.stack([weights[i][starts[i][:, None] + np.arange(S)] for i in range(args.models)]).reshape(-1, S)
    t_sort = _timed(lambda: (np.sort(windows, axis=1), np.sort(np.diff(windows, axis=1), axis=1)))
    out = {"device": args.device, "torch": torch.__version__, "feature_windows": args.models * 10,
           "features_weights_per_s": round(n_win_weights / t_feat), "np_sort_weights_per_s": round(n_win_weights / t_sort),
           "features_vs_np_sort": round(t_sort / t_feat, 3)}
    for profile in ("mini", "paper"):
        ours, base = (dmc_samples_per_s(profile, args.device, args.seconds, b) for b in (False, True))
        out[f"local_dmc_{profile}_train_samples_per_s"] = round(ours, 1)
        out[f"local_dmc_{profile}_vs_torch_layers"] = round(ours / base, 3)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
