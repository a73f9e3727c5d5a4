"""Shards on existing engines: a Ray job on a local Ray instance, a Slurm job-array script run
as Slurm would run one of its tasks, and the per-shard progress summary."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import nws_datasets
from train.launch import main as launch

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def status(out: Path, capsys, shard: str = "0-2") -> list[dict]:
    capsys.readouterr()
    assert launch(["status", "--config", "c_fixed_mini", "--shard", shard, "--out", str(out), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_status_counts_models_per_shard_and_sees_a_running_one(tiny_nws, capsys):
    from train.shard import shard_lock

    rows = status(tiny_nws, capsys)
    assert [r["state"] for r in rows] == ["partial", "partial", "not started"]
    assert [(r["done"], r["pending"], r["failed"]) for r in rows[:2]] == [(3, 12, 0), (3, 12, 0)]
    assert rows[2]["pending"] == rows[2]["models"] == 15
    with shard_lock(tiny_nws / "c_fixed_mini" / "shard-00001"):
        assert status(tiny_nws, capsys)[1]["state"] == "running"


def test_slurm_script_runs_a_shard_as_an_array_task_and_retries_in_place(tmp_path, capsys):
    script = tmp_path / "nws.sbatch"
    assert launch(["slurm", "--config", "c_fixed_mini", "--shard", "1-2", "--out", str(tmp_path / "nws"),
                   "--limit", "1", "--max-epochs", "1", "--retries", "1", "--script", str(script), "--dry-run"]) == 0
    assert "sbatch" in capsys.readouterr().out
    text = script.read_text()
    assert "#SBATCH --array=1,2%100" in text and "--shard \"$shard\"" in text
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    r = subprocess.run(["bash", str(script)], env={**ENV, "SLURM_ARRAY_TASK_ID": "2"}, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = status(tmp_path / "nws", capsys, "1-2")
    assert (rows[0]["done"], rows[1]["done"]) == (0, 1)
    index = tmp_path / "nws" / "c_fixed_mini" / "shard-00001" / "index.json"
    index.parent.mkdir(parents=True)
    index.write_text("{broken")  # a shard that fails every attempt
    r = subprocess.run(["bash", str(script)], env={**ENV, "SLURM_ARRAY_TASK_ID": "1"}, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 1 and "attempt 2 of 2 exited with 2" in r.stderr and "not valid JSON" in r.stderr


def test_ray_job_generates_shards_and_reports_a_shard_that_keeps_failing(tmp_path, capsys):
    pytest.importorskip("ray")
    out = tmp_path / "nws"
    bad = out / "c_fixed_mini" / "shard-00002" / "index.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{broken")
    r = subprocess.run([sys.executable, "-m", "train.launch", "ray", "--config", "c_fixed_mini", "--shard", "0-2",
                        "--out", str(out), "--limit", "1", "--max-epochs", "1", "--retries", "1", "--local-cpus", "2"],
                       cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=900)
    assert r.returncode == 1, r.stderr[-3000:]
    assert "shard 2 failed after 1 retries" in r.stderr and "not valid JSON" in r.stderr
    assert "total: 2/45 models done" in r.stdout
    rows = status(out, capsys)
    assert [(x["done"], x["state"]) for x in rows[:2]] == [(1, "partial"), (1, "partial")]
    shutil.rmtree(out / "c_fixed_mini" / "shard-00002")  # the broken shard, so the rest loads
    ds = nws_datasets.load("c_fixed_mini", data_dir=str(out), columns=["model_id"])
    assert sorted({m for split in ds for m in ds[split]["model_id"]}) == [0, 15]
