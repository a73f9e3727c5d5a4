"""Benchmark loading: ``python -m nws_datasets.bench [--data-dir DIR] [--config C]`` prints one JSON line.

Reads the same generated shards in one run and reports records/s and MB/s (of θ): the raw
read of the safetensors files (bytes → numpy θ, the reference), ``load_dataset`` preparing
the Arrow cache, iterating the prepared dataset as numpy, ``streaming=True``, the Hub-native
export (:mod:`nws_datasets.export`, Parquet, without raw/), and plain ``datasets`` streaming
that Parquet export. The files are read once before timing, so every measurement sees a
warm page cache.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import nws_datasets  # noqa: F401 - registers load_dataset("nws")
from datasets import load_dataset

from .export import export
from .records import read_model, theta
from .schema import find_indexes, parse_index
from .space import CONFIGS
from .cli import data_dir, run_main


def _rate(records: int, nbytes: int, seconds: float) -> dict[str, float]:
    return {"records_per_s": round(records / seconds, 1), "mb_per_s": round(nbytes / seconds / 1e6, 1),
            "seconds": round(seconds, 3)}


def raw_read(files: list[str]) -> tuple[int, int, dict[str, float]]:
    """The baseline: θ of every file read straight from safetensors, warm (records, bytes, rate)."""
    import fsspec

    for url in files:  # warm the page cache, so every measurement reads warm files
        with fsspec.open(url, "rb") as f:
            f.read()
    start, records, nbytes = time.perf_counter(), 0, 0
    for url in files:
        with fsspec.open(url, "rb") as f:
            th = theta(*read_model(f.read(), url))
        records, nbytes = records + len(th), nbytes + th.nbytes
    return records, nbytes, _rate(records, nbytes, time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nws_datasets.bench", description=__doc__)
    p.add_argument("--data-dir", type=data_dir, help="NWS root (default: $NWS_HOME or ~/.cache/nws)")
    p.add_argument("--config", default="c_fixed_mini", choices=list(CONFIGS))
    p.add_argument("--split", default="train", choices=["train", "test"])
    args = p.parse_args(argv)
    files = []
    for url, text in find_indexes(args.data_dir, args.config, {}):
        base = url.rsplit("/", 1)[0]
        files += [f"{base}/{m['file']}" for m in parse_index(text, url)["models"]
                  if m["status"] == "done" and m["split"] == args.split]
    if not files:
        p.error(f"no generated {args.config} models found; run python -m train.generate --config {args.config} first")

    records, nbytes, raw = raw_read(files)

    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        ds = load_dataset("nws", args.config, data_dir=args.data_dir, split=args.split, cache_dir=cache)
        prepare = _rate(len(ds), nbytes, time.perf_counter() - start)
        start, n = time.perf_counter(), 0
        for batch in ds.with_format("numpy").iter(batch_size=20):
            n += len(batch["weights"])
        prepared = _rate(n, nbytes, time.perf_counter() - start)
        stream = load_dataset("nws", args.config, data_dir=args.data_dir, split=args.split, streaming=True)
        start, n = time.perf_counter(), 0
        for batch in stream.with_format("numpy").iter(batch_size=20):
            assert isinstance(batch["weights"], np.ndarray)
            n += len(batch["weights"])
        streaming = _rate(n, nbytes, time.perf_counter() - start)
        start = time.perf_counter()
        total = sum(export([args.config], Path(cache) / "export", args.data_dir, raw=False)[args.config].values())
        exported = _rate(total, total * nbytes // records, time.perf_counter() - start)  # both splits
        parquet = load_dataset(str(Path(cache) / "export"), args.config, split=args.split, streaming=True)
        start, m = time.perf_counter(), 0
        for batch in parquet.with_format("numpy").iter(batch_size=20):
            m += len(batch["weights"])
        parquet_streaming = _rate(m, nbytes, time.perf_counter() - start)
    if not records == len(ds) == n == m:
        raise SystemExit(f"record counts disagree: raw {records}, prepared {len(ds)}, streaming {n}, parquet {m}")
    print(json.dumps({"config": args.config, "split": args.split, "models": len(files), "records": records,
                      "raw_read": raw, "load_dataset_prepare": prepare, "prepared_iter_numpy": prepared,
                      "streaming_iter_numpy": streaming, "export_parquet": exported,
                      "parquet_streaming_iter_numpy": parquet_streaming,
                      "parquet_streaming_vs_raw": round(parquet_streaming["records_per_s"] / raw["records_per_s"], 3),
                      "streaming_vs_raw": round(streaming["records_per_s"] / raw["records_per_s"], 3),
                      "prepared_iter_vs_raw": round(prepared["records_per_s"] / raw["records_per_s"], 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
