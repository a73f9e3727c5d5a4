"""Training the pending models of one shard, under its lock: in this process, in a pool of
worker processes, or K at a time (:mod:`train.batched`); :func:`generate_shard` is the
library call behind ``python -m train.generate``.
"""
from __future__ import annotations

import concurrent.futures as cf
import ctypes
import multiprocessing as mp
import os
import platform
import queue
import signal
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

import nws_datasets
from nws_datasets.architecture import Layout
from nws_datasets.records import write_index, write_model
from nws_datasets.schema import model_filename, model_metadata, shard_dirname
from nws_datasets.sources import load_images
from nws_datasets.space import CONVERGENCE_THRESHOLDS, NWSConfig, get_config, training_seed
from nws_datasets.storage import nws_home

from .batched import ModelSpec, architecture_key, train_group
from .shard import UsageError, prepare_shard, remove_partial_files, shard_lock
from .trainer import PROTOCOL, DeviceImages, TrainResult, train_model


class Terminated(BaseException):
    """SIGTERM arrived: stop the workers, clean up, exit with 143."""


# ---- worker side -------------------------------------------------------------------------
_IMAGES: dict[str, DeviceImages] = {}
_PROGRESS: Any = None


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this worker when its parent dies (prctl PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # not Linux: the parent still terminates workers on SIGTERM
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _init_worker(threads: int, progress_queue: Any, parent: int | None = None) -> None:
    global _PROGRESS
    if parent is not None:
        _die_with_parent(parent)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    torch.set_num_threads(threads)
    _PROGRESS = progress_queue


def _images(job: dict[str, Any]) -> DeviceImages:
    """The job's image source on its device, loaded once per process."""
    key = (job["plan"]["hparams"]["dataset"], job["device"])
    if key not in _IMAGES:
        _IMAGES[key] = DeviceImages(load_images(key[0]), get_config(job["config"]).profile, key[1])
    return _IMAGES[key]


def _progress(job: dict[str, Any]):
    def on_epoch(epoch: int, val: float) -> None:
        if _PROGRESS is not None:
            _PROGRESS.put((job["plan"]["model_id"], epoch, val))
    return on_epoch


def train_and_write(job: dict[str, Any]) -> dict[str, Any]:
    """Train one model and write its file; return its shard-index entry (runs in a worker)."""
    res = train_model(job["plan"]["hparams"], _images(job), get_config(job["config"]).profile, job["torch_seed"],
                      job["max_epochs"], _progress(job))
    return write_result(job, res)


def train_batched_and_write(jobs: list[dict[str, Any]], batch: int, finish) -> None:
    """Train ``jobs`` up to ``batch`` at a time per architecture (:mod:`train.batched`); each
    finished model is written and its index entry passed to ``finish``."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for job in sorted(jobs, key=lambda j: j["plan"]["hparams"]["batch_size"]):  # equal sizes step together
        groups.setdefault(architecture_key(job["plan"]["hparams"]), []).append(job)
    for group in groups.values():
        profile = get_config(group[0]["config"]).profile
        specs = [ModelSpec(job, job["plan"]["hparams"], _images(job), profile, job["torch_seed"], job["max_epochs"],
                           _progress(job)) for job in group]
        train_group(specs, batch, group[0]["device"], lambda spec, res: finish(write_result(spec.tag, res)))


def write_result(job: dict[str, Any], res: TrainResult) -> dict[str, Any]:
    """Write a trained model's file with its metadata; return its shard-index entry."""
    config = get_config(job["config"])
    profile = config.profile
    plan, device = job["plan"], job["device"]
    hp = plan["hparams"]
    images = _images(job)
    entry = {**plan, "file": None, "status": res.status, "epochs": res.epochs}
    if res.status == "failed":
        return {**entry, "reason": res.reason}
    final = res.test_accuracy[-1]
    converged = final >= CONVERGENCE_THRESHOLDS[hp["dataset"]]
    meta = model_metadata(
        config, model_id=plan["model_id"], shard=job["shard"], split=plan["split"], seed=job["seed"],
        torch_seed=job["torch_seed"], hparams=hp, result=res, protocol=PROTOCOL, profile=asdict(profile),
        evaluation={"source": hp["dataset"], "test_images": len(images.y_test),
                    "test_sha256": images.test_sha256, "mode": "eval (BN running statistics, no dropout)"},
        device=device, overrides=job["overrides"], converged=converged,
        versions={"nws_datasets": nws_datasets.__version__, "torch": torch.__version__, "numpy": np.__version__,
                  "python": platform.python_version()})
    layout = Layout.for_hparams(hp)
    path = Path(job["shard_dir"]) / model_filename(plan["model_id"])
    size, digest = write_model(path, layout.unflatten(res.theta), meta)
    return {**entry, "file": path.name, "bytes": size, "sha256": digest, "final_test_accuracy": final,
            "converged": bool(converged), "stop_reason": res.stop_reason, "wall_time_s": res.wall_time_s}


# ---- parent side -------------------------------------------------------------------------
def generate_shard(config: NWSConfig | str, shard: int, out: str | Path | None = None, *, seed: int | None = None,
                   device: str = "cpu", workers: int = 1, limit: int | None = None, max_epochs: int | None = None,
                   sources: dict[str, str] | None = None, quiet: bool = False, batch: int = 1) -> dict[str, int]:
    """Train every pending model of one shard under the shard's lock; return the status counts.

    ``out`` defaults to the NWS home and ``seed`` to the config's; ``limit`` trains only the
    first N models and ``max_epochs`` caps training (both recorded in the metadata);
    ``sources`` maps image sources to local copies; ``batch`` > 1 trains up to that many models
    of one architecture together in this process (:mod:`train.batched`; needs ``workers`` 1).
    Resumable: finished models are kept.
    """
    if batch > 1 and workers > 1:
        raise UsageError(f"--batch {batch} trains models together in one process; use it with --workers 1, "
                         f"not {workers}")
    config = get_config(config) if isinstance(config, str) else config
    out = Path(out) if out is not None else nws_home()
    seed = config.seed if seed is None else seed
    sdir = out / config.name / shard_dirname(shard)
    sdir.mkdir(parents=True, exist_ok=True)
    with shard_lock(sdir):
        try:
            return _run_locked(config, shard, out, seed, device, workers, limit, max_epochs, sources or {}, quiet,
                               batch)
        except BaseException:
            remove_partial_files(sdir)  # what killed workers were writing
            raise


def _run_locked(config: NWSConfig, shard: int, out: Path, seed: int, device: str, workers: int, limit: int | None,
                max_epochs: int | None, sources: dict[str, str], quiet: bool, batch: int) -> dict[str, int]:
    sdir, index = prepare_shard(config, shard, out, seed)
    pos = {m["model_id"]: i for i, m in enumerate(index["models"])}
    todo = [m for m in index["models"][:limit] if m["status"] == "pending"]
    for name in sorted({m["hparams"]["dataset"] for m in todo}):  # convert/cache once, in the parent
        load_images(name, sources.get(name))
    overrides = {k: v for k, v in (("max_epochs", max_epochs), ("limit", limit)) if v is not None}
    if batch > 1:
        overrides["batched_models"] = batch  # trained alongside others (train/batched.py)
    jobs = [{"config": config.name, "shard": shard, "shard_dir": str(sdir), "seed": seed,
             "torch_seed": training_seed(config, m["model_id"], seed), "plan": {k: m[k] for k in
             ("model_id", "split", "hparams", "n_weights", "n_conv_weights")}, "device": device,
             "max_epochs": max_epochs, "overrides": overrides} for m in todo]
    done_before = sum(m["status"] != "pending" for m in index["models"][:limit])
    bar = tqdm(total=len(todo) + done_before, initial=done_before, unit="model",
               desc=f"{config.name} shard {shard}", dynamic_ncols=True, disable=quiet)

    epochs: dict[int, str] = {}  # model id → "epoch:validation accuracy" of the models in training

    def finish(entry: dict[str, Any]) -> None:
        index["models"][pos[entry["model_id"]]] = entry
        write_index(sdir, index)
        epochs.pop(entry["model_id"], None)
        bar.update(1)

    def show(msg: tuple[int, int, float]) -> None:
        epochs[msg[0]] = f"{msg[1]}:{msg[2]:.2f}"
        bar.set_postfix_str(" ".join(f"m{k} ep{v}" for k, v in sorted(epochs.items())), refresh=True)

    if workers == 1:
        _init_worker(torch.get_num_threads() if device == "cuda" or batch > 1 else 1, _Direct(show))
        if batch > 1:
            train_batched_and_write(jobs, batch, finish)
        else:
            for job in jobs:
                finish(train_and_write(job))
    else:
        _train_in_pool(jobs, workers, show, finish)
    bar.close()
    counts: dict[str, int] = {}
    for m in index["models"]:
        counts[m["status"]] = counts.get(m["status"], 0) + 1
    return counts


def _train_in_pool(jobs: list[dict[str, Any]], workers: int, show, finish) -> None:
    """Train ``jobs`` in ``workers`` spawned processes, passing their progress to ``show`` and
    each finished model's index entry to ``finish``; a failure kills the workers."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    pool = cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(1, q, os.getpid()))
    try:
        pending = {pool.submit(train_and_write, j) for j in jobs}
        while pending:
            finished, pending = cf.wait(pending, timeout=0.5, return_when=cf.FIRST_COMPLETED)
            while True:
                try:
                    show(q.get_nowait())
                except queue.Empty:
                    break
            for f in finished:
                finish(f.result())
    except BaseException:
        _stop_workers(pool)
        raise
    pool.shutdown()


def _stop_workers(pool: cf.ProcessPoolExecutor) -> None:
    """Kill the pool's worker processes now (they would otherwise finish and write their model)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        proc.kill()
    for proc in procs:
        proc.join(timeout=10)


class _Direct:
    """A queue stand-in that shows progress at once (single-process runs)."""

    def __init__(self, show):
        self.put = show
