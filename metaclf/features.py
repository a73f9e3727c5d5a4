"""The 16 statistics of θ and ∇θ, and the global, layer-wise and local feature sets (App. E).

Statistics: mean, variance, skewness and the 1/25/50/75/99th percentiles of the weights and
of their finite difference ∇θ (consecutive weights) = 16. All are computed with numpy along
the last axis of a 2D array, so many windows or models are processed in one call; the rows
go through in blocks of about ``BLOCK_BYTES``, so that the sort, the difference and the
moment passes of a block read it from the CPU cache rather than from memory.
"""
from __future__ import annotations

import numpy as np

from nws_datasets.architecture import Layout

STATS = ("mean", "var", "skew", "p1", "p25", "p50", "p75", "p99")
FEATURES = STATS + tuple(f"{s}_d" for s in STATS)
PERCENTILES = (1, 25, 50, 75, 99)
BLOCK_BYTES = 1 << 19  #: rows per block of :func:`statistics`: about 512 KiB, inside a core's L2 cache


def _stats(x: np.ndarray) -> np.ndarray:
    """[n, L] → [n, 8]: mean, variance, skewness (biased, as scipy's ``skew``) and the
    percentiles with numpy's linear interpolation.

    Moments use scipy's two-pass formulas: deviations from the float64 mean in the input's
    dtype, sums accumulated in float64; percentiles read the order statistics they need
    from one ``np.sort`` in the input's dtype (numpy's vectorized sort is several times faster
    than ``np.partition`` with ten ranks, and than ``np.percentile``'s float64 copy).
    """
    n = x.shape[-1]
    mean = x.mean(-1, dtype=np.float64)
    d = x - mean[:, None].astype(x.dtype)  # deviations in the input's dtype,
    dk = d * d
    m2 = dk.sum(-1, dtype=np.float64) / n  # accumulated in float64
    dk *= d
    m3 = dk.sum(-1, dtype=np.float64) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        skewness = m3 / m2 ** 1.5
    q = np.asarray(PERCENTILES, np.float64) / 100 * (n - 1)
    lo = np.floor(q).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    ordered = np.sort(x, axis=-1)
    a, b, t = ordered[:, lo].astype(np.float64), ordered[:, hi].astype(np.float64), q - lo
    pct = np.where(t < 0.5, a + (b - a) * t, b - (b - a) * (1 - t))
    return np.column_stack([mean, m2, skewness, pct])


def statistics(x: np.ndarray) -> np.ndarray:
    """[n, L] → [n, 16]: the statistics of each row and of its finite difference."""
    x = np.atleast_2d(x)
    out = np.empty((len(x), 2 * len(STATS)))
    rows = max(1, BLOCK_BYTES // max(1, x.shape[-1] * x.itemsize))
    for i in range(0, len(x), rows):
        block = x[i:i + rows]
        out[i:i + rows, :len(STATS)] = _stats(block)
        out[i:i + rows, len(STATS):] = _stats(np.diff(block, axis=-1))
    return np.nan_to_num(out)


def global_features(weights: np.ndarray | list[np.ndarray]) -> np.ndarray:
    """16 features over the whole θ of every record."""
    if isinstance(weights, np.ndarray):
        return statistics(weights)
    return np.vstack([statistics(w[None]) for w in weights])


def layerwise_groups(layout: Layout) -> list[tuple[str, slice]]:
    """(name, slice) of every (layer, kind) group except the output layer: 30 for the fixed architecture."""
    last = layout.entries[-1].layer
    return [(e.key, slice(e.offset, e.offset + e.size)) for e in layout.entries if e.layer != last]


def layerwise_features(weights: np.ndarray, layout: Layout) -> tuple[np.ndarray, list[str]]:
    """16 features per layer and weight kind: [n, 16 × groups] (480 for the fixed architecture)."""
    if not isinstance(weights, np.ndarray):
        raise ValueError("layer-wise features need a fixed architecture (every θ with the same layout)")
    groups = layerwise_groups(layout)
    feats = np.hstack([statistics(weights[:, s]) for _, s in groups])
    return feats, [f"{name}.{f}" for name, _ in groups for f in FEATURES]


def whole_theta_features(records, kind: str) -> tuple[np.ndarray, list[str]]:
    """[n, F] ``global`` or ``layerwise`` features of the records (a :class:`metaclf.data.WeightSet`),
    and their names."""
    if kind == "layerwise":
        return layerwise_features(records.weights, Layout.from_json(records.layout))
    return global_features(records.weights), list(FEATURES)


def part_bounds(n_weights: np.ndarray, n_conv: np.ndarray, part: str) -> tuple[np.ndarray, np.ndarray]:
    """[lo, hi) of the weights a window may cover: all, conv only or FC only (never crossing the split)."""
    if part == "all":
        return np.zeros_like(n_weights), n_weights
    if part == "conv":
        return np.zeros_like(n_weights), n_conv
    if part == "fc":
        return n_conv, n_weights
    raise ValueError(f"unknown part {part!r}; expected all, conv or fc")


def usable_windows(records, part: str, size: int, split: str):
    """The records (a :class:`metaclf.data.WeightSet`) whose ``part`` weights hold a window of
    ``size``; a :class:`metaclf.data.DataError` naming the largest there is if none does."""
    from .data import DataError

    lo, hi = part_bounds(records.lengths(), records.n_conv, part)
    ok = hi - lo >= size
    if not ok.any():
        raise DataError(f"--subset-size {size} is larger than the {part} weights of every {split} record "
                        f"(at most {int((hi - lo).max())}); use a smaller --subset-size")
    return records.subset(ok)


def window_starts(lo: np.ndarray, hi: np.ndarray, size: int, u: np.ndarray) -> np.ndarray:
    """Window starts at relative positions ``u`` ∈ [0, 1] ([n] or [n, k]) inside [lo, hi − size]."""
    span = (hi - lo - size).reshape((-1,) + (1,) * (np.ndim(u) - 1))
    if np.any(span < 0):
        raise ValueError(f"a window of {size} weights does not fit in a part of {int((hi - lo).min())} weights")
    return lo.reshape(span.shape) + np.floor(u * (span + 1) - 1e-9).clip(0).astype(np.int64)


def gather_windows(weights: np.ndarray | list[np.ndarray], starts: np.ndarray, size: int) -> np.ndarray:
    """Windows θ[s : s + size] for starts [n, k] → [n, k, size], one fancy index per record set."""
    if isinstance(weights, np.ndarray):  # a strided view of every window; only the chosen ones are copied
        view = np.lib.stride_tricks.sliding_window_view(weights, size, axis=1)
        return view[np.arange(len(weights))[:, None], starts]
    return np.stack([np.lib.stride_tricks.sliding_window_view(w, size)[s] for w, s in zip(weights, starts)])


def local_features(weights: np.ndarray | list[np.ndarray], n_conv: np.ndarray, size: int, windows: int,
                   part: str = "all", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """16 features of ``windows`` fixed random windows per θ: ([n·windows, 16], record index of each row).

    Records whose part is shorter than ``size`` are left out (their index does not appear).
    """
    lengths = np.array([len(w) for w in weights]) if not isinstance(weights, np.ndarray) \
        else np.full(len(weights), weights.shape[1])
    lo, hi = part_bounds(lengths, n_conv, part)
    ok = np.flatnonzero(hi - lo >= size)
    u = np.random.default_rng(seed).random((len(ok), windows))
    starts = window_starts(lo[ok], hi[ok], size, u)
    sub = weights[ok] if isinstance(weights, np.ndarray) else [weights[i] for i in ok]
    win = gather_windows(sub, starts, size)
    return statistics(win.reshape(-1, size)), np.repeat(ok, windows)


def windows_at(records, rows: np.ndarray, starts: np.ndarray, size: int) -> np.ndarray:
    """Windows [len(rows), size] of ``records`` (a :class:`metaclf.data.WeightSet`) starting at
    ``starts`` (one per row, from :func:`window_starts`)."""
    sub = records.weights[rows] if records.fixed else [records.weights[i] for i in rows]
    return gather_windows(sub, np.asarray(starts)[:, None], size)[:, 0]
