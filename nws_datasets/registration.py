"""Make ``load_dataset("nws", CONFIG)`` work; the one place that touches ``datasets`` internals.

``datasets`` ≥ 4 no longer runs dataset scripts, and a name registered as a packaged module
makes ``load_dataset`` infer data files from the current directory (``EmptyDatasetError``
when there are none). Instead we wrap ``datasets.load.dataset_module_factory``, the function
``load_dataset_builder`` calls to turn a path into a builder module: for the name ``"nws"``
it returns a module pointing at :mod:`builders.nws`, whose hash fingerprints the shard
indexes (so a prepared dataset is rebuilt when shards are added); every other name goes to
the original. Supported ``datasets`` versions are pinned in ``setup.cfg`` and checked by
``tests/test_builder.py``; :func:`register` fails loudly if the hook's target changed.
"""
from __future__ import annotations

import hashlib
import inspect
from pathlib import Path

import datasets
import datasets.load as _load

NAME = "nws"
BUILDER_MODULE = "builders.nws"
SUPPORTED_DATASETS = (4, 6)  #: major versions [low, high) the hook is written for (setup.cfg agrees)


def _fingerprint(data_dir: str | None, storage_options: dict | None) -> str:
    """Hash of the builder's code, of every shard index (which holds each file's sha256) and
    of every file's name, size and modification time, so that a prepared dataset is rebuilt
    when a model file is replaced, even without a new index."""
    import posixpath

    import fsspec

    import builders.nws as module

    from .schema import find_indexes

    h = hashlib.sha256(inspect.getsource(module).encode())
    for url, text in find_indexes(data_dir, None, storage_options or {}):
        h.update(url.encode())
        h.update(text.encode())
        fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
        for info in sorted(fs.ls(posixpath.dirname(path), detail=True), key=lambda i: i["name"]):
            stamp = info.get("mtime") or info.get("LastModified") or info.get("last_modified") or info.get("created")
            h.update(f"{info['name']}|{info.get('size')}|{stamp}".encode())
    return h.hexdigest()


def nws_dataset_module(data_dir: str | None = None, download_config=None) -> _load.DatasetModule:
    """The ``DatasetModule`` that ``load_dataset("nws", ...)`` resolves to."""
    options = getattr(download_config, "storage_options", None)
    return _load.DatasetModule(BUILDER_MODULE, _fingerprint(data_dir, options), {"dataset_name": NAME})


def register() -> None:
    """Install the hook (idempotent). Raises ``RuntimeError`` if ``datasets`` changed under us."""
    major = int(datasets.__version__.split(".")[0])
    factory = getattr(_load, "dataset_module_factory", None)
    if factory is None or not {"path", "data_dir", "download_config"} <= set(inspect.signature(factory).parameters) \
            or not hasattr(_load, "DatasetModule") or not SUPPORTED_DATASETS[0] <= major < SUPPORTED_DATASETS[1]:
        raise RuntimeError(
            f"nws_datasets cannot register load_dataset('nws') with datasets {datasets.__version__}: supported are "
            f"{SUPPORTED_DATASETS[0]}.x to {SUPPORTED_DATASETS[1] - 1}.x with datasets.load.dataset_module_factory")
    if getattr(factory, "_nws_hook", False):
        return
    signature = inspect.signature(factory)

    def dataset_module_factory(path, *args, **kwargs):
        if path == NAME and not Path(NAME).is_dir():
            bound = signature.bind(path, *args, **kwargs)
            return nws_dataset_module(bound.arguments.get("data_dir"), bound.arguments.get("download_config"))
        return factory(path, *args, **kwargs)

    dataset_module_factory._nws_hook = True  # type: ignore[attr-defined]
    dataset_module_factory.__wrapped__ = factory  # type: ignore[attr-defined]
    _load.dataset_module_factory = dataset_module_factory
