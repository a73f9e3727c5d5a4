"""Read the authors' original NWS release into our records:
``python -m nws_datasets.authors --src DIR --config c_fixed --out ROOT``.

Their ``classifier.py`` leaves one folder per trained model:

- ``meta.csv``: a header row (``dataset, lrate, batch_size, batch_norm, augmentation,
  optimizer, activation, initialization, filter_size, depth_conv, depth_fc, width_conv,
  width_fc``) and one row of values, the options as codes;
- ``weights/001.bin`` … ``020.bin``: θ of the 20 kept snapshots as raw float64, in the order
  of their ``model.print_all_vars``, which is our θ order (docs/design.md, *Vectorization*);
- ``error.bin``: float64 rows of (step, train error %, validation error %, test error %,
  smoothed validation error %), one row per evaluation (the first before any training);
- ``stat.bin``: float64 (evaluations, steps, epochs, seconds).

Snapshot k is their evaluation ``s[k] = round(linspace(1, E, 20))`` for E evaluations, i.e.
epoch ``s[k] − 1``; its accuracies are row ``s[k] − 1`` of ``error.bin`` (their own
``util.import_weights`` reads row ``round(linspace(0, E − 1, 20))``, which differs by one
where the rounding meets a tie; we take the row of the evaluation the weights came from).
Each model becomes a model file and shard-index entry of ``--config`` (model ids by sorted
folder name, the config's split rule and shards), so ``nws_datasets.load``, the splits and
the meta-classifiers work on their NWS.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .architecture import Layout
from .cli import CLIError, out_dir, run_main
from .records import write_index, write_model
from .schema import RecordError, model_filename, model_metadata, new_index, shard_dirname, validate_meta
from .space import CONFIGS, CONVERGENCE_THRESHOLDS, NUM_SNAPSHOTS, NWSConfig

COLUMNS = ("dataset", "lrate", "batch_size", "batch_norm", "augmentation", "optimizer", "activation",
           "initialization", "filter_size", "depth_conv", "depth_fc", "width_conv", "width_fc")
#: Their option codes (classifier.py) → our option names.
DATASETS = {"mnist": "mnist", "cifar10": "cifar10", "svhn": "svhn", "stl10": "stl10", "fashion": "fashion_mnist"}
OPTIMIZERS = ("adam", "rmsprop", "momentum")
ACTIVATIONS = ("relu", "elu", "sigmoid", "tanh")
INITIALIZATIONS = ("constant", "random_normal", "glorot_uniform", "glorot_normal")
PROTOCOL = {"source": "the authors' release (TensorFlow 1, their classifier.py), converted by "
                      "nws_datasets.authors", "learning_rate_decay": "as released"}


def _flag(text: str, where: str) -> bool:
    value = {"true": True, "1": True, "false": False, "0": False}.get(text.strip().lower())
    if value is None:
        raise RecordError(f"{where}: {text!r} is not a boolean (expected True/False or 1/0)")
    return value


def _code(options: tuple[str, ...], text: str, where: str) -> str:
    try:
        return options[int(text)]
    except (ValueError, IndexError):
        raise RecordError(f"{where}: {text!r} is not a code 0..{len(options) - 1} of {', '.join(options)}") from None


def read_meta_csv(path: Path) -> dict[str, Any]:
    """Their ``meta.csv`` as our hyper-parameters (names and values of ``nws_datasets.space``)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2 or tuple(c.strip() for c in rows[0]) != COLUMNS or len(rows[1]) != len(COLUMNS):
        raise RecordError(f"{path}: expected a header row {', '.join(COLUMNS)} and one row of {len(COLUMNS)} values")
    v = dict(zip(COLUMNS, (x.strip() for x in rows[1])))
    where = lambda key: f"{path}: {key}"  # noqa: E731
    if v["dataset"] not in DATASETS:
        raise RecordError(f"{where('dataset')} is {v['dataset']!r}, expected one of {', '.join(DATASETS)}")
    if not _flag(v["batch_norm"], where("batch_norm")):
        raise RecordError(f"{where('batch_norm')} is off; the NWS has batch norm in every layer (the released "
                          "models all do)")
    try:
        ints = {k: int(float(v[k])) for k in ("batch_size", "filter_size", "depth_conv", "depth_fc", "width_conv",
                                              "width_fc")}
        lrate = float(v["lrate"])
    except ValueError as err:
        raise RecordError(f"{path}: a numeric field is not a number ({err})") from None
    return {"dataset": DATASETS[v["dataset"]], "learning_rate": lrate, "batch_size": ints["batch_size"],
            "augmentation": "on" if _flag(v["augmentation"], where("augmentation")) else "off",
            "optimizer": _code(OPTIMIZERS, v["optimizer"], where("optimizer")),
            "activation": _code(ACTIVATIONS, v["activation"], where("activation")),
            "initialization": _code(INITIALIZATIONS, v["initialization"], where("initialization")),
            "filter_size": ints["filter_size"], "conv_depth": ints["depth_conv"],
            "fc_depth": ints["depth_fc"] + 1,  # theirs counts hidden FC layers, ours the output layer too
            "conv_width": 4 * ints["width_conv"],  # theirs is Algorithm 1's w_c, ours the last conv layer
            "fc_width": ints["width_fc"]}


def _floats(path: Path, count: int | None = None) -> np.ndarray:
    if not path.is_file():
        raise RecordError(f"{path}: missing (expected raw float64 values)")
    size = path.stat().st_size
    if size % 8 or (count is not None and size != 8 * count):
        want = f"{8 * count} bytes ({count} float64)" if count is not None else "a multiple of 8 bytes"
        raise RecordError(f"{path}: {size} bytes, expected {want}")
    return np.fromfile(path, dtype="<f8")


def read_model_folder(folder: Path, config: NWSConfig, model_id: int, seed: int) -> tuple[dict, dict]:
    """One released model as (named float32 tensors [20, …], our metadata document)."""
    hp = read_meta_csv(folder / "meta.csv")
    for name, value in hp.items():
        if name != "learning_rate" and value not in config.options(name):
            raise RecordError(f"{folder / 'meta.csv'}: {name} is {value!r}, config {config.name} has "
                              f"{', '.join(map(str, config.options(name)))}")
    layout = Layout.for_hparams(hp)
    theta = np.stack([_floats(folder / "weights" / f"{k + 1:03d}.bin", layout.n_weights)
                      for k in range(NUM_SNAPSHOTS)]).astype(np.float32)
    stat = _floats(folder / "stat.bin")
    if len(stat) < 4 or stat[0] < 1 or stat[0] != int(stat[0]):
        raise RecordError(f"{folder / 'stat.bin'}: expected (evaluations ≥ 1, steps, epochs, seconds)")
    evaluations = int(stat[0])
    errors = _floats(folder / "error.bin")
    if len(errors) % 5 or len(errors) // 5 < evaluations:
        raise RecordError(f"{folder / 'error.bin'}: {len(errors)} values, expected 5 per evaluation for "
                          f"{evaluations} evaluations (stat.bin)")
    acc = np.clip(1 - errors.reshape(-1, 5)[:evaluations, 1:4] / 100, 0, 1)
    rows = np.round(np.linspace(1, evaluations, NUM_SNAPSHOTS)).astype(int) - 1
    test = [float(a) for a in acc[rows, 2]]
    result = SimpleNamespace(snapshot_epochs=[int(r) for r in rows], epochs=evaluations - 1, stop_reason=None,
                             train_accuracy=[float(a) for a in acc[rows, 0]],
                             val_accuracy=[float(a) for a in acc[rows, 1]], test_accuracy=test,
                             val_history=[float(a) for a in acc[:, 1]], wall_time_s=float(stat[3]))
    meta = model_metadata(
        config, model_id=model_id, shard=model_id // config.models_per_shard, split=config.split_of(model_id),
        seed=seed, torch_seed=-1, hparams=hp, result=result, protocol={**PROTOCOL, "folder": folder.name},
        profile={"name": "authors"}, evaluation={"source": hp["dataset"], "mode": "as released"},
        device="authors' release", overrides={}, versions={},
        converged=test[-1] >= CONVERGENCE_THRESHOLDS[hp["dataset"]])
    validate_meta(meta, str(folder))
    return layout.unflatten(theta), meta


def convert(src: Path, config: NWSConfig, out: Path, seed: int = 0) -> int:
    """Convert every model folder (one holding ``meta.csv``) under ``src`` into shards of
    ``config`` under ``out/<config>``; return the number of models."""
    folders = sorted(p.parent for p in src.rglob("meta.csv"))
    if not folders:
        raise CLIError(f"--src {src}: no model folders (folders holding meta.csv) found")
    if len(folders) > config.num_models:
        raise CLIError(f"--src {src}: {len(folders)} models, config {config.name} holds {config.num_models}; "
                       "pick a config of the right size (c_main 13,000, c_fixed 3,000)")
    shards: dict[int, list[dict[str, Any]]] = {}
    for model_id, folder in enumerate(tqdm(folders, desc=f"convert to {config.name}", unit="model")):
        tensors, meta = read_model_folder(folder, config, model_id, seed)
        shard = meta["shard"]
        path = out / config.name / shard_dirname(shard) / model_filename(model_id)
        size, digest = write_model(path, tensors, meta)
        shards.setdefault(shard, []).append({
            "model_id": model_id, "split": meta["split"], "hparams": meta["hparams"], "n_weights": meta["n_weights"],
            "n_conv_weights": meta["n_conv_weights"], "file": path.name, "status": "done", "epochs": meta["epochs"],
            "bytes": size, "sha256": digest, "final_test_accuracy": meta["final_test_accuracy"],
            "converged": meta["converged"], "stop_reason": None, "wall_time_s": meta["wall_time_s"]})
    for shard, entries in shards.items():
        write_index(out / config.name / shard_dirname(shard),
                    new_index(config.name, shard, config.num_shards, config.models_per_shard, seed, entries))
    return len(folders)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nws_datasets.authors", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", type=Path, required=True, help="folder of the authors' model folders")
    p.add_argument("--config", choices=list(CONFIGS), required=True,
                   help="config the models belong to (c_fixed for their fixed architecture, c_main otherwise)")
    p.add_argument("--out", type=out_dir, required=True, help="NWS root to write <config>/shard-*/ into")
    args = p.parse_args(argv)
    if not args.src.is_dir():
        p.error(f"--src {args.src} is not a folder")
    n = convert(args.src, CONFIGS[args.config], args.out)
    print(f"{n} models of the authors' release -> {args.out / args.config}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
