"""Reading and writing NWS files: one safetensors file per model, one JSON index per shard.

What the files must hold is defined in :mod:`nws_datasets.schema`; this module does the I/O:
atomic writes, full reads validated against the schema (:func:`read_model`), header-only
reads for metadata (:func:`read_metadata`), θ from a file's tensors, and checksums. A model
file holds, for every parameter tensor of the CNN, one tensor named ``"<layer>.<kind>"``
(e.g. ``conv1.weight``, ``fc2.bn_var``) with a leading axis of the 20 kept snapshots, and
the metadata document under the safetensors metadata key ``"nws"``.
"""
from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any, BinaryIO, Mapping

import numpy as np
from safetensors.numpy import load as st_load
from safetensors.numpy import save_file as st_save_file

from .architecture import Layout
from .schema import (INDEX_NAME, METADATA_KEY, MODEL_FORMAT, READABLE_MODEL_FORMATS, REGENERATE, RecordError,
                     parse_index, validate_meta)
from .space import NUM_SNAPSHOTS
from .storage import atomic_path, write_json

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


def _meta(header: dict[str, Any], name: str) -> Any:
    """The ``nws`` metadata document of a parsed safetensors header (format checked)."""
    meta_raw = header.get("__metadata__", {})
    found = meta_raw.get("format") if isinstance(meta_raw, dict) else None
    if isinstance(found, str) and found.startswith("nws-model/") and found not in READABLE_MODEL_FORMATS:
        raise RecordError(f"{name}: NWS model format {found!r}, this version of nws reads "
                          f"{' and '.join(map(repr, READABLE_MODEL_FORMATS))}; " + REGENERATE)
    if found not in READABLE_MODEL_FORMATS or METADATA_KEY not in meta_raw:
        raise RecordError(f"{name}: not an NWS model file (format {found!r}, expected {MODEL_FORMAT!r})")
    try:
        return json.loads(meta_raw[METADATA_KEY])
    except (ValueError, TypeError) as err:
        raise RecordError(f"{name}: metadata 'nws' is not valid JSON ({err})") from None


def read_metadata(f: BinaryIO, name: str = "<file>") -> dict[str, Any]:
    """A model file's validated metadata, reading only its header from the open binary file ``f``
    (a few kB instead of the whole file: metadata-only loading)."""
    start = f.read(8)
    if len(start) < 8:
        raise RecordError(f"{name}: {len(start)} bytes is too short for a safetensors file")
    n = struct.unpack("<Q", start)[0]
    if n > 100_000_000:
        raise RecordError(f"{name}: safetensors header of {n} bytes is implausibly large")
    body = f.read(n)
    header = _header(start + body, name)
    meta = _meta(header, name)
    validate_meta(meta, name)
    return meta


def read_model(data: bytes, name: str = "<bytes>") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Parse and validate a model file's bytes; return (tensors, metadata).

    Everything a reader relies on is checked (:func:`validate_meta`, then every tensor:
    present, float32, the shape of the layout, finite). Any problem raises
    :class:`RecordError` naming ``name``, the field, what was found and what was expected.
    """
    meta = _meta(_header(data, name), name)
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


def theta(tensors: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> np.ndarray:
    """θ of all 20 snapshots as a float32 array [20, n_weights], in the layout of the record."""
    return Layout.from_table(meta["layout"]).flatten(tensors)


def write_index(shard_dir: str | Path, index: Mapping[str, Any]) -> None:
    write_json(Path(shard_dir) / INDEX_NAME, index)


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
