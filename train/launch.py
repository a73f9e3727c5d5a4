"""Run the shards of a config on a cluster: ``python -m train.launch {ray,slurm,status} …``.

Shards are deterministic, resumable and locked (:mod:`train.generate`), so spreading them is
only a matter of handing one shard to each task of an existing engine:

- ``ray``: submits every unfinished shard as a Ray task (``--address`` of a running
  cluster, default: a local Ray instance) with ``--cpus-per-shard``/``--gpus-per-shard``
  resources; Ray retries a task that raised or lost its node up to ``--retries`` times; a
  progress bar counts finished shards and the summary of ``status`` is printed at the end.
- ``slurm``: writes a Slurm job-array script, one array task per shard, each retrying its
  shard up to ``--retries`` times in place; ``sbatch`` submits it unless ``--dry-run``.
- ``status``: per shard, models done / pending / failed and whether a run holds the shard
  (its lock), as a table or ``--json``.

``--out`` must be a folder every node sees (a shared filesystem); the code must be importable
on every node (this repository on the shared filesystem, put on ``PYTHONPATH`` by the
launcher, or the package installed).
"""
from __future__ import annotations

import argparse
import errno
import fcntl
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from nws_datasets.cli import CLIError, out_dir, positive_int, run_main
from nws_datasets.cli import seed as seed_type
from nws_datasets.records import read_index
from nws_datasets.schema import RecordError, shard_dirname
from nws_datasets.space import CONFIGS, NWSConfig

from .generate import resolve_config, shard_list
from .shard import EXIT_LOCKED, LOCK_NAME

REPO = Path(__file__).resolve().parents[1]


def _held(lock: Path) -> bool:
    """Whether a live process holds the ``flock`` of a shard's lock file."""
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError as err:
        if err.errno in (errno.EWOULDBLOCK, errno.EACCES):
            return True
        raise
    finally:
        os.close(fd)


def shard_status(config: NWSConfig, out: Path, shards: list[int]) -> list[dict[str, Any]]:
    """One row per shard: counts of done / pending / failed models and whether it is running."""
    rows = []
    for s in shards:
        sdir = out / config.name / shard_dirname(s)
        n = len(config.model_ids(s))
        counts = {"done": 0, "pending": n, "failed": 0}
        try:
            index = read_index(sdir) if sdir.is_dir() else None
        except RecordError:  # train.generate on this shard reports it, naming the file
            rows.append({"shard": s, "state": "bad index", "models": n, **counts})
            continue
        if index is not None:
            counts = {k: sum(m["status"] == k for m in index["models"]) for k in ("done", "pending", "failed")}
        state = "running" if _held(sdir / LOCK_NAME) else "done" if counts["pending"] == 0 else \
            "partial" if counts["done"] + counts["failed"] else "not started"
        rows.append({"shard": s, "state": state, "models": n, **counts})
    return rows


def print_status(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows))
        return
    print(f"{'shard':>5}  {'state':<11} {'done':>5} {'pending':>7} {'failed':>6}")
    for r in rows:
        print(f"{r['shard']:>5}  {r['state']:<11} {r['done']:>5} {r['pending']:>7} {r['failed']:>6}")
    total = {k: sum(r[k] for r in rows) for k in ("models", "done", "pending", "failed")}
    states = {s: sum(r["state"] == s for r in rows) for s in ("done", "running", "partial", "not started", "bad index")}
    print(f"total: {total['done']}/{total['models']} models done, {total['failed']} failed; shards: "
          + ", ".join(f"{v} {k}" for k, v in states.items() if v))


def generate_args(args: argparse.Namespace) -> list[str]:
    """The ``train.generate`` options every shard task passes on (the shard itself is added per task)."""
    out = ["--config", args.config, "--out", str(args.out), "--seed", str(args.seed), "--device", args.device,
           "--workers", str(args.workers), "--batch", args.batch, "--quiet"]
    if args.num_shards:
        out += ["--num-shards", str(args.num_shards)]
    for flag in ("limit", "max_epochs"):
        if getattr(args, flag) is not None:
            out += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    return out


def _run_shard(argv: list[str]) -> dict[str, Any]:
    """Body of one Ray task: ``train.generate`` on one shard; raises (so Ray retries) unless it
    exits 0. A shard another run holds (exit 75) is reported, not retried."""
    import contextlib
    import io

    from train.generate import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(argv)
    if rc not in (0, EXIT_LOCKED):
        last = (err.getvalue().strip().splitlines() or ["(no message)"])[-1]
        raise RuntimeError(f"train.generate {' '.join(argv)} exited with {rc}: {last}")
    return {"argv": argv, "exit": rc}


def launch_ray(args: argparse.Namespace, config: NWSConfig, shards: list[int]) -> list[dict[str, Any]]:
    """Run ``shards`` as Ray tasks; return the exits of the tasks (a failed task after its
    retries is reported with its error, the others keep running)."""
    try:
        import ray
    except ImportError:
        raise CLIError("the ray launcher needs Ray: pip install 'ray>=2.9'") from None
    todo = [r["shard"] for r in shard_status(config, args.out, shards) if r["state"] != "done"]
    if not todo:
        return []
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    ray.init(address=args.address, num_cpus=None if args.address else args.local_cpus, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path, "OMP_NUM_THREADS": str(args.cpus_per_shard)}},
             include_dashboard=False, ignore_reinit_error=True)
    try:
        task = ray.remote(_run_shard).options(num_cpus=args.cpus_per_shard, num_gpus=args.gpus_per_shard,
                                              max_retries=args.retries, retry_exceptions=True)
        refs = {task.remote(generate_args(args) + ["--shard", str(s)]): s for s in todo}
        results = []
        with tqdm(total=len(refs), unit="shard", desc=f"{config.name} on Ray") as bar:
            pending = list(refs)
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for ref in ready:
                    try:
                        results.append({"shard": refs[ref], **ray.get(ref)})
                    except Exception as err:  # noqa: BLE001 - one failed shard must not stop the others
                        cause = getattr(err, "cause", None) or err  # Ray wraps the task's exception
                        results.append({"shard": refs[ref], "exit": None, "error": " ".join(str(cause).split())})
                    bar.update(1)
        return results
    finally:
        ray.shutdown()


def slurm_script(args: argparse.Namespace, config: NWSConfig, shards: list[int]) -> str:
    """A Slurm job-array script: one array task per shard, retrying its shard in place."""
    logs = args.out / "slurm-logs"
    lines = ["#!/bin/bash", f"#SBATCH --job-name=nws-{config.name}",
             f"#SBATCH --array={','.join(map(str, shards))}%{args.max_parallel}",
             f"#SBATCH --cpus-per-task={args.cpus_per_shard}", f"#SBATCH --time={args.time}",
             f"#SBATCH --output={logs}/%x-%A_%a.out", "#SBATCH --requeue"]
    if args.gpus_per_shard:
        lines.append(f"#SBATCH --gres=gpu:{args.gpus_per_shard}")
    if args.partition:
        lines.append(f"#SBATCH --partition={args.partition}")
    command = " ".join(shlex.quote(a) for a in [args.python, "-m", "train.generate"] + generate_args(args))
    lines += [
        "set -uo pipefail",
        f"cd {shlex.quote(str(REPO))}",
        f"export PYTHONPATH={shlex.quote(str(REPO))}${{PYTHONPATH:+:$PYTHONPATH}}",
        f"export OMP_NUM_THREADS={args.cpus_per_shard}",
        'shard="${SLURM_ARRAY_TASK_ID:?run me with sbatch (SLURM_ARRAY_TASK_ID is the shard)}"',
        f"for attempt in $(seq 1 {args.retries + 1}); do",
        f'  {command} --shard "$shard" && exit 0',
        "  rc=$?",
        f'  if [ "$rc" -eq {EXIT_LOCKED} ]; then echo "shard $shard is held by another run" >&2; exit 0; fi',
        f'  echo "shard $shard: attempt $attempt of {args.retries + 1} exited with $rc" >&2',
        "done",
        "exit 1",
    ]
    return "\n".join(lines) + "\n"


def parser() -> argparse.ArgumentParser:
    """The command line of ``train.launch``: the engines ray, slurm and status."""
    p = argparse.ArgumentParser(prog="python -m train.launch", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="engine", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", required=True, help=f"NWS config: {', '.join(CONFIGS)}")
    common.add_argument("--shard", default="all", help="shards: N, a range a-b, or all (default all)")
    common.add_argument("--num-shards", type=positive_int, help="as in train.generate")
    common.add_argument("--out", type=out_dir, required=True, help="NWS root on a filesystem every node sees")
    run = argparse.ArgumentParser(add_help=False)
    run.add_argument("--seed", type=seed_type, help="sampling seed (default: the config's)")
    run.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="device of every shard task")
    run.add_argument("--workers", type=positive_int, default=1, help="models in parallel within a shard task")
    run.add_argument("--batch", default="auto", help="models trained together within a shard task: a number "
                     "or auto (as in train.generate, the default)")
    run.add_argument("--cpus-per-shard", type=positive_int, default=1, help="CPUs reserved per shard task")
    run.add_argument("--gpus-per-shard", type=int, default=0, choices=[0, 1], help="GPUs reserved per shard task")
    run.add_argument("--retries", type=int, default=2, help="retries of a failed shard task (default 2)")
    run.add_argument("--limit", type=positive_int, help="as in train.generate (smoke runs)")
    run.add_argument("--max-epochs", type=positive_int, help="as in train.generate (smoke runs)")
    r = sub.add_parser("ray", parents=[common, run], help="run the shards as Ray tasks")
    r.add_argument("--address", help="Ray cluster address (default: start a local Ray instance)")
    r.add_argument("--local-cpus", type=positive_int, default=os.cpu_count() or 1,
                   help="CPUs of the local Ray instance (default: all)")
    s = sub.add_parser("slurm", parents=[common, run], help="write (and submit) a Slurm job-array script")
    s.add_argument("--script", type=Path, required=True, help="where to write the job script")
    s.add_argument("--time", default="24:00:00", help="time limit per shard task (default 24:00:00)")
    s.add_argument("--partition", help="Slurm partition")
    s.add_argument("--max-parallel", type=positive_int, default=100, help="array tasks running at once")
    s.add_argument("--python", default=sys.executable, help="python on the nodes (default: this one)")
    s.add_argument("--dry-run", action="store_true", help="write the script and print the sbatch command only")
    st = sub.add_parser("status", parents=[common], help="done / pending / failed per shard")
    st.add_argument("--json", action="store_true", help="one JSON line instead of a table")
    return p


def submit_slurm(args: argparse.Namespace, config: NWSConfig, shards: list[int]) -> int:
    """Write the job-array script; submit it with sbatch unless ``--dry-run``."""
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "slurm-logs").mkdir(exist_ok=True)
    args.script.parent.mkdir(parents=True, exist_ok=True)
    args.script.write_text(slurm_script(args, config, shards))
    args.script.chmod(0o755)
    command = ["sbatch", str(args.script)]
    if args.dry_run:
        print(f"wrote {args.script}; submit with: {shlex.join(command)}")
        return 0
    if shutil.which("sbatch") is None:
        raise CLIError(f"sbatch is not on PATH; wrote {args.script}, submit it on the cluster's login node")
    return subprocess.run(command).returncode


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        config = resolve_config(args.config, args.num_shards)
        shards = shard_list(args.shard, config)
    except ValueError as err:
        p.error(str(err))
    if args.engine == "status":
        print_status(shard_status(config, args.out, shards), args.json)
        return 0
    if args.retries < 0:
        p.error(f"--retries {args.retries} must be ≥ 0")
    args.seed = config.seed if args.seed is None else args.seed
    if args.engine == "slurm":
        return submit_slurm(args, config, shards)
    results = launch_ray(args, config, shards)
    print_status(shard_status(config, args.out, shards), as_json=False)
    failed = [r for r in results if r.get("error")]
    for r in failed:
        print(f"shard {r['shard']} failed after {args.retries} retries: {r['error']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run_main(main))
