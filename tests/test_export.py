"""The Hub-native export: Parquet that plain ``datasets`` loads in a fresh process without our
package, a metadata-only config, raw files with a sha256 manifest, a card that agrees."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import nws_datasets
from nws_datasets.card import metadata_config
from nws_datasets.export import export
from nws_datasets.schema import features
from nws_datasets.space import CONFIGS

ROOT = Path(__file__).resolve().parents[1]

CONFIG = "c_fixed_mini"

#: Runs in a fresh interpreter whose sys.path does not hold this repository: it can only use
#: what `pip install datasets` gives a Hub user. It prints every record it sees.
FRESH = textwrap.dedent("""
    import hashlib, json, sys
    import numpy as np
    import datasets
    folder, config = sys.argv[1], sys.argv[2]
    out = {}
    for streaming in (False, True):
        for name in (config, config + "_metadata"):
            dd = datasets.load_dataset(folder, name, streaming=streaming)
            for split in dd:
                rows = []
                for r in dd[split]:
                    w = r.pop("weights", None)
                    if w is not None:
                        r["weights"] = hashlib.sha256(np.asarray(w, np.float32).tobytes()).hexdigest()
                    rows.append(r)
                out[f"{'stream' if streaming else 'map'}/{name}/{split}"] = rows
                if not streaming:
                    out[f"features/{name}"] = dd[split].features.to_dict()
    ours = sorted(m for m in sys.modules if m.split(".")[0] in ("nws_datasets", "builders", "train", "metaclf"))
    assert not ours, ours
    print(json.dumps(out))
""")


def our_rows(split: str, data_dir, weights: bool) -> list[dict]:
    import hashlib

    ds = nws_datasets.load(CONFIG, split=split, data_dir=str(data_dir))
    rows = []
    for r in ds.with_format("numpy"):
        r = {k: (v.item() if isinstance(v, np.generic) or (isinstance(v, np.ndarray) and v.ndim == 0) else v)
             for k, v in r.items()}
        w = r.pop("weights")
        if weights:
            r["weights"] = hashlib.sha256(np.asarray(w, np.float32).tobytes()).hexdigest()
        rows.append(r)
    return rows


@pytest.fixture(scope="module")
def exported(tiny_nws, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    counts = export([CONFIG], out, str(tiny_nws), row_group_mb=1, file_mb=3)
    return out, counts


def test_plain_datasets_in_a_fresh_process_loads_every_record_as_ours(exported, tiny_nws, tmp_path):
    out, counts = exported
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, "-c", FRESH, str(out), CONFIG], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    seen = json.loads(r.stdout)
    for split, n in counts[CONFIG].items():
        full, meta = our_rows(split, tiny_nws, True), our_rows(split, tiny_nws, False)
        assert len(full) == n > 0
        for mode in ("map", "stream"):
            assert seen[f"{mode}/{CONFIG}/{split}"] == full
            assert seen[f"{mode}/{metadata_config(CONFIG)}/{split}"] == meta
    assert seen[f"features/{CONFIG}"] == features(CONFIGS[CONFIG]).to_dict()
    assert seen[f"features/{metadata_config(CONFIG)}"] == features(CONFIGS[CONFIG], weights=False).to_dict()
    assert seen[f"features/{CONFIG}"]["optimizer"]["names"] == ["adam", "rmsprop", "momentum"]


def test_row_groups_files_and_the_metadata_config_follow_the_limits(exported):
    out, counts = exported
    files = sorted((out / "data" / CONFIG).glob("train-*.parquet"))
    assert len(files) > 1 and all(f.name.endswith(f"-of-{len(files):05d}.parquet") for f in files)
    rows = 0
    for f in files:
        md = pq.read_metadata(f)
        rows += md.num_rows
        assert all(md.row_group(i).num_rows == 2 or i == md.num_row_groups - 1 for i in range(md.num_row_groups))
        assert f.stat().st_size <= 3 * (1 << 20) + (1 << 20)
    assert rows == counts[CONFIG]["train"]
    meta = pq.read_schema(next((out / "data" / metadata_config(CONFIG)).glob("train-*.parquet")))
    assert "weights" not in meta.names and "optimizer" in meta.names


def test_raw_files_carry_a_manifest_that_sha256sum_verifies_and_our_loader_reads(exported, tiny_nws):
    out, _ = exported
    lines = (out / "raw" / "SHA256SUMS").read_text().splitlines()
    assert len(lines) == len(list((out / "raw" / CONFIG).glob("shard-*/*")))
    r = subprocess.run(["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=out / "raw", capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    a = nws_datasets.load(CONFIG, split="test", data_dir=str(out / "raw"), columns=["model_id", "test_accuracy"])
    b = nws_datasets.load(CONFIG, split="test", data_dir=str(tiny_nws), columns=["model_id", "test_accuracy"])
    assert a.to_dict() == b.to_dict()


def test_the_exported_card_parses_and_agrees_with_the_files(exported):
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCard

    out, counts = exported
    card = DatasetCard((out / "README.md").read_text())
    assert card.data.license == "mit" and card.data.size_categories == ["n<1K"]
    assert [c["config_name"] for c in card.data.configs] == [CONFIG, metadata_config(CONFIG)]
    for c in card.data.configs:
        for df in c["data_files"]:
            assert list(out.glob(df["path"])), df
    infos = DatasetInfosDict.from_dataset_card_data(card.data)
    assert {s: i.num_examples for s, i in infos[CONFIG].splits.items()} == counts[CONFIG]
    assert "weights" not in infos[metadata_config(CONFIG)].features


def test_a_rerun_keeps_complete_files_and_rewrites_a_torn_one(exported, tiny_nws):
    out, counts = exported
    files = sorted((out / "data").rglob("*.parquet"))
    stamps = {f: f.stat().st_mtime_ns for f in files}
    torn = files[0]
    torn.write_bytes(torn.read_bytes()[:100])
    assert export([CONFIG], out, str(tiny_nws), row_group_mb=1, file_mb=3) == counts
    assert pq.read_metadata(torn).num_rows > 0
    assert all(f.stat().st_mtime_ns == stamps[f] for f in files[1:])


def test_export_cli_explains_bad_arguments(tmp_path):
    r = subprocess.run([sys.executable, "-m", "nws_datasets.export", "--config", CONFIG, "--out", str(tmp_path),
                        "--row-group-mb", "8", "--file-mb", "4"], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2 and "--row-group-mb 8.0 and --file-mb 4.0" in r.stderr
