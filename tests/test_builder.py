"""load_dataset("nws", ...): registration, records, splits, streaming, workers, bad input, fsspec."""
import configparser
import logging
import shutil
from collections import Counter
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from datasets import load_dataset
from datasets.distributed import split_dataset_by_node

import nws_datasets
from nws_datasets.architecture import Layout
from nws_datasets.export import export, files_to_publish
from nws_datasets.push import publish_fsspec
from nws_datasets.records import read_index
from nws_datasets.schema import RecordError
from nws_datasets.registration import SUPPORTED_DATASETS
from nws_datasets.space import CONFIGS

ROOT = Path(__file__).resolve().parents[1]
CONFIG = CONFIGS["c_fixed_mini"]


def index_entries(root: Path) -> dict[int, dict]:
    out = {}
    for sdir in sorted((root / "c_fixed_mini").glob("shard-*")):
        out.update({m["model_id"]: m for m in read_index(sdir)["models"] if m["status"] == "done"})
    return out


def records(ds) -> dict[tuple[int, int], np.ndarray]:
    return {(r["model_id"], r["snapshot"]): np.asarray(r["weights"]) for r in ds}


def test_hook_is_installed_and_datasets_version_is_supported():
    assert getattr(datasets.load.dataset_module_factory, "_nws_hook", False)
    major = int(datasets.__version__.split(".")[0])
    assert SUPPORTED_DATASETS[0] <= major < SUPPORTED_DATASETS[1]
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    pin = next(l for l in cfg["options"]["install_requires"].split("\n") if l.startswith("datasets"))
    assert pin == f"datasets>={SUPPORTED_DATASETS[0]}.0,<{SUPPORTED_DATASETS[1]}"
    nws_datasets._register()  # idempotent
    assert not getattr(datasets.load.dataset_module_factory.__wrapped__, "_nws_hook", False)


def test_load_from_an_empty_working_directory_with_the_default_home(tiny_nws, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing here: a cwd scan would fail with EmptyDatasetError
    monkeypatch.setenv("NWS_HOME", str(tiny_nws))
    ds = load_dataset("nws", "c_fixed_mini", split="train")
    entries = index_entries(tiny_nws)
    train_ids = {m for m, e in entries.items() if e["split"] == "train"}
    assert set(ds["model_id"]) == train_ids and len(ds) == 20 * len(train_ids)
    r = ds[0]
    e = entries[r["model_id"]]
    assert len(r["weights"]) == r["n_weights"] == 92_868 and r["n_conv_weights"] == 16_880
    assert r["learning_rate"] == pytest.approx(e["hparams"]["learning_rate"])
    assert Layout.from_json(r["layout"]).n_weights == 92_868


def test_labels_decode_to_the_hyper_parameter_names(tiny_nws):
    ds = load_dataset("nws", "c_fixed_mini", data_dir=str(tiny_nws), split="test")
    entries = index_entries(tiny_nws)
    for r in ds.select(range(0, len(ds), 20)):
        hp = entries[r["model_id"]]["hparams"]
        for name in ("dataset", "optimizer", "activation", "initialization", "batch_size", "augmentation",
                     "filter_size", "conv_width"):
            assert ds.features[name].int2str(r[name]) == str(hp[name])
    assert ds.features["optimizer"].names == ["adam", "rmsprop", "momentum"]
    assert ds.features["dataset"].names == ["mnist_sample", "digits"]


def test_splits_are_by_model(tiny_nws):
    dd = load_dataset("nws", "c_fixed_mini", data_dir=str(tiny_nws))
    train, test = set(dd["train"]["model_id"]), set(dd["test"]["model_id"])
    assert train and test and not train & test
    assert all(CONFIG.split_of(m) == "train" for m in train) and all(CONFIG.split_of(m) == "test" for m in test)
    for split in dd.values():
        assert Counter(split["model_id"]) == {m: 20 for m in set(split["model_id"])}


def test_streaming_yields_exactly_the_non_streaming_records(tiny_nws):
    for split in ("train", "test"):
        ds = load_dataset("nws", "c_fixed_mini", data_dir=str(tiny_nws), split=split)
        st = load_dataset("nws", "c_fixed_mini", data_dir=str(tiny_nws), split=split, streaming=True)
        a, b = records(ds), records(st)
        assert a.keys() == b.keys()
        assert all(np.array_equal(a[k], b[k]) for k in a)
        first_ds, first_st = ds[0], next(iter(st))
        assert {k: v for k, v in first_ds.items() if k != "weights"} == \
               {k: v for k, v in first_st.items() if k != "weights"}


def test_snapshot_selection_and_converged_only(tiny_nws):
    ds = load_dataset("nws", "c_fixed_mini", data_dir=str(tiny_nws), split="train", snapshots=(-4, -3, -2, -1))
    assert sorted(set(ds["snapshot"])) == [16, 17, 18, 19]
    assert set(ds["progress"]) <= {np.float32(e / 2) for e in (1, 2)}
    entries = index_entries(tiny_nws)
    converged = {m for m, e in entries.items() if e["converged"] and e["split"] == "train"}
    if converged:
        dc = load_dataset("nws", "c_fixed_mini", data_dir=str(tiny_nws), split="train", converged_only=True)
        assert set(dc["model_id"]) == converged
    else:
        with pytest.raises(ValueError):  # no converged training model: the split does not exist
            load_dataset("nws", "c_fixed_mini", data_dir=str(tiny_nws), split="train", converged_only=True)
    with pytest.raises(ValueError, match="snapshot 20 is out of range"):
        load_dataset("nws", "c_fixed_mini", data_dir=str(tiny_nws), split="train", snapshots=(20,), streaming=True)


def test_torch_and_numpy_formats(tiny_nws):
    ds = load_dataset("nws", "c_fixed_mini", data_dir=str(tiny_nws), split="train")
    batch = ds.with_format("torch")[:5]
    assert isinstance(batch["weights"], torch.Tensor) and batch["weights"].shape == (5, 92_868)
    assert batch["weights"].dtype == torch.float32 and batch["activation"].dtype == torch.int64
    arr = ds.with_format("numpy")[:3]["weights"]
    assert isinstance(arr, np.ndarray) and arr.shape == (3, 92_868) and arr.dtype == np.float32


def test_dataloader_with_two_workers_sees_every_record_once(tiny_nws):
    st = load_dataset("nws", "c_fixed_mini", data_dir=str(tiny_nws), split="train", streaming=True)
    assert st.n_shards >= 2
    loader = torch.utils.data.DataLoader(st.with_format("torch"), batch_size=7, num_workers=2)
    seen = Counter()
    for batch in loader:
        seen.update(zip(batch["model_id"].tolist(), batch["snapshot"].tolist()))
    expected = records(load_dataset("nws", "c_fixed_mini", data_dir=str(tiny_nws), split="train"))
    assert seen == Counter(expected.keys())


def test_split_by_node_has_no_duplicates(tiny_nws):
    st = load_dataset("nws", "c_fixed_mini", data_dir=str(tiny_nws), split="train", streaming=True)
    parts = [Counter((r["model_id"], r["snapshot"]) for r in split_dataset_by_node(st, rank=k, world_size=2))
             for k in range(2)]
    assert not parts[0].keys() & parts[1].keys()
    assert sum(parts, Counter()) == Counter((r["model_id"], r["snapshot"]) for r in st)


@pytest.fixture
def copy_of(tiny_nws, tmp_path):
    dst = tmp_path / "nws"
    shutil.copytree(tiny_nws, dst)
    return dst


def _first_file(root: Path) -> Path:
    return sorted((root / "c_fixed_mini" / "shard-00000").glob("model-*.safetensors"))[0]


def test_truncated_file_fails_naming_it_or_is_skipped_and_reported(copy_of, caplog):
    f = _first_file(copy_of)
    f.write_bytes(f.read_bytes()[:1000])
    with pytest.raises(RecordError, match=rf"{f.name}.*bytes, the shard index expects"):
        load_dataset("nws", "c_fixed_mini", data_dir=str(copy_of))
    with caplog.at_level(logging.WARNING, logger="nws_datasets"):
        dd = load_dataset("nws", "c_fixed_mini", data_dir=str(copy_of), skip_corrupt=True)
    assert f.name in caplog.text
    assert sum(len(d) for d in dd.values()) == 20 * (len(index_entries(copy_of)) - 1)


def test_corrupted_header_and_missing_file_fail_clearly(copy_of):
    f = _first_file(copy_of)
    data = bytearray(f.read_bytes())
    data[8:12] = b"#!?%"  # same size, broken header
    f.write_bytes(bytes(data))
    split = CONFIG.split_of(int(f.stem.split("-")[1]))
    with pytest.raises(RecordError, match=rf"{f.name}: sha256 [0-9a-f]{{64}}, the shard index expects"):
        next(iter(load_dataset("nws", "c_fixed_mini", data_dir=str(copy_of), streaming=True, split=split)))
    with pytest.raises(RecordError, match=rf"{f.name}: safetensors header is not valid JSON"):
        next(iter(load_dataset("nws", "c_fixed_mini", data_dir=str(copy_of), streaming=True, split=split,
                               verify_checksums=False)))
    f.unlink()
    with pytest.raises(RecordError, match=rf"index.json: lists {f.name} as done, but the file is missing"):
        load_dataset("nws", "c_fixed_mini", data_dir=str(copy_of))


def test_unknown_config_and_nothing_generated(tmp_path):
    with pytest.raises(ValueError, match="c_nope.*c_fixed_mini"):
        load_dataset("nws", "c_nope", data_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"no NWS shards of config 'c_main'.*python -m train.generate "
                                                r"--config c_main"):
        load_dataset("nws", "c_main", data_dir=str(tmp_path / "empty"))


def test_memory_filesystem_round_trip(tiny_nws, tmp_path):
    files = files_to_publish(tiny_nws, ["c_fixed_mini"])
    assert sum(p.name == "index.json" for p in files) == 2
    export(["c_fixed_mini"], tmp_path / "export", str(tiny_nws))
    publish_fsspec(tmp_path / "export", "memory://published/nws")
    remote = load_dataset("nws", "c_fixed_mini", data_dir="memory://published/nws/raw", split="train")
    local = load_dataset("nws", "c_fixed_mini", data_dir=str(tiny_nws), split="train")
    a, b = records(remote), records(local)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    st = load_dataset("nws", "c_fixed_mini", data_dir="memory://published/nws/raw", split="train", streaming=True)
    assert len(list(st)) == len(local)


def test_random_architectures_load_as_variable_length_records(tiny_main):
    dd = load_dataset("nws", "c_main_mini", data_dir=str(tiny_main))
    rows = [r for split in dd.values() for r in split]
    assert len(rows) == 3 * 20
    assert all(len(r["weights"]) == r["n_weights"] for r in rows)
    assert len({r["n_weights"] for r in rows}) > 1  # different architectures
    for r in rows[::20]:
        layout = Layout.from_json(r["layout"])
        assert layout.n_weights == r["n_weights"] and layout.n_conv_weights == r["n_conv_weights"]
    for name, split in dd.items():
        st = load_dataset("nws", "c_main_mini", data_dir=str(tiny_main), split=name, streaming=True)
        a, b = records(split), records(st)
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_metaclf_features_on_ragged_weights(tiny_main):
    from metaclf.data import load_split
    from metaclf.features import global_features, local_features

    ws = load_split("c_main_mini", "train", "filter_size", (-1,), str(tiny_main), converged_only=False, min_classes=1)
    assert not ws.fixed and len(ws.weights) == len(ws) and ws.lengths().min() >= 21_260
    assert global_features(ws.weights).shape == (len(ws), 16)
    f, rows = local_features(ws.weights, ws.n_conv, 1000, 4, "fc", 0)
    assert f.shape == (4 * len(set(rows.tolist())), 16) and np.isfinite(f).all()


def test_metadata_only_loading_reads_headers_and_agrees_with_full_records(tiny_nws, monkeypatch):
    import fsspec.implementations.local as local_fs

    full = load_dataset("nws", "c_fixed_mini", data_dir=str(tiny_nws), split="train")
    read = {"bytes": 0}
    original = local_fs.LocalFileOpener.read

    def counting(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        read["bytes"] += len(out)
        return out

    monkeypatch.setattr(local_fs.LocalFileOpener, "read", counting)
    meta = load_dataset("nws", "c_fixed_mini", data_dir=str(tiny_nws), split="train", weights=False)
    assert "weights" not in meta.features and len(meta) == len(full)
    n_files = len({r["model_id"] for r in full})
    assert read["bytes"] < n_files * 100_000  # headers only, not the ~7 MB files
    cols = [c for c in meta.column_names]
    assert meta.select_columns(cols)[:] == full.select_columns(cols)[:]


def test_the_card_documents_every_column_and_metadata_field_of_the_schema():
    import re

    from nws_datasets.schema import INDEX_FORMAT, MODEL_FORMAT, features

    card = (ROOT / "dataset_card.md").read_text()
    named = set(re.findall(r"`([a-z_0-9]+)`", card)) | set(re.findall(r"^\| ([a-z_0-9]+) \|", card, re.M))
    for config in CONFIGS.values():
        missing = set(features(config)) - named
        assert not missing, f"dataset_card.md does not document columns {missing}"
    assert MODEL_FORMAT in card and INDEX_FORMAT in card
    from types import SimpleNamespace

    from nws_datasets.schema import model_metadata
    from nws_datasets.space import FIXED_ARCHITECTURE, sample_hparams

    hp = {**sample_hparams(CONFIG, 0), **FIXED_ARCHITECTURE}
    result = SimpleNamespace(snapshot_epochs=[0] * 20, epochs=0, stop_reason=None, train_accuracy=[0.1] * 20,
                             val_accuracy=[0.1] * 20, test_accuracy=[0.1] * 20, val_history=[0.1], wall_time_s=1.0)
    meta = model_metadata(CONFIG, model_id=0, shard=0, split="train", seed=0, torch_seed=1, hparams=hp, result=result,
                          protocol={}, profile={}, evaluation={}, device="cpu", overrides={}, versions={},
                          converged=False)
    missing = set(meta) - named
    assert not missing, f"dataset_card.md does not document metadata fields {missing}"


def test_load_is_the_public_api_and_equals_load_dataset(tiny_nws):
    a = nws_datasets.load("c_fixed_mini", split="train", data_dir=str(tiny_nws), snapshots=(-1,))
    b = load_dataset("nws", "c_fixed_mini", split="train", data_dir=str(tiny_nws), snapshots=(-1,))
    assert records(a).keys() == records(b).keys() and all(np.array_equal(records(a)[k], records(b)[k])
                                                          for k in records(a))
    meta = nws_datasets.load("c_fixed_mini", data_dir=str(tiny_nws), columns=["model_id", "optimizer"])
    assert set(meta) == {"train", "test"} and meta["train"].column_names == ["model_id", "optimizer"]
    stream = nws_datasets.load("c_fixed_mini", split="test", data_dir=str(tiny_nws), streaming=True)
    assert sum(1 for _ in stream) == len(load_dataset("nws", "c_fixed_mini", split="test", data_dir=str(tiny_nws)))
    with pytest.raises(ValueError, match="unknown NWS config 'c_nope'"):
        nws_datasets.load("c_nope")
    with pytest.raises(ValueError, match=r"unknown columns \['colour'\]"):
        nws_datasets.load("c_fixed_mini", data_dir=str(tiny_nws), columns=["colour"])


def test_registration_serves_inspection_and_ignores_a_folder_named_nws(tiny_nws, tmp_path, monkeypatch):
    from datasets import get_dataset_config_info, get_dataset_config_names, get_dataset_infos

    assert get_dataset_config_names("nws") == [c.name for c in CONFIGS.values()]
    info = get_dataset_config_info("nws", "c_fixed_mini", data_dir=str(tiny_nws))
    assert info.features["optimizer"].names == ["adam", "rmsprop", "momentum"] and set(info.splits) == {"train", "test"}
    infos = get_dataset_infos("nws", data_dir=str(tiny_nws))  # every config, also those not generated
    assert list(infos) == list(CONFIGS) and infos["c_main"].features["dataset"].names[0] == "mnist"
    assert {s.num_examples for s in infos["c_main"].splits.values()} == {0}
    with pytest.raises(FileNotFoundError, match="python -m train.generate --config c_main"):
        load_dataset("nws", "c_main", data_dir=str(tiny_nws))
    (tmp_path / "nws").mkdir()
    (tmp_path / "nws" / "data.csv").write_text("a,b\n1,2\n")
    monkeypatch.chdir(tmp_path)
    ds = load_dataset("nws", "c_fixed_mini", split="train", data_dir=str(tiny_nws))
    assert "weights" in ds.features


def test_an_unsupported_datasets_warns_at_import_and_load_still_works(tiny_nws, monkeypatch):
    from nws_datasets import registration

    monkeypatch.setattr(registration, "SUPPORTED_DATASETS", (99, 100))
    monkeypatch.setattr(datasets.load.dataset_module_factory, "_nws_hook", False, raising=False)
    with pytest.warns(RuntimeWarning, match="nws_datasets.load"):
        assert registration.register_quietly() is False
    assert len(nws_datasets.load("c_fixed_mini", split="train", data_dir=str(tiny_nws), columns=["model_id"])) > 0


def test_the_card_header_is_generated_from_the_schema_and_parses_on_the_hub_side():
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCard

    from nws_datasets import card
    from nws_datasets.schema import features

    assert card.main(["--check"]) == 0  # the committed card is what the schema generates
    parsed = DatasetCard((ROOT / "dataset_card.md").read_text())
    assert parsed.data.license == "mit"
    assert [c["config_name"] for c in parsed.data.configs] == [n for c in CONFIGS for n in (c, f"{c}_metadata")]
    infos = DatasetInfosDict.from_dataset_card_data(parsed.data)
    for name, config in CONFIGS.items():
        assert infos[name].features == features(config)
        assert infos[f"{name}_metadata"].features == features(config, weights=False)
        assert infos[name].features["optimizer"].names == ["adam", "rmsprop", "momentum"]


def test_the_pytorch_recipes_example_runs_and_shows_what_it_claims(tiny_nws):
    import json
    import os
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "examples/pytorch_recipes.py", "--data-dir", str(tiny_nws)], cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    n_train = len(load_dataset("nws", "c_fixed_mini", split="train", data_dir=str(tiny_nws)))
    assert out["models_in_first_unshuffled_batch"] == 1 and out["models_in_first_shuffled_batch"] > 1
    assert out["records_seen_by_workers"] == out["distinct_records"] == n_train
    assert out["weights_shape"] == [16, 92_868]
    assert out["rebuilt_test_accuracy"] == pytest.approx(out["stored_test_accuracy"], abs=1e-6)
