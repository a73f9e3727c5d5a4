"""Finding and publishing a generated NWS on any fsspec filesystem (local, memory://, s3://, hf://)."""
from __future__ import annotations

import posixpath
from typing import Any, Iterator

import fsspec

from .records import INDEX_NAME
from .storage import nws_home


def resolve_root(data_dir: str | None) -> str:
    """The NWS root URL: ``data_dir`` if given, else the NWS home."""
    return str(data_dir) if data_dir else str(nws_home())


def config_root(data_dir: str | None, config: str, storage_options: dict[str, Any]) -> tuple[Any, str]:
    """(filesystem, path) of a config's shards: ``<root>/<config>``, or ``<root>`` itself if it holds shards."""
    fs, base = fsspec.core.url_to_fs(resolve_root(data_dir), **storage_options)
    nested = posixpath.join(base, config)
    return fs, nested if fs.isdir(nested) or not fs.glob(posixpath.join(base, "shard-*", INDEX_NAME)) else base


def find_indexes(data_dir: str | None, config: str | None, storage_options: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Yield (url, text) of every shard index of ``config`` (or of all configs) under the root."""
    fs, base = fsspec.core.url_to_fs(resolve_root(data_dir), **storage_options)
    if config is not None:
        fs, base = config_root(data_dir, config, storage_options)
        patterns = [posixpath.join(base, "shard-*", INDEX_NAME)]
    else:
        patterns = [posixpath.join(base, "*", "shard-*", INDEX_NAME), posixpath.join(base, "shard-*", INDEX_NAME)]
    try:
        paths = sorted({p for pat in patterns for p in fs.glob(pat)})
    except FileNotFoundError:
        paths = []
    for p in paths:
        yield fs.unstrip_protocol(p), fs.cat_file(p).decode()
