"""Fault suite: untrusted files, killed and concurrent jobs, bad input (issue: harden every entry point).

Every probe asserts the outcome a user needs: a clear error naming the file/field/value,
nothing executed from a crafted file, nothing written outside its root, no data lost.
"""
from __future__ import annotations

import copy
import json
import logging
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from datasets import load_dataset
from safetensors.numpy import save_file

import nws_datasets  # noqa: F401 - registers "nws"
from nws_datasets.records import read_model, sha256_file
from nws_datasets.schema import METADATA_KEY, MODEL_FORMAT, RecordError, parse_index

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture
def nws_copy(tiny_nws, tmp_path) -> Path:
    dst = tmp_path / "nws"
    shutil.copytree(tiny_nws, dst)
    return dst


def _files(root: Path) -> list[Path]:
    return sorted((root / "c_fixed_mini").glob("shard-*/model-*.safetensors"))


def _rewrite(path: Path, mutate_meta=None, mutate_tensors=None) -> None:
    """Rewrite a model file with changed metadata/tensors and keep its index entry consistent
    (size, sha256), so that the schema check, not the checksum, must catch the problem."""
    tensors, meta = read_model(path.read_bytes(), str(path))
    tensors = {k: np.array(v) for k, v in tensors.items()}
    meta = copy.deepcopy(meta)
    if mutate_meta:
        mutate_meta(meta)
    if mutate_tensors:
        mutate_tensors(tensors)
    save_file(tensors, str(path), metadata={METADATA_KEY: json.dumps(meta), "format": MODEL_FORMAT})
    index_path = path.parent / "index.json"
    index = json.loads(index_path.read_text())
    for m in index["models"]:
        if m.get("file") == path.name:
            m["bytes"], m["sha256"] = path.stat().st_size, sha256_file(path)
    index_path.write_text(json.dumps(index))


def _del(key):
    return lambda m: m.pop(key)


def _set(key, value):
    def f(m):
        m[key] = value
    return f


def _hp(key, value):
    def f(m):
        m["hparams"][key] = value
    return f


META_VARIANTS = [
    ("missing config", _del("config"), "metadata field 'config' is missing"),
    ("unknown config", _set("config", "c_nope"), "'config' is 'c_nope', expected one of"),
    ("model_id a string", _set("model_id", "7"), "'model_id' is '7', expected an integer"),
    ("split bogus", _set("split", "valid"), "'split' is 'valid', expected 'train' or 'test'"),
    ("hparams a list", _set("hparams", []), "'hparams' is [], expected a JSON object"),
    ("hparam missing", lambda m: m["hparams"].pop("optimizer"), "hyper-parameter 'optimizer' is missing"),
    ("hparam out of options", _hp("activation", "gelu"), "hyper-parameter 'activation' is 'gelu', expected one of"),
    ("dataset of another config", _hp("dataset", "cifar10"), "hyper-parameter 'dataset' is 'cifar10'"),
    ("learning rate out of range", _hp("learning_rate", 3.0), "'learning_rate' is 3.0, expected a number in"),
    ("labels disagree", lambda m: m["labels"].update(optimizer=(m["labels"]["optimizer"] + 1) % 3),
     "metadata field 'labels' is"),
    ("labels missing", _del("labels"), "metadata field 'labels' is missing"),
    ("layout malformed", _set("layout", [{"layer": "conv1"}]), "metadata field 'layout' is malformed"),
    ("layout of another architecture", lambda m: (m["hparams"].update(filter_size=3), m["labels"].update(filter_size=0)),
     "'layout' disagrees with the architecture"),
    ("n_weights wrong", _set("n_weights", 5), "'n_weights' is 5, expected 92868"),
    ("epochs negative", _set("epochs", -1), "'snapshot_epochs'"),
    ("snapshot epochs short", _set("snapshot_epochs", [0, 1]), "'snapshot_epochs' is [0, 1]"),
    ("accuracy out of range", lambda m: m["test_accuracy"].__setitem__(3, 1.5), "'test_accuracy' is"),
    ("accuracy list short", _set("val_accuracy", [0.5]), "'val_accuracy' is [0.5]"),
    ("final accuracy disagrees", _set("final_test_accuracy", 0.123), "'final_test_accuracy' is 0.123"),
    ("converged a string", _set("converged", "yes"), "'converged' is 'yes', expected true or false"),
    ("stop reason a number", _set("stop_reason", 3), "'stop_reason' is 3"),
    ("wall time missing", _del("wall_time_s"), "'wall_time_s' is missing"),
]

TENSOR_VARIANTS = [
    ("float64 tensor", lambda t: t.update({"conv1.weight": t["conv1.weight"].astype(np.float64)}),
     "tensor 'conv1.weight' has dtype float64, expected float32"),
    ("NaN weight", lambda t: t["fc1.bias"].__setitem__((3, 0), np.nan), "tensor 'fc1.bias' holds 1 non-finite"),
    ("missing tensor", lambda t: t.pop("fc2.bn_var"), "tensor 'fc2.bn_var' is missing"),
    ("wrong shape", lambda t: t.update({"conv2.bias": np.zeros((20, 3), np.float32)}),
     "tensor 'conv2.bias' has shape (20, 3), expected (20, 16)"),
    ("extra tensor", lambda t: t.update({"evil": np.zeros(1, np.float32)}), "tensors ['evil'] are not in the layout"),
]


@pytest.mark.parametrize("what,mutate,message", META_VARIANTS, ids=[v[0] for v in META_VARIANTS])
def test_corrupt_metadata_fails_naming_file_field_and_expectation(nws_copy, what, mutate, message):
    f = _files(nws_copy)[0]
    _rewrite(f, mutate_meta=mutate)
    with pytest.raises(RecordError) as err:
        read_model(f.read_bytes(), str(f))
    assert str(err.value).startswith(str(f)) and message in str(err.value)


@pytest.mark.parametrize("what,mutate,message", TENSOR_VARIANTS, ids=[v[0] for v in TENSOR_VARIANTS])
def test_corrupt_tensors_fail_naming_file_and_tensor(nws_copy, what, mutate, message):
    f = _files(nws_copy)[0]
    _rewrite(f, mutate_tensors=mutate)
    with pytest.raises(RecordError, match=rf"^{f}.*") as err:
        read_model(f.read_bytes(), str(f))
    assert message in str(err.value)


@pytest.mark.parametrize("header,message", [
    (b"[1, 2]", "safetensors header is list, expected a JSON object"),
    (json.dumps({"__metadata__": {"format": MODEL_FORMAT, "nws": "{not json"}}).encode(), "'nws' is not valid JSON"),
    (json.dumps({"__metadata__": {"format": MODEL_FORMAT, "nws": "[]"}}).encode(), "'nws' is list, expected a JSON"),
    (json.dumps({"__metadata__": {"format": "nws-model/1", "nws": "{}"}}).encode(), "'nws-model/1'"),
    (json.dumps({"__metadata__": "x"}).encode(), "not an NWS model file"),
])
def test_corrupt_headers_fail_naming_the_file(header, message):
    data = len(header).to_bytes(8, "little") + header
    with pytest.raises(RecordError, match=r"^bad\.safetensors: ") as err:
        read_model(data, "bad.safetensors")
    assert message in str(err.value)


def test_every_variant_fails_the_loader_and_skip_corrupt_skips_and_logs_it(nws_copy, caplog):
    files = _files(nws_copy)
    _rewrite(files[0], mutate_meta=_hp("activation", "gelu"))
    _rewrite(files[1], mutate_tensors=TENSOR_VARIANTS[1][1])
    with pytest.raises(Exception) as err:  # datasets wraps errors raised while generating
        load_dataset("nws", "c_fixed_mini", data_dir=str(nws_copy))
    cause = err.value if isinstance(err.value, RecordError) else err.value.__cause__
    assert isinstance(cause, RecordError)
    assert "hyper-parameter 'activation' is 'gelu'" in str(cause) or "tensor 'fc1.bias' holds 1" in str(cause)
    with caplog.at_level(logging.WARNING, logger="nws_datasets"):
        dd = load_dataset("nws", "c_fixed_mini", data_dir=str(nws_copy), skip_corrupt=True)
    assert files[0].name in caplog.text and files[1].name in caplog.text
    assert sum(len(d) for d in dd.values()) == 20 * (len(files) - 2)


def test_index_entry_disagreeing_with_its_file_fails(nws_copy):
    f = _files(nws_copy)[0]
    index_path = f.parent / "index.json"
    index = json.loads(index_path.read_text())
    entry = next(m for m in index["models"] if m.get("file") == f.name)
    entry["converged"] = not entry["converged"]
    index_path.write_text(json.dumps(index))
    split = "train" if entry["split"] == "train" else "test"
    with pytest.raises(RecordError, match=rf"{f.name}: converged is .* in the file, the shard index says"):
        next(iter(load_dataset("nws", "c_fixed_mini", data_dir=str(nws_copy), split=split, streaming=True)))


def test_duplicated_model_and_unlisted_file_are_reported(nws_copy, caplog):
    shards = sorted((nws_copy / "c_fixed_mini").glob("shard-*"))
    first = json.loads((shards[0] / "index.json").read_text())
    second = json.loads((shards[1] / "index.json").read_text())
    second["models"].append(first["models"][0])
    (shards[1] / "index.json").write_text(json.dumps(second))
    with pytest.raises(RecordError, match=rf"model {first['models'][0]['model_id']} is also listed in"):
        load_dataset("nws", "c_fixed_mini", data_dir=str(nws_copy))
    (shards[1] / "index.json").write_text(json.dumps({**second, "models": second["models"][:-1]}))
    shutil.copy(_files(nws_copy)[0], shards[0] / "model-000099.safetensors")
    with caplog.at_level(logging.WARNING, logger="nws_datasets"):
        load_dataset("nws", "c_fixed_mini", data_dir=str(nws_copy))
    assert "model-000099.safetensors" in caplog.text and "not listed" in caplog.text


def test_replaced_model_file_is_noticed_by_the_prepared_cache(nws_copy):
    first = load_dataset("nws", "c_fixed_mini", data_dir=str(nws_copy), split="train")
    f = next(p for p in _files(nws_copy) if json.loads(
        p.read_bytes()[8:8 + int.from_bytes(p.read_bytes()[:8], "little")])["__metadata__"]["nws"].find(
        '"split": "train"') >= 0)
    time.sleep(0.01)
    _rewrite(f, mutate_tensors=lambda t: t["fc3.bias"].__iadd__(1.0))
    again = load_dataset("nws", "c_fixed_mini", data_dir=str(nws_copy), split="train")
    model_id = int(f.stem.split("-")[1])
    old = [np.asarray(r["weights"])[-1] for r in first if r["model_id"] == model_id]
    new = [np.asarray(r["weights"])[-1] for r in again if r["model_id"] == model_id]
    assert len(old) == len(new) == 20 and all(np.isclose(n, o + 1.0) for n, o in zip(new, old))
    # a file replaced behind the index's back fails its checksum instead of being served
    data = bytearray(f.read_bytes())
    data[-3] ^= 0xFF  # same size, one weight changed
    f.write_bytes(bytes(data))
    with pytest.raises(RecordError, match=rf"{f.name}: sha256"):
        next(iter(load_dataset("nws", "c_fixed_mini", data_dir=str(nws_copy), split="train", streaming=True)))


@pytest.mark.parametrize("bad", ["../../../etc/passwd", "/etc/passwd", "model-000000.safetensors/../../x",
                                 "sub/model-000000.safetensors"])
def test_index_paths_outside_the_shard_are_refused_everywhere(nws_copy, tmp_path, bad):
    from nws_datasets.export import files_to_publish

    sdir = sorted((nws_copy / "c_fixed_mini").glob("shard-*"))[0]
    index = json.loads((sdir / "index.json").read_text())
    index["models"][0]["file"] = bad
    (sdir / "index.json").write_text(json.dumps(index))
    with pytest.raises(RecordError, match=r"'file' is .*expected 'model-\d{6}.safetensors'"):
        parse_index((sdir / "index.json").read_text(), "index.json")
    with pytest.raises(RecordError, match="'file' is"):
        files_to_publish(nws_copy, ["c_fixed_mini"])
    with pytest.raises(RecordError, match="'file' is"):
        load_dataset("nws", "c_fixed_mini", data_dir=str(nws_copy))
    dest = tmp_path / "dest"
    r = subprocess.run([sys.executable, "-m", "nws_datasets.push", "--data-dir", str(nws_copy), "--dest", str(dest)],
                       cwd=ROOT, env=ENV, capture_output=True, text=True)
    assert r.returncode == 2 and "'file' is" in r.stderr and "Traceback" not in r.stderr
    assert not dest.exists()


def test_symlinked_shard_leading_outside_the_root_is_not_published(nws_copy, tmp_path):
    from nws_datasets.export import files_to_publish

    outside = tmp_path / "outside"
    shutil.move(str(sorted((nws_copy / "c_fixed_mini").glob("shard-*"))[1]), outside)
    (nws_copy / "c_fixed_mini" / "shard-00001").symlink_to(outside)
    with pytest.raises(RecordError, match="outside the NWS root"):
        files_to_publish(nws_copy, ["c_fixed_mini"])


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['NWS_EVIL_MARKER']}",))


def test_a_malicious_pickle_checkpoint_executes_nothing(tmp_path, monkeypatch):
    import torch

    from metaclf import checkpoint
    from metaclf.methods.dmc import local_dmc, train
    from metaclf.recipe import DMC_PROFILES

    marker = tmp_path / "pwned"
    monkeypatch.setenv("NWS_EVIL_MARKER", str(marker))
    ckpt = tmp_path / "dmc-local-activation.s64.ckpt"
    ckpt.write_bytes(pickle.dumps({"settings": {}, "evil": _Evil()}))
    torch.save({"evil": _Evil()}, tmp_path / "torch.ckpt")  # the format torch.load would have run
    model = local_dmc(64, 2, DMC_PROFILES["mini"])
    with pytest.raises(checkpoint.CheckpointError, match=rf"{ckpt.name}: not an NWS checkpoint"):
        train(model, lambda b, r: np.zeros((len(b), 64), np.float32), np.array([0, 1] * 4), 1, ckpt, {}, "cpu", 0)
    with pytest.raises(checkpoint.CheckpointError):
        checkpoint.load(tmp_path / "torch.ckpt", model, None, "cpu")
    assert not marker.exists()


def test_checkpoints_round_trip_and_an_interrupted_training_resumes_bit_identically(tmp_path):
    import torch

    from metaclf.methods.dmc import local_dmc, train
    from metaclf.recipe import DMC_PROFILES

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 64)).astype(np.float32)
    y = np.arange(32) % 2
    x[y == 1] += 1.0
    calls = {"n": 0}

    def dying(b, r):  # 4 batches per epoch: dies at the first batch of epoch 3
        calls["n"] += 1
        if calls["n"] == 9:
            raise KeyboardInterrupt
        return x[b]

    runs = []
    for name, samplers in (("straight", [lambda b, r: x[b]]), ("resumed", [dying, lambda b, r: x[b]])):
        torch.manual_seed(0)
        model = local_dmc(64, 2, DMC_PROFILES["mini"])
        for sample in samplers:
            try:
                fit = train(model, sample, y, 16, tmp_path / f"{name}.ckpt", {"k": 1}, "cpu", 0, batch_size=8)
            except KeyboardInterrupt:
                torch.manual_seed(123)  # a fresh process: nothing carried over but the checkpoint
                model = local_dmc(64, 2, DMC_PROFILES["mini"])
        runs.append((fit, [p.detach().clone() for p in model.parameters()]))
    assert runs[1][0]["resumed_from_step"] == 8
    assert runs[0][0]["history"] == runs[1][0]["history"]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))


def _generate(out: Path, shard: int = 3, workers: int = 2, limit: int = 4, epochs: int = 12) -> list[str]:
    return [sys.executable, "-m", "train.generate", "--config", "c_fixed_mini", "--shard", str(shard), "--limit",
            str(limit), "--max-epochs", str(epochs), "--workers", str(workers), "--out", str(out), "--quiet"]


def _children(pid: int) -> set[int]:
    out = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_training(proc: subprocess.Popen, n: int = 2, timeout: float = 120) -> set[int]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        kids = {c for c in _children(proc.pid) if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text()}
        if len(kids) >= n and all(_alive(k) for k in kids):
            time.sleep(3)  # let the workers load their data and start training
            return kids
        time.sleep(0.2)
    raise AssertionError("workers did not start")


def test_sigkill_of_the_parent_takes_its_workers_with_it(tmp_path):
    proc = subprocess.Popen(_generate(tmp_path), cwd=ROOT, env=ENV, start_new_session=True)
    workers = _wait_training(proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 20
    while any(_alive(w) for w in workers) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(_alive(w) for w in workers)
    # the next run cleans up and finishes the shard: nothing lost
    r = subprocess.run(_generate(tmp_path, epochs=1), cwd=ROOT, env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    sdir = tmp_path / "c_fixed_mini" / "shard-00003"
    index = json.loads((sdir / "index.json").read_text())
    assert [m["status"] for m in index["models"][:4]] == ["done"] * 4
    assert not list(sdir.glob(".*tmp*"))


def test_sigterm_stops_workers_cleans_up_and_exits_143(tmp_path):
    proc = subprocess.Popen(_generate(tmp_path), cwd=ROOT, env=ENV, start_new_session=True,
                            stderr=subprocess.PIPE, text=True)
    workers = _wait_training(proc)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "terminated" in err and "Traceback" not in err
    assert not any(_alive(w) for w in workers)
    sdir = tmp_path / "c_fixed_mini" / "shard-00003"
    assert not list(sdir.glob(".*tmp*"))
    index = json.loads((sdir / "index.json").read_text())
    listed = {m["file"] for m in index["models"] if m["status"] == "done"}
    assert {p.name for p in sdir.glob("model-*.safetensors")} <= listed | set()  # no stray finished file


def test_a_second_generate_on_a_locked_shard_exits_naming_lock_and_owner(tmp_path):
    first = subprocess.Popen(_generate(tmp_path), cwd=ROOT, env=ENV, start_new_session=True)
    try:
        _wait_training(first)
        r = subprocess.run(_generate(tmp_path), cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
        lock = tmp_path / "c_fixed_mini" / "shard-00003" / ".lock"
        assert r.returncode == 75
        assert f"locked by another train.generate (pid {first.pid}, lock file {lock})" in r.stderr
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()


def test_resume_removes_temp_files_and_retrains_a_file_that_fails_its_checksum(tmp_path):
    from train.generate import main

    args = _generate(tmp_path, workers=1, limit=2, epochs=1)[3:]
    assert main(args) == 0
    sdir = tmp_path / "c_fixed_mini" / "shard-00003"
    (sdir / ".model-000045.safetensors.abc123.tmp").write_bytes(b"partial")
    (sdir / "model-000046.safetensors.tmp").write_bytes(b"partial")
    victim = sdir / "model-000045.safetensors"
    good = victim.read_bytes()
    data = bytearray(good)
    data[-5] ^= 0xFF  # same size, one flipped byte: only the checksum can tell
    victim.write_bytes(bytes(data))
    assert main(args) == 0
    assert not list(sdir.glob("*.tmp")) and not list(sdir.glob(".*.tmp"))
    (t_new, m_new), (t_old, m_old) = read_model(victim.read_bytes()), read_model(good)
    assert all(np.array_equal(t_new[k], t_old[k]) for k in t_old)  # retrained: bit-identical weights
    assert m_new["test_accuracy"] == m_old["test_accuracy"] and m_new["wall_time_s"] != m_old["wall_time_s"]


# ---- the bad-argument matrix of every command line ----------------------------------------
def _mains():
    from importlib import import_module

    names = ["metaclf.svm", "metaclf.local", "metaclf.global", "metaclf.maps", "metaclf.batchmix", "metaclf.all",
             "metaclf.results", "metaclf.learning_curve",
             "metaclf.report", "metaclf.trainstats", "metaclf.regress", "metaclf.embed", "metaclf.bench",
             "nws_datasets.push", "nws_datasets.export", "nws_datasets.authors", "nws_datasets.bench",
             "train.generate", "train.bench"]
    return {n: import_module(n).main for n in names}


def _probe(main, argv, capsys) -> tuple[int, str]:
    from nws_datasets.cli import run_main

    try:
        rc = run_main(main, argv)
    except SystemExit as err:  # argparse
        rc = err.code
    return rc, capsys.readouterr().err


@pytest.fixture(scope="module")
def probe_dirs(tmp_path_factory, tiny_nws):
    d = tmp_path_factory.mktemp("probes")
    (d / "a_file").write_text("x")
    (d / "empty").mkdir()
    corrupt = d / "corrupt_index"
    shutil.copytree(tiny_nws, corrupt)
    (corrupt / "c_fixed_mini" / "shard-00000" / "index.json").write_text("{not json")
    results = d / "results"
    (results / "c_fixed_mini").mkdir(parents=True)
    (results / "c_fixed_mini" / "svm-linear-global-optimizer.json").write_text('{"method": "svm-linear-gl')
    return {"FILE": str(d / "a_file"), "MISSING": str(d / "missing"), "EMPTY": str(d / "empty"),
            "TINY": str(tiny_nws), "CORRUPT": str(corrupt), "RESULTS": str(results)}


BAD = [  # (command, argv, what the one-line message must say)
    ("metaclf.svm", ["--seed", "-1"], "--seed: -1 must be in 0.."),
    ("metaclf.svm", ["--out", "FILE"], "is a file, expected a folder"),
    ("metaclf.svm", ["--data-dir", "MISSING"], "does not exist"),
    ("metaclf.svm", ["--data-dir", "EMPTY"], "no NWS shards of config 'c_fixed_mini'"),
    ("metaclf.svm", ["--data-dir", "FILE"], "is not a folder"),
    ("metaclf.svm", ["--subset-size", "0"], "--subset-size: 0 must be a positive integer"),
    ("metaclf.svm", ["--rounds", "0"], "--rounds: 0 must be a positive integer"),
    ("metaclf.svm", ["--rounds", "x"], "'x' is not an integer"),
    ("metaclf.svm", ["--target", "colour"], "unknown target 'colour'"),
    ("metaclf.svm", ["--target", "filter_size"], "fixed to 5 in c_fixed_mini"),
    ("metaclf.svm", ["--config", "nope"], "'nope' is not valid: expected one of c_main"),
    ("metaclf.svm", ["--features", "pixels"], "'pixels' is not valid"),
    ("metaclf.svm", ["--data-dir", "TINY"], "no converged model in the train split"),
    ("metaclf.svm", ["--data-dir", "CORRUPT", "--include-unconverged"], "shard index is not valid JSON"),
    ("metaclf.local", ["--subset-size", "0"], "'0' is not valid: expected integers ≥ 16"),
    ("metaclf.local", ["--data-dir", "TINY", "--include-unconverged", "--target", "optimizer",
                       "--subset-size", "1000000", "--out", "EMPTY"], "--subset-size 1000000 is larger than"),
    ("metaclf.local", ["--steps", "0"], "--steps: 0 must be a positive integer"),
    ("metaclf.local", ["--device", "tpu"], "'tpu' is not valid"),
    ("metaclf.local", ["--profile", "huge"], "'huge' is not valid"),
    ("metaclf.local", ["--data-dir", "TINY", "--out", "EMPTY"], "no converged model in the train split"),
    ("metaclf.global", ["--config", "c_main_mini"], "needs a fixed architecture"),
    ("metaclf.global", ["--seed", "-1"], "--seed: -1 must be in 0.."),
    ("metaclf.maps", ["--positions", "1"], "--positions 1 must be ≥ 2"),
    ("metaclf.maps", ["--subset-size", "0"], "--subset-size: 0 must be a positive integer"),
    ("metaclf.local", ["--norm", "group"], "'group' is not valid: expected one of batch, layer"),
    ("metaclf.local", ["--norm", "layer", "--bn-stats", "test-batch"],
     "bn_stats='test-batch' needs norm='batch': norm='layer' has no BatchNorm"),
    ("metaclf.batchmix", ["--bn-stats", "test-batch"], "unrecognized arguments: --bn-stats"),
    ("metaclf.batchmix", ["--norm", "layer"], "unrecognized arguments: --norm"),
    ("metaclf.all", ["--norm", "layer", "--bn-stats", "test-batch"], "needs norm='batch'"),
    ("metaclf.batchmix", ["--data-dir", "TINY", "--out", "EMPTY"], "no converged model in the train split"),
    ("metaclf.all", ["--methods", "magic"], "'magic' is not valid"),
    ("metaclf.all", ["--out", "FILE"], "is a file, expected a folder"),
    ("metaclf.learning_curve", ["--models", "0,4"], "'0,4' is not valid: expected integers ≥ 1"),
    ("metaclf.learning_curve", ["--data-dir", "TINY", "--out", "EMPTY"], "no converged model in the train split"),
    ("metaclf.learning_curve", ["--method", "svm-rbf-local", "--steps", "9"], "--steps does not apply to svm-rbf-local"),
    ("metaclf.learning_curve", ["--method", "dmc-global"], "'dmc-global' is not valid"),
    ("metaclf.results", ["--out", "MISSING"], "does not exist"),
    ("metaclf.results", ["--out", "RESULTS"], "svm-linear-global-optimizer.json: not valid JSON"),
    ("metaclf.report", ["--config", "nope"], "'nope' is not valid"),
    ("metaclf.report", ["--data-dir", "MISSING"], "does not exist"),
    ("metaclf.trainstats", ["--config", "nope"], "'nope' is not valid"),
    ("metaclf.trainstats", ["--data-dir", "EMPTY"], "no NWS shards of config 'c_fixed_mini'"),
    ("metaclf.regress", ["--out", "FILE"], "is a file, expected a folder"),
    ("metaclf.regress", ["--config", "c_fixed_mini", "--data-dir", "CORRUPT"], "shard index is not valid JSON"),
    ("metaclf.embed", ["--components", "0"], "--components: 0 must be a positive integer"),
    ("metaclf.embed", ["--config", "c_main_mini"], "needs a fixed architecture"),
    ("metaclf.bench", ["--models", "0"], "--models: 0 must be a positive integer"),
    ("nws_datasets.push", ["--data-dir", "MISSING", "--dest", "memory://x"], "is not a folder"),
    ("nws_datasets.push", ["--data-dir", "TINY", "--repo-id", "no-slash"], "--repo-id 'no-slash' is not valid"),
    ("nws_datasets.push", ["--data-dir", "CORRUPT", "--dest", "memory://y"], "shard index is not valid JSON"),
    ("nws_datasets.export", ["--config", "nope", "--out", "EMPTY"], "'nope'"),
    ("nws_datasets.export", ["--config", "c_fixed_mini", "--out", "FILE"], "is a file, expected a folder"),
    ("nws_datasets.export", ["--config", "c_fixed_mini", "--out", "EMPTY", "--data-dir", "CORRUPT"],
     "shard index is not valid JSON"),
    ("nws_datasets.authors", ["--src", "MISSING", "--config", "c_fixed", "--out", "EMPTY"], "is not a folder"),
    ("nws_datasets.authors", ["--src", "EMPTY", "--config", "c_fixed", "--out", "EMPTY"], "no model folders"),
    ("nws_datasets.bench", ["--data-dir", "MISSING"], "does not exist"),
    ("nws_datasets.bench", ["--data-dir", "EMPTY"], "no generated c_fixed_mini models found"),
    ("train.generate", ["--seed", "-1"], "--seed: -1 must be in 0.."),
    ("train.generate", ["--out", "FILE"], "is a file, expected a folder"),
    ("train.generate", ["--limit", "0"], "--limit: 0 must be a positive integer"),
    ("train.generate", ["--num-shards", "0"], "--num-shards: 0 must be a positive integer"),
    ("train.generate", ["--out", "CORRUPT", "--shard", "0"], "shard index is not valid JSON"),
    ("train.bench", ["--models", "0"], "--models: 0 must be a positive integer"),
]


@pytest.mark.parametrize("command,argv,message", BAD, ids=[f"{c} {' '.join(a)}" for c, a, _ in BAD])
def test_bad_input_exits_2_with_one_clear_line_and_no_traceback(command, argv, message, probe_dirs, capsys):
    argv = [probe_dirs.get(a, a) for a in argv]
    rc, err = _probe(_mains()[command], argv, capsys)
    assert rc == 2, (rc, err)
    assert "Traceback" not in err
    lines = [l for l in err.splitlines() if "error" in l]
    assert len(lines) == 1 and message in lines[0], err


def test_dmc_runs_with_the_same_seed_give_the_same_numbers(tiny_nws, tmp_path):
    from dataclasses import replace

    from metaclf.evaluate import evaluate
    from metaclf.spec import RunSpec

    spec = RunSpec("dmc-local", "c_fixed_mini", "optimizer", seed=3, converged_only=False, subset_size=500, steps=4)
    runs = [evaluate(spec, data_dir=str(tiny_nws), checkpoint=tmp_path / f"r{i}") for i in range(2)]
    assert runs[0]["history"] == runs[1]["history"] and len(runs[0]["history"]) >= 1
    assert (tmp_path / "r0.r0.ckpt").exists()
    assert runs[0]["accuracy_mean"] == runs[1]["accuracy_mean"]
    assert runs[0]["history"][-1]["loss"] > 0
    # two rounds: each round's training accuracy is kept, round 0's equal to the one-round run's
    two = evaluate(replace(spec, rounds=2), data_dir=str(tiny_nws), checkpoint=tmp_path / "r0")
    assert len(two["train_accuracy_rounds"]) == 2 == len(two["train_seconds_rounds"])
    assert two["train_accuracy_rounds"][0] == runs[0]["history"][-1]["train_accuracy"]
    assert (tmp_path / "r0.r1.ckpt").exists() and two["accuracy_rounds"][0] == runs[0]["accuracy_mean"]
