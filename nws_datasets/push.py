"""Publish a generated NWS: ``python -m nws_datasets.push --data-dir DIR --repo-id ORG/NAME``.

It exports the configs to the Hub-native layout (:mod:`nws_datasets.export`: Parquet per
config and split, a metadata-only config, the raw safetensors under ``raw/`` with a sha256
manifest, the generated card as ``README.md``) in ``--export-dir``, then uploads that folder
with ``huggingface_hub``: ``upload_large_folder`` where the installed version has it, else
``upload_folder`` (which from ``huggingface_hub`` 1.x on batches and resumes large uploads
itself). Both resume an interrupted upload when run again, and so does the export. Once
pushed, the NWS loads without our package::

    load_dataset("ORG/NAME", "c_fixed")                      # Parquet, viewer, streaming
    nws_datasets.load("c_fixed", data_dir="hf://datasets/ORG/NAME/raw")   # the raw files

With ``--dest URL`` the same folder is copied to any fsspec location instead (``s3://…``,
``file://…``, ``memory://…``), the path the tests exercise, since no Hub is reachable here.
"""
from __future__ import annotations

import argparse
import posixpath
import sys
from pathlib import Path

import fsspec
from tqdm.auto import tqdm

from .cli import run_main
from .export import MANIFEST, export, files_to_publish
from .schema import INDEX_NAME, RecordError
from .space import CONFIGS
from .storage import nws_home


def upload_order(folder: Path) -> list[Path]:
    """Every file of an export folder, relative to it, in a safe order for a copy that readers
    may watch: data first, then shard indexes (after their model files), manifest and card last."""
    files = [p.relative_to(folder) for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]
    return sorted(files, key=lambda p: (p.name == INDEX_NAME, p.name == MANIFEST, p.as_posix() == "README.md",
                                        p.as_posix()))


def publish_fsspec(folder: Path, dest: str) -> None:
    """Copy the export ``folder`` to the fsspec URL ``dest`` (:func:`upload_order`)."""
    fs, base = fsspec.core.url_to_fs(dest)
    for rel in tqdm(upload_order(folder), desc=f"publish to {dest}", unit="file"):
        fs.makedirs(posixpath.join(base, rel.parent.as_posix()), exist_ok=True)
        fs.put_file(str(folder / rel), posixpath.join(base, rel.as_posix()))


def publish_hub(folder: Path, repo_id: str, private: bool) -> str:
    """Upload the export ``folder`` to a Hub dataset repository, resumably; return what the
    upload reports."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    if hasattr(api, "upload_large_folder"):
        api.upload_large_folder(repo_id=repo_id, folder_path=str(folder), repo_type="dataset", private=private)
        return f"uploaded {folder} to https://huggingface.co/datasets/{repo_id}"
    return str(api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="dataset",
                                 commit_message=f"NWS export of {folder.name}"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nws_datasets.push", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", "--root", dest="data_dir", type=Path, default=None,
                   help="generated NWS root (default: $NWS_HOME or ~/.cache/nws); --root is its former name")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--repo-id", help="Hub dataset repository, ORG/NAME")
    target.add_argument("--dest", help="any fsspec URL to copy to instead of the Hub")
    p.add_argument("--config", action="append", choices=list(CONFIGS), help="configs to publish (default: all found)")
    p.add_argument("--export-dir", type=Path, default=None,
                   help="where the Hub layout is staged (default: <data-dir>/hub-export; a rerun resumes)")
    p.add_argument("--private", action="store_true", help="create the Hub repository as private")
    args = p.parse_args(argv)
    root = args.data_dir or nws_home()
    if not root.is_dir():
        p.error(f"--data-dir {root} is not a folder")
    if args.repo_id and args.repo_id.count("/") != 1:
        p.error(f"--repo-id {args.repo_id!r} is not valid: expected ORG/NAME")
    configs = args.config or [c for c in CONFIGS if (root / c).is_dir()]
    try:
        files = files_to_publish(root, configs)  # validates every index before anything is written
    except RecordError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not files:
        p.error(f"--data-dir {root} holds no generated shards of {', '.join(configs) or 'any config'}; "
                "generate with python -m train.generate first")
    folder = args.export_dir or root / "hub-export"
    export(configs, folder, str(root))
    if args.repo_id:
        print(publish_hub(folder, args.repo_id, args.private))
    else:
        publish_fsspec(folder, args.dest)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
