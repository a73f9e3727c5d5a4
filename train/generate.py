"""Generate shards of the NWS: ``python -m train.generate --config c_fixed --shard 7``.

Each model of a shard gets hyper-parameters drawn deterministically from (config, model id,
seed), is trained with the paper's protocol (or the mini profile) and written as one
safetensors file; the shard's ``index.json`` (with each file's size and sha256) is rewritten
atomically after every model. Re-running a shard skips finished models whose files still
match their size and checksum, so a run killed at any moment loses at most the models in
training. One run at a time per shard: a second run on a locked shard exits with status 75
naming the lock and its owner's pid. SIGTERM (or Ctrl-C) stops the workers, removes partial
files and exits with 143 (130); workers also die with a SIGKILLed parent. ``--batch K`` trains
up to K models of one architecture together in one process (:mod:`train.batched`).
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import ctypes
import errno
import fcntl
import json
import multiprocessing as mp
import os
import platform
import queue
import signal
import sys
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

import nws_datasets
from nws_datasets.architecture import Layout
from nws_datasets.cli import out_dir, positive_int, run_main
from nws_datasets.cli import seed as seed_type
from nws_datasets.records import read_index, read_model, sha256_file, write_index, write_model
from nws_datasets.schema import RecordError, model_filename, model_metadata, new_index, shard_dirname
from nws_datasets.sources import SourceError, known_sources, load_images
from nws_datasets.space import (CONFIGS, CONVERGENCE_THRESHOLDS, NWSConfig, get_config,
                                sample_hparams, training_seed)
from nws_datasets.storage import nws_home

from .batch_choice import batch_size_for
from .batched import ModelSpec, architecture_key, train_group
from .trainer import PROTOCOL, DeviceImages, TrainResult, train_model


class UsageError(Exception):
    """A bad command-line value; reported in one line with exit status 2."""


class ShardLocked(Exception):
    """Another run holds the shard's lock; reported in one line with exit status 75."""


class Terminated(BaseException):
    """SIGTERM arrived: stop the workers, clean up, exit with 143."""


LOCK_NAME = ".lock"
EXIT_LOCKED = 75  #: EX_TEMPFAIL


@contextmanager
def shard_lock(sdir: Path):
    """Hold an exclusive ``flock`` on ``<shard>/.lock`` (released by the kernel even on SIGKILL)."""
    path = sdir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise ShardLocked(f"shard {sdir} is locked by another train.generate (pid {owner}, lock file {path}); "
                              "wait for it to finish, or stop it") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def remove_partial_files(sdir: Path) -> list[str]:
    """Delete temporary files a killed writer left in a shard folder; return their names."""
    gone = []
    for stale in list(sdir.glob(".*.tmp*")) + list(sdir.glob("*.tmp")):
        stale.unlink(missing_ok=True)
        gone.append(stale.name)
    return gone


def model_plan(config: NWSConfig, model_id: int, seed: int) -> dict[str, Any]:
    """What a model will be, before training: id, split, hyper-parameters, weight counts."""
    hp = sample_hparams(config, model_id, seed)
    layout = Layout.for_hparams(hp)
    return {"model_id": model_id, "split": config.split_of(model_id), "hparams": hp,
            "n_weights": layout.n_weights, "n_conv_weights": layout.n_conv_weights}


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
def _entry_from_file(path: Path, plan: dict[str, Any]) -> dict[str, Any] | None:
    """Adopt a model file written before a crash cut off the index update (None if unusable)."""
    try:
        _, meta = read_model(path.read_bytes(), str(path))
    except RecordError:
        return None
    if meta["hparams"] != plan["hparams"]:
        return None
    return {**plan, "file": path.name, "status": "done", "epochs": meta["epochs"], "bytes": path.stat().st_size,
            "sha256": sha256_file(path), "final_test_accuracy": meta["final_test_accuracy"], "converged": meta["converged"],
            "stop_reason": meta["stop_reason"], "wall_time_s": meta["wall_time_s"]}


def _intact(path: Path, entry: dict[str, Any]) -> bool:
    """Whether a finished model's file is there with the size and sha256 its index entry recorded."""
    return path.exists() and path.stat().st_size == entry.get("bytes") and sha256_file(path) == entry.get("sha256")


def prepare_shard(config: NWSConfig, shard: int, out: Path, seed: int) -> tuple[Path, dict[str, Any]]:
    """Load or create the shard index, reconciling it with the files on disk."""
    sdir = out / config.name / shard_dirname(shard)
    sdir.mkdir(parents=True, exist_ok=True)
    remove_partial_files(sdir)  # left by a process killed mid-write
    plans = [model_plan(config, m, seed) for m in config.model_ids(shard)]
    index = read_index(sdir)
    if index is not None:
        if index["config"] != config.name or index.get("seed") != seed or \
                index.get("models_per_shard") != config.models_per_shard:
            raise UsageError(f"{sdir / 'index.json'} was written for config={index['config']} seed={index.get('seed')} "
                             f"models_per_shard={index.get('models_per_shard')}, not config={config.name} seed={seed} "
                             f"models_per_shard={config.models_per_shard}; use another --out")
        old = {m["model_id"]: m for m in index["models"]}
    else:
        old = {}
    entries = []
    for plan in plans:
        prev = old.get(plan["model_id"], {})
        path = sdir / model_filename(plan["model_id"])
        if prev.get("status") == "failed" or (prev.get("status") == "done" and _intact(path, prev)):
            entries.append(prev)
        elif prev.get("status") == "done":  # listed, but missing or not the file that was written
            path.unlink(missing_ok=True)
            entries.append({**plan, "file": None, "status": "pending"})
        elif path.exists():  # written by a run killed before it could update the index
            adopted = _entry_from_file(path, plan)
            if adopted is None:  # incomplete, corrupt or someone else's: train it again
                path.unlink()
            entries.append(adopted or {**plan, "file": None, "status": "pending"})
        else:
            entries.append({**plan, "file": None, "status": "pending"})
    index = new_index(config.name, shard, config.num_shards, config.models_per_shard, seed, entries)
    write_index(sdir, index)
    return sdir, index


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
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        pool = cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                      initargs=(1, q, os.getpid()))
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
    bar.close()
    counts: dict[str, int] = {}
    for m in index["models"]:
        counts[m["status"]] = counts.get(m["status"], 0) + 1
    return counts


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


def resolve_config(name: str, num_shards: int | None = None) -> NWSConfig:
    """Config ``name``, split into ``num_shards`` shards if given; ``ValueError`` naming a bad value."""
    config = get_config(name)
    if num_shards is not None:
        if not 1 <= num_shards <= config.num_models:
            raise ValueError(f"--num-shards {num_shards} must be in 1..{config.num_models}")
        config = replace(config, models_per_shard=-(-config.num_models // num_shards))
    return config


def shard_list(spec: str, config: NWSConfig) -> list[int]:
    """The shards a ``--shard`` value names: ``N``, a range ``a-b`` or ``all``; ``ValueError`` otherwise."""
    n = config.num_shards
    try:
        if spec == "all":
            shards = list(range(n))
        elif "-" in spec:
            a, b = (int(x) for x in spec.split("-"))
            shards = list(range(a, b + 1))
        else:
            shards = [int(spec)]
        if not shards or not all(0 <= s < n for s in shards):
            raise ValueError
    except ValueError:
        raise ValueError(f"--shard {spec!r} is not valid for {config.name}: expected 0..{n - 1}, a range a-b, "
                         "or 'all'") from None
    return shards


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m train.generate", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: python -m train.generate --config c_fixed_mini --shard 0 --workers 2")
    p.add_argument("--config", default="c_fixed_mini", help=f"NWS config: {', '.join(CONFIGS)} (default c_fixed_mini)")
    p.add_argument("--shard", default="0", help="shard number, 'all', or a range like 0-4 (default 0)")
    p.add_argument("--num-shards", type=positive_int, help="split the config into this many shards instead of its default "
                   "(changes models per shard; hyper-parameters of a model id stay the same)")
    p.add_argument("--out", type=out_dir, help="output root (default: $NWS_HOME or ~/.cache/nws)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--workers", type=positive_int, default=1, help="models trained in parallel processes (default 1)")
    p.add_argument("--batch", default="auto", help="models of one architecture trained together in one process "
                   "(train/batched.py): a number, or 'auto' (the default): the fastest K that `python -m train.bench "
                   "--sweep` measured on this device, 1 (one at a time) when none was measured or with --workers > 1")
    p.add_argument("--seed", type=seed_type, help="sampling seed (default: the config's, 0)")
    p.add_argument("--limit", type=positive_int, help="train only the first N models of each shard (smoke runs; recorded)")
    p.add_argument("--max-epochs", type=positive_int, help="cap epochs per model (smoke runs; recorded in the metadata)")
    p.add_argument("--source", action="append", default=[], metavar="NAME=PATH",
                   help="read image source NAME from a local copy of its Hub dataset (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="print one JSON line per model (hyper-parameters, "
                   "weight counts) and train nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    try:
        config = resolve_config(args.config, args.num_shards)
        args.shards = shard_list(args.shard, config)
    except ValueError as err:
        p.error(str(err))
    args.config_obj = config
    if args.device not in ("cpu", "cuda"):
        p.error(f"--device {args.device!r} is not valid: expected cpu or cuda")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda was asked for but torch.cuda.is_available() is False; use --device cpu")
    args.sources = {}
    for item in args.source:
        name, sep, path = item.partition("=")
        if not sep or name not in known_sources():
            p.error(f"--source {item!r} is not valid: expected NAME=PATH with NAME one of {', '.join(known_sources())}")
        args.sources[name] = path
    try:
        args.batch = 1 if args.batch == "auto" and args.workers > 1 else batch_size_for(args.batch, args.device)
    except ValueError as err:
        p.error(str(err))
    args.seed = config.seed if args.seed is None else args.seed
    args.out = args.out or nws_home()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = args.config_obj
    if args.dry_run:
        for s in args.shards:
            for m in list(config.model_ids(s))[: args.limit]:
                print(json.dumps({"shard": s, **model_plan(config, m, args.seed)}))
        return 0
    def terminate(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        for s in args.shards:
            counts = generate_shard(config, s, args.out, seed=args.seed, device=args.device, workers=args.workers,
                                    limit=args.limit, max_epochs=args.max_epochs, sources=args.sources,
                                    quiet=args.quiet, batch=args.batch)
            print(f"{config.name} shard {s}: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
                  + f" -> {args.out / config.name / shard_dirname(s)}", file=sys.stderr)
    except (UsageError, SourceError, RecordError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ShardLocked as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_LOCKED
    except KeyboardInterrupt:
        print("interrupted: finished models are saved; run the same command again to resume", file=sys.stderr)
        return 130
    except Terminated:
        print("terminated: finished models are saved; run the same command again to resume", file=sys.stderr)
        return 143
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
