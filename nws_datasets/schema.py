"""The one definition of the NWS on disk and as records: formats, paths, metadata, index, columns.

Everything that says what a record *is* lives here, below every other module that reads or
writes one: the format versions, where shards and model files are (``<root>/<config>/
shard-00007/model-000105.safetensors`` and ``index.json``, on any fsspec filesystem), what
a model file's metadata and a shard-index entry must hold (:func:`validate_meta`,
:func:`check_entry`, :func:`parse_index`), the metadata the generator writes
(:func:`model_metadata`) and the columns of a ``datasets`` record (:func:`features`).
:mod:`nws_datasets.records` reads and writes files with it, ``train.generate`` and the
builder use it, and ``dataset_card.md`` documents it (a test checks the card names every
column).
"""
from __future__ import annotations

import json
import posixpath
from typing import Any, Iterator, Mapping

import fsspec

from .architecture import Layout
from .space import CONFIGS, FIXED_ARCHITECTURE, HYPERPARAMETERS, NUM_SNAPSHOTS, NWSConfig, labels_of
from .storage import nws_home

#: Version 2: the TensorFlow-faithful protocol (BN after the FC activation, TensorLayer BN,
#: NHWC flatten, TF1 optimizers and initializers, the authors' augmentation, class balancing
#: and per-model validation splits). Version 3: the same protocol, with BatchNorm's moving
#: statistics computed in the same pass as its batch statistics, which changes them (and so θ's
#: bn_mean and bn_var entries, and accuracies measured with them) at float rounding only;
#: version 2 files are read as they are. Version 1 files hold other weights and are refused.
MODEL_FORMAT = "nws-model/3"
READABLE_MODEL_FORMATS = ("nws-model/2", MODEL_FORMAT)
INDEX_FORMAT = "nws-shard/2"
REGENERATE = ("regenerate it with this version: python -m train.generate --config CONFIG --shard N "
              "--out NEW_ROOT (version 1 weights come from a different training protocol)")
INDEX_NAME = "index.json"
METADATA_KEY = "nws"


class RecordError(ValueError):
    """A model file or shard index is corrupt or disagrees with what was expected."""


def shard_dirname(shard: int) -> str:
    return f"shard-{shard:05d}"


def model_filename(model_id: int) -> str:
    return f"model-{model_id:06d}.safetensors"




def _field(meta: Mapping[str, Any], key: str, kind: Any, name: str, what: str) -> Any:
    if key not in meta:
        raise RecordError(f"{name}: metadata field {key!r} is missing (expected {what})")
    value = meta[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise RecordError(f"{name}: metadata field {key!r} is {value!r}, expected {what}")
    return value


def _accuracies(meta: Mapping[str, Any], key: str, name: str) -> None:
    values = _field(meta, key, list, name, f"a list of {NUM_SNAPSHOTS} accuracies in [0, 1]")
    if len(values) != NUM_SNAPSHOTS or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                               and 0 <= v <= 1 for v in values):
        raise RecordError(f"{name}: metadata field {key!r} is {values!r}, expected a list of {NUM_SNAPSHOTS} "
                          "accuracies in [0, 1]")


def _check_hparams(hp: dict[str, Any], config: Any, name: str) -> None:
    """Every hyper-parameter present and among its options (the dataset among the config's sources)."""
    for h in HYPERPARAMETERS:
        if h.name not in hp:
            raise RecordError(f"{name}: hyper-parameter {h.name!r} is missing from 'hparams'")
        value = hp[h.name]
        if h.categorical:
            options = config.sources if h.name == "dataset" else h.options
            if value not in options or isinstance(value, bool):
                raise RecordError(f"{name}: hyper-parameter {h.name!r} is {value!r}, expected one of "
                                  f"{', '.join(map(str, options))}")
        elif not isinstance(value, (int, float)) or isinstance(value, bool) or not h.low <= value <= h.high:
            raise RecordError(f"{name}: hyper-parameter {h.name!r} is {value!r}, expected a number in "
                              f"[{h.low}, {h.high}]")


def validate_meta(meta: Any, name: str) -> Layout:
    """Check a model file's metadata against the record schema; return its (verified) layout.

    The hyper-parameters must be options of the file's config, the labels their indices, the
    layout the one the architecture of those hyper-parameters has, and the accuracies,
    snapshot epochs and counts of the right type, length and range.
    """
    if not isinstance(meta, dict):
        raise RecordError(f"{name}: metadata 'nws' is {type(meta).__name__}, expected a JSON object")
    config_name = _field(meta, "config", str, name, f"one of {', '.join(CONFIGS)}")
    if config_name not in CONFIGS:
        raise RecordError(f"{name}: metadata field 'config' is {config_name!r}, expected one of {', '.join(CONFIGS)}")
    config = CONFIGS[config_name]
    _field(meta, "model_id", int, name, "an integer model id")
    split = _field(meta, "split", str, name, "'train' or 'test'")
    if split not in ("train", "test"):
        raise RecordError(f"{name}: metadata field 'split' is {split!r}, expected 'train' or 'test'")
    hp = _field(meta, "hparams", dict, name, "a JSON object of hyper-parameters")
    _check_hparams(hp, config, name)
    labels = _field(meta, "labels", dict, name, "class indices of the hyper-parameters")
    expected = labels_of(config, hp)
    if labels != expected:
        raise RecordError(f"{name}: metadata field 'labels' is {labels!r}, expected {expected!r} "
                          "(the class indices of 'hparams')")
    table = _field(meta, "layout", list, name, "the layout table")
    try:
        layout = Layout.from_table(table)
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise RecordError(f"{name}: metadata field 'layout' is malformed ({type(err).__name__}: {err})") from None
    want = Layout.for_hparams(hp)
    if layout.table() != want.table():
        raise RecordError(f"{name}: metadata field 'layout' disagrees with the architecture of 'hparams' "
                          f"(n_weights {layout.n_weights}, expected {want.n_weights})")
    for key, value in (("n_weights", want.n_weights), ("n_conv_weights", want.n_conv_weights)):
        if _field(meta, key, int, name, f"the integer {value}") != value:
            raise RecordError(f"{name}: metadata field {key!r} is {meta[key]!r}, expected {value}")
    epochs = _field(meta, "epochs", int, name, "the last epoch trained (an integer ≥ 0)")
    snaps = _field(meta, "snapshot_epochs", list, name, f"{NUM_SNAPSHOTS} epochs")
    if len(snaps) != NUM_SNAPSHOTS or not all(isinstance(e, int) and 0 <= e <= epochs for e in snaps) or epochs < 0:
        raise RecordError(f"{name}: metadata field 'snapshot_epochs' is {snaps!r}, expected {NUM_SNAPSHOTS} "
                          f"integers in [0, epochs={epochs}]")
    for key in ("train_accuracy", "val_accuracy", "test_accuracy"):
        _accuracies(meta, key, name)
    final = _field(meta, "final_test_accuracy", (int, float), name, "a number in [0, 1]")
    if final != meta["test_accuracy"][-1]:
        raise RecordError(f"{name}: metadata field 'final_test_accuracy' is {final!r}, expected the last "
                          f"test accuracy {meta['test_accuracy'][-1]!r}")
    _field(meta, "converged", bool, name, "true or false")
    if meta.get("stop_reason") is not None and not isinstance(meta["stop_reason"], str):
        raise RecordError(f"{name}: metadata field 'stop_reason' is {meta['stop_reason']!r}, expected a string")
    _field(meta, "wall_time_s", (int, float), name, "seconds (a number)")
    return layout


def new_index(config: str, shard: int, num_shards: int, models_per_shard: int, seed: int,
              models: list[dict[str, Any]]) -> dict[str, Any]:
    return {"format": INDEX_FORMAT, "config": config, "shard": shard, "num_shards": num_shards,
            "models_per_shard": models_per_shard, "seed": seed, "models": models}


def parse_index(text: str, name: str) -> dict[str, Any]:
    """Parse and check a shard index; raise :class:`RecordError` naming ``name`` if it is bad."""
    try:
        index = json.loads(text)
    except ValueError as err:
        raise RecordError(f"{name}: shard index is not valid JSON ({err})") from None
    found = index.get("format") if isinstance(index, dict) else None
    if isinstance(found, str) and found.startswith("nws-shard/") and found != INDEX_FORMAT:
        raise RecordError(f"{name}: NWS shard index format {found!r}, this version of nws reads "
                          f"{INDEX_FORMAT!r}; " + REGENERATE)
    if not isinstance(index, dict) or found != INDEX_FORMAT:
        raise RecordError(f"{name}: not an NWS shard index (expected format {INDEX_FORMAT!r})")
    for key in ("config", "shard", "models"):
        if key not in index:
            raise RecordError(f"{name}: shard index lacks {key!r}")
    if not isinstance(index["models"], list):
        raise RecordError(f"{name}: 'models' is {type(index['models']).__name__}, expected a list")
    seen: set[int] = set()
    for i, m in enumerate(index["models"]):
        check_entry(m, f"{name}: models[{i}]")
        if m["model_id"] in seen:
            raise RecordError(f"{name}: model {m['model_id']} is listed twice")
        seen.add(m["model_id"])
    return index


def check_entry(m: Any, where: str) -> None:
    """Check one shard-index entry. A finished model's file must be exactly its canonical
    name inside the shard folder (``model-000123.safetensors``), which rules out any path
    that leads elsewhere (``../x``, absolute paths), and carry its size and sha256."""
    if not isinstance(m, dict):
        raise RecordError(f"{where}: is {type(m).__name__}, expected a JSON object")
    if not isinstance(m.get("model_id"), int) or isinstance(m.get("model_id"), bool) or m["model_id"] < 0:
        raise RecordError(f"{where}: 'model_id' is {m.get('model_id')!r}, expected an integer ≥ 0")
    if m.get("status") not in ("pending", "done", "failed"):
        raise RecordError(f"{where}: 'status' is {m.get('status')!r}, expected pending, done or failed")
    if m.get("split") not in ("train", "test"):
        raise RecordError(f"{where}: 'split' is {m.get('split')!r}, expected 'train' or 'test'")
    if m["status"] != "done":
        return
    if m.get("file") != model_filename(m["model_id"]):
        raise RecordError(f"{where}: 'file' is {m.get('file')!r}, expected {model_filename(m['model_id'])!r} "
                          "(a model file inside its shard folder)")
    if not isinstance(m.get("bytes"), int) or m["bytes"] <= 0:
        raise RecordError(f"{where}: 'bytes' is {m.get('bytes')!r}, expected the file size")
    sha = m.get("sha256")
    if not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
        raise RecordError(f"{where}: 'sha256' is {sha!r}, expected 64 hex digits")
    if not isinstance(m.get("converged"), bool):
        raise RecordError(f"{where}: 'converged' is {m.get('converged')!r}, expected true or false")



def model_metadata(config: NWSConfig, *, model_id: int, shard: int, split: str, seed: int, torch_seed: int,
                   hparams: Mapping[str, Any], result: Any, protocol: Mapping[str, Any], profile: Mapping[str, Any],
                   evaluation: Mapping[str, Any], device: str, overrides: Mapping[str, Any],
                   versions: Mapping[str, str], converged: bool) -> dict[str, Any]:
    """The metadata document of a model file (every field is listed in ``dataset_card.md``);
    ``result`` is the trainer's result (snapshot epochs, accuracies, stop reason, wall time)."""
    layout = Layout.for_hparams(hparams)
    return {
        "model_id": model_id, "config": config.name, "shard": shard, "split": split, "seed": seed,
        "torch_seed": torch_seed, "hparams": dict(hparams), "labels": labels_of(config, hparams),
        "n_weights": layout.n_weights, "n_conv_weights": layout.n_conv_weights, "layout": layout.table(),
        "snapshot_epochs": result.snapshot_epochs, "epochs": result.epochs, "stop_reason": result.stop_reason,
        "train_accuracy": result.train_accuracy, "val_accuracy": result.val_accuracy,
        "test_accuracy": result.test_accuracy, "final_test_accuracy": result.test_accuracy[-1],
        "converged": bool(converged), "val_history": result.val_history, "wall_time_s": result.wall_time_s,
        "device": device, "profile": dict(profile), "overrides": dict(overrides), "protocol": dict(protocol),
        "evaluation": dict(evaluation), "versions": dict(versions),
    }


def features(config: NWSConfig, weights: bool = True) -> Any:
    """The record schema of one NWS config (without the ``weights`` column if ``weights`` is False)."""
    import datasets  # here, not at import: command lines answer --help without loading it

    n = Layout.for_hparams(FIXED_ARCHITECTURE).n_weights if config.fixed_architecture else None
    feats: dict[str, Any] = {
        "model_id": datasets.Value("int64"), "snapshot": datasets.Value("int32"), "epoch": datasets.Value("int32"),
        "progress": datasets.Value("float32"),
        "weights": datasets.List(datasets.Value("float32"), length=n if n is not None else -1),
    }
    for h in HYPERPARAMETERS:
        feats[h.name] = datasets.ClassLabel(names=config.label_names(h.name)) if h.categorical \
            else datasets.Value("float64")
    for k in ("train_accuracy", "val_accuracy", "test_accuracy", "final_test_accuracy"):
        feats[k] = datasets.Value("float32")
    feats.update({
        "converged": datasets.Value("bool"), "epochs": datasets.Value("int32"),
        "stop_reason": datasets.Value("string"), "wall_time_s": datasets.Value("float32"),
        "n_weights": datasets.Value("int64"),
        "n_conv_weights": datasets.Value("int64"),
        # JSON of the layout table (layer, kind, offset, shape); a string keeps numpy/torch
        # formatting fast. Decode with nws_datasets.architecture.Layout.from_json.
        "layout": datasets.Value("string"),
    })
    if not weights:
        del feats["weights"]
    return datasets.Features(feats)



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
