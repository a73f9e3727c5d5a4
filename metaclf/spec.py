"""What one meta-classifier run is: a frozen, typed specification.

The command lines build a :class:`RunSpec`, :func:`metaclf.evaluate.evaluate` takes it, and
every result carries it as JSON (``result["spec"]``), from which the tables, the findings and
the maps read it back field by field. The rules that tie the fields together are checked once,
in :meth:`RunSpec.validate`; the name a result is filed under is derived from the spec in one
place, :meth:`RunSpec.stem`, and never parsed back.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from nws_datasets.space import CONFIGS, get_config

from . import recipe
from .methods import METHODS, Method

#: fields that only windowed methods take, and fields that only DMCs take
WINDOW_FIELDS = ("part", "subset_size")
DMC_FIELDS = ("members", "steps", "profile", "device", "norm", "bn_stats")
#: fields of the classification protocol (class-balanced rounds, pooled test configs) that
#: the accuracy regressors do not take
CLASSIFICATION_FIELDS = ("rounds", "models_per_class", "test_configs")
#: the smallest window the local features and the local DMC can read
MIN_SUBSET_SIZE = 16
#: counts beyond which a run would take days on any machine: refused as typing errors
LIMITS = {"rounds": 1000, "members": 100, "steps": 10_000_000, "subset_size": 10_000_000,
          "models_per_class": 1_000_000}


def inapplicable(method: Method) -> tuple[str, ...]:
    """The run fields that ``method`` does not take."""
    return (WINDOW_FIELDS * (not method.windows) + DMC_FIELDS * (not method.dmc) + ("tune",) * (not method.tunable)
            + CLASSIFICATION_FIELDS * (method.task == "accuracy"))


def applies_to(name: str) -> str:
    """Which methods the field ``name`` applies to, for error messages."""
    if name in WINDOW_FIELDS:
        return "windowed methods (svm-*-local, dmc-local)"
    if name == "tune":
        return "the SVMs and gbm-layerwise"
    return "the meta-classifiers, not the accuracy regressors" if name in CLASSIFICATION_FIELDS else "DMCs"


class SpecError(ValueError):
    """A run specification whose fields do not fit together; the message names the field."""


@dataclass(frozen=True)
class RunSpec:
    """One run: which method, on what, and how. ``None`` means the method's default."""

    method: str  #: a registry name (:data:`metaclf.methods.METHODS`)
    config: str
    target: str
    part: str = "all"  #: the weights a window covers (windowed methods)
    subset_size: int = recipe.SUBSET_SIZE  #: S, the weights of a window (windowed methods)
    rounds: int | None = None  #: class-balanced training rounds (None: the method's default)
    members: int = 1  #: DMCs per round, their probabilities averaged (beyond the paper)
    steps: int | None = None  #: DMC optimizer steps (None: the profile's schedule)
    profile: str = "mini"  #: DMC width and schedule (:data:`metaclf.recipe.DMC_PROFILES`)
    device: str = "cpu"
    norm: str = "batch"  #: DMC normalization layers (:data:`metaclf.recipe.NORMS`)
    bn_stats: str = "population"  #: how DMC BatchNorm evaluates (:data:`metaclf.recipe.BN_STATS`)
    test_configs: tuple[str, ...] = ()  #: configs whose test models are pooled with the config's own
    models_per_class: int | None = None  #: cap on training models per class (a learning-curve point)
    seed: int = 0
    converged_only: bool = True
    tune: bool = False  #: choose the method's hyper-parameters by grouped CV (:mod:`metaclf.tuning`)

    @property
    def entry(self) -> Method:
        return METHODS[self.method]

    def validate(self) -> RunSpec:
        """Check every field and every rule between fields; return self, or raise :class:`SpecError`."""
        if self.method not in METHODS:
            raise SpecError(f"method {self.method!r} is unknown: expected one of {', '.join(METHODS)}")
        self._check_configs()
        m = self.entry
        if m.task == "accuracy":
            if self.target not in recipe.ACCURACY_TARGETS:
                raise SpecError(f"target {self.target!r} is not an accuracy target of {self.method}: expected "
                                f"{' or '.join(recipe.ACCURACY_TARGETS)}")
        else:
            from .data import check_target

            check_target(self.target, self.config)  # a TargetError (a ValueError) names the valid targets
        if m.fixed_architecture and not get_config(self.config).fixed_architecture:
            raise SpecError(f"{self.method} needs a fixed architecture; {self.config} has random architectures")
        for name in inapplicable(m):
            if getattr(self, name) != _DEFAULTS[name]:
                raise SpecError(f"{name}={getattr(self, name)!r} does not apply to {self.method}: it applies to "
                                + applies_to(name))
        self._check_values()
        if self.bn_stats != "population" and self.norm != "batch":
            raise SpecError(f"bn_stats={self.bn_stats!r} needs norm='batch': norm={self.norm!r} has no BatchNorm")
        return self

    def _check_configs(self) -> None:
        if self.config not in CONFIGS:
            raise SpecError(f"config {self.config!r} is unknown: expected one of {', '.join(CONFIGS)}")
        base = get_config(self.config)
        if base.splits == ("test",):
            raise SpecError(f"{self.config} holds test models only: train on another config and pass "
                            f"{self.config} as a test config (--test-config)")
        for name in self.test_configs:
            if name not in CONFIGS:
                raise SpecError(f"test config {name!r} is unknown: expected one of {', '.join(CONFIGS)}")
            if name == self.config or self.test_configs.count(name) > 1:
                raise SpecError(f"test config {name!r} is given twice (the config's own test models are always "
                                "used)")
            other = get_config(name)
            if (other.sources, other.fixed_architecture) != (base.sources, base.fixed_architecture):
                raise SpecError(f"test config {name!r} does not match {self.config!r}: sources {other.sources} and "
                                f"fixed_architecture={other.fixed_architecture}, expected {base.sources} and "
                                f"{base.fixed_architecture}")

    def _check_values(self) -> None:
        choices = {"part": recipe.PARTS, "profile": tuple(recipe.DMC_PROFILES), "device": ("cpu", "cuda"),
                   "norm": tuple(recipe.NORMS), "bn_stats": tuple(recipe.BN_STATS)}
        for name, options in choices.items():
            if getattr(self, name) not in options:
                raise SpecError(f"{name}={getattr(self, name)!r} is not valid: expected one of {', '.join(options)}")
        lowest = {"rounds": 1, "members": 1, "steps": 1, "subset_size": MIN_SUBSET_SIZE, "models_per_class": 1}
        for name, low in lowest.items():
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= LIMITS[name]:
                raise SpecError(f"{name}={value!r} is not valid: expected an integer from {low} to {LIMITS[name]:,}")
        if not isinstance(self.tune, bool) or not isinstance(self.converged_only, bool):
            raise SpecError(f"tune={self.tune!r}, converged_only={self.converged_only!r}: expected true or false")
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise SpecError(f"seed={self.seed!r} is not valid: expected an integer in 0..{2**32 - 1}")

    def estimator_params(self) -> dict[str, Any]:
        """The parameters of the method's estimator that this run sets."""
        m = self.entry
        params: dict[str, Any] = {}
        if m.windows:
            params |= {"part": self.part, "subset_size": self.subset_size}
        if m.dmc:
            params |= {"profile": self.profile, "steps": self.steps, "device": self.device, "norm": self.norm,
                       "bn_stats": self.bn_stats}
        if m.tunable:
            params["tune"] = self.tune
        if self.method == "hparams-baseline":
            params["target"] = self.target  # the confound baseline leaves the target out
        return params

    def label(self) -> str:
        """How tables and figures name this run's method: the registry name, then ``-ln`` for
        per-input normalization, ``-ens<K>`` for an ensemble per round, ``@<bn_stats>`` for a
        transductive BatchNorm evaluation, ``+<config>`` per pooled test config, ``-tuned`` for
        hyper-parameters chosen by grouped cross-validation."""
        return (self.method + "-tuned" * self.tune + "-ln" * (self.norm == "layer") + f"-ens{self.members}" * (self.members > 1)
                + f"@{self.bn_stats}" * (self.bn_stats != "population") + "".join(f"+{c}" for c in self.test_configs))

    def describe(self) -> str:
        """What sets this run apart from the paper's recipe, in words ('' for the recipe itself)."""
        out = ["hyper-parameters by grouped CV"] * self.tune
        out += ["per-input normalization"] * (self.norm == "layer")
        out += [f"ensembles of {self.members}"] * (self.members > 1)
        out += [f"{self.bn_stats} BN, transductive"] * (self.bn_stats != "population")
        out += [f"pooled with {c}" for c in self.test_configs]
        return ", ".join(out)

    def stem(self) -> str:
        """The file name (without suffix) of this run's result under ``<out>/<config>/``."""
        return f"{self.label()}-{self.target}" + f"-{self.part}" * (self.part != "all")

    def training_stem(self) -> str:
        """The file name stem of this run's DMC checkpoints: only what training depends on (not
        the BatchNorm evaluation, the ensemble size or the pooled test configs, so that those
        runs reuse the checkpoints of a plain one); ``.r<i>.ckpt`` is added per round."""
        base = replace(self, members=1, bn_stats="population", test_configs=()).stem()
        return base + f".s{self.subset_size}" * self.entry.windows

    def to_json(self) -> dict[str, Any]:
        """The fields this run's method takes (inert defaults left out), JSON-ready."""
        skip = set(inapplicable(self.entry))
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items() if k not in skip}

    @classmethod
    def from_json(cls, doc: Any) -> RunSpec:
        """The spec a result carries; raise :class:`SpecError` naming what is wrong with ``doc``."""
        if not isinstance(doc, dict):
            raise SpecError(f"spec: expected an object, got {type(doc).__name__}")
        unknown = sorted(set(doc) - set(_DEFAULTS) - {"method", "config", "target"})
        missing = [k for k in ("method", "config", "target") if k not in doc]
        if unknown or missing:
            raise SpecError(f"spec: unknown fields {unknown}" if unknown else f"spec: lacks {', '.join(missing)}")
        values = {k: tuple(v) if k == "test_configs" and isinstance(v, list) else v for k, v in doc.items()}
        return cls(**values).validate()


_DEFAULTS = {f.name: f.default for f in fields(RunSpec) if f.name not in ("method", "config", "target")}
