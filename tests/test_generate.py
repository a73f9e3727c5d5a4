"""train.generate end to end: files that validate, resume after a kill, failures, bad input."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dataclasses import replace

import numpy as np
import pytest
import torch

from nws_datasets.records import read_index, read_model, theta
from nws_datasets.schema import RecordError
from nws_datasets.sources import load_images
from nws_datasets.space import CONFIGS, sample_hparams
from train.generate import main
from train.trainer import DeviceImages, ModelData, train_model

ROOT = Path(__file__).resolve().parents[1]


def test_tiny_generate_writes_files_that_load_and_validate(tiny_nws):
    config = CONFIGS["c_fixed_mini"]
    for shard in (0, 1):
        sdir = tiny_nws / "c_fixed_mini" / f"shard-{shard:05d}"
        index = read_index(sdir)
        statuses = [m["status"] for m in index["models"]]
        assert statuses == ["done"] * 3 + ["pending"] * (config.models_per_shard - 3)
        for entry in index["models"][:3]:
            path = sdir / entry["file"]
            assert entry["bytes"] == path.stat().st_size
            tensors, meta = read_model(path.read_bytes(), str(path))
            th = theta(tensors, meta)
            assert th.shape == (20, 92_868) and th.dtype == np.float32 and np.isfinite(th).all()
            assert meta["hparams"] == sample_hparams(config, entry["model_id"]) == entry["hparams"]
            assert meta["snapshot_epochs"][0] == 0 and meta["snapshot_epochs"][-1] == meta["epochs"] == 2
            for k in ("train_accuracy", "val_accuracy", "test_accuracy"):
                assert len(meta[k]) == 20 and all(0 <= a <= 1 for a in meta[k])
            assert meta["overrides"] == {"max_epochs": 2, "limit": 3}
            assert meta["profile"]["name"] == "mini" and meta["n_conv_weights"] == 16_880
            assert not np.array_equal(th[0], th[-1])  # training moved the weights


def _generate_cmd(out: Path, shard: int = 2) -> list[str]:
    return [sys.executable, "-m", "train.generate", "--config", "c_fixed_mini", "--shard", str(shard),
            "--limit", "3", "--max-epochs", "2", "--out", str(out), "--quiet"]


def _load_all(sdir: Path) -> dict:
    out = {}
    for m in read_index(sdir)["models"][:3]:
        tensors, meta = read_model((sdir / m["file"]).read_bytes())
        out[m["model_id"]] = (theta(tensors, meta), meta["test_accuracy"], meta["val_history"])
    return out


def test_killed_generate_resumes_to_the_same_result(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_generate_cmd(killed), cwd=ROOT, env=env, start_new_session=True)
    sdir = killed / "c_fixed_mini" / "shard-00002"
    deadline = time.time() + 120
    while not (sdir / "model-000030.safetensors").exists() and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # mid-shard, possibly mid-write
    proc.wait()
    assert (sdir / "model-000030.safetensors").exists()
    assert not (sdir / "model-000032.safetensors").exists()
    subprocess.run(_generate_cmd(killed), cwd=ROOT, env=env, check=True)
    assert [m["status"] for m in read_index(sdir)["models"][:3]] == ["done"] * 3
    assert not list(sdir.glob(".*.tmp"))

    assert main(_generate_cmd(tmp_path / "clean")[3:]) == 0
    resumed, clean = _load_all(sdir), _load_all(tmp_path / "clean" / "c_fixed_mini" / "shard-00002")
    assert resumed.keys() == clean.keys() == {30, 31, 32}
    for k in clean:  # same shard, same device: bit-identical weights and accuracies
        assert np.array_equal(resumed[k][0], clean[k][0])
        assert resumed[k][1:] == clean[k][1:]


def test_rerun_skips_finished_models(tiny_nws):
    sdir = tiny_nws / "c_fixed_mini" / "shard-00000"
    before = {p.name: p.stat().st_mtime_ns for p in sdir.glob("*.safetensors")}
    assert main(["--config", "c_fixed_mini", "--shard", "0", "--limit", "3", "--max-epochs", "2",
                 "--out", str(tiny_nws), "--quiet"]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in sdir.glob("*.safetensors")} == before


def test_diverging_training_is_recorded_as_failed():
    config = CONFIGS["c_fixed_mini"]
    hp = {**sample_hparams(config, 0), "learning_rate": 1e12, "optimizer": "momentum",
          "initialization": "random_normal", "dataset": "digits"}
    res = train_model(hp, DeviceImages(load_images("digits"), config.profile, "cpu"), config.profile, 0, max_epochs=3)
    assert res.status == "failed" and "non-finite" in res.reason and res.theta is None


def test_dry_run_prints_one_json_line_per_model(capsys):
    assert main(["--config", "c_main", "--shard", "3", "--limit", "4", "--dry-run"]) == 0
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert [l["model_id"] for l in lines] == [300, 301, 302, 303]
    assert all(21_260 <= l["n_weights"] <= 388_172 for l in lines)
    assert lines[0]["hparams"] == sample_hparams(CONFIGS["c_main"], 300)


@pytest.mark.parametrize("args,message", [
    (["--config", "c_huge"], "unknown NWS config 'c_huge'; expected one of c_main, c_fixed"),
    (["--shard", "99"], "--shard '99' is not valid for c_fixed_mini: expected 0..13"),
    (["--device", "tpu"], "--device 'tpu' is not valid: expected cpu or cuda"),
    (["--workers", "0"], "argument --workers: 0 must be a positive integer"),
    (["--seed", "-1"], "argument --seed: -1 must be in 0..4294967295"),
    (["--source", "imagenet=/x"], "--source 'imagenet=/x' is not valid"),
])
def test_bad_arguments_exit_2_with_a_one_line_message(args, message):
    r = subprocess.run([sys.executable, "-m", "train.generate", *args], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2
    assert message in r.stderr


def test_each_model_draws_its_own_validation_split_and_balanced_epochs():
    config = CONFIGS["c_fixed_mini"]
    images = DeviceImages(load_images("mnist_sample"), config.profile, "cpu")
    a = ModelData(images, config.profile, torch.Generator().manual_seed(1))
    b = ModelData(images, config.profile, torch.Generator().manual_seed(2))
    assert len(a.y_val) == config.profile.val_images and not torch.equal(a.x_val, b.x_val)
    # the validation images never appear among the model's training images
    g = torch.Generator().manual_seed(3)
    train_idx = torch.cat(a.class_indices)
    assert len(train_idx) == int(0.9 * len(images.y_pool))
    full = ModelData(images, replace(config.profile, val_images=None), torch.Generator().manual_seed(1))
    assert len(set(train_idx.tolist())) == len(train_idx)
    assert not set(train_idx.tolist()) & set(a.val_indices.tolist())
    assert len(full.y_val) + len(train_idx) == len(images.y_pool)  # a partition of the pool
    e1, e2 = a.epoch_indices(g, None), a.epoch_indices(g, None)
    counts = torch.bincount(images.y_pool[e1], minlength=10)
    assert torch.all(counts == a.per_class) and a.per_class == min(len(ix) for ix in a.class_indices)
    assert not torch.equal(e1.sort().values, e2.sort().values)  # a new random K per class every epoch
    assert len(a.epoch_indices(g, 512)) == 512


def test_old_format_files_are_refused_naming_file_version_and_fix(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "model-000001.safetensors"
    save_file({"conv1.weight": np.zeros((20, 1), np.float32)}, str(path),
              metadata={"format": "nws-model/1", "nws": "{}"})
    with pytest.raises(RecordError, match=r"model-000001.safetensors: NWS model format 'nws-model/1'.*"
                                          r"nws-model/2.*python -m train.generate"):
        read_model(path.read_bytes(), str(path))
    sdir = tmp_path / "c_fixed_mini" / "shard-00000"
    sdir.mkdir(parents=True)
    (sdir / "index.json").write_text(json.dumps({"format": "nws-shard/1", "config": "c_fixed_mini", "shard": 0,
                                                 "models": []}))
    r = subprocess.run([sys.executable, "-m", "train.generate", "--shard", "0", "--out", str(tmp_path), "--quiet"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "index.json: NWS shard index format 'nws-shard/1'" in r.stderr
    assert "Traceback" not in r.stderr


def test_generate_shard_is_a_library_call_with_arguments(tmp_path):
    from train.generate import generate_shard

    counts = generate_shard("c_fixed_mini", 4, tmp_path, limit=1, max_epochs=1, quiet=True)
    assert counts == {"done": 1, "pending": 14}
    entry = read_index(tmp_path / "c_fixed_mini" / "shard-00004")["models"][0]
    assert entry["status"] == "done" and len(entry["sha256"]) == 64
