"""The command-line layer of ``metaclf``: one parser factory, one option vocabulary.

Every command takes ``--config``, ``--data-dir`` and ``--out``; meta-classifier commands add
``--target``, ``--seed`` and ``--include-unconverged``, and, as they apply, the window options
(``--part``, ``--subset-size``), the DMC options (``--steps``, ``--device``, ``--profile``,
``--norm``, ``--bn-stats``, ``--members``), ``--rounds`` and ``--test-config``. Each option's
destination is the :class:`metaclf.spec.RunSpec` field of the same name, and
:func:`run_spec` builds and validates the spec, so a bad value or combination is a one-line
error with exit status 2. Building a parser imports no heavy library: ``--help`` answers at
once. The commands live in :mod:`metaclf.cli.commands` and :mod:`metaclf.cli.analyses`.
"""
from __future__ import annotations

import argparse
import inspect
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable

from nws_datasets.cli import data_dir, out_dir, positive_int, run_main
from nws_datasets.cli import seed as seed_type
from nws_datasets.space import CONFIGS, TARGETS

from .. import recipe

DEFAULT_CONFIG = "c_fixed_mini"


def choice(options: tuple[str, ...] | list[str]) -> Callable[[str], str]:
    """An argparse type accepting one of ``options``, naming them all when it refuses."""
    def parse(text: str) -> str:
        if text not in options:
            raise argparse.ArgumentTypeError(f"{text!r} is not valid: expected one of {', '.join(options)}")
        return text
    return parse


def command_parser(prog: str, doc: str | None, *, target: str | None = None, config: str = DEFAULT_CONFIG,
                   accuracy: bool = False) -> argparse.ArgumentParser:
    """The parser of a command; ``target`` (its default target) makes it a meta-classifier command,
    ``accuracy`` one of accuracy from weights (its targets, every finished model by default)."""
    p = argparse.ArgumentParser(prog=prog, description=inspect.cleandoc(doc) if doc else None,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=config, type=choice(list(CONFIGS)),
                   help=f"NWS config (default {config}): {', '.join(CONFIGS)}")
    p.add_argument("--data-dir", type=data_dir, help="NWS root (default: $NWS_HOME or ~/.cache/nws); any fsspec URL")
    p.add_argument("--out", type=out_dir, default=Path("results"),
                   help="output folder (default ./results); results go to <out>/<config>/")
    if target is not None:
        p.add_argument("--target", default=target, type=choice(list(recipe.ACCURACY_TARGETS)) if accuracy else None,
                       help=f"{'what to predict' if accuracy else 'hyper-parameter to classify'} (default {target}): "
                            f"{', '.join(recipe.ACCURACY_TARGETS if accuracy else TARGETS)}")
        p.add_argument("--seed", type=seed_type, default=0, help="seed of every random draw (default 0)")
        if accuracy:
            p.add_argument("--converged-only", dest="include_unconverged", action="store_false",
                           help="use converged models only (default: every finished model, converged or not)")
        else:
            p.add_argument("--include-unconverged", action="store_true",
                           help="use every finished model, not only converged ones (the paper uses converged only)")
    return p


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


def add_window_args(p: argparse.ArgumentParser, sweep: bool = False) -> None:
    p.add_argument("--part", default="all", type=choice(recipe.PARTS),
                   help="weights a window covers (default all): all, conv, fc")
    if sweep:
        p.add_argument("--subset-size", type=int_list(16), default=[recipe.SUBSET_SIZE],
                       help=f"window size S (default {recipe.SUBSET_SIZE}), or a comma-separated list for the "
                            "subset-size sweep of Fig. 18")
    else:
        p.add_argument("--subset-size", type=positive_int, default=recipe.SUBSET_SIZE,
                       help=f"window size S (default {recipe.SUBSET_SIZE})")


def add_dmc_args(p: argparse.ArgumentParser, bn_stats: bool = True, members: bool = True) -> None:
    """The DMC options; ``bn_stats=False`` leaves out ``--bn-stats`` and ``--norm`` (for a
    command that runs every BatchNorm evaluation), ``members=False`` ``--members``."""
    p.add_argument("--steps", type=positive_int, help="optimizer steps (default: the profile's schedule)")
    p.add_argument("--device", default="cpu", type=choice(["cpu", "cuda"]), help="cpu or cuda (default cpu)")
    p.add_argument("--profile", type=choice(list(recipe.DMC_PROFILES)),
                   help="mini (narrow, a schedule for a CPU) or paper (default: paper on cuda, mini on cpu)")
    if bn_stats:
        p.add_argument("--norm", default="batch", type=choice(list(recipe.NORMS)),
                       help="batch (BatchNorm, the paper; default) or layer (each input normalized alone, in "
                            "training and evaluation; beyond the paper, filed as <method>-ln; the best local "
                            "method on activation in docs/experiments)")
        p.add_argument("--bn-stats", default="population", type=choice(list(recipe.BN_STATS)),
                       help="how BatchNorm normalizes at evaluation (default population: statistics of training "
                            "inputs); test-batch (each shuffled test mini-batch by its own statistics, the "
                            "authors' code) and test-population (AdaBN) look at the test inputs: transductive, "
                            "filed as <method>@<bn-stats>; training and its checkpoint are the same for all three")
    if members:
        p.add_argument("--members", type=positive_int, default=1,
                       help="DMCs per round (default 1, the paper): more make each round a deep ensemble whose "
                            "window probabilities are averaged, member k of round r trained as round "
                            "r*members+k of a plain run (so its checkpoints serve); beyond the paper")


def add_rounds_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rounds", type=positive_int, default=None,
                   help="independent class-balanced training rounds (default: the method's, "
                        f"{recipe.SVM_ROUNDS} for SVMs, {recipe.DMC_ROUNDS} for DMCs)")


def add_test_config_arg(p: argparse.ArgumentParser) -> None:
    """``--test-config``: pool the test models of other configs with the config's own (beyond the paper)."""
    p.add_argument("--test-config", dest="test_configs", action="append", default=[], type=choice(list(CONFIGS)),
                   metavar="CONFIG",
                   help="also test on the test models of CONFIG (repeatable; default none), pooled with "
                        "--config's own: a config of the same sources and architecture kind, e.g. "
                        "c_fixed_cpu_holdout for c_fixed_cpu; training is unchanged, so DMC checkpoints serve")


def run_spec(p: argparse.ArgumentParser, args: argparse.Namespace, method: str, strict: bool = True,
             **values: Any) -> Any:
    """The validated :class:`metaclf.spec.RunSpec` of ``method`` from the options in ``args``
    that ``method`` takes (``values`` override them), or a one-line argparse error naming what
    does not fit. With ``strict``, an option the method does not take is an error when given a
    value other than its default (e.g. ``--steps`` for an SVM); without (``metaclf.all``, whose
    DMC options apply to its DMCs only) it is left out."""
    from ..data import TargetError
    from ..methods import METHODS
    from ..spec import RunSpec, SpecError, applies_to, inapplicable

    m = METHODS[method]
    given = {"converged_only": not args.include_unconverged, "method": method}
    for f in fields(RunSpec):
        if f.name not in vars(args):
            continue
        if f.name not in inapplicable(m):
            given[f.name] = getattr(args, f.name)
        elif strict and getattr(args, f.name) != p.get_default(f.name):
            p.error(f"--{f.name.replace('_', '-')} does not apply to {method}: it applies to {applies_to(f.name)}")
    if m.dmc:
        if given.get("profile") is None:
            given["profile"] = "paper" if args.device == "cuda" else "mini"
        if args.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                p.error("--device cuda was asked for but torch.cuda.is_available() is False")
    given["test_configs"] = tuple(given.get("test_configs", ()))
    try:
        return RunSpec(**{**given, **values}).validate()
    except (SpecError, TargetError) as err:
        p.error(str(err))


def entry(module: str, main: Callable[[list[str] | None], int]) -> None:
    """Run ``main`` as a program when ``module`` is ``__main__``."""
    if module == "__main__":
        sys.exit(run_main(main))
