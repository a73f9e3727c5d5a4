"""NWS: the neural weight space as a dataset (Eilertsen et al. 2020, "Classifying the classifier").

Importing this package registers the ``datasets`` builder, so that::

    import nws_datasets
    from datasets import load_dataset
    ds = load_dataset("nws", "c_fixed", split="train")

works from any working directory (see :mod:`nws_datasets.registration`).
"""
__version__ = "0.1.0"

from .registration import register as _register  # noqa: E402

_register()
