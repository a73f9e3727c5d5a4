"""The dataset card's YAML header, generated from the schema: ``python -m nws_datasets.card``.

``dataset_card.md`` (the Hub's ``README.md`` when published) starts with YAML that the Hub
and ``datasets`` read: license, task and size categories, the configs, and per config the
features with every ``ClassLabel``'s names. This module writes that header from
:func:`nws_datasets.schema.features`, so the card cannot drift from the records;
``--check`` exits 1 when the card is out of date (a test runs it).
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
    "license": "mit",
    "pretty_name": "Neural Weight Space (NWS)",
    "task_categories": ["tabular-classification", "other"],
    "tags": ["weight-space-learning", "model-zoo", "meta-learning", "explainable-ai"],
    "size_categories": ["100K<n<1M"],
}


def header() -> dict:
    """The card's YAML data: fixed fields, the configs, and each config's features."""
    return {**HEADER,
            "configs": [{"config_name": c, "data_dir": c} for c in CONFIGS],
            "dataset_info": [{"config_name": c, "features": features(cfg)._to_yaml_list()}
                             for c, cfg in CONFIGS.items()]}


def render(text: str) -> str:
    """``text`` with its YAML front matter replaced by :func:`header`."""
    body = text.split("\n---\n", 1)[1] if text.startswith("---\n") else text
    return "---\n" + yaml.safe_dump(header(), sort_keys=False, allow_unicode=True, width=120) + "---\n" + body


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
