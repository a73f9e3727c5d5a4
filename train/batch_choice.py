"""Which K batched generation uses on this device: ``--batch auto`` reads the K sweep.

``python -m train.bench --sweep`` measures models/hour for several K on a device and stores
the result here (``$NWS_HOME/bench/batch-sweep.json``, one entry per device name, written
atomically); ``train.generate --batch auto`` then takes the fastest measured K. A device
that has not been measured gets K = 1, the one-at-a-time path: the choice is measured,
never guessed.
"""
from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import torch

from nws_datasets.storage import atomic_path, nws_home


def device_name(device: str) -> str:
    """A name for the device kind: the GPU's model, or the CPU's with its thread count."""
    if device == "cuda":
        return torch.cuda.get_device_name()
    return f"cpu {platform.machine()} {platform.processor() or ''} x{torch.get_num_threads()}".replace("  ", " ")


def sweep_path() -> Path:
    return nws_home() / "bench" / "batch-sweep.json"


def _read() -> dict[str, Any]:
    path = sweep_path()
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable sweep file ({err}); delete it and run "
                         "`python -m train.bench --sweep` again") from None
    return data if isinstance(data, dict) else {}


def save_sweep(result: dict[str, Any]) -> Path:
    """Store a sweep result under its device name; return the file."""
    data = _read()
    data[result["device_name"]] = result
    path = sweep_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1))
    return path


def batch_size_for(value: str, device: str) -> int:
    """``--batch``: a positive integer, or ``auto`` for the fastest K measured on this device."""
    if value == "auto":
        measured = _read().get(device_name(device))
        return int(measured["fastest_k"]) if measured else 1
    try:
        k = int(value)
    except ValueError:
        k = 0
    if k < 1:
        raise ValueError(f"--batch {value!r} is not valid: expected a positive integer or 'auto'")
    return k
