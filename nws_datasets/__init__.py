"""NWS: the neural weight space as a dataset (Eilertsen et al. 2020, "Classifying the classifier").

``nws_datasets.load("c_fixed", split="train")`` returns the NWS as ``datasets`` objects.
Importing this package also teaches ``datasets`` the name "nws", so that::

    import nws_datasets
    from datasets import load_dataset
    ds = load_dataset("nws", "c_fixed", split="train")

works from any working directory (see :mod:`nws_datasets.registration`); if it cannot (an
unsupported ``datasets``), it warns and ``load`` still works. The package imports
``datasets`` only when it is used, so that command lines answer ``--help`` at once: the
hook is installed as soon as ``datasets`` is imported, by anyone.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from .registration import register_when_imported as _register  # noqa: E402

_register()


def __getattr__(name: str) -> Any:
    if name == "load":
        from .loading import load

        return load
    raise AttributeError(f"module 'nws_datasets' has no attribute {name!r}")


__all__ = ["load", "__version__"]
