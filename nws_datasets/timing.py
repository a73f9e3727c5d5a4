"""Throughput measurement shared by the benchmarks (``python -m …bench``)."""
from __future__ import annotations

import time
from typing import Callable


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def steady_rate(step: Callable[[], object], per_step: int, warmup: int, seconds: float, device: str = "cpu") -> float:
    """Items per second of ``step`` (``per_step`` items a call) after ``warmup`` calls, timed
    over at least ``seconds``."""
    for _ in range(warmup):
        step()
    _sync(device)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        n += per_step
    _sync(device)
    return n / (time.perf_counter() - start)
