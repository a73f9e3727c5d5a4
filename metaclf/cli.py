"""Command-line arguments shared by every meta-classifier entry point."""
from __future__ import annotations

import argparse
from pathlib import Path

from nws_datasets.cli import data_dir, out_dir
from nws_datasets.cli import seed as seed_type
from nws_datasets.space import CONFIGS, TARGETS

from .data import TargetError, check_target


def parser(prog: str, doc: str, default_config: str, default_target: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", default=default_target, help=f"hyper-parameter to classify: {', '.join(TARGETS)}")
    p.add_argument("--config", default=default_config, help=f"NWS config: {', '.join(CONFIGS)}")
    p.add_argument("--data-dir", type=data_dir, help="NWS root (default: $NWS_HOME or ~/.cache/nws); any fsspec URL")
    p.add_argument("--out", type=out_dir, default=Path("results"), help="output folder (default ./results)")
    p.add_argument("--seed", type=seed_type, default=0, help="seed of every random draw (default 0)")
    p.add_argument("--include-unconverged", action="store_true",
                   help="use every finished model, not only converged ones (the paper uses converged only)")
    return p


def validate(p: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """Check config and target; exit 2 with a one-line message; return the class names."""
    if args.config not in CONFIGS:
        p.error(f"--config {args.config!r} is not valid: expected one of {', '.join(CONFIGS)}")
    try:
        return check_target(args.target, args.config)
    except TargetError as err:
        p.error(f"--target: {err}")


def analysis_parser(prog: str, doc: str, default_config: str) -> argparse.ArgumentParser:
    """Arguments of the analysis entry points (regression, statistics, embedding, report)."""
    p = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=default_config, choices=list(CONFIGS), help="NWS config")
    p.add_argument("--data-dir", type=data_dir, help="NWS root (default: $NWS_HOME or ~/.cache/nws); any fsspec URL")
    p.add_argument("--out", type=out_dir, default=Path("results"),
                   help="output folder (default ./results); figures go to <out>/<config>/report")
    return p
