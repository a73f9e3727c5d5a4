"""The hyper-parameter space of the NWS and its named configurations.

This module is the single source of truth for every option list (Table 1 of Eilertsen et
al. 2020, as pinned in docs/design.md), the fixed architecture of ``c_fixed``, the convergence
thresholds, the training profiles and the four named configs. ``train/``, ``builders/`` and
``metaclf/`` import from here; nothing else spells an option list out.

Sampling is a pure function of (config, model id, seed): the model id is the global index
``shard * models_per_shard + index_in_shard``, so a shard index plus a seed fully determines
the hyper-parameters of every model in it, on any machine and in any order of execution.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: The five image datasets of the paper, read from their Hugging Face Hub copies.
REAL_SOURCES: tuple[str, ...] = ("mnist", "cifar10", "svhn", "stl10", "fashion_mnist")
#: Small real datasets that ship inside Python packages (no network); fast tests only.
OFFLINE_SOURCES: tuple[str, ...] = ("mnist_sample", "digits")
#: The two of the paper's datasets that install offline, full size (``bash .ci/setup``).
CPU_SOURCES: tuple[str, ...] = ("mnist", "fashion_mnist")

#: Final test accuracy a model must clear to count as converged (docs/design.md); the offline
#: digit sets use the MNIST threshold.
CONVERGENCE_THRESHOLDS: dict[str, float] = {
    "mnist": 0.80, "cifar10": 0.25, "svhn": 0.50, "stl10": 0.25, "fashion_mnist": 0.50,
    "mnist_sample": 0.80, "digits": 0.80,
}

NUM_OUTPUTS = 20  #: width of the output layer (10 classes used), as in the authors' code
NUM_CLASSES = 10
NUM_SNAPSHOTS = 20
IMAGE_SHAPE = (32, 32, 3)


@dataclass(frozen=True)
class HyperParameter:
    """One row of Table 1: a categorical option list, or a continuous range (learning rate)."""

    name: str
    options: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    fixed: Any = None  #: value used by the fixed-architecture configs, if any

    @property
    def categorical(self) -> bool:
        return bool(self.options)


#: Table 1, in the order used for sampling, labels and the dataset schema.
HYPERPARAMETERS: tuple[HyperParameter, ...] = (
    HyperParameter("dataset", REAL_SOURCES),
    HyperParameter("learning_rate", low=0.0002, high=0.005),
    HyperParameter("batch_size", (32, 64, 128, 256)),
    HyperParameter("augmentation", ("off", "on")),
    HyperParameter("optimizer", ("adam", "rmsprop", "momentum")),
    HyperParameter("activation", ("relu", "elu", "sigmoid", "tanh")),
    HyperParameter("initialization", ("constant", "random_normal", "glorot_uniform", "glorot_normal")),
    HyperParameter("filter_size", (3, 5, 7), fixed=5),
    HyperParameter("conv_depth", (3, 4, 5), fixed=3),
    HyperParameter("fc_depth", (3, 4, 5), fixed=3),
    HyperParameter("conv_width", (16, 32, 48), fixed=32),
    HyperParameter("fc_width", (64, 128, 192), fixed=128),
)
HP: dict[str, HyperParameter] = {h.name: h for h in HYPERPARAMETERS}
ARCHITECTURE_KEYS: tuple[str, ...] = tuple(h.name for h in HYPERPARAMETERS if h.fixed is not None)
#: The fixed architecture of c_fixed (the bracketed options of Table 1).
FIXED_ARCHITECTURE: dict[str, int] = {h.name: h.fixed for h in HYPERPARAMETERS if h.fixed is not None}
#: Categorical targets a meta-classifier can predict (every categorical hyper-parameter).
TARGETS: tuple[str, ...] = tuple(h.name for h in HYPERPARAMETERS if h.categorical)


@dataclass(frozen=True)
class Profile:
    """How models are trained: the paper's protocol, or its reduced CPU-sized ``mini`` form.

    ``None`` means "all images". Reductions are recorded in every model's metadata.
    """

    name: str
    max_epochs: int = 1000
    #: Early stopping may fire from epoch 19 on: 20 validation evaluations (initialization
    #: and epochs 1–19) as in the authors' code (the paper's text says t ≥ 20).
    min_epochs: int = 19
    train_images_per_epoch: int | None = None  #: a fresh random subset is drawn every epoch
    val_images: int | None = None
    test_images: int | None = None
    train_eval_images: int = 10000  #: fixed training subset on which train accuracy is measured
    #: images per forward pass when measuring accuracy (eval mode: each image's logits are the
    #: same bit for bit at any batch of ≥ 8 images, tested); large for a GPU, cache-sized for a
    #: CPU core
    eval_batch_size: int = 1000


#: the CPU profiles' evaluation batch: small enough that its activations fit a core's caches
#: (faster than 1,000 per pass on a CPU), with the same logits
CPU_EVAL_BATCH = 200
PROFILES: dict[str, Profile] = {
    "paper": Profile("paper"),
    "mini": Profile("mini", max_epochs=20, train_images_per_epoch=512, val_images=200,
                    test_images=300, train_eval_images=200, eval_batch_size=CPU_EVAL_BATCH),
    "cpu": Profile("cpu", max_epochs=80, train_images_per_epoch=320, val_images=300,
                   test_images=1000, train_eval_images=500, eval_batch_size=CPU_EVAL_BATCH),
}


@dataclass(frozen=True)
class NWSConfig:
    """A named NWS: which image sources, which architectures, how many models, how trained."""

    name: str
    description: str
    sources: tuple[str, ...]
    fixed_architecture: bool
    num_models: int
    num_train_models: int
    models_per_shard: int
    profile: Profile = field(default_factory=lambda: PROFILES["paper"])
    seed: int = 0

    @property
    def num_shards(self) -> int:
        return -(-self.num_models // self.models_per_shard)

    def options(self, name: str) -> tuple[Any, ...]:
        """The options of categorical hyper-parameter ``name`` in this config."""
        if name == "dataset":
            return self.sources
        hp = HP[name]
        if not hp.categorical:
            raise KeyError(f"{name!r} is continuous, it has no options")
        if self.fixed_architecture and hp.fixed is not None:
            return (hp.fixed,)
        return hp.options

    def label_names(self, name: str) -> list[str]:
        """Class names of a categorical hyper-parameter, as strings (for ``ClassLabel``).

        The fixed-architecture configs keep the full option list so that label indices
        mean the same in every config.
        """
        opts = self.sources if name == "dataset" else HP[name].options
        return [str(o) for o in opts]

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits its models fall in: ("train", "test"), or ("test",) for a test-only config."""
        return ("train", "test") if self.num_train_models else ("test",)

    def split_of(self, model_id: int) -> str:
        """'train' or 'test', by model, spread evenly so every shard keeps the proportion."""
        n, k = self.num_models, self.num_train_models
        return "train" if ((model_id + 1) * k) // n > (model_id * k) // n else "test"

    def model_ids(self, shard: int) -> range:
        if not 0 <= shard < self.num_shards:
            raise ValueError(f"shard {shard} is out of range for {self.name}: 0..{self.num_shards - 1}")
        start = shard * self.models_per_shard
        return range(start, min(start + self.models_per_shard, self.num_models))


CONFIGS: dict[str, NWSConfig] = {c.name: c for c in (
    NWSConfig("c_main", "13K models, random architecture, five real datasets (paper).",
              REAL_SOURCES, False, 13000, 10000, 100),
    NWSConfig("c_fixed", "3K models, fixed architecture (92,868 weights), five real datasets (paper).",
              REAL_SOURCES, True, 3000, 2000, 100),
    # c_main_cpu's random architectures cost twice the fixed one's multiply-adds per image on
    # average (4.69 vs 2.33 M), so it has 360 models rather than 540, to build in under 2 hours
    # on 2 cores as c_fixed_cpu does; the 2/3 train share keeps every model's split.
    NWSConfig("c_main_cpu", "c_main sampling on full MNIST and Fashion-MNIST, cpu profile (2 cores, hours).",
              CPU_SOURCES, False, 360, 240, 20, PROFILES["cpu"]),
    NWSConfig("c_fixed_cpu", "c_fixed sampling on full MNIST and Fashion-MNIST, cpu profile (2 cores, hours).",
              CPU_SOURCES, True, 540, 360, 20, PROFILES["cpu"]),
    # Beyond the paper, the *_holdout configs: more test models for meta-classifiers trained on
    # their sibling (metaclf --test-config). Their models are drawn from the same space and
    # trained by the same protocol, independently of the sibling's (the draws are keyed by the
    # config's name), and all of them are test models.
    NWSConfig("c_fixed_cpu_holdout", "Test models only: c_fixed_cpu's space and protocol, drawn independently, "
              "to test meta-classifiers trained on c_fixed_cpu (cpu profile).",
              CPU_SOURCES, True, 360, 0, 20, PROFILES["cpu"]),
    NWSConfig("c_main_mini", "c_main sampling on offline digit sets, mini profile (CPU minutes).",
              OFFLINE_SOURCES, False, 260, 200, 20, PROFILES["mini"]),
    NWSConfig("c_fixed_mini", "c_fixed sampling on offline digit sets, mini profile (CPU minutes).",
              OFFLINE_SOURCES, True, 210, 140, 15, PROFILES["mini"]),
    NWSConfig("c_fixed_mini_holdout", "Test models only: c_fixed_mini's space and protocol, drawn independently, "
              "to test meta-classifiers trained on c_fixed_mini (mini profile).",
              OFFLINE_SOURCES, True, 105, 0, 15, PROFILES["mini"]),
)}


def get_config(name: str) -> NWSConfig:
    """Look a config up by name; an unknown name raises ``ValueError`` listing the valid ones."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise ValueError(f"unknown NWS config {name!r}; expected one of {', '.join(CONFIGS)}") from None


def _rng(config: NWSConfig, model_id: int, seed: int, stream: int) -> np.random.Generator:
    key = zlib.crc32(config.name.encode())
    return np.random.default_rng(np.random.SeedSequence([seed, key, model_id, stream]))


def sample_hparams(config: NWSConfig, model_id: int, seed: int | None = None) -> dict[str, Any]:
    """Draw the hyper-parameters of model ``model_id`` of ``config`` (pure and deterministic).

    Every hyper-parameter is drawn even when fixed, so the stream of draws (and thus the
    non-architecture choices) does not depend on whether the architecture is fixed.
    """
    rng = _rng(config, model_id, config.seed if seed is None else seed, stream=0)
    out: dict[str, Any] = {}
    for hp in HYPERPARAMETERS:
        if hp.categorical:
            full = config.sources if hp.name == "dataset" else hp.options
            value = full[int(rng.integers(len(full)))]
            if config.fixed_architecture and hp.fixed is not None:
                value = hp.fixed
            out[hp.name] = value
        else:
            out[hp.name] = float(rng.uniform(hp.low, hp.high))
    return out


def training_seed(config: NWSConfig, model_id: int, seed: int | None = None) -> int:
    """The torch seed of a model's initialization, dropout and augmentation draws."""
    return int(_rng(config, model_id, config.seed if seed is None else seed, stream=1).integers(2**62))


def labels_of(config: NWSConfig, hparams: dict[str, Any]) -> dict[str, int]:
    """Class index of every categorical hyper-parameter value, per ``config.label_names``."""
    return {name: config.label_names(name).index(str(hparams[name])) for name in TARGETS}
