"""Generate shards of the NWS: ``python -m train.generate --shard 7 [--config c_fixed_mini]``.

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
import json
import signal
import sys
from dataclasses import replace
from typing import Any

from nws_datasets.cli import out_dir, positive_int, run_main
from nws_datasets.cli import seed as seed_type
from nws_datasets.space import CONFIGS, NWSConfig, get_config
from nws_datasets.storage import nws_home

from .shard import EXIT_LOCKED, ShardLocked, UsageError, model_plan


def __getattr__(name: str) -> Any:
    if name == "generate_shard":  # the library call, loaded with torch only when asked for
        from .run_shard import generate_shard

        return generate_shard
    raise AttributeError(f"module 'train.generate' has no attribute {name!r}")


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
    import torch

    from nws_datasets.sources import known_sources

    from .batch_choice import batch_size_for

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
    from nws_datasets.schema import RecordError, shard_dirname
    from nws_datasets.sources import SourceError

    from .run_shard import Terminated, generate_shard

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
