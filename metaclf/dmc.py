"""Deep meta-classifiers (DMCs): the 1D CNNs of Table 3 and their training recipe (App. F).

Local DMC: 12 conv + 6 FC layers on a window of S consecutive weights (5,000 in the paper),
with the max-pools of layers 6–11 adapted to S (App. F.2) so the flattened length stays
≈ 19. Global DMC: 15 conv + 6 FC layers on the whole θ of the fixed architecture (92,868).
Conv 5×1 "same" + BN + ReLU, dropout 0.5 in the FC layers, Glorot-normal init; Adam 1e-3,
batch 64, learning rate ×0.95 fifty times over training. With ``width=1`` and ``fc=1024``
the local DMC has 10,407,685 and the global 10,948,997 weights for 5 classes, as in Table 3.

Training checkpoints after every epoch (atomically) and resumes from the checkpoint when the
same run is started again.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import checkpoint as checkpoints

# (channels, max-pool after) of the conv layers of Table 3
LOCAL_CONV = [(8, 1), (16, 1), (32, 0), (64, 1), (128, 0), (256, 1), (256, 1), (256, 1), (256, 1), (256, 0),
              (256, 0), (256, 1)]
GLOBAL_CONV = [(8, 1), (16, 1), (32, 1), (64, 1), (128, 1), (128, 1), (128, 1), (128, 1), (128, 1), (128, 0),
               (256, 1), (256, 0), (256, 1), (256, 0), (256, 1)]
ADAPTIVE_LAYERS = range(5, 11)  # layers 6–11 (0-based 5..10) of the local DMC
REFERENCE_LENGTH = 5000 / 2 ** 8  # flattened length of the paper's local DMC (≈ 19.5)


@dataclass(frozen=True)
class DMCProfile:
    """Width and schedule of DMC training: the paper's, or a CPU-sized ``mini`` one."""

    name: str
    width: float = 1.0  # multiplier of the conv channel counts
    fc: int = 1024  # width of the hidden FC layers (the last hidden one is 64)
    local_epochs: int = 500
    global_epochs: int = 100
    eval_positions: int = 20  # window positions averaged per model at evaluation
    #: dropout of the FC layers; the mini profile's FC layers are 8× narrower, where 0.5
    #: slows fitting several-fold (tests/test_metaclf.py), so it uses 0.2
    dropout: float = 0.5


DMC_PROFILES = {
    "paper": DMCProfile("paper"),
    "mini": DMCProfile("mini", width=0.125, fc=128, local_epochs=150, global_epochs=15, eval_positions=10,
                       dropout=0.2),
}


def local_conv_spec(size: int) -> list[tuple[int, int]]:
    """Table 3's local conv layers with the pools of layers 6–11 adapted to the window size."""
    base = sum(p for i, (_, p) in enumerate(LOCAL_CONV) if i not in ADAPTIVE_LAYERS)
    k = int(np.clip(round(math.log2(size / REFERENCE_LENGTH)) - base, 0, len(ADAPTIVE_LAYERS)))
    return [(c, (i - ADAPTIVE_LAYERS.start) < k if i in ADAPTIVE_LAYERS else p) for i, (c, p) in enumerate(LOCAL_CONV)]


class DMC(nn.Module):
    """A 1D CNN meta-classifier: input [N, 1, L] weights → class logits."""

    def __init__(self, length: int, classes: int, conv: list[tuple[int, int]], width: float = 1.0, fc: int = 1024,
                 dropout: float = 0.5):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for c, pool in conv:
            c_out = max(1, round(c * width))
            layers += [nn.Conv1d(c_in, c_out, 5, padding=2), nn.BatchNorm1d(c_out), nn.ReLU()]
            if pool:
                layers.append(nn.MaxPool1d(2))
                length //= 2
            c_in = c_out
        if length < 1:
            raise ValueError("input too short for this DMC")
        f = c_in * length
        layers.append(nn.Flatten())
        for w in (fc, fc, fc, fc, 64):
            layers += [nn.Linear(f, w), nn.BatchNorm1d(w), nn.ReLU(), nn.Dropout(dropout)]
            f = w
        layers.append(nn.Linear(f, classes))
        self.net = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv1d | nn.Linear):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def local_dmc(size: int, classes: int, profile: DMCProfile) -> DMC:
    return DMC(size, classes, local_conv_spec(size), profile.width, profile.fc, profile.dropout)


def global_dmc(length: int, classes: int, profile: DMCProfile) -> DMC:
    return DMC(length, classes, GLOBAL_CONV, profile.width, profile.fc, profile.dropout)


def n_weights(model: nn.Module) -> int:
    """Trainable parameters plus BN moving statistics (how Table 3 counts)."""
    return sum(p.numel() for p in model.parameters()) + sum(
        m.running_mean.numel() + m.running_var.numel() for m in model.modules() if isinstance(m, nn.BatchNorm1d))


Sampler = Callable[[np.ndarray, np.random.Generator], np.ndarray]  # record indices → inputs [B, L]


def train(model: DMC, sample: Sampler, labels: np.ndarray, epochs: int, checkpoint: Path, settings: dict[str, Any],
          device: str, seed: int, batch_size: int = 64, desc: str = "dmc") -> dict[str, Any]:
    """Train with Adam 1e-3, batch 64, LR ×0.95 fifty times; resume from ``checkpoint`` if it matches."""
    torch.manual_seed(seed)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    steps_per_epoch = max(1, math.ceil(len(labels) / batch_size))
    total = epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.95 ** min(50, (50 * step) // total))
    rng = np.random.default_rng(seed)
    start_epoch, history = 0, []
    settings = json.loads(json.dumps(settings))  # as it reads back from the checkpoint
    if checkpoint.exists() and checkpoints.read_state(checkpoint)["settings"] == settings:
        state = checkpoints.load(checkpoint, model, opt, device)
        sched.load_state_dict(state["sched"])
        rng.bit_generator.state = state["rng"]
        start_epoch, history = state["epoch"], state["history"]
    y_all = torch.as_tensor(labels, device=device)
    bar = tqdm(range(start_epoch, epochs), initial=start_epoch, total=epochs, desc=desc, unit="epoch")
    t0 = time.perf_counter()
    for epoch in bar:
        model.train()
        order = rng.permutation(len(labels))
        loss_sum, correct = 0.0, 0
        for i in range(0, len(order), batch_size):
            b = order[i:i + batch_size]
            if len(b) < 2:
                continue
            x = torch.as_tensor(sample(b, rng), device=device).unsqueeze(1)
            logits = model(x)
            loss = nn.functional.cross_entropy(logits, y_all[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(b)
            correct += (logits.argmax(1) == y_all[b]).sum().item()
        history.append({"epoch": epoch + 1, "loss": loss_sum / len(order), "train_accuracy": correct / len(order)})
        bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", acc=f"{history[-1]['train_accuracy']:.3f}")
        checkpoints.save(checkpoint, model, opt, {"settings": settings, "sched": sched.state_dict(),
                                                  "rng": rng.bit_generator.state, "epoch": epoch + 1,
                                                  "history": history})
    bar.close()
    return {"history": history, "train_seconds": time.perf_counter() - t0, "resumed_from_epoch": start_epoch}


@torch.inference_mode()
def predict_proba(model: DMC, inputs: np.ndarray, device: str, batch_size: int = 256) -> np.ndarray:
    """Softmax probabilities of inputs [N, L] (eval mode)."""
    model.eval()
    out = [torch.softmax(model(torch.as_tensor(inputs[i:i + batch_size], device=device).unsqueeze(1)), 1).cpu()
           for i in range(0, len(inputs), batch_size)]
    return torch.cat(out).numpy()


def profile_dict(profile: DMCProfile) -> dict[str, Any]:
    return asdict(profile)
