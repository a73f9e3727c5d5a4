"""DMC checkpoints without pickle: tensors in safetensors, everything else as JSON.

A checkpoint holds the network's state dict (``model.*``), the optimizer's per-parameter
state (``opt.<index>.<name>``), torch's RNG state (``torch_rng``), and a JSON document
(settings, epoch, history, optimizer param groups, scheduler and numpy RNG state) under the
safetensors metadata key ``"nws_checkpoint"``. Loading a file that is anything else — a
pickle included — raises :class:`CheckpointError` without executing a byte of it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from nws_datasets.storage import atomic_path

KEY = "nws_checkpoint"


class CheckpointError(ValueError):
    """A checkpoint file is not an NWS checkpoint or is corrupt."""


def save(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Write the model, optimizer and JSON-serializable ``state`` atomically."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt_state = opt.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in opt_state["state"].items():
        for name, value in st.items():
            if isinstance(value, torch.Tensor):
                tensors[f"opt.{idx}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(idx), {})[name] = value
    tensors["torch_rng"] = torch.get_rng_state()
    doc = {**state, "opt_param_groups": opt_state["param_groups"], "opt_scalars": scalars}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={KEY: json.dumps(doc)})


def load(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer | None, device: str) -> dict[str, Any]:
    """Restore ``model`` (and ``opt``) from ``path``; return the JSON state. Never unpickles."""
    try:
        tensors = load_file(str(path), device="cpu")
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(n))
        doc = json.loads(header["__metadata__"][KEY])
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: not an NWS checkpoint (safetensors with {KEY!r} metadata): "
                              f"{type(err).__name__}: {err}; delete it to train from scratch") from None
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    model.to(device)
    if opt is not None:
        per_param: dict[int, dict[str, Any]] = {}
        for k, v in tensors.items():
            if k.startswith("opt."):
                _, idx, name = k.split(".", 2)
                per_param.setdefault(int(idx), {})[name] = v.to(device) if name != "step" else v
        for idx, values in doc["opt_scalars"].items():
            per_param.setdefault(int(idx), {}).update(values)
        opt.load_state_dict({"state": per_param, "param_groups": doc["opt_param_groups"]})
    torch.set_rng_state(tensors["torch_rng"])
    return doc


def read_state(path: Path) -> dict[str, Any]:
    """The JSON state of a checkpoint (settings, epoch, …) without loading any tensor."""
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if n > 100_000_000:
                raise ValueError(f"header of {n} bytes")
            return json.loads(json.loads(f.read(n))["__metadata__"][KEY])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: not an NWS checkpoint (safetensors with {KEY!r} metadata): "
                              f"{type(err).__name__}: {err}; delete it to train from scratch") from None
