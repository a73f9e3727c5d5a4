"""``nws_datasets.load``: the NWS as ``datasets`` objects, without any hook into ``datasets``.

It builds the ``datasets`` builder of :mod:`builders.nws` directly, so it works whatever the
state of the ``load_dataset("nws", ...)`` registration (:mod:`nws_datasets.registration`),
and it is what ``metaclf`` and the benches use.
"""
from __future__ import annotations

import hashlib
import inspect
import posixpath
from typing import Any, Sequence

import fsspec

from .schema import find_indexes


def fingerprint(data_dir: str | None, storage_options: dict | None) -> str:
    """Hash of the builder's code, of every shard index (which holds each file's sha256) and
    of every file's name, size and modification time, so that a prepared dataset is rebuilt
    when a model file is replaced, even without a new index."""
    import builders.nws as module

    h = hashlib.sha256(inspect.getsource(module).encode())
    for url, text in find_indexes(data_dir, None, storage_options or {}):
        h.update(url.encode())
        h.update(text.encode())
        fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
        for info in sorted(fs.ls(posixpath.dirname(path), detail=True), key=lambda i: i["name"]):
            stamp = info.get("mtime") or info.get("LastModified") or info.get("last_modified") or info.get("created")
            h.update(f"{info['name']}|{info.get('size')}|{stamp}".encode())
    return h.hexdigest()


def load(config: str, split: str | None = None, *, streaming: bool = False, data_dir: str | None = None,
         snapshots: Sequence[int] | None = None, converged_only: bool = False, columns: Sequence[str] | None = None,
         skip_corrupt: bool = False, verify_checksums: bool = True, cache_dir: str | None = None,
         storage_options: dict[str, Any] | None = None):
    """Load NWS config ``config`` (``"c_fixed"``, ``"c_fixed_mini"``, …) as ``datasets`` objects.

    Returns a ``Dataset`` (``split="train"``/``"test"``), a ``DatasetDict`` (``split=None``),
    or their iterable counterparts with ``streaming=True``. ``data_dir`` is the NWS root (a
    local path or any fsspec URL; default ``$NWS_HOME`` or ``~/.cache/nws``); ``snapshots``
    selects snapshot indices (negative ones count from the end); ``columns`` keeps only those
    columns, and without ``"weights"`` among them only the files' headers are read. The same
    options as ``load_dataset("nws", config, ...)``, which this equals.
    """
    from builders.nws import NWS

    names = [c.name for c in NWS.BUILDER_CONFIGS]
    if config not in names:
        raise ValueError(f"unknown NWS config {config!r}; expected one of {', '.join(names)}")
    weights = columns is None or "weights" in columns
    builder = NWS(config_name=config, data_dir=data_dir, cache_dir=cache_dir, storage_options=storage_options,
                  hash=fingerprint(data_dir, storage_options),
                  snapshots=tuple(snapshots) if snapshots is not None else None, converged_only=converged_only,
                  skip_corrupt=skip_corrupt, verify_checksums=verify_checksums, weights=weights)
    if streaming:
        ds = builder.as_streaming_dataset(split=split)
    else:
        builder.download_and_prepare()
        ds = builder.as_dataset(split=split)
    if columns is not None:
        unknown = set(columns) - set(builder.info.features)
        if unknown:
            raise ValueError(f"unknown columns {sorted(unknown)}; expected some of {', '.join(builder.info.features)}")
        ds = ds.select_columns(list(columns))
    return ds

