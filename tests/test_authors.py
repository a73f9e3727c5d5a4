"""Reading the authors' original release (meta.csv + float64 .bin per snapshot) into our records.

The fixture is written the way their ``classifier.py`` writes a model folder, from one of our
models: θ as float64 in their export order (which docs/design.md says is ours), the option codes of
their ``Ropt``/``Ract``/``Ritype`` lists, errors in percent, evaluation count in stat.bin.
"""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nws_datasets
from nws_datasets.authors import convert
from nws_datasets.records import read_model, theta
from nws_datasets.schema import RecordError
from nws_datasets.space import CONFIGS

ROOT = Path(__file__).resolve().parents[1]


def write_authors_folder(folder: Path, th: np.ndarray, codes: list, evaluations: int, acc: np.ndarray) -> None:
    """One model folder of the authors' release: ``th`` [20, n] float, ``acc`` [evaluations, 3]
    (train, val, test accuracy per evaluation)."""
    (folder / "weights").mkdir(parents=True)
    with open(folder / "meta.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dataset", "lrate", "batch_size", "batch_norm", "augmentation", "optimizer", "activation",
                    "initialization", "filter_size", "depth_conv", "depth_fc", "width_conv", "width_fc"])
        w.writerow(codes)
    for k in range(20):
        th[k].astype(np.float64).tofile(folder / "weights" / f"{k + 1:03d}.bin")
    errors = np.zeros((evaluations, 5))
    errors[:, 0] = np.arange(evaluations) * 100
    errors[:, 1:4] = 100 * (1 - acc)
    errors[:, 4] = errors[:, 2]
    errors.tofile(folder / "error.bin")
    np.array([evaluations, evaluations * 100 - 100, evaluations - 1, 12.5]).tofile(folder / "stat.bin")


@pytest.fixture(scope="module")
def release(tiny_nws, tmp_path_factory):
    """Two released models made from our first two c_fixed_mini records."""
    src = tmp_path_factory.mktemp("authors")
    files = sorted((tiny_nws / "c_fixed_mini").glob("shard-*/model-*.safetensors"))[:2]
    rng = np.random.default_rng(0)
    made = []
    for i, f in enumerate(files):
        tensors, meta = read_model(f.read_bytes(), str(f))
        th = theta(tensors, meta)
        evaluations = 37 + i  # runs of 36 and 37 epochs
        acc = rng.uniform(0.05, 0.99, size=(evaluations, 3))
        # fashion MNIST, lr, bs 64, BN on, augmentation on, momentum, sigmoid, glorot normal, fixed architecture
        codes = ["fashion", 0.001, 64, True, True, 2, 2, 3, 5, 3, 2, 8, 128] if i == 0 else \
                ["mnist", 0.004, 256, 1, 0, 0, 3, 1, 5, 3, 2, 8, 128]
        write_authors_folder(src / f"{i + 1:04d}", th, codes, evaluations, acc)
        made.append((th, evaluations, acc))
    return src, made


def test_released_models_become_our_records(release, tmp_path):
    src, made = release
    assert convert(src, CONFIGS["c_fixed"], tmp_path) == 2
    dd = nws_datasets.load("c_fixed", data_dir=str(tmp_path))
    rows = sorted((r for split in dd for r in dd[split].with_format("numpy")), key=lambda r: (r["model_id"], r["snapshot"]))
    assert len(rows) == 40
    names = dd[next(iter(dd))].features
    for model_id, (th, evaluations, acc) in enumerate(made):
        mine = [r for r in rows if r["model_id"] == model_id]
        picks = np.round(np.linspace(1, evaluations, 20)).astype(int) - 1  # classifier.py: s = round(linspace(1, ii, 20))
        for k, r in enumerate(mine):
            np.testing.assert_array_equal(r["weights"], th[k])  # float32 → float64 → float32 is exact
            assert r["epoch"] == picks[k]
            assert r["test_accuracy"] == pytest.approx(acc[picks[k], 2], abs=1e-6)
            assert r["train_accuracy"] == pytest.approx(acc[picks[k], 0], abs=1e-6)
        r = mine[-1]
        decode = {h: names[h].int2str(int(r[h])) for h in ("dataset", "optimizer", "activation", "initialization",
                                                            "augmentation", "batch_size")}
        if model_id == 0:
            assert decode == {"dataset": "fashion_mnist", "optimizer": "momentum", "activation": "sigmoid",
                              "initialization": "glorot_normal", "augmentation": "on", "batch_size": "64"}
            assert r["converged"] == (acc[picks[-1], 2] >= 0.5) and r["learning_rate"] == pytest.approx(0.001)
        else:
            assert decode == {"dataset": "mnist", "optimizer": "adam", "activation": "tanh",
                              "initialization": "random_normal", "augmentation": "off", "batch_size": "256"}
            assert r["converged"] == (acc[picks[-1], 2] >= 0.8)
        assert r["epochs"] == evaluations - 1 and r["n_weights"] == 92_868


def test_a_truncated_snapshot_or_unknown_code_is_named(release, tmp_path):
    import shutil

    src, _ = release
    bad = tmp_path / "src"
    shutil.copytree(src, bad)
    f = bad / "0001" / "weights" / "007.bin"
    f.write_bytes(f.read_bytes()[:-8])
    with pytest.raises(RecordError, match=r"0001/weights/007.bin: 742936 bytes, expected 742944 bytes"):
        convert(bad, CONFIGS["c_fixed"], tmp_path / "out")
    shutil.rmtree(bad)
    shutil.copytree(src, bad)
    text = (bad / "0002" / "meta.csv").read_text().splitlines()
    (bad / "0002" / "meta.csv").write_text(text[0] + "\n" + text[1].replace(",0,3,1,", ",7,3,1,") + "\n")
    with pytest.raises(RecordError, match=r"0002/meta.csv: optimizer: '7' is not a code 0..2"):
        convert(bad, CONFIGS["c_fixed"], tmp_path / "out2")
    r = subprocess.run([sys.executable, "-m", "nws_datasets.authors", "--src", str(bad), "--config", "c_main_mini",
                        "--out", str(tmp_path / "out3")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "error:" in r.stderr
