"""Benchmark generation: ``python -m train.bench`` prints one JSON line.

Measures, in one run on this machine: training images/s of the fixed architecture (one
thread, batch 128, augmentation off and on), models/hour of ``c_fixed_mini`` through
``train.generate`` with one worker and with two, their ratio, and the projected wall time of
the whole ``c_fixed_mini`` config with two workers.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

from nws_datasets.cli import positive_int, run_main
from nws_datasets.cnn import NWSCNN
from nws_datasets.space import CONFIGS, FIXED_ARCHITECTURE

from .augment import augment
from .generate import main as generate
from .optim import make_optimizer


def train_images_per_s(seconds: float, aug: bool, device: str) -> float:
    torch.manual_seed(0)
    net = NWSCNN({**FIXED_ARCHITECTURE, "activation": "relu", "initialization": "glorot_uniform"}).to(device)
    opt = make_optimizer("adam", net.parameters(), 1e-3)
    x = torch.rand(128, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (128,), device=device)
    g = torch.Generator(device=device).manual_seed(0)
    n, start = 0, None
    while start is None or time.perf_counter() - start < seconds:
        if n == 3 * 128 and start is None:  # warm-up steps
            n, start = 0, time.perf_counter()
        xb = augment(x, g) if aug else x
        loss = F.cross_entropy(net(xb), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        n += 128
    if device == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


def models_per_hour(models: int, workers: int, device: str) -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        rc = generate(["--config", "c_fixed_mini", "--shard", "0", "--limit", str(models), "--workers", str(workers),
                       "--device", device, "--out", out, "--quiet"])
        if rc != 0:
            raise SystemExit(rc)
        return 3600 * models / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=positive_int, default=4, help="c_fixed_mini models per measurement (default 4)")
    p.add_argument("--seconds", type=float, default=5.0, help="seconds per images/s measurement (default 5)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = p.parse_args(argv)
    if args.models < 1:
        p.error(f"--models {args.models} must be a positive integer")
    if args.device == "cpu":
        torch.set_num_threads(1)
    plain = train_images_per_s(args.seconds, False, args.device)
    augmented = train_images_per_s(args.seconds, True, args.device)
    w1 = models_per_hour(args.models, 1, args.device)
    w2 = models_per_hour(2 * args.models, 2, args.device)
    n = CONFIGS["c_fixed_mini"].num_models
    print(json.dumps({
        "device": args.device, "torch": torch.__version__,
        "train_images_per_s_fixed_arch": round(plain, 1),
        "train_images_per_s_fixed_arch_augmented": round(augmented, 1),
        "c_fixed_mini_models_per_hour_workers1": round(w1, 1),
        "c_fixed_mini_models_per_hour_workers2": round(w2, 1),
        "workers2_vs_workers1": round(w2 / w1, 3),
        "c_fixed_mini_models": n,
        "c_fixed_mini_projected_minutes_workers2": round(60 * n / w2, 1),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
