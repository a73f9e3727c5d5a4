"""The ``datasets`` builder of the neural weight space.

One record per (model, snapshot) of the models that ``train.generate`` finished, read from
the shard files under the NWS home or ``data_dir`` (a local path or any fsspec URL). Each
model file becomes one Arrow table of up to 20 rows, θ wrapped without copying, so loading
and streaming cost little beyond reading the bytes. Splits are by model (``train``/``test``).

Config options (pass them to ``load_dataset``): ``snapshots`` (indices 0–19, negative ones
count from the end: ``snapshots=(-4, -3, -2, -1)`` keeps the last 4), ``converged_only``,
``skip_corrupt`` (skip unreadable files and report them, instead of failing),
``verify_checksums`` (default True: each file's sha256 must match its index entry),
``weights`` (default True; ``weights=False`` gives the metadata records without θ, reading
only each file's header, for analyses of accuracies and hyper-parameters at any scale; the
checksum, which needs the whole file, is then not verified).

Every file is validated against the record schema on read (:func:`nws_datasets.records.read_model`)
and against its index entry (model id, split, convergence); a model listed twice fails, and
a model file that no index lists is reported in the log.
"""
from __future__ import annotations

import hashlib
import json
import logging
import posixpath
from dataclasses import dataclass
from typing import Any

import datasets
import fsspec
import numpy as np
import pyarrow as pa
from datasets.builder import Key
from datasets.table import table_cast

from nws_datasets.records import read_metadata, read_model, theta
from nws_datasets.schema import RecordError, config_root, features, find_indexes, parse_index, resolve_root
from nws_datasets.space import CONFIGS, HYPERPARAMETERS, NUM_SNAPSHOTS, NWSConfig

logger = logging.getLogger("nws_datasets")

_CITATION = """@inproceedings{eilertsen2020classifying,
  title={Classifying the classifier: dissecting the weight space of neural networks},
  author={Eilertsen, Gabriel and J{\\"o}nsson, Daniel and Ropinski, Timo and Unger, Jonas and Ynnerman, Anders},
  booktitle={European Conference on Artificial Intelligence (ECAI)}, year={2020}}"""


@dataclass
class NWSBuilderConfig(datasets.BuilderConfig):
    snapshots: tuple[int, ...] | None = None
    converged_only: bool = False
    skip_corrupt: bool = False
    verify_checksums: bool = True
    weights: bool = True

    @property
    def nws(self) -> NWSConfig:
        return CONFIGS[self.name]

    def snapshot_indices(self) -> list[int]:
        chosen = range(NUM_SNAPSHOTS) if self.snapshots is None else self.snapshots
        out = []
        for s in chosen:
            if not -NUM_SNAPSHOTS <= int(s) < NUM_SNAPSHOTS:
                raise ValueError(f"snapshot {s} is out of range: expected -20..19")
            out.append(int(s) % NUM_SNAPSHOTS)
        return sorted(set(out))


class NWS(datasets.ArrowBasedBuilder):
    """Neural weight space: labelled weight snapshots of thousands of trained CNNs."""

    BUILDER_CONFIG_CLASS = NWSBuilderConfig
    BUILDER_CONFIGS = [NWSBuilderConfig(name=c.name, description=c.description) for c in CONFIGS.values()]
    DEFAULT_CONFIG_NAME = "c_fixed_mini"

    def _info(self) -> datasets.DatasetInfo:
        info = datasets.DatasetInfo(description=self.config.nws.description,
                                    features=features(self.config.nws, self.config.weights),
                                    citation=_CITATION, license="mit")
        if not any(find_indexes(self.config.data_dir, self.config.name, self.storage_options or {})):
            # Nothing generated yet: inspection (get_dataset_infos) shows the config's splits, empty;
            # loading still fails in _split_generators, saying how to generate them.
            info.splits = datasets.SplitDict({s: datasets.SplitInfo(name=s, num_examples=0)
                                              for s in self.config.nws.splits})
        return info

    def _split_generators(self, dl_manager):
        name = self.config.name
        options = self.storage_options or {}
        indexes = list(find_indexes(self.config.data_dir, name, options))
        if not indexes:
            fs, where = config_root(self.config.data_dir, name, options)
            raise FileNotFoundError(
                f"no NWS shards of config {name!r} at {fs.unstrip_protocol(where)} (looked for shard-*/index.json). "
                f"Generate them with: python -m train.generate --config {name} --shard all "
                f"--out {resolve_root(self.config.data_dir)}")
        self.config.snapshot_indices()  # validate early
        files: dict[str, list[tuple[str, dict[str, Any]]]] = {"train": [], "test": []}
        seen: dict[int, str] = {}
        for url, text in indexes:
            try:
                index = parse_index(text, url)
            except RecordError as err:
                self._corrupt(str(err))
                continue
            if index["config"] != name:
                raise RecordError(f"{url}: shard index is for config {index['config']!r}, expected {name!r}")
            self._add_files(url, index, options, files, seen)
        return [datasets.SplitGenerator(name=split, gen_kwargs={"files": sorted(f, key=lambda x: x[0])})
                for split, f in files.items() if f]

    def _add_files(self, url: str, index: dict[str, Any], options: dict[str, Any],
                   files: dict[str, list[tuple[str, dict[str, Any]]]], seen: dict[int, str]) -> None:
        """Add the usable model files of one shard index to ``files``; report what is not."""
        fs, path = fsspec.core.url_to_fs(url, **options)
        shard_dir = posixpath.dirname(path)
        sizes = {posixpath.basename(i["name"]): i["size"] for i in fs.ls(shard_dir, detail=True)}
        listed = {m["file"] for m in index["models"] if m["status"] == "done"}
        unlisted = sorted(f for f in sizes if f.startswith("model-") and f.endswith(".safetensors")
                          and f not in listed)
        if unlisted:
            logger.warning("%s: %d model file(s) on disk are not listed as done in the index (%s); "
                           "run train.generate on this shard again to adopt them", url, len(unlisted),
                           ", ".join(unlisted[:5]))
        pending = sum(m["status"] == "pending" for m in index["models"])
        if pending:
            logger.warning("%s: %d of the shard's %d models are not generated yet (the shard is being generated, "
                           "or its run stopped); loading the %d done", url, pending, len(index["models"]),
                           sum(m["status"] == "done" for m in index["models"]))
        for m in index["models"]:
            if m["status"] == "done" and m["model_id"] in seen:
                self._corrupt(f"{url}: model {m['model_id']} is also listed in {seen[m['model_id']]}")
                continue
            seen[m["model_id"]] = url
            if m["status"] != "done" or (self.config.converged_only and not m["converged"]):
                continue
            where = fs.unstrip_protocol(posixpath.join(shard_dir, m["file"]))
            if m["file"] not in sizes:
                self._corrupt(f"{url}: lists {m['file']} as done, but the file is missing")
            elif sizes[m["file"]] != m["bytes"]:
                self._corrupt(f"{where}: {sizes[m['file']]} bytes, the shard index expects {m['bytes']} "
                              "(truncated or replaced?)")
            else:
                files[m["split"]].append((where, m))

    def _corrupt(self, problem: str) -> None:
        if not self.config.skip_corrupt:
            raise RecordError(problem + " (pass skip_corrupt=True to skip such files)")
        logger.warning("skipping corrupt NWS file: %s", problem)

    def _generate_tables(self, files: list[tuple[str, dict[str, Any]]]):
        snaps = self.config.snapshot_indices()
        schema = self.info.features.arrow_schema
        options = self.storage_options or {}
        for i, (url, entry) in enumerate(files):
            try:
                if not self.config.weights:
                    with fsspec.open(url, "rb", **options) as f:
                        tensors, meta = None, read_metadata(f, url)
                    data = b""
                else:
                    with fsspec.open(url, "rb", **options) as f:
                        data = f.read()
                if self.config.weights and self.config.verify_checksums and \
                        hashlib.sha256(data).hexdigest() != entry["sha256"]:
                    raise RecordError(f"{url}: sha256 {hashlib.sha256(data).hexdigest()}, the shard index expects "
                                      f"{entry['sha256']} (replaced or corrupted? verify_checksums=False skips "
                                      "this check)")
                if self.config.weights:
                    tensors, meta = read_model(data, url)
                for key in ("model_id", "split", "converged"):
                    if meta[key] != entry[key]:
                        raise RecordError(f"{url}: {key} is {meta[key]!r} in the file, the shard index says "
                                          f"{entry[key]!r}")
                if meta["config"] != self.config.name:
                    raise RecordError(f"{url}: config is {meta['config']!r} in the file, expected {self.config.name!r}")
            except RecordError as err:
                self._corrupt(str(err))
                continue
            table = record_table(tensors, meta, snaps, self.config.nws)
            yield Key(i, 0), table if table.schema.equals(schema) else table_cast(table, schema)


def record_table(tensors: dict[str, np.ndarray] | None, meta: dict[str, Any], snaps: list[int],
                 config: NWSConfig) -> pa.Table:
    """One model's records as an Arrow table: one row per kept snapshot in ``snaps`` (without
    the ``weights`` column when ``tensors`` is None)."""
    n = len(snaps)
    epochs = np.asarray(meta["snapshot_epochs"])[snaps]
    cols: dict[str, Any] = {
        "model_id": pa.array(np.full(n, meta["model_id"], np.int64)),
        "snapshot": pa.array(np.asarray(snaps, np.int32)),
        "epoch": pa.array(epochs.astype(np.int32)),
        "progress": pa.array((epochs / max(meta["epochs"], 1)).astype(np.float32)),
    }
    if tensors is not None:
        th = theta(tensors, meta)
        if len(snaps) != len(th):  # a selection copies; all 20 snapshots are used as they are
            th = th[snaps]
        nw = th.shape[1]
        values = pa.array(th.reshape(-1))
        if config.fixed_architecture:
            cols["weights"] = pa.FixedSizeListArray.from_arrays(values, nw)
        else:
            cols["weights"] = pa.ListArray.from_arrays(pa.array(np.arange(0, (n + 1) * nw, nw, dtype=np.int32)),
                                                       values)
    for h in HYPERPARAMETERS:
        value = meta["labels"][h.name] if h.categorical else meta["hparams"][h.name]
        cols[h.name] = pa.array([value] * n, pa.int64() if h.categorical else pa.float64())
    for k in ("train_accuracy", "val_accuracy", "test_accuracy"):
        cols[k] = pa.array(np.asarray(meta[k], np.float32)[snaps])
    cols["final_test_accuracy"] = pa.array(np.full(n, meta["final_test_accuracy"], np.float32))
    cols["converged"] = pa.array([bool(meta["converged"])] * n)
    cols["epochs"] = pa.array(np.full(n, meta["epochs"], np.int32))
    cols["stop_reason"] = pa.array([meta["stop_reason"]] * n, pa.string())
    cols["wall_time_s"] = pa.array(np.full(n, meta["wall_time_s"], np.float32))
    cols["n_weights"] = pa.array(np.full(n, meta["n_weights"], np.int64))
    cols["n_conv_weights"] = pa.array(np.full(n, meta["n_conv_weights"], np.int64))
    cols["layout"] = pa.array([json.dumps(meta["layout"])] * n)
    return pa.table(cols)
