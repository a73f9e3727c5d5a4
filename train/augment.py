"""Online augmentation of a mini-batch on its device, as the authors' ``classifier.py`` does it.

Geometric, one draw per image (transformation scale 3): translation t_x, t_y ~ U(−3, 3) px,
rotation r ~ U(−15°, 15°), zoom z ~ U(0.901, 1.099), shear h_x, h_y ~ U(−3°, 3°) each. With
a = h_x − r, b = cos h_x, c = h_y + r, d = cos h_y, output pixel (x, y) (column, row) samples
the input at (m1·x + m2·y + m3, m4·x + m5·y + m6) bilinearly, zero outside the image
(``tf.contrib.image.transform``), where

    m1 = z·cos a / b,  m2 = z·sin a / b,  m3 = (W·b − W·z·cos a + 2t_x·z·cos a − H·z·sin a + 2t_y·z·sin a) / 2b
    m4 = z·sin c / d,  m5 = z·cos c / d,  m6 = (H·d − H·z·cos c + 2t_y·z·cos c − W·z·sin c + 2t_x·z·sin c) / 2d

Intensity, ONE draw per mini-batch (TensorFlow's ``random_*`` image ops on the batch tensor),
in this order: brightness + U(−0.2, 0.2); contrast k·(x − μ) + μ with k ~ U(0.5, 1.5) and μ the
mean of each image's channel; hue + U(−0.08, 0.08) (cyclic); saturation × U(0.3, 1.5)
(clipped to [0, 1]); Gaussian noise with σ ~ U(0, 0.03); finally clip to [0, 1].
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SCALE = 3.0  #: the authors' ``transf_scaling``
#: Per-image geometric ranges (translation in px, angles in degrees).
GEOMETRIC: dict[str, tuple[float, float]] = {
    "translate_x": (-SCALE, SCALE), "translate_y": (-SCALE, SCALE), "rotation": (-5 * SCALE, 5 * SCALE),
    "zoom": (1 - 0.033 * SCALE, 1 + 0.033 * SCALE), "shear_x": (-SCALE, SCALE), "shear_y": (-SCALE, SCALE),
}
#: Per-batch intensity ranges.
INTENSITY: dict[str, tuple[float, float]] = {
    "brightness": (-0.2, 0.2), "contrast": (0.5, 1.5), "hue": (-0.08, 0.08), "saturation": (0.3, 1.5),
    "noise_std": (0.0, 0.03),
}
#: What every model's metadata records about augmentation.
PROTOCOL = {"geometric_per_image": GEOMETRIC, "intensity_per_batch": INTENSITY,
            "interpolation": "bilinear, zero fill", "order": "geometric, brightness, contrast, hue, saturation, "
            "noise, clip [0, 1]"}


def _uniform(shape: tuple[int, ...], lo: float, hi: float, generator: torch.Generator, device) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=device) * (hi - lo) + lo


def sample_params(n: int, generator: torch.Generator, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Geometric parameters for each of ``n`` images (shape [n]) and intensity ones for the batch (shape [])."""
    out = {k: _uniform((n,), lo, hi, generator, device) for k, (lo, hi) in GEOMETRIC.items()}
    out.update({k: _uniform((), lo, hi, generator, device) for k, (lo, hi) in INTENSITY.items()})
    return out


def transform_matrix(p: dict[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
    """The authors' output → input pixel map [n, 2, 3] (rows (m1 m2 m3), (m4 m5 m6))."""
    rad = math.pi / 180
    r, hx, hy, z = p["rotation"] * rad, p["shear_x"] * rad, p["shear_y"] * rad, p["zoom"]
    tx, ty = p["translate_x"], p["translate_y"]
    a, b, c, d = hx - r, torch.cos(hx), hy + r, torch.cos(hy)
    ca, sa, cc, sc = torch.cos(a), torch.sin(a), torch.cos(c), torch.sin(c)
    sx, sy = float(width), float(height)
    m1, m2 = z * ca / b, z * sa / b
    m3 = (sx * b - sx * z * ca + 2 * tx * z * ca - sy * z * sa + 2 * ty * z * sa) / (2 * b)
    m4, m5 = z * sc / d, z * cc / d
    m6 = (sy * d - sy * z * cc + 2 * ty * z * cc - sx * z * sc + 2 * tx * z * sc) / (2 * d)
    return torch.stack([torch.stack([m1, m2, m3], -1), torch.stack([m4, m5, m6], -1)], -2)


def geometric(x: torch.Tensor, p: dict[str, torch.Tensor]) -> torch.Tensor:
    """Warp an N×C×H×W batch with each image's own transform (bilinear, zero fill)."""
    n, _, h, w = x.shape
    m = transform_matrix(p, h, w)
    cols = torch.arange(w, device=x.device, dtype=x.dtype)
    rows = torch.arange(h, device=x.device, dtype=x.dtype)
    yy, xx = torch.meshgrid(rows, cols, indexing="ij")
    pix = torch.stack([xx, yy, torch.ones_like(xx)], -1).reshape(1, h * w, 3)
    src = pix @ m.transpose(1, 2)  # [n, h*w, 2]: input (x, y) in pixels
    # grid_sample with align_corners=True maps -1/+1 to the centres of the first/last pixel
    grid = torch.stack([2 * src[..., 0] / (w - 1) - 1, 2 * src[..., 1] / (h - 1) - 1], -1).reshape(n, h, w, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """N×3×H×W RGB → HSV with hue in [0, 1) (TensorFlow's formulas; values need not lie in [0, 1])."""
    r, g, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    delta = maxc - minc
    s = torch.where(maxc > 0, delta / torch.where(maxc > 0, maxc, torch.ones_like(maxc)), torch.zeros_like(maxc))
    d = torch.where(delta > 0, delta, torch.ones_like(delta))
    h = torch.where(maxc == r, (g - b) / d, torch.where(maxc == g, (b - r) / d + 2, (r - g) / d + 4))
    h = torch.where(delta > 0, (h / 6) % 1.0, torch.zeros_like(h))
    return torch.stack((h, s, maxc), 1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_hsv`."""
    h, s, v = x.unbind(1)
    k = (torch.tensor([5.0, 3.0, 1.0], device=x.device, dtype=x.dtype).view(1, 3, 1, 1) + 6 * h.unsqueeze(1)) % 6
    return v.unsqueeze(1) - v.unsqueeze(1) * s.unsqueeze(1) * torch.clamp(torch.minimum(k, 4 - k), 0, 1)


def _per_image(t: torch.Tensor, ndim: int) -> torch.Tensor:
    """A batch-wide parameter (shape []) as is, or one per image (shape [n]) shaped to broadcast
    over a tensor of ``ndim`` dimensions whose first is the image."""
    return t if t.ndim == 0 else t.view(-1, *([1] * (ndim - 1)))


def intensity(x: torch.Tensor, p: dict[str, torch.Tensor], noise: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast, hue, saturation and noise ``noise`` × σ; clip to [0, 1].

    The intensity parameters are one draw for the batch (shape []) or, when several models'
    batches are augmented together (:mod:`train.batched`), one per image (shape [n]).
    """
    x = x + _per_image(p["brightness"], 4)
    mu = x.mean((2, 3), keepdim=True)
    x = _per_image(p["contrast"], 4) * (x - mu) + mu
    hsv = rgb_to_hsv(x)
    hsv = torch.stack(((hsv[:, 0] + _per_image(p["hue"], 3)) % 1.0, hsv[:, 1], hsv[:, 2]), 1)
    x = hsv_to_rgb(hsv)
    hsv = rgb_to_hsv(x)
    x = hsv_to_rgb(torch.stack((hsv[:, 0], (hsv[:, 1] * _per_image(p["saturation"], 3)).clamp(0, 1), hsv[:, 2]), 1))
    x = x + noise * _per_image(p["noise_std"], 4)
    return x.clamp(0, 1)


def draw(shape: torch.Size | tuple[int, ...], generator: torch.Generator, device: torch.device | str = "cpu"
         ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Every random draw of augmenting one N×C×H×W mini-batch of ``shape``, in the authors'
    order: the parameters (:func:`sample_params`), then the unit Gaussian noise of ``shape``."""
    return sample_params(shape[0], generator, device), torch.randn(tuple(shape), generator=generator, device=device)


def apply(x: torch.Tensor, p: dict[str, torch.Tensor], noise: torch.Tensor) -> torch.Tensor:
    """Augment an N×3×H×W batch in [0, 1] with drawn parameters: warp, then change the intensity."""
    return intensity(geometric(x, p), p, noise)


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Augment an N×C×H×W batch in [0, 1] with draws from ``generator``, in the memory layout of
    ``x`` (the trainer's batches are channels-last views of the NHWC images, the layout in which
    the network's convolutions run fastest)."""
    out = apply(x, *draw(x.shape, generator, x.device))
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        out = out.contiguous(memory_format=torch.channels_last)
    return out
