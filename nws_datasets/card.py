"""The dataset card's YAML header, generated from the schema: ``python -m nws_datasets.card``.

``dataset_card.md`` (the ``README.md`` of an export, :mod:`nws_datasets.export`, and of the
Hub repository it is pushed to) starts with YAML that the Hub and ``datasets`` read:
license, task and size categories, the configs with their Parquet data files (each config
``C`` and its metadata-only twin ``C_metadata``), and per config the features with every
``ClassLabel``'s names. This module writes that header from
:func:`nws_datasets.schema.features`, so the card cannot drift from the records;
``--check`` exits 1 when the card is out of date (a test runs it). An export writes the
same header for the configs it holds, with their split sizes (:func:`header_for`).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from .schema import features
from .space import CONFIGS
from .storage import atomic_path

CARD = Path(__file__).resolve().parents[1] / "dataset_card.md"
HEADER = {
    "license": "mit",  # the NWS itself (weights and metadata); the source images keep theirs, see the card
    "pretty_name": "Neural Weight Space (NWS)",
    "task_categories": ["tabular-classification", "other"],
    "tags": ["weight-space-learning", "model-zoo", "meta-learning", "explainable-ai"],
    "size_categories": ["100K<n<1M"],
}


SPLITS = ("train", "test")
SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
         (10_000_000, "1M<n<10M"))


def size_category(records: int) -> str:
    """The Hub's size category of a dataset of ``records`` rows."""
    return next((name for limit, name in SIZES if records < limit), "10M<n<100M")


def metadata_config(config: str) -> str:
    """Name of the metadata-only config (no θ) of ``config``."""
    return f"{config}_metadata"


def header_for(counts: dict[str, dict[str, int]]) -> dict:
    """The YAML data for the configs in ``counts`` ({config: {split: records}}; empty dicts
    leave the split sizes out): fixed fields, each config and its ``_metadata`` twin with
    their Parquet files under ``data/``, and their features."""
    configs, infos = [], []
    for name, splits in counts.items():
        cfg = CONFIGS[name]
        for config_name, weights in ((name, True), (metadata_config(name), False)):
            configs.append({"config_name": config_name, "data_files": [
                {"split": s, "path": f"data/{config_name}/{s}-*.parquet"} for s in (splits or cfg.splits)]})
            info = {"config_name": config_name, "features": features(cfg, weights)._to_yaml_list()}
            if splits:
                info["splits"] = [{"name": s, "num_examples": n} for s, n in splits.items()]
            infos.append(info)
    total = sum(sum(s.values()) for s in counts.values())
    sizes = {"size_categories": [size_category(total)]} if total else {}
    return {**HEADER, **sizes, "configs": configs, "dataset_info": infos}


def header() -> dict:
    """The committed card's YAML data: every config, sized for the paper's NWS (c_main's
    13,000 models × 20 snapshots)."""
    return header_for({c: {} for c in CONFIGS})


def render(text: str, data: dict | None = None) -> str:
    """``text`` with its YAML front matter replaced by ``data`` (default :func:`header`)."""
    body = text.split("\n---\n", 1)[1] if text.startswith("---\n") else text
    return "---\n" + yaml.safe_dump(data or header(), sort_keys=False, allow_unicode=True, width=120) + "---\n" + body


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nws_datasets.card", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="exit 1 if dataset_card.md's header is out of date")
    args = p.parse_args(argv)
    text = CARD.read_text()
    new = render(text)
    if args.check:
        if new != text:
            print(f"{CARD}: YAML header is out of date; run python -m nws_datasets.card", file=sys.stderr)
            return 1
        return 0
    with atomic_path(CARD) as tmp:
        tmp.write_text(new)
    print(f"{CARD}: header written from the schema ({len(CONFIGS)} configs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
