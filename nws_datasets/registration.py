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

import importlib.abc
import importlib.util
import inspect
import sys
from typing import Any

NAME = "nws"
BUILDER_MODULE = "builders.nws"
SUPPORTED_DATASETS = (4, 6)  #: major versions [low, high) the hook is written for (setup.cfg agrees)


def nws_dataset_module(data_dir: str | None = None, download_config=None) -> Any:
    """The ``DatasetModule`` that ``load_dataset("nws", ...)`` resolves to."""
    import datasets.load as _load

    options = getattr(download_config, "storage_options", None)
    from .loading import fingerprint

    return _load.DatasetModule(BUILDER_MODULE, fingerprint(data_dir, options), {"dataset_name": NAME})


def register() -> None:
    """Install the hook (idempotent). Raises ``RuntimeError`` if ``datasets`` changed under us;
    :func:`register_quietly` (what ``import nws_datasets`` calls) turns that into a warning.

    Every ``load_dataset("nws", ...)`` goes to the NWS builder, also when the working
    directory holds a folder named ``nws`` (load that one as ``"./nws"``); the same hook
    serves ``get_dataset_config_names("nws")`` and ``get_dataset_infos("nws")``.
    """
    import datasets
    import datasets.load as _load

    major = int(datasets.__version__.split(".")[0])
    factory = getattr(_load, "dataset_module_factory", None)
    if factory is None or not {"path", "data_dir", "download_config"} <= set(inspect.signature(factory).parameters) \
            or not hasattr(_load, "DatasetModule") or not SUPPORTED_DATASETS[0] <= major < SUPPORTED_DATASETS[1]:
        raise RuntimeError(
            f"nws_datasets cannot register load_dataset('nws') with datasets {datasets.__version__}: supported are "
            f"{SUPPORTED_DATASETS[0]}.x to {SUPPORTED_DATASETS[1] - 1}.x with datasets.load.dataset_module_factory; "
            "nws_datasets.load(CONFIG, ...) works without it")
    if getattr(factory, "_nws_hook", False):
        return
    signature = inspect.signature(factory)

    def dataset_module_factory(path, *args, **kwargs):
        if path == NAME:
            bound = signature.bind(path, *args, **kwargs)
            return nws_dataset_module(bound.arguments.get("data_dir"), bound.arguments.get("download_config"))
        return factory(path, *args, **kwargs)

    dataset_module_factory._nws_hook = True  # type: ignore[attr-defined]
    dataset_module_factory.__wrapped__ = factory  # type: ignore[attr-defined]
    _load.dataset_module_factory = dataset_module_factory
    import datasets.inspect as _inspect  # it holds its own reference to the factory

    if getattr(_inspect, "dataset_module_factory", None) is factory:
        _inspect.dataset_module_factory = dataset_module_factory


def register_quietly() -> bool:
    """:func:`register`, warning instead of raising; return whether the hook is installed."""
    import warnings

    try:
        register()
        return True
    except Exception as err:  # noqa: BLE001 - importing nws_datasets must never fail because of the hook
        warnings.warn(f"load_dataset('nws') is unavailable: {err}", RuntimeWarning, stacklevel=2)
        return False


class _AfterImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Runs :func:`register_quietly` once ``datasets`` has been imported, by whoever imports it."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "datasets":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        self.inner = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec: Any) -> Any:
        return self.inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.inner.exec_module(module)
        register_quietly()


def register_when_imported() -> None:
    """Install the hook now if ``datasets`` is imported, else as soon as it is (what ``import
    nws_datasets`` calls: importing the package costs no ``datasets`` import)."""
    if "datasets" in sys.modules:
        register_quietly()
    elif not any(isinstance(f, _AfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport())
