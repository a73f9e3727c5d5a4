"""Batched generation (train/batched.py): K models trained together equal one-at-a-time training."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nws_datasets.records import read_index, read_model, theta
from nws_datasets.sources import load_images
from nws_datasets.space import CONFIGS, FIXED_ARCHITECTURE, Profile, sample_hparams
from train.batch_choice import batch_size_for, device_name, save_sweep
from train.batched import ModelSpec, train_group
from train.generate import main
from train.trainer import DeviceImages, train_model

ROOT = Path(__file__).resolve().parents[1]
#: Small enough for float64 on a CPU, long enough for several epochs of several batch sizes.
PROFILE = Profile("test", max_epochs=4, train_images_per_epoch=200, val_images=64, test_images=64,
                  train_eval_images=64)


@pytest.fixture
def float64():
    """In float32 the two paths differ at rounding level (grouped vs single convolutions), and
    training amplifies that chaotically (Adam turns the rounding noise of the zero gradient of a
    conv bias before BatchNorm into full steps); in float64 the rounding is 10⁹× smaller, so any
    difference left is a difference of semantics."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _models() -> list[dict]:
    """Five fixed-architecture models that differ in everything a model may differ in."""
    base = {**sample_hparams(CONFIGS["c_fixed_mini"], 0), **FIXED_ARCHITECTURE}
    rows = [("adam", "relu", "glorot_uniform", 64, "on", "digits", 0.004, 4),
            ("rmsprop", "elu", "glorot_normal", 64, "off", "mnist_sample", 0.001, 3),
            ("momentum", "tanh", "random_normal", 128, "on", "mnist_sample", 0.002, 4),
            ("adam", "sigmoid", "constant", 32, "off", "digits", 0.0005, 2),
            ("momentum", "relu", "random_normal", 64, "off", "digits", 1e12, 3)]  # diverges: fails
    return [{**base, "optimizer": o, "activation": a, "initialization": i, "batch_size": b, "augmentation": g,
             "dataset": d, "learning_rate": lr, "_epochs": e} for o, a, i, b, g, d, lr, e in rows]


def test_batched_training_equals_one_at_a_time_at_every_snapshot(float64):
    models = _models()
    images = {n: DeviceImages(load_images(n), PROFILE, "cpu") for n in ("digits", "mnist_sample")}
    one = [train_model(hp, images[hp["dataset"]], PROFILE, 100 + i, hp["_epochs"]) for i, hp in enumerate(models)]
    together: dict[int, object] = {}
    order: list[int] = []

    def done(spec, res):
        together[spec.tag] = res
        order.append(spec.tag)

    # 3 slots for 5 models: the 4th and 5th take the slots of models that finished
    train_group([ModelSpec(i, hp, images[hp["dataset"]], PROFILE, 100 + i, hp["_epochs"])
                 for i, hp in enumerate(models)], 3, "cpu", done)
    assert sorted(order) == list(range(5)) and order != list(range(5))  # finished in their own time
    for i, (a, b) in enumerate(zip(one, (together[i] for i in range(5)))):
        assert (a.status, a.reason, a.stop_reason, a.epochs) == (b.status, b.reason, b.stop_reason, b.epochs), i
        assert a.val_history == pytest.approx(b.val_history, abs=1e-12), i
        if a.status == "failed":
            assert "non-finite" in a.reason and b.theta is None
            continue
        assert a.theta.shape == (20, 92_868) and a.snapshot_epochs == b.snapshot_epochs
        scale = np.abs(a.theta).max()
        assert np.abs(a.theta - b.theta).max() <= 1e-7 * scale, i  # at every one of the 20 snapshots
        assert (a.test_accuracy, a.train_accuracy) == (b.test_accuracy, b.train_accuracy), i
        assert a.theta[-1].tolist() != a.theta[0].tolist()  # it trained
    assert [r.status for r in one] == ["done"] * 4 + ["failed"]


def test_a_group_takes_one_architecture():
    models = _models()
    other = {**models[0], "conv_width": 16}
    images = DeviceImages(load_images("digits"), PROFILE, "cpu")
    with pytest.raises(ValueError, match="architecture"):
        train_group([ModelSpec(0, models[0], images, PROFILE, 0, 1), ModelSpec(1, other, images, PROFILE, 1, 1)],
                    2, "cpu", lambda spec, res: None)


def test_generate_batch_writes_records_of_the_same_format_and_starting_point(tiny_nws, tmp_path):
    assert main(["--config", "c_fixed_mini", "--shard", "0", "--limit", "3", "--max-epochs", "2", "--batch", "3",
                 "--out", str(tmp_path), "--quiet"]) == 0
    batched, single = (read_index(root / "c_fixed_mini" / "shard-00000") for root in (tmp_path, tiny_nws))
    for b, s in zip(batched["models"][:3], single["models"][:3]):
        assert b["status"] == s["status"] == "done" and b["hparams"] == s["hparams"]
        tb, mb = read_model((tmp_path / "c_fixed_mini" / "shard-00000" / b["file"]).read_bytes())
        ts, ms = read_model((tiny_nws / "c_fixed_mini" / "shard-00000" / s["file"]).read_bytes())
        assert set(tb) == set(ts) and set(mb) == set(ms)
        assert mb["overrides"] == {**ms["overrides"], "batched_models": 3}
        θb, θs = theta(tb, mb), theta(ts, ms)
        assert θb.shape == θs.shape and np.array_equal(θb[0], θs[0])  # the same initialization
        assert mb["val_history"][0] == ms["val_history"][0] and mb["epochs"] == ms["epochs"] == 2


def test_batch_auto_takes_the_fastest_measured_k(nws_home):
    assert batch_size_for("auto", "cpu") == 1  # nothing measured: one at a time
    save_sweep({"device_name": device_name("cpu"), "fastest_k": 8, "models_per_hour": {"1": 10.0, "8": 30.0}})
    assert batch_size_for("auto", "cpu") == 8
    assert batch_size_for("4", "cpu") == 4
    with pytest.raises(ValueError, match="--batch '0' is not valid"):
        batch_size_for("0", "cpu")
    (nws_home / "bench" / "batch-sweep.json").unlink()


def test_bench_sweep_prints_models_per_hour_as_ratios_against_k1(tmp_path):
    r = subprocess.run([sys.executable, "-m", "train.bench", "--sweep", "--ks", "2", "--epochs", "1", "--threads", "1"],
                       cwd=ROOT, capture_output=True, text=True, env={**os.environ,
                       "NWS_HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert set(out["models_per_hour"]) == {"1", "2"} and out["vs_k1"]["1"] == 1.0
    assert out["vs_k1"]["2"] == pytest.approx(out["models_per_hour"]["2"] / out["models_per_hour"]["1"], rel=1e-2)
    assert out["fastest_k"] in (1, 2) and Path(out["saved_to"]).exists()
