"""Benchmark generation: ``python -m train.bench`` prints one JSON line.

Measures, in one run on this machine: the training step of the fixed architecture (one
thread, batch 128) against the same network in plain PyTorch (``train_step_vs_plain_pytorch``)
and as a fraction of the fp32 matrix-product roofline measured beside it; training images/s
with augmentation off and on; models/hour of ``c_fixed_mini`` through
``train.generate`` with one worker and with two, their ratio, and the projected wall time of
the whole ``c_fixed_mini`` config with two workers.

``--sweep`` measures batched generation instead (:mod:`train.batched`): models/hour of
fixed-architecture models, each with its own sampled hyper-parameters, trained K at a time
for ``--epochs`` epochs with the config's profile (every evaluation included), for each K of
``--ks`` (K = 1 is the one-at-a-time path), as ratios against K = 1. The result is stored
under ``$NWS_HOME/bench/`` for this device, and ``train.generate --batch auto`` uses its
fastest K.
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
from nws_datasets.cnn import NWSCNN, to_input
from nws_datasets.sources import load_images
from nws_datasets.architecture import layers_for
from nws_datasets.space import (CONFIGS, FIXED_ARCHITECTURE, IMAGE_SHAPE, PROFILES, Profile, get_config,
                                sample_hparams)
from nws_datasets.timing import steady_rate

from .augment import augment
from .batch_choice import device_name, save_sweep
from .batched import ModelSpec, train_group
from .generate import main as generate
from .optim import make_optimizer
from .trainer import DeviceImages, train_model


def train_images_per_s(seconds: float, aug: bool, device: str) -> float:
    torch.manual_seed(0)
    net = NWSCNN({**FIXED_ARCHITECTURE, "activation": "relu", "initialization": "glorot_uniform"}).to(device)
    opt = make_optimizer("adam", net.parameters(), 1e-3)
    x, y = trainer_batch(device)
    g = torch.Generator(device=device).manual_seed(0)

    def step() -> None:
        opt.zero_grad()
        F.cross_entropy(net(augment(x, g) if aug else x), y).backward()
        opt.step()

    return steady_rate(step, 128, 3, seconds, device)


def trainer_batch(device: str, n: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """A mini-batch as the trainer builds one: uint8 NHWC images through :func:`to_input`
    (a channels-last view), and labels."""
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, *IMAGE_SHAPE), dtype=torch.uint8, generator=g).to(device)
    return to_input(images), torch.randint(0, 10, (n,), generator=g).to(device)


def plain_pytorch_net(hparams: dict) -> torch.nn.Module:
    """The same network as :class:`NWSCNN` in plain PyTorch (``nn.Conv2d``, ``nn.BatchNorm2d``,
    ``nn.Linear``, ``nn.BatchNorm1d``, ``nn.Dropout``, NCHW flatten): the baseline of the
    training step's speed, without any TensorFlow 1 semantics."""
    nn = torch.nn
    mods: list[torch.nn.Module] = []
    for layer in layers_for(hparams):
        if layer.kind == "conv":
            mods += [nn.Conv2d(layer.in_size, layer.out_size, layer.kernel, padding="same"),
                     nn.BatchNorm2d(layer.out_size), nn.ReLU()] + [nn.MaxPool2d(2)] * layer.pool
            continue
        if not isinstance(mods[-1], (nn.Linear, nn.BatchNorm1d, nn.Dropout)):
            mods.append(nn.Flatten())
        mods.append(nn.Linear(layer.in_size, layer.out_size))
        if layer.batch_norm:
            mods += [nn.ReLU(), nn.BatchNorm1d(layer.out_size)] + [nn.Dropout(0.5)] * layer.dropout
    return nn.Sequential(*mods)


def training_flops_per_image(hparams: dict) -> float:
    """Floating-point operations of one image's forward and backward pass: 3 × the forward
    pass's 2 · multiply-adds of the conv and FC layers (the rest is small beside them)."""
    side, macs = IMAGE_SHAPE[0], 0
    for layer in layers_for(hparams):
        if layer.kind == "conv":
            macs += side * side * layer.out_size * layer.in_size * layer.kernel ** 2
            side //= 2 if layer.pool else 1
        else:
            macs += layer.in_size * layer.out_size
    return 3 * 2 * macs


def matmul_flops_per_s(seconds: float, device: str, n: int = 512) -> float:
    """fp32 matrix-product throughput on this device and thread count: the roofline."""
    a, b = torch.rand(n, n, device=device), torch.rand(n, n, device=device)
    return steady_rate(lambda: torch.mm(a, b), 2 * n ** 3, 3, seconds, device)


def step_vs_plain_pytorch(seconds: float, device: str, repeats: int = 3) -> dict[str, float]:
    """Our training step (TensorFlow 1 layers and Adam) against the same network in plain
    PyTorch with ``torch.optim.Adam``, on the same batches of 128 as the trainer builds them,
    alternating, best of ``repeats`` each."""
    hp = {**FIXED_ARCHITECTURE, "activation": "relu", "initialization": "glorot_uniform"}
    torch.manual_seed(0)
    nets = {"ours": NWSCNN(hp).to(device), "plain": plain_pytorch_net(hp).to(device)}
    opts = {"ours": make_optimizer("adam", nets["ours"].parameters(), 1e-3),
            "plain": torch.optim.Adam(nets["plain"].parameters(), 1e-3)}
    x, y = trainer_batch(device)

    def step(name: str) -> None:
        opts[name].zero_grad()
        F.cross_entropy(nets[name](x), y).backward()
        opts[name].step()

    best = {"ours": 0.0, "plain": 0.0}
    for _ in range(repeats):
        for name in best:
            best[name] = max(best[name], steady_rate(lambda: step(name), 128, 3, seconds / repeats, device))
    roofline = matmul_flops_per_s(seconds / repeats, device)
    return {"train_images_per_s_ours": round(best["ours"], 1), "train_images_per_s_plain_pytorch": round(best["plain"], 1),
            "train_step_vs_plain_pytorch": round(best["ours"] / best["plain"], 3),
            "matmul_roofline_fraction": round(best["ours"] * training_flops_per_image(hp) / roofline, 3)}


def models_per_hour(models: int, workers: int, device: str) -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        rc = generate(["--config", "c_fixed_mini", "--shard", "0", "--limit", str(models), "--workers", str(workers),
                       "--device", device, "--out", out, "--quiet"])
        if rc != 0:
            raise SystemExit(rc)
        return 3600 * models / (time.perf_counter() - start)


def batched_models_per_hour(config_name: str, k: int, epochs: int, device: str, profile: Profile) -> float:
    """Models/hour of ``k`` fixed-architecture models of ``config_name`` trained together for
    ``epochs`` epochs each with ``profile`` (``k`` = 1: one at a time, :func:`train.trainer.train_model`)."""
    config = get_config(config_name)
    hps = [{**sample_hparams(config, m), **FIXED_ARCHITECTURE} for m in range(max(k, 2))]
    images = {name: DeviceImages(load_images(name), profile, device) for name in {h["dataset"] for h in hps}}
    start = time.perf_counter()
    if k == 1:  # two models, one after the other
        for m, hp in enumerate(hps):
            train_model(hp, images[hp["dataset"]], profile, m, epochs)
    else:
        train_group([ModelSpec(m, hp, images[hp["dataset"]], profile, m, epochs) for m, hp in enumerate(hps)],
                    k, device, lambda spec, res: None)
    if device == "cuda":
        torch.cuda.synchronize()
    return 3600 * len(hps) / (time.perf_counter() - start)


def sweep(config: str, ks: list[int], epochs: int, device: str, profile: str | None = None) -> dict:
    """The K sweep of batched generation (module docstring)."""
    prof = PROFILES[profile] if profile else get_config(config).profile
    rates = {k: batched_models_per_hour(config, k, epochs, device, prof) for k in ks}
    base = rates.get(1)
    best = max(rates, key=rates.get)
    return {"sweep": "batched generation", "device": device, "device_name": device_name(device),
            "torch": torch.__version__, "threads": torch.get_num_threads(), "config": config,
            "profile": prof.name, "epochs_per_model": epochs,
            "models_per_hour": {str(k): round(v, 1) for k, v in rates.items()},
            "vs_k1": {str(k): round(v / base, 3) for k, v in rates.items()} if base else None,
            "fastest_k": best}


def run_sweep(p: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """``--sweep``: models/hour of batched generation for each K, one JSON line."""
    try:
        ks = sorted({int(k) for k in args.ks.split(",")})
        if not ks or ks[0] < 1:
            raise ValueError
    except ValueError:
        p.error(f"--ks {args.ks!r} is not valid: expected positive integers separated by commas, e.g. 1,8,32")
    if 1 not in ks:
        ks = [1, *ks]  # the baseline of the ratios
    if args.config not in CONFIGS:
        p.error(f"--config {args.config!r} is not valid: expected one of {', '.join(CONFIGS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    result = sweep(args.config, ks, args.epochs, args.device, args.profile)
    result["saved_to"] = str(save_sweep(result))
    print(json.dumps(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=positive_int, default=4, help="c_fixed_mini models per measurement (default 4)")
    p.add_argument("--seconds", type=float, default=5.0, help="seconds per images/s measurement (default 5)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--sweep", action="store_true", help="measure batched generation for each K of --ks instead")
    p.add_argument("--ks", default="1,8,32,128", help="sweep: comma-separated K values (default 1,8,32,128)")
    p.add_argument("--epochs", type=positive_int, default=2, help="sweep: epochs per model (default 2)")
    p.add_argument("--config", default="c_fixed_mini", help="sweep: config whose profile and sources are used "
                   "(default c_fixed_mini)")
    p.add_argument("--profile", choices=list(PROFILES), help="sweep: training profile instead of the config's "
                   "(e.g. paper with c_fixed_cpu's offline sources)")
    p.add_argument("--threads", type=positive_int, help="sweep: torch threads (default: torch's)")
    args = p.parse_args(argv)
    if args.models < 1:
        p.error(f"--models {args.models} must be a positive integer")
    if args.sweep:
        return run_sweep(p, args)
    if args.device == "cpu":
        torch.set_num_threads(1)
    step = step_vs_plain_pytorch(args.seconds, args.device)
    plain = train_images_per_s(args.seconds, False, args.device)
    augmented = train_images_per_s(args.seconds, True, args.device)
    w1 = models_per_hour(args.models, 1, args.device)
    w2 = models_per_hour(2 * args.models, 2, args.device)
    n = CONFIGS["c_fixed_mini"].num_models
    print(json.dumps({
        "device": args.device, "torch": torch.__version__, **step,
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
