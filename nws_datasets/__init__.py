"""NWS: the neural weight space as a dataset (Eilertsen et al. 2020, "Classifying the classifier").

``nws_datasets.load("c_fixed", split="train")`` returns the NWS as ``datasets`` objects.
Importing this package also registers the ``datasets`` builder, so that::

    import nws_datasets
    from datasets import load_dataset
    ds = load_dataset("nws", "c_fixed", split="train")

works from any working directory (see :mod:`nws_datasets.registration`); if it cannot (an
unsupported ``datasets``), the import warns and ``load`` still works.
"""
__version__ = "0.1.0"

from .loading import load  # noqa: E402
from .registration import register_quietly as _register  # noqa: E402

_register()

__all__ = ["load", "__version__"]
