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


def write_model(path: str | Path, snapshots: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> int:
    """Write one model's snapshots and metadata atomically; return the file size in bytes."""
    tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in snapshots.items()}
    with atomic_path(path) as tmp:
        st_save_file(tensors, str(tmp), metadata={METADATA_KEY: json.dumps(meta), "format": MODEL_FORMAT})
    return Path(path).stat().st_size


def _header(data: bytes, name: str) -> dict[str, Any]:
    if len(data) < 8:
        raise RecordError(f"{name}: {len(data)} bytes is too short for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise RecordError(f"{name}: header of {n} bytes runs past the end of the {len(data)}-byte file "
                          "(truncated?)")
    try:
        return json.loads(data[8:8 + n])
    except ValueError as err:
        raise RecordError(f"{name}: safetensors header is not valid JSON ({err})") from None


def read_model(data: bytes, name: str = "<bytes>") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Parse and validate a model file's bytes; return (tensors, metadata).

    Raises :class:`RecordError` naming ``name`` for truncated or corrupted files, a wrong
    format, missing tensors or shapes that disagree with the stored layout.
    """
    header = _header(data, name)
    meta_raw = header.get("__metadata__", {})
    found = meta_raw.get("format")
    if isinstance(found, str) and found.startswith("nws-model/") and found != MODEL_FORMAT:
        raise RecordError(f"{name}: NWS model format {found!r}, this version of nws reads {MODEL_FORMAT!r}; "
                          + REGENERATE)
    if found != MODEL_FORMAT or METADATA_KEY not in meta_raw:
        raise RecordError(f"{name}: not an NWS model file (format {meta_raw.get('format')!r}, "
                          f"expected {MODEL_FORMAT!r})")
    meta = json.loads(meta_raw[METADATA_KEY])
    try:
        tensors = st_load(data)
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error types
        raise RecordError(f"{name}: corrupted tensor data ({err})") from None
    layout = Layout.from_table(meta["layout"])
    for e in layout.entries:
        t = tensors.get(e.key)
        if t is None:
            raise RecordError(f"{name}: tensor {e.key!r} is missing")
        if t.shape != (NUM_SNAPSHOTS,) + e.shape:
            raise RecordError(f"{name}: tensor {e.key!r} has shape {t.shape}, expected "
                              f"{(NUM_SNAPSHOTS,) + e.shape}")
    return tensors, meta


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
    return index


def read_index(shard_dir: str | Path) -> dict[str, Any] | None:
    """The shard index in a local directory, or ``None`` if there is none yet."""
    path = Path(shard_dir) / INDEX_NAME
    return parse_index(path.read_text(), str(path)) if path.exists() else None
