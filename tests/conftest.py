"""Shared fixtures: an isolated NWS home for the whole session and a tiny generated NWS."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Before anything imports `datasets`: a private cache, and no network.
os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(prefix="nws_hf_cache_")
os.environ["HF_HUB_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def nws_home(tmp_path_factory) -> Path:
    """Every test runs against a private NWS home (image cache and default output root)."""
    home = tmp_path_factory.mktemp("nws_home")
    os.environ["NWS_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def tiny_nws(tmp_path_factory, nws_home) -> Path:
    """A real, tiny c_fixed_mini NWS: shard 0 and 1, 3 models each, 2 epochs per model."""
    from train.generate import main

    root = tmp_path_factory.mktemp("tiny_nws")
    assert main(["--config", "c_fixed_mini", "--shard", "0-1", "--limit", "3", "--max-epochs", "2",
                 "--workers", "2", "--out", str(root), "--quiet"]) == 0
    return root


@pytest.fixture(scope="session")
def tiny_main(tmp_path_factory, nws_home) -> Path:
    """A tiny random-architecture NWS: 3 models of c_main_mini shard 0, 1 epoch each."""
    from train.generate import main

    root = tmp_path_factory.mktemp("tiny_main")
    assert main(["--config", "c_main_mini", "--shard", "0", "--limit", "3", "--max-epochs", "1",
                 "--out", str(root), "--quiet"]) == 0
    return root
