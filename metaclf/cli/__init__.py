"""The command-line layer of ``metaclf``: one parser factory, one option vocabulary.

Every command takes ``--config``, ``--data-dir`` and ``--out``; meta-classifier commands add
``--target``, ``--seed`` and ``--include-unconverged``, and, as they apply, the window options
(``--part``, ``--subset-size``), the DMC options (``--steps``, ``--device``, ``--profile``,
``--inputs``, ``--norm``), ``--rounds``, ``--test-config`` and, for the DMCs, ``--members``.
Values are validated by argparse types, so a bad one is a one-line error with exit status 2.
The commands themselves live in :mod:`metaclf.cli.commands`; ``python -m metaclf.<command>``
reaches them through a module of three lines.
"""
from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path
from typing import Any, Callable

import torch

from nws_datasets.cli import data_dir, out_dir, positive_int, run_main
from nws_datasets.cli import seed as seed_type
from nws_datasets.space import CONFIGS, TARGETS

from .. import recipe
from ..data import TargetError, check_target
from ..methods.dmc import BN_STATS, DMC_PROFILES, INPUTS, NORMS

DEFAULT_CONFIG = "c_fixed_mini"


def choice(options: tuple[str, ...] | list[str]) -> Callable[[str], str]:
    """An argparse type accepting one of ``options``, naming them all when it refuses."""
    def parse(text: str) -> str:
        if text not in options:
            raise argparse.ArgumentTypeError(f"{text!r} is not valid: expected one of {', '.join(options)}")
        return text
    return parse


def command_parser(prog: str, doc: str | None, *, target: str | None = None,
                   config: str = DEFAULT_CONFIG) -> argparse.ArgumentParser:
    """The parser of a command; ``target`` (its default target) makes it a meta-classifier command."""
    p = argparse.ArgumentParser(prog=prog, description=inspect.cleandoc(doc) if doc else None, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=config, type=choice(list(CONFIGS)), help=f"NWS config: {', '.join(CONFIGS)}")
    p.add_argument("--data-dir", type=data_dir, help="NWS root (default: $NWS_HOME or ~/.cache/nws); any fsspec URL")
    p.add_argument("--out", type=out_dir, default=Path("results"),
                   help="output folder (default ./results); results go to <out>/<config>/")
    if target is not None:
        p.add_argument("--target", default=target, help=f"hyper-parameter to classify: {', '.join(TARGETS)}")
        p.add_argument("--seed", type=seed_type, default=0, help="seed of every random draw (default 0)")
        p.add_argument("--include-unconverged", action="store_true",
                       help="use every finished model, not only converged ones (the paper uses converged only)")
    return p


def add_window_args(p: argparse.ArgumentParser, sweep: bool = False) -> None:
    p.add_argument("--part", default="all", type=choice(recipe.PARTS), help="weights a window covers: all, conv, fc")
    if sweep:
        p.add_argument("--subset-size", type=size_list, default=[recipe.SUBSET_SIZE],
                       help=f"window size S (default {recipe.SUBSET_SIZE}), or a comma-separated list for the "
                            "subset-size sweep of Fig. 18")
    else:
        p.add_argument("--subset-size", type=positive_int, default=recipe.SUBSET_SIZE,
                       help=f"window size S (default {recipe.SUBSET_SIZE})")


def int_list(minimum: int) -> Callable[[str], list[int]]:
    """An argparse type: comma-separated integers, each ≥ ``minimum``."""
    def parse(text: str) -> list[int]:
        try:
            values = [int(s) for s in text.split(",")]
        except ValueError:
            values = []
        if not values or min(values) < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is not valid: expected integers ≥ {minimum}, comma-separated")
        return values
    return parse


size_list = int_list(16)  #: window sizes of the subset-size sweep


def add_dmc_args(p: argparse.ArgumentParser, bn_stats: bool = True, variant: bool = True) -> None:
    """The DMC options; ``bn_stats=False`` leaves out ``--bn-stats`` (for commands that run
    every evaluation), ``variant=False`` ``--inputs`` and ``--norm`` (for commands that name
    their methods)."""
    p.add_argument("--steps", type=positive_int, help="optimizer steps (default: the profile's schedule)")
    p.add_argument("--device", default="cpu", type=choice(["cpu", "cuda"]), help="cpu or cuda (default cpu)")
    p.add_argument("--profile", type=choice(list(DMC_PROFILES)),
                   help="mini (narrow, steps for a CPU) or paper; default: paper on cuda, mini on cpu")
    if variant:
        add_variant_args(p)
    if not bn_stats:
        return
    p.add_argument("--bn-stats", default="population", type=choice(list(BN_STATS)),
                   help="how BatchNorm normalizes at evaluation: population (statistics of training inputs, "
                        "ours), test-batch (each shuffled mini-batch of test inputs by its own statistics, "
                        "as the authors' code) or test-population (the statistics of all test inputs, then "
                        "each input alone: AdaBN, beyond the paper); training and its checkpoint are the "
                        "same for all three; results other than population's are saved as <method>@<bn-stats>")


def add_variant_args(p: argparse.ArgumentParser) -> None:
    """Which local or global DMC: ``--inputs`` and ``--norm`` (the paper's: raw, batch)."""
    p.add_argument("--inputs", default="raw", type=choice(list(INPUTS)),
                   help="raw (the paper); raw+standardized, raw+sorted or raw+position add a second channel: "
                        "each window standardized, sorted (its quantile function), or each weight's relative "
                        "index in θ (where in the network the window lies); beyond the paper")
    p.add_argument("--norm", default="batch", type=choice(list(NORMS)),
                   help="batch (BatchNorm, the paper) or layer (each input normalized alone, over its own "
                        "channels and positions: no batch statistics in training or evaluation; beyond the "
                        "paper, results filed as <method>-ln)")


def add_rounds_arg(p: argparse.ArgumentParser, default: int | None, members: bool = False) -> None:
    """``--rounds``; with ``members``, also ``--members`` (an ensemble per round, for the DMCs)."""
    p.add_argument("--rounds", type=positive_int, default=default,
                   help="independent class-balanced training rounds (default: the method's, "
                        f"{recipe.SVM_ROUNDS} for SVMs, {recipe.DMC_ROUNDS} for DMCs)")
    if members:
        p.add_argument("--members", type=positive_int, default=1,
                       help="DMCs per round (default 1, the paper): more make each round a deep ensemble whose "
                            "window probabilities are averaged, member k of round r trained as round "
                            "r*members+k of a plain run (so its checkpoints serve); beyond the paper, results "
                            "filed as <method>-ens<members>")


def add_test_config_arg(p: argparse.ArgumentParser) -> None:
    """``--test-config``: pool the test models of other configs with the config's own (beyond the paper)."""
    p.add_argument("--test-config", action="append", default=[], type=choice(list(CONFIGS)), metavar="CONFIG",
                   help="also test on the test models of CONFIG (repeatable), pooled with --config's own: a config "
                        "of the same sources and architecture kind, e.g. c_fixed_cpu_holdout (test models only) "
                        "for c_fixed_cpu; training is unchanged, so DMC checkpoints serve; beyond the paper, "
                        "results filed as <method>+<CONFIG>")


def target_classes(p: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """Class names of ``--target`` in ``--config``, or a one-line argparse error."""
    try:
        return check_target(args.target, args.config)
    except TargetError as err:
        p.error(f"--target: {err}")


def dmc_params(p: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, Any]:
    """Estimator parameters from the DMC options (checks that cuda exists when asked for)."""
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda was asked for but torch.cuda.is_available() is False")
    if getattr(args, "norm", "batch") != "batch" and getattr(args, "bn_stats", "population") != "population":
        p.error(f"--bn-stats {args.bn_stats} needs --norm batch: --norm {args.norm} has no BatchNorm")
    return {"profile": args.profile or ("paper" if args.device == "cuda" else "mini"), "steps": args.steps,
            "device": args.device, "bn_stats": getattr(args, "bn_stats", "population")}


def entry(module: str, main: Callable[[list[str] | None], int]) -> None:
    """Run ``main`` as a program when ``module`` is ``__main__``."""
    if module == "__main__":
        sys.exit(run_main(main))
