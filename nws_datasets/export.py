"""Export a generated NWS to the layout the Hugging Face Hub serves natively:
``python -m nws_datasets.export --config c_fixed --out DIR``.

``DIR`` then loads with plain ``datasets`` and nothing of ours installed::

    load_dataset(DIR, "c_fixed")              # or "hf://datasets/ORG/NAME" once pushed
    load_dataset(DIR, "c_fixed_metadata")     # every column but θ: accuracies, hyper-parameters
    load_dataset(DIR, "c_fixed", streaming=True)

Layout (every file written atomically; a rerun keeps the files that are complete, so an
interrupted export resumes):

- ``data/<config>/<split>-00000-of-0000N.parquet``: the records, one row per (model,
  snapshot), in the order of :func:`nws_datasets.load`; row groups of at most
  ``--row-group-mb`` (default 64 MiB, below the viewer's 286 MiB limit) with a page index,
  files of at most ``--file-mb``.
- ``data/<config>_metadata/<split>-….parquet``: the same records without ``weights``.
- ``raw/<config>/shard-*/``: the model files and shard indexes as generated (hard links where
  the filesystem allows), which ``nws_datasets.load(config, data_dir="DIR/raw")`` reads, and
  ``raw/SHA256SUMS`` (``sha256sum -c`` format) over every raw file.
- ``README.md``: the dataset card, its YAML (configs and data files, features with every
  ``ClassLabel``'s names, split sizes, license, task and size categories) generated from the
  schema by :mod:`nws_datasets.card`.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import pyarrow.parquet as pq
from tqdm.auto import tqdm

from .card import CARD, SPLITS, header_for, metadata_config, render
from .cli import CLIError, out_dir, run_main
from .loading import load
from .records import sha256_file
from .schema import INDEX_NAME, RecordError, features, parse_index, resolve_root
from .space import CONFIGS
from .storage import atomic_path

MIB = 1 << 20
MANIFEST = "SHA256SUMS"


def inside(root: Path, rel: Path) -> Path:
    """``rel`` if ``root / rel`` (symlinks resolved) stays inside ``root``; else :class:`RecordError`."""
    real_root = root.resolve()
    target = (root / rel).resolve()
    if rel.is_absolute() or not target.is_relative_to(real_root):
        raise RecordError(f"{root / rel}: resolves to {target}, outside the NWS root {real_root}; refusing to publish it")
    return rel


def files_to_publish(root: Path, configs: list[str]) -> list[Path]:
    """Shard indexes and the model files they list as done, relative to ``root``.

    Every index is validated (:func:`nws_datasets.schema.parse_index` accepts only canonical
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


def _parquet_name(split: str, i: int, n: int) -> str:
    return f"{split}-{i:05d}-of-{n:05d}.parquet"


def _complete(path: Path, rows: int) -> bool:
    """Whether ``path`` is a readable Parquet file of ``rows`` rows (what a finished write leaves)."""
    try:
        return pq.read_metadata(path).num_rows == rows
    except Exception:  # noqa: BLE001 - absent, torn or foreign: write it again
        return False


def write_split(ds, folder: Path, split: str, row_group_mb: float, file_mb: float) -> list[Path]:
    """Write one split of ``ds`` as Parquet files under ``folder``; return their paths."""
    bytes_per_row = max(1, ds.data.nbytes // max(len(ds), 1))
    rows_per_group = max(1, int(row_group_mb * MIB // bytes_per_row))
    groups_per_file = max(1, int(file_mb * MIB // (rows_per_group * bytes_per_row)))
    rows_per_file = rows_per_group * groups_per_file
    n = max(1, -(-len(ds) // rows_per_file))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(f"{split}-*.parquet"):  # a different sharding from an earlier run
        if not stale.name.endswith(f"-of-{n:05d}.parquet"):
            stale.unlink()
    paths = []
    for i in range(n):
        path = folder / _parquet_name(split, i, n)
        part = ds.select(range(i * rows_per_file, min(len(ds), (i + 1) * rows_per_file)))
        if not _complete(path, len(part)):
            with atomic_path(path) as tmp:
                part.to_parquet(str(tmp), batch_size=rows_per_group, write_page_index=True)
        paths.append(path)
    return paths


def _link_or_copy(src: Path, dst: Path) -> None:
    if dst.exists() and dst.stat().st_size == src.stat().st_size:
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dst) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


def export_raw(root: Path, configs: list[str], out: Path) -> list[Path]:
    """Link the shards of ``configs`` under ``out/raw`` and write ``raw/SHA256SUMS``; return the
    raw files (relative to ``out/raw``). Indexes are placed after their model files."""
    files = sorted(files_to_publish(root, configs), key=lambda p: (p.name == INDEX_NAME, p.as_posix()))
    raw = out / "raw"
    for rel in tqdm(files, desc="raw files", unit="file"):
        _link_or_copy(root / rel, raw / rel)
    lines = [f"{sha256_file(raw / rel)}  {rel.as_posix()}\n" for rel in tqdm(sorted(files), desc="sha256", unit="file")]
    with atomic_path(raw / MANIFEST) as tmp:
        tmp.write_text("".join(lines))
    return files


def export(configs: list[str], out: Path, data_dir: str | None = None, row_group_mb: float = 64,
           file_mb: float = 512, raw: bool = True) -> dict[str, dict[str, int]]:
    """Export ``configs`` of the NWS at ``data_dir`` to ``out`` (module docstring); return the
    number of records per config and split."""
    counts: dict[str, dict[str, int]] = {}
    for config in configs:
        records = load(config, data_dir=data_dir)
        meta = load(config, data_dir=data_dir, columns=list(features(CONFIGS[config], weights=False)))
        counts[config] = {}
        for split in SPLITS:
            if split not in records:
                continue
            write_split(records[split], out / "data" / config, split, row_group_mb, file_mb)
            write_split(meta[split], out / "data" / metadata_config(config), split, row_group_mb, file_mb)
            counts[config][split] = len(records[split])
    if raw:
        export_raw(Path(resolve_root(data_dir)), configs, out)
    with atomic_path(out / "README.md") as tmp:
        tmp.write_text(render(CARD.read_text(), header_for(counts)))
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nws_datasets.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", action="append", choices=list(CONFIGS), required=True,
                   help="config to export (repeat for several)")
    p.add_argument("--out", type=out_dir, required=True, help="export folder (created; a rerun resumes)")
    p.add_argument("--data-dir", default=None,
                   help="generated NWS root (default: $NWS_HOME or ~/.cache/nws); any fsspec URL")
    p.add_argument("--row-group-mb", type=float, default=64, help="largest Parquet row group in MiB (default 64)")
    p.add_argument("--file-mb", type=float, default=512, help="largest Parquet file in MiB (default 512)")
    p.add_argument("--no-raw", action="store_true", help="leave out raw/ (the safetensors files)")
    args = p.parse_args(argv)
    if args.row_group_mb <= 0 or args.file_mb < args.row_group_mb:
        p.error(f"--row-group-mb {args.row_group_mb} and --file-mb {args.file_mb}: expected 0 < row group ≤ file")
    if not args.no_raw and args.data_dir and "://" in args.data_dir:
        raise CLIError(f"--data-dir {args.data_dir}: raw/ can only be exported from a local NWS; pass --no-raw")
    counts = export(args.config, args.out, args.data_dir, args.row_group_mb, args.file_mb, raw=not args.no_raw)
    for config, splits in counts.items():
        print(f"{config}: " + ", ".join(f"{s} {n} records" for s, n in splits.items()) + f" -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
