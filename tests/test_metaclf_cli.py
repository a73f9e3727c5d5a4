"""The metaclf command lines, end to end on a tiny generated NWS."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(module: str, *args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, env=env)


@pytest.mark.parametrize("module", ["metaclf.svm", "metaclf.local", "metaclf.global", "metaclf.maps"])
def test_bad_target_exits_2_listing_the_valid_ones(module):
    r = _run(module, "--target", "colour")
    assert r.returncode == 2
    assert "unknown target 'colour'; expected one of dataset, batch_size, augmentation" in r.stderr


def test_fixed_architecture_target_and_global_dmc_on_random_architectures_exit_2():
    r = _run("metaclf.svm", "--target", "filter_size", "--config", "c_fixed")
    assert r.returncode == 2 and "fixed to 5 in c_fixed" in r.stderr
    r = _run("metaclf.global", "--target", "dataset", "--config", "c_main_mini")
    assert r.returncode == 2 and "needs a fixed architecture" in r.stderr


def test_end_to_end_on_a_tiny_generated_nws(tiny_nws, tmp_path):
    import os

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    common = ["--target", "augmentation", "--config", "c_fixed_mini", "--data-dir", str(tiny_nws),
              "--out", str(tmp_path), "--include-unconverged"]
    for module, extra in (("metaclf.svm", ["--rounds", "3"]), ("metaclf.svm", ["--kernel", "rbf", "--features", "local"]),
                          ("metaclf.svm", ["--features", "layerwise"]), ("metaclf.local", ["--steps", "4"]),
                          ("metaclf.global", ["--steps", "2"]), ("metaclf.maps", ["--positions", "3", "--steps", "4"]),
                          ("metaclf.local", ["--steps", "2", "--subset-size", "300,1000"]),
                          ("metaclf.all", ["--methods", "baseline"])):
        r = _run(module, *common, *extra, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
    out = tmp_path / "c_fixed_mini"
    for name in ("svm-linear-global", "svm-rbf-local", "svm-linear-layerwise", "dmc-local", "dmc-global",
                 "hparams-baseline"):
        res = json.loads((out / f"{name}-augmentation.json").read_text())
        assert res["ci95"][0] <= res["accuracy_mean"] <= res["ci95"][1]
        assert res["chance"] == 0.5 and res["classes"] == ["off", "on"] and res["test"]["models"] == 2
        assert len(res["confusion_matrix"]) == 2 and res["spec"]["converged_only"] is False
        assert (out / f"{name}-augmentation.confusion.png").stat().st_size > 1000
    local = json.loads((out / "dmc-local-augmentation.json").read_text())
    assert local["history"][-1]["step"] == 4 and local["test_windows_per_record"] == 10  # the mini profile's
    assert np.asarray(local["confusion_matrix"]).sum() == 10 * local["test"]["records"]  # every window counted
    assert len(json.loads((out / "svm-linear-global-augmentation.json").read_text())["accuracy_rounds"]) == 3
    assert (out / "svm-linear-global-augmentation.importance.png").exists()
    m = json.loads((out / "maps-dmc-local-augmentation.json").read_text())
    assert np.asarray(m["accuracy"]).shape == (20, 3) and m["spec"]["method"] == "dmc-local"
    assert (out / "maps-dmc-local-augmentation.png").exists() and (out / "summary.png").exists()
    sweep = json.loads((out / "dmc-local-augmentation.sweep.json").read_text())
    assert [r["subset_size"] for r in sweep["rows"]] == [300, 1000] and (out / "dmc-local-augmentation.sweep.png").exists()
    assert sweep["rows"][0]["n_weights"] != sweep["rows"][1]["n_weights"]
    table = (tmp_path / "results.md").read_text()
    assert "| augmentation | 0.500 | 2 |" in table and "dmc-local" in table and "hparams-baseline" in table
    # the authors' test-batch BN evaluation: the same trained DMC (its checkpoint, not a new
    # training run), saved and tabled beside ours
    ckpt = out / "dmc-local-augmentation.s5000.r0.ckpt"
    trained = ckpt.stat().st_mtime_ns
    r = _run("metaclf.local", *common, "--steps", "4", "--bn-stats", "test-batch", env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert ckpt.stat().st_mtime_ns == trained  # resumed at its last step: nothing trained or saved
    tb = json.loads((out / "dmc-local@test-batch-augmentation.json").read_text())
    assert tb["params"]["bn_stats"] == "test-batch" and local["params"]["bn_stats"] == "population"
    assert tb["history"] == local["history"] and tb["test"] == local["test"]
    assert "| dmc-local | dmc-local@test-batch |" in (tmp_path / "results.md").read_text()
    ours = (out / "maps-dmc-local-augmentation.json").read_text()
    r = _run("metaclf.maps", *common, "--positions", "3", "--steps", "4", "--bn-stats", "test-batch", env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (out / "maps-dmc-local-augmentation.json").read_text() == ours  # never overwritten by the other evaluation
    assert np.asarray(json.loads((out / "maps-dmc-local@test-batch-augmentation.json").read_text())["accuracy"]).shape \
        == (20, 3)
    # the batch-make-up diagnostic: the same checkpoint, four evaluations; ours and the
    # authors' equal the results the local command saved
    r = _run("metaclf.batchmix", *common, "--steps", "4", env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert ckpt.stat().st_mtime_ns == trained
    mix = json.loads((out / "batchmix-dmc-local-augmentation.json").read_text())
    assert mix["steps"] == 4 and mix["test"] == local["test"]
    assert list(mix["evaluations"]) == ["population", "test-population", "test-batch", "test-batch, one class per batch"]
    for name, saved in (("population", local), ("test-batch", tb)):
        assert mix["evaluations"][name]["accuracy_mean"] == saved["accuracy_mean"]
        assert mix["evaluations"][name]["confusion_matrix"] == saved["confusion_matrix"]
    # beside the results, it is not taken for one: the tables are rewritten as before
    r = _run("metaclf.results", "--out", str(tmp_path), env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "results.md").read_text().count("| augmentation |") == table.count("| augmentation |")
    # per-input normalization (beyond the paper): a DMC run of its own, filed as dmc-local-ln,
    # with a checkpoint and a map of its own
    from metaclf.checkpoint import read_state

    assert read_state(ckpt)["settings"]["norm"] == "batch"
    for module, extra in (("metaclf.local", []), ("metaclf.maps", ["--positions", "3"])):
        r = _run(module, *common, "--steps", "4", "--norm", "layer", *extra, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
    ln = json.loads((out / "dmc-local-ln-augmentation.json").read_text())
    assert ln["params"]["norm"] == "layer" and ln["test"] == local["test"] and ln["n_weights"] < local["n_weights"]
    assert read_state(out / "dmc-local-ln-augmentation.s5000.r0.ckpt")["settings"]["norm"] == "layer"
    assert (out / "maps-dmc-local-augmentation.json").read_text() == ours
    assert np.asarray(json.loads((out / "maps-dmc-local-ln-augmentation.json").read_text())["accuracy"]).shape == (20, 3)
    assert "dmc-local-ln" in (tmp_path / "results.md").read_text()


def test_learning_curve_on_a_tiny_nws(tiny_nws, tmp_path):
    from metaclf.learning_curve import main
    from metaclf.store import load_results

    common = ["--config", "c_fixed_mini", "--data-dir", str(tiny_nws), "--out", str(tmp_path), "--target",
              "augmentation", "--include-unconverged"]
    assert main([*common, "--method", "svm-linear-global", "--rounds", "2", "--models", "1,500,1000"]) == 0
    path = tmp_path / "c_fixed_mini" / "learning_curve-svm-linear-global-augmentation.json"
    curve = json.loads(path.read_text())
    pts = curve["points"]
    # 1 model per class, then every model the balance allows; 1000 is never reached
    assert [p["all"] for p in pts] == [False, True] and pts[0]["models_per_class"] == 1
    assert 1 <= pts[1]["models_per_class"] < 500
    assert curve["chance"] == 0.5 and curve["test_models"] == 2 and curve["rounds"] == 2
    assert all(p["ci95"][0] <= p["accuracy_mean"] <= p["ci95"][1] for p in pts)
    assert path.with_suffix(".png").stat().st_size > 1000
    assert load_results(tmp_path) == {}  # not a result of the tables
    # a DMC: one checkpoint per point, reused by another BN evaluation (nothing trained again)
    dmc = [*common, "--method", "dmc-local", "--steps", "2", "--subset-size", "500", "--models", "1,500"]
    assert main(dmc) == 0
    ckpts = sorted((tmp_path / "c_fixed_mini").glob("learning_curve-dmc-local-augmentation.s500.k*.r0.ckpt"))
    assert [c.name.split(".")[2] for c in ckpts] == ["k1", "k500"]
    trained = [c.stat().st_mtime_ns for c in ckpts]
    assert main([*dmc, "--bn-stats", "test-batch"]) == 0
    assert [c.stat().st_mtime_ns for c in ckpts] == trained
    tb = json.loads((tmp_path / "c_fixed_mini" / "learning_curve-dmc-local@test-batch-augmentation.json").read_text())
    assert tb["spec"]["bn_stats"] == "test-batch" and [p["models_per_class"] for p in tb["points"]][0] == 1
    assert all(p["train_accuracy"] is not None for p in tb["points"])


def test_metaclf_all_loads_each_snapshot_set_once_with_the_same_results(tiny_nws, tmp_path, monkeypatch):
    import metaclf.evaluate as ev
    from metaclf.cli.commands import all_, svm

    common = ["--config", "c_fixed_mini", "--data-dir", str(tiny_nws), "--target", "augmentation",
              "--include-unconverged"]
    assert svm([*common, "--out", str(tmp_path / "alone"), "--features", "local", "--kernel", "rbf"]) == 0
    calls = []
    real = ev.load_split
    monkeypatch.setattr(ev, "load_split", lambda *a, **k: calls.append((a[1], tuple(a[3]))) or real(*a, **k))
    # two local SVMs share their snapshots; the global SVM and the baseline each read another set
    methods = "svm-linear-local,svm-rbf-local,svm-linear-global,hparams-baseline"
    assert all_([*common, "--out", str(tmp_path / "all"), "--methods", methods]) == 0
    snapshot_sets = [(-2, -1), (-4, -3, -2, -1), (-1,)]  # local SVMs, global SVM, baseline (App. E, our recipe)
    assert [tuple(ev.make(m).snapshots) for m in methods.split(",")] == [snapshot_sets[i] for i in (0, 0, 1, 2)]
    assert calls == [(s, snaps) for snaps in snapshot_sets for s in ("train", "test")]
    shared = json.loads((tmp_path / "all" / "c_fixed_mini" / "svm-rbf-local-augmentation.json").read_text())
    alone = json.loads((tmp_path / "alone" / "c_fixed_mini" / "svm-rbf-local-augmentation.json").read_text())
    for key in ("accuracy_rounds", "ci95", "confusion_matrix", "train", "test"):
        assert shared[key] == alone[key]


def test_a_partial_shard_and_a_run_on_few_models_say_so(tiny_nws, tmp_path, caplog, capsys):
    """The fixture's shards hold 3 finished models of 15 each: loading them says how many are
    missing, and a meta-classifier trained on a handful of models per class says how many and
    what that means for its numbers."""
    import logging

    from metaclf.cli.commands import svm
    from nws_datasets import load

    with caplog.at_level(logging.WARNING, logger="nws_datasets"):  # streaming: read now, never from a cache
        ids = [r["model_id"] for r in load("c_fixed_mini", split="train", data_dir=str(tiny_nws), snapshots=(-1,),
                                             streaming=True, columns=["model_id"])]
    partial = [r.getMessage() for r in caplog.records if "not generated yet" in r.getMessage()]
    assert len(partial) == 2 and all("12 of the shard's 15 models" in m and "loading the 3 done" in m
                                     for m in partial)
    assert len(ids) == len(set(ids)) >= 1  # one record per finished training model at its last snapshot
    assert svm(["--config", "c_fixed_mini", "--data-dir", str(tiny_nws), "--out", str(tmp_path), "--target",
                "augmentation", "--include-unconverged", "--rounds", "2"]) == 0
    out = capsys.readouterr().out
    saved = json.loads((tmp_path / "c_fixed_mini" / "svm-linear-global-augmentation.json").read_text())
    per_class = min(saved["train"]["models_per_class"])
    assert per_class < 10 and f"trained on {per_class} model(s) per class" in out and "read its 95% CI" in out
