"""The DMC training loop (App. F): Adam 1e-3, learning rate ×0.95 fifty times over training,
checkpointed after every pass and resumable bit-identically."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ... import checkpoint as checkpoints
from ... import recipe
from .batchnorm import Sampler, precise_bn
from .network import DMC


def _resume(checkpoint: Path | None, settings: dict[str, Any], model: DMC, opt: torch.optim.Optimizer,
            sched: Any, rng: np.random.Generator, device: str) -> tuple[int, list[dict[str, Any]]]:
    """Load the state of a checkpoint written with the same ``settings``: (step, history)."""
    if checkpoint is None or not checkpoint.exists() or checkpoints.read_state(checkpoint)["settings"] != settings:
        return 0, []
    state = checkpoints.load(checkpoint, model, opt, device)
    sched.load_state_dict(state["sched"])
    rng.bit_generator.state = state["rng"]
    return state["step"], state["history"]


def _one_pass(model: DMC, sample: Sampler, y_all: torch.Tensor, rng: np.random.Generator, opt: torch.optim.Optimizer,
              sched: Any, step: int, steps: int, batch_size: int, device: str) -> tuple[int, dict[str, float]]:
    """One pass over the shuffled records (cut at ``steps``): (step reached, its loss and accuracy)."""
    model.train()
    order = rng.permutation(len(y_all))
    loss_sum, correct, seen = 0.0, 0, 0
    for i in range(0, len(order), batch_size):
        b = order[i:i + batch_size]
        if len(b) < 2 or step >= steps:
            continue
        logits = model(torch.as_tensor(sample(b, rng), device=device))
        loss = nn.functional.cross_entropy(logits, y_all[b])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        loss_sum += loss.item() * len(b)
        correct += (logits.argmax(1) == y_all[b]).sum().item()
        seen += len(b)
    return step, {"step": step, "loss": loss_sum / max(seen, 1), "train_accuracy": correct / max(seen, 1)}


def train(model: DMC, sample: Sampler, labels: np.ndarray, steps: int, checkpoint: Path | None,
          settings: dict[str, Any], device: str, seed: int, batch_size: int = recipe.DMC_BATCH_SIZE,
          desc: str = "dmc") -> dict[str, Any]:
    """Train ``steps`` optimizer steps on inputs ``sample(indices, rng)`` with ``labels``.

    After each pass the state is checkpointed to ``checkpoint`` (if given), from which a run
    with the same ``settings`` resumes bit-identically. Finally BN's population statistics
    are set from training inputs (precise BN).
    """
    torch.manual_seed(seed)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.95 ** min(50, (50 * step) // steps))
    rng = np.random.default_rng(seed)
    settings = json.loads(json.dumps({**settings, "steps": steps}))  # as it reads back from the checkpoint
    step, history = _resume(checkpoint, settings, model, opt, sched, rng, device)
    start_step = step
    y_all = torch.as_tensor(labels, device=device)
    bar = tqdm(total=steps, initial=step, desc=desc, unit="step")
    t0 = time.perf_counter()
    while step < steps:
        step, entry = _one_pass(model, sample, y_all, rng, opt, sched, step, steps, batch_size, device)
        history.append(entry)
        bar.update(step - bar.n)
        bar.set_postfix(loss=f"{entry['loss']:.3f}", acc=f"{entry['train_accuracy']:.3f}")
        if checkpoint is not None:
            checkpoints.save(checkpoint, model, opt, {"settings": settings, "sched": sched.state_dict(),
                                                      "rng": rng.bit_generator.state, "step": step,
                                                      "history": history})
    bar.close()
    precise_bn(model, sample, len(labels), rng, device)
    return {"history": history, "train_seconds": time.perf_counter() - t0, "resumed_from_step": start_step}
