"""Online augmentation of a whole mini-batch on its device, with per-image random parameters.

Ranges (DESIGN.md, App. A.1): translation ±3 px, rotation ±15°, zoom ±3.3%, shear ±3°,
brightness +U(−0.2, 0.2), contrast k(x − μ) + μ with k ∈ [0.5, 1.5], hue +U(−0.08, 0.08),
saturation ×U(0.3, 1.5), Gaussian noise σ ∈ [0, 0.03]. ``magnitude`` scales every parameter
towards identity; at 0 the batch comes back unchanged.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

RANGES: dict[str, tuple[float, float]] = {
    "translate_x": (-3.0, 3.0), "translate_y": (-3.0, 3.0), "rotation": (-15.0, 15.0),
    "zoom": (1 - 0.033, 1 + 0.033), "shear": (-3.0, 3.0), "brightness": (-0.2, 0.2),
    "contrast": (0.5, 1.5), "hue": (-0.08, 0.08), "saturation": (0.3, 1.5), "noise_std": (0.0, 0.03),
}
IDENTITY: dict[str, float] = {"translate_x": 0, "translate_y": 0, "rotation": 0, "zoom": 1, "shear": 0,
                              "brightness": 0, "contrast": 1, "hue": 0, "saturation": 1, "noise_std": 0}


def sample_params(n: int, generator: torch.Generator, device: torch.device | str = "cpu",
                  magnitude: float = 1.0) -> dict[str, torch.Tensor]:
    """Per-image parameters: uniform in each range, pulled towards identity by ``magnitude``."""
    out = {}
    for k, (lo, hi) in RANGES.items():
        u = torch.rand(n, generator=generator, device=device) * (hi - lo) + lo
        out[k] = IDENTITY[k] + magnitude * (u - IDENTITY[k])
    return out


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """N×3×H×W RGB in [0, 1] → HSV with hue in [0, 1)."""
    r, g, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    delta = maxc - minc
    s = torch.where(maxc > 0, delta / maxc.clamp_min(1e-12), torch.zeros_like(maxc))
    d = delta.clamp_min(1e-12)
    h = torch.where(maxc == r, ((g - b) / d) % 6, torch.where(maxc == g, (b - r) / d + 2, (r - g) / d + 4))
    h = torch.where(delta > 0, h / 6, torch.zeros_like(h))
    return torch.stack((h, s, maxc), 1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_hsv`."""
    h, s, v = x.unbind(1)
    k = (torch.tensor([5.0, 3.0, 1.0], device=x.device).view(1, 3, 1, 1) + 6 * h.unsqueeze(1)) % 6
    return v.unsqueeze(1) - v.unsqueeze(1) * s.unsqueeze(1) * torch.clamp(torch.minimum(k, 4 - k), 0, 1)


def apply(x: torch.Tensor, p: dict[str, torch.Tensor], generator: torch.Generator) -> torch.Tensor:
    """Augment an N×3×H×W batch in [0, 1] with per-image parameters ``p``."""
    n, _, h, w = x.shape
    rot, shear = p["rotation"] * (math.pi / 180), p["shear"] * (math.pi / 180)
    cos, sin, z = torch.cos(rot), torch.sin(rot), p["zoom"]
    # forward map A = R(rot) · Shear(shear) · zoom; affine_grid wants output → input, i.e. A⁻¹
    a = torch.stack([torch.stack([cos, -sin + cos * torch.tan(shear)], -1),
                     torch.stack([sin, cos + sin * torch.tan(shear)], -1)], -2) * z.view(n, 1, 1)
    inv = torch.linalg.inv(a)
    t = torch.stack([2 * p["translate_x"] / w, 2 * p["translate_y"] / h], -1)
    theta = torch.cat([inv, -(inv @ t.unsqueeze(-1))], -1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    x = x + p["brightness"].view(n, 1, 1, 1)
    mu = x.mean((1, 2, 3), keepdim=True)
    x = p["contrast"].view(n, 1, 1, 1) * (x - mu) + mu
    hsv = rgb_to_hsv(x.clamp(0, 1))
    hue = (hsv[:, 0] + p["hue"].view(n, 1, 1)) % 1.0
    sat = (hsv[:, 1] * p["saturation"].view(n, 1, 1)).clamp(0, 1)
    x = hsv_to_rgb(torch.stack((hue, sat, hsv[:, 2]), 1))
    noise = torch.randn(x.shape, generator=generator, device=x.device)
    return (x + noise * p["noise_std"].view(n, 1, 1, 1)).clamp(0, 1)


def augment(x: torch.Tensor, generator: torch.Generator, magnitude: float = 1.0) -> torch.Tensor:
    """Draw parameters for every image of the batch and apply them (one call, no per-image Python)."""
    return apply(x, sample_params(x.shape[0], generator, x.device, magnitude), generator)
