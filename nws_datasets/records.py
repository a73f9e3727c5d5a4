"""The on-disk NWS format: one safetensors file per model, one JSON index per shard.

Layout of a generated NWS under a root directory (the NWS home or any fsspec URL)::

    <root>/<config>/shard-00007/index.json
    <root>/<config>/shard-00007/model-000105.safetensors

A model file holds, for every parameter tensor of the CNN, one tensor named
``"<layer>.<kind>"`` (e.g. ``conv1.weight``, ``fc2.bn_var``) with a leading axis of the 20
kept snapshots, and a JSON document under the safetensors metadata key ``"nws"`` (see
``dataset_card.md`` for every field). The shard index lists every model of the shard with
its status (``pending``, ``done`` or ``failed``), split, hyper-parameters and file size; it is
rewritten atomically after each model, so it always agrees with the files.
"""
from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from safetensors.numpy import load as st_load
from safetensors.numpy import save_file as st_save_file

from .architecture import Layout
from .space import NUM_SNAPSHOTS
from .storage import atomic_path, write_json

#: Version 2: the TensorFlow-faithful protocol (BN after the FC activation, TensorLayer BN,
#: NHWC flatten, TF1 optimizers and initializers, the authors' augmentation, class balancing
#: and per-model validation splits). Version 1 files hold other weights and are refused.
MODEL_FORMAT = "nws-model/2"
INDEX_FORMAT = "nws-shard/2"
REGENERATE = ("regenerate it with this version: python -m train.generate --config CONFIG --shard N "
              "--out NEW_ROOT (version 1 weights come from a different training protocol)")
INDEX_NAME = "index.json"
METADATA_KEY = "nws"


class RecordError(ValueError):
    """A model file or shard index is corrupt or disagrees with what was expected."""


def shard_dirname(shard: int) -> str:
    return f"shard-{shard:05d}"


def model_filename(model_id: int) -> str:
    return f"model-{model_id:06d}.safetensors"


def write_model(path: str | Path, snapshots: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> tuple[int, str]:
    """Write one model's snapshots and metadata atomically; return (size in bytes, sha256)."""
    tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in snapshots.items()}
    with atomic_path(path) as tmp:
        st_save_file(tensors, str(tmp), metadata={METADATA_KEY: json.dumps(meta), "format": MODEL_FORMAT})
        digest = sha256_file(tmp)
    return Path(path).stat().st_size, digest


def _header(data: bytes, name: str) -> dict[str, Any]:
    if len(data) < 8:
        raise RecordError(f"{name}: {len(data)} bytes is too short for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise RecordError(f"{name}: header of {n} bytes runs past the end of the {len(data)}-byte file "
                          "(truncated?)")
    try:
        header = json.loads(data[8:8 + n])
    except ValueError as err:
        raise RecordError(f"{name}: safetensors header is not valid JSON ({err})") from None
    if not isinstance(header, dict):
        raise RecordError(f"{name}: safetensors header is {type(header).__name__}, expected a JSON object")
    return header


def read_model(data: bytes, name: str = "<bytes>") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Parse and validate a model file's bytes; return (tensors, metadata).

    Everything a reader relies on is checked (:func:`validate_meta`, then every tensor:
    present, float32, the shape of the layout, finite). Any problem raises
    :class:`RecordError` naming ``name``, the field, what was found and what was expected.
    """
    header = _header(data, name)
    meta_raw = header.get("__metadata__", {})
    found = meta_raw.get("format") if isinstance(meta_raw, dict) else None
    if isinstance(found, str) and found.startswith("nws-model/") and found != MODEL_FORMAT:
        raise RecordError(f"{name}: NWS model format {found!r}, this version of nws reads {MODEL_FORMAT!r}; "
                          + REGENERATE)
    if found != MODEL_FORMAT or METADATA_KEY not in meta_raw:
        raise RecordError(f"{name}: not an NWS model file (format {found!r}, expected {MODEL_FORMAT!r})")
    try:
        meta = json.loads(meta_raw[METADATA_KEY])
    except (ValueError, TypeError) as err:
        raise RecordError(f"{name}: metadata 'nws' is not valid JSON ({err})") from None
    layout = validate_meta(meta, name)
    try:
        tensors = st_load(data)
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error types
        raise RecordError(f"{name}: corrupted tensor data ({err})") from None
    for e in layout.entries:
        t = tensors.get(e.key)
        if t is None:
            raise RecordError(f"{name}: tensor {e.key!r} is missing")
        if t.dtype != np.float32:
            raise RecordError(f"{name}: tensor {e.key!r} has dtype {t.dtype}, expected float32")
        if t.shape != (NUM_SNAPSHOTS,) + e.shape:
            raise RecordError(f"{name}: tensor {e.key!r} has shape {t.shape}, expected "
                              f"{(NUM_SNAPSHOTS,) + e.shape}")
        if not np.isfinite(t).all():
            raise RecordError(f"{name}: tensor {e.key!r} holds {int(np.size(t) - np.isfinite(t).sum())} "
                              "non-finite values, expected finite weights")
    extra = sorted(set(tensors) - set(layout.keys()))
    if extra:
        raise RecordError(f"{name}: tensors {extra} are not in the layout")
    return tensors, meta


def _field(meta: Mapping[str, Any], key: str, kind: Any, name: str, what: str) -> Any:
    if key not in meta:
        raise RecordError(f"{name}: metadata field {key!r} is missing (expected {what})")
    value = meta[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise RecordError(f"{name}: metadata field {key!r} is {value!r}, expected {what}")
    return value


def _accuracies(meta: Mapping[str, Any], key: str, name: str) -> None:
    values = _field(meta, key, list, name, f"a list of {NUM_SNAPSHOTS} accuracies in [0, 1]")
    if len(values) != NUM_SNAPSHOTS or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                               and 0 <= v <= 1 for v in values):
        raise RecordError(f"{name}: metadata field {key!r} is {values!r}, expected a list of {NUM_SNAPSHOTS} "
                          "accuracies in [0, 1]")


def validate_meta(meta: Any, name: str) -> Layout:
    """Check a model file's metadata against the record schema; return its (verified) layout.

    The hyper-parameters must be options of the file's config, the labels their indices, the
    layout the one the architecture of those hyper-parameters has, and the accuracies,
    snapshot epochs and counts of the right type, length and range.
    """
    from .space import CONFIGS, HYPERPARAMETERS, labels_of

    if not isinstance(meta, dict):
        raise RecordError(f"{name}: metadata 'nws' is {type(meta).__name__}, expected a JSON object")
    config_name = _field(meta, "config", str, name, f"one of {', '.join(CONFIGS)}")
    if config_name not in CONFIGS:
        raise RecordError(f"{name}: metadata field 'config' is {config_name!r}, expected one of {', '.join(CONFIGS)}")
    config = CONFIGS[config_name]
    _field(meta, "model_id", int, name, "an integer model id")
    split = _field(meta, "split", str, name, "'train' or 'test'")
    if split not in ("train", "test"):
        raise RecordError(f"{name}: metadata field 'split' is {split!r}, expected 'train' or 'test'")
    hp = _field(meta, "hparams", dict, name, "a JSON object of hyper-parameters")
    for h in HYPERPARAMETERS:
        if h.name not in hp:
            raise RecordError(f"{name}: hyper-parameter {h.name!r} is missing from 'hparams'")
        value = hp[h.name]
        if h.categorical:
            options = config.sources if h.name == "dataset" else h.options
            if value not in options or isinstance(value, bool):
                raise RecordError(f"{name}: hyper-parameter {h.name!r} is {value!r}, expected one of "
                                  f"{', '.join(map(str, options))}")
        elif not isinstance(value, (int, float)) or isinstance(value, bool) or not h.low <= value <= h.high:
            raise RecordError(f"{name}: hyper-parameter {h.name!r} is {value!r}, expected a number in "
                              f"[{h.low}, {h.high}]")
    labels = _field(meta, "labels", dict, name, "class indices of the hyper-parameters")
    expected = labels_of(config, hp)
    if labels != expected:
        raise RecordError(f"{name}: metadata field 'labels' is {labels!r}, expected {expected!r} "
                          "(the class indices of 'hparams')")
    table = _field(meta, "layout", list, name, "the layout table")
    try:
        layout = Layout.from_table(table)
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise RecordError(f"{name}: metadata field 'layout' is malformed ({type(err).__name__}: {err})") from None
    want = Layout.for_hparams(hp)
    if layout.table() != want.table():
        raise RecordError(f"{name}: metadata field 'layout' disagrees with the architecture of 'hparams' "
                          f"(n_weights {layout.n_weights}, expected {want.n_weights})")
    for key, value in (("n_weights", want.n_weights), ("n_conv_weights", want.n_conv_weights)):
        if _field(meta, key, int, name, f"the integer {value}") != value:
            raise RecordError(f"{name}: metadata field {key!r} is {meta[key]!r}, expected {value}")
    epochs = _field(meta, "epochs", int, name, "the last epoch trained (an integer ≥ 0)")
    snaps = _field(meta, "snapshot_epochs", list, name, f"{NUM_SNAPSHOTS} epochs")
    if len(snaps) != NUM_SNAPSHOTS or not all(isinstance(e, int) and 0 <= e <= epochs for e in snaps) or epochs < 0:
        raise RecordError(f"{name}: metadata field 'snapshot_epochs' is {snaps!r}, expected {NUM_SNAPSHOTS} "
                          f"integers in [0, epochs={epochs}]")
    for key in ("train_accuracy", "val_accuracy", "test_accuracy"):
        _accuracies(meta, key, name)
    final = _field(meta, "final_test_accuracy", (int, float), name, "a number in [0, 1]")
    if final != meta["test_accuracy"][-1]:
        raise RecordError(f"{name}: metadata field 'final_test_accuracy' is {final!r}, expected the last "
                          f"test accuracy {meta['test_accuracy'][-1]!r}")
    _field(meta, "converged", bool, name, "true or false")
    if meta.get("stop_reason") is not None and not isinstance(meta["stop_reason"], str):
        raise RecordError(f"{name}: metadata field 'stop_reason' is {meta['stop_reason']!r}, expected a string")
    _field(meta, "wall_time_s", (int, float), name, "seconds (a number)")
    return layout


def theta(tensors: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> np.ndarray:
    """θ of all 20 snapshots as a float32 array [20, n_weights], in the layout of the record."""
    return Layout.from_table(meta["layout"]).flatten(tensors)


def new_index(config: str, shard: int, num_shards: int, models_per_shard: int, seed: int,
              models: list[dict[str, Any]]) -> dict[str, Any]:
    return {"format": INDEX_FORMAT, "config": config, "shard": shard, "num_shards": num_shards,
            "models_per_shard": models_per_shard, "seed": seed, "models": models}


def write_index(shard_dir: str | Path, index: Mapping[str, Any]) -> None:
    write_json(Path(shard_dir) / INDEX_NAME, index)


def parse_index(text: str, name: str) -> dict[str, Any]:
    """Parse and check a shard index; raise :class:`RecordError` naming ``name`` if it is bad."""
    try:
        index = json.loads(text)
    except ValueError as err:
        raise RecordError(f"{name}: shard index is not valid JSON ({err})") from None
    found = index.get("format") if isinstance(index, dict) else None
    if isinstance(found, str) and found.startswith("nws-shard/") and found != INDEX_FORMAT:
        raise RecordError(f"{name}: NWS shard index format {found!r}, this version of nws reads "
                          f"{INDEX_FORMAT!r}; " + REGENERATE)
    if not isinstance(index, dict) or found != INDEX_FORMAT:
        raise RecordError(f"{name}: not an NWS shard index (expected format {INDEX_FORMAT!r})")
    for key in ("config", "shard", "models"):
        if key not in index:
            raise RecordError(f"{name}: shard index lacks {key!r}")
    if not isinstance(index["models"], list):
        raise RecordError(f"{name}: 'models' is {type(index['models']).__name__}, expected a list")
    seen: set[int] = set()
    for i, m in enumerate(index["models"]):
        check_entry(m, f"{name}: models[{i}]")
        if m["model_id"] in seen:
            raise RecordError(f"{name}: model {m['model_id']} is listed twice")
        seen.add(m["model_id"])
    return index


def check_entry(m: Any, where: str) -> None:
    """Check one shard-index entry. A finished model's file must be exactly its canonical
    name inside the shard folder (``model-000123.safetensors``), which rules out any path
    that leads elsewhere (``../x``, absolute paths), and carry its size and sha256."""
    if not isinstance(m, dict):
        raise RecordError(f"{where}: is {type(m).__name__}, expected a JSON object")
    if not isinstance(m.get("model_id"), int) or isinstance(m.get("model_id"), bool) or m["model_id"] < 0:
        raise RecordError(f"{where}: 'model_id' is {m.get('model_id')!r}, expected an integer ≥ 0")
    if m.get("status") not in ("pending", "done", "failed"):
        raise RecordError(f"{where}: 'status' is {m.get('status')!r}, expected pending, done or failed")
    if m.get("split") not in ("train", "test"):
        raise RecordError(f"{where}: 'split' is {m.get('split')!r}, expected 'train' or 'test'")
    if m["status"] != "done":
        return
    if m.get("file") != model_filename(m["model_id"]):
        raise RecordError(f"{where}: 'file' is {m.get('file')!r}, expected {model_filename(m['model_id'])!r} "
                          "(a model file inside its shard folder)")
    if not isinstance(m.get("bytes"), int) or m["bytes"] <= 0:
        raise RecordError(f"{where}: 'bytes' is {m.get('bytes')!r}, expected the file size")
    sha = m.get("sha256")
    if not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
        raise RecordError(f"{where}: 'sha256' is {sha!r}, expected 64 hex digits")
    if not isinstance(m.get("converged"), bool):
        raise RecordError(f"{where}: 'converged' is {m.get('converged')!r}, expected true or false")


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_index(shard_dir: str | Path) -> dict[str, Any] | None:
    """The shard index in a local directory, or ``None`` if there is none yet."""
    path = Path(shard_dir) / INDEX_NAME
    return parse_index(path.read_text(), str(path)) if path.exists() else None
