"""Publish a generated NWS: ``python -m nws_datasets.push --root DIR --repo-id ORG/NAME``.

Uploads the shard folders (``<config>/shard-*/index.json`` and model files) and the dataset
card (as ``README.md``) to a Hugging Face dataset repository with ``huggingface_hub``; it
reads back with ``load_dataset("nws", CONFIG, data_dir="hf://datasets/ORG/NAME")``. With
``--dest URL`` it copies the same files to any fsspec location instead (``s3://…``,
``file://…``, ``memory://…``), the path the tests exercise, since no Hub is reachable here.
"""
from __future__ import annotations

import argparse
import posixpath
import sys
from pathlib import Path

import fsspec
from tqdm.auto import tqdm

from .schema import INDEX_NAME, RecordError, parse_index
from .space import CONFIGS
from .storage import nws_home
from .cli import run_main

CARD = Path(__file__).resolve().parents[1] / "dataset_card.md"


def inside(root: Path, rel: Path) -> Path:
    """``rel`` if ``root / rel`` (symlinks resolved) stays inside ``root``; else :class:`RecordError`."""
    real_root = root.resolve()
    target = (root / rel).resolve()
    if rel.is_absolute() or not target.is_relative_to(real_root):
        raise RecordError(f"{root / rel}: resolves to {target}, outside the NWS root {real_root}; refusing to publish it")
    return rel


def files_to_publish(root: Path, configs: list[str]) -> list[Path]:
    """Shard indexes and the model files they list as done, relative to ``root``.

    Every index is validated (:func:`nws_datasets.records.parse_index` accepts only canonical
    model file names) and every path must resolve inside ``root``.
    """
    out = []
    for config in configs:
        for index_path in sorted((root / config).glob(f"shard-*/{INDEX_NAME}")):
            index = parse_index(index_path.read_text(), str(index_path))
            out.append(inside(root, index_path.relative_to(root)))
            out += [inside(root, index_path.parent.relative_to(root) / m["file"])
                    for m in index["models"] if m["status"] == "done"]
    return out


def publish_fsspec(root: Path, dest: str, files: list[Path], card: Path = CARD) -> None:
    """Copy ``files`` (model files first, indexes last, so readers never see an index ahead of its files)."""
    fs, base = fsspec.core.url_to_fs(dest)
    ordered = sorted(files, key=lambda p: p.name == INDEX_NAME)
    for rel in tqdm(ordered, desc=f"publish to {dest}", unit="file"):
        fs.makedirs(posixpath.join(base, rel.parent.as_posix()), exist_ok=True)
        fs.put_file(str(root / rel), posixpath.join(base, rel.as_posix()))
    fs.put_file(str(card), posixpath.join(base, "README.md"))


def publish_hub(root: Path, repo_id: str, files: list[Path], private: bool, card: Path = CARD) -> str:
    """Upload to a Hub dataset repository in one commit; return the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    api.upload_file(path_or_fileobj=str(card), path_in_repo="README.md", repo_id=repo_id, repo_type="dataset")
    info = api.upload_folder(folder_path=str(root), repo_id=repo_id, repo_type="dataset",
                             allow_patterns=[p.as_posix() for p in files],
                             commit_message=f"NWS: {len(files)} files")
    return str(info)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nws_datasets.push", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", "--root", dest="data_dir", type=Path, default=None,
                   help="generated NWS root (default: $NWS_HOME or ~/.cache/nws); --root is its former name")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--repo-id", help="Hub dataset repository, ORG/NAME")
    target.add_argument("--dest", help="any fsspec URL to copy to instead of the Hub")
    p.add_argument("--config", action="append", choices=list(CONFIGS), help="configs to publish (default: all found)")
    p.add_argument("--private", action="store_true", help="create the Hub repository as private")
    args = p.parse_args(argv)
    root = args.data_dir or nws_home()
    if not root.is_dir():
        p.error(f"--data-dir {root} is not a folder")
    configs = args.config or [c for c in CONFIGS if (root / c).is_dir()]
    try:
        files = files_to_publish(root, configs)
    except RecordError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not files:
        p.error(f"--data-dir {root} holds no generated shards of {', '.join(configs) or 'any config'}; "
                "generate with python -m train.generate first")
    if args.repo_id:
        if args.repo_id.count("/") != 1:
            p.error(f"--repo-id {args.repo_id!r} is not valid: expected ORG/NAME")
        print(publish_hub(root, args.repo_id, files, args.private))
    else:
        publish_fsspec(root, args.dest, files)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
