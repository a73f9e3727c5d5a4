"""Every meta-classifier, in one registry.

``make(name, **params)`` builds an estimator (:class:`metaclf.methods.base.MetaClassifier`:
``fit``, ``predict_proba``, ``predict``, ``score``, ``window_scores``) from its registry name;
:func:`metaclf.evaluate.evaluate` runs any of them with the shared protocol. The names are
the ones results are filed under (``<method>-<target>.json``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .base import MetaClassifier
from .baseline import HyperParameterBaseline
from .dmc import INPUTS, NORMS, GlobalDMC, LocalDMC
from .svm import SVMClassifier


def dmc_method(kind: str, inputs: str, norm: str = "batch") -> str:
    """Registry name of the ``kind`` ('local' or 'global') DMC on ``inputs`` with ``norm`` layers:
    dmc-local, dmc-global-std, dmc-local-ln, …"""
    return f"dmc-{kind}{INPUTS[inputs][0]}{NORMS[norm][0]}"


@dataclass(frozen=True)
class Method:
    """A registry entry: the estimator class, its parameters, and whether it is the paper's."""

    estimator: type[MetaClassifier]
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    paper: bool = True  #: part of the paper's recipe (False: an option beyond the paper)
    fixed_architecture: bool = False  #: needs one architecture for every model


METHODS: dict[str, Method] = {
    **{f"svm-{k}-{f}": Method(SVMClassifier, {"kernel": k, "features": f}, f"{k} SVM on {f} statistics",
                              fixed_architecture=f == "layerwise")
       for f in ("global", "layerwise", "local") for k in ("linear", "rbf")},
    **{dmc_method(kind, inputs, norm): Method(
        estimator, {k: v for k, v in (("inputs", inputs), ("norm", norm)) if v not in ("raw", "batch")},
        f"{kind} DMC on {what}" if (inputs, norm) == ("raw", "batch")
        else f"{kind} DMC on {what.removesuffix(' (the paper)')}"
        + ("" if norm == "batch" else ", each input normalized alone") + " (beyond the paper)",
        paper=(inputs, norm) == ("raw", "batch"), fixed_architecture=kind == "global")
       for kind, estimator in (("local", LocalDMC), ("global", GlobalDMC))
       for inputs, (_, what) in INPUTS.items() for norm in NORMS},
    "hparams-baseline": Method(HyperParameterBaseline, {},
                               "confound baseline: the target from the other hyper-parameters, no weights",
                               paper=False),
}


def make(name: str, **params: Any) -> MetaClassifier:
    """The estimator registered as ``name``, with ``params`` overriding its defaults."""
    try:
        m = METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; expected one of {', '.join(METHODS)}") from None
    return m.estimator(**{**m.params, **params})


__all__ = ["METHODS", "Method", "dmc_method", "MetaClassifier", "make", "SVMClassifier", "LocalDMC", "GlobalDMC",
           "HyperParameterBaseline"]
