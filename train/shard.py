"""A shard on disk: its lock, its index reconciled with the files there, and what each model will be.

``train.generate`` (and every other writer of shards) holds :func:`shard_lock` while it writes;
:func:`prepare_shard` turns a shard folder left in any state (a killed run, a corrupt or
foreign file, a finished shard) into an index of what is done and what is pending.
"""
from __future__ import annotations

import errno
import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nws_datasets.architecture import Layout
from nws_datasets.records import read_index, read_model, sha256_file, write_index
from nws_datasets.schema import RecordError, model_filename, new_index, shard_dirname
from nws_datasets.space import NWSConfig, sample_hparams


class UsageError(Exception):
    """A bad command-line value; reported in one line with exit status 2."""


class ShardLocked(Exception):
    """Another run holds the shard's lock; reported in one line with exit status 75."""


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
