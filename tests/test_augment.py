"""The authors' augmentation: per-image geometry, per-batch intensity (train.augment)."""
import math

import numpy as np
import torch

from train.augment import GEOMETRIC, INTENSITY, augment, geometric, hsv_to_rgb, intensity, rgb_to_hsv, sample_params

IDENTITY = {"translate_x": 0.0, "translate_y": 0.0, "rotation": 0.0, "zoom": 1.0, "shear_x": 0.0, "shear_y": 0.0}


def _params(n=1, **kw):
    return {k: torch.full((n,), float(kw.get(k, v))) for k, v in IDENTITY.items()}


def _tf_transform_reference(img: np.ndarray, p: dict) -> np.ndarray:
    """A second implementation, pixel by pixel, of the authors' matrix and TF's bilinear
    ``ImageProjectiveTransform`` with zero fill (C×H×W)."""
    c, h, w = img.shape
    r, hx, hy = (math.radians(p[k]) for k in ("rotation", "shear_x", "shear_y"))
    z, tx, ty = p["zoom"], p["translate_x"], p["translate_y"]
    a, b, cc, d = hx - r, math.cos(hx), hy + r, math.cos(hy)
    m = [z * math.cos(a) / b, z * math.sin(a) / b,
         (w * b - w * z * math.cos(a) + 2 * tx * z * math.cos(a) - h * z * math.sin(a) + 2 * ty * z * math.sin(a)) / (2 * b),
         z * math.sin(cc) / d, z * math.cos(cc) / d,
         (h * d - h * z * math.cos(cc) + 2 * ty * z * math.cos(cc) - w * z * math.sin(cc) + 2 * tx * z * math.sin(cc)) / (2 * d)]
    out = np.zeros_like(img)

    def read(yy, xx):
        return img[:, yy, xx] if 0 <= yy < h and 0 <= xx < w else np.zeros(c)

    for y in range(h):
        for x in range(w):
            sx, sy = m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]
            x0, y0 = math.floor(sx), math.floor(sy)
            fx, fy = sx - x0, sy - y0
            out[:, y, x] = ((1 - fy) * ((1 - fx) * read(y0, x0) + fx * read(y0, x0 + 1))
                            + fy * ((1 - fx) * read(y0 + 1, x0) + fx * read(y0 + 1, x0 + 1)))
    return out


def test_identity_parameters_leave_the_image_unchanged():
    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(geometric(x, _params(2)), x, atol=1e-5)


def test_translation_by_hand():
    """t_x = 3: m3 = (32 − 32 + 6)/2 = 3, so output column x reads input column x + 3."""
    x = torch.zeros(1, 3, 32, 32)
    x[:, :, 10, 13] = 1.0
    y = geometric(x, _params(translate_x=3))
    assert y[0, 0, 10, 10] > 0.999 and y[0, 0, 10, 13] < 1e-6
    assert torch.all(y[0, :, :, 29:] == 0)  # read from outside the image: zero fill


def test_geometry_matches_a_pixel_by_pixel_reference():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 32, 32, generator=g)
    p = sample_params(3, g)
    y = geometric(x, p)
    for i in range(3):
        ref = _tf_transform_reference(x[i].double().numpy(), {k: p[k][i].item() for k in GEOMETRIC})
        assert np.abs(y[i].numpy() - ref).max() < 1e-4


def test_ranges_geometry_per_image_intensity_per_batch():
    g = torch.Generator().manual_seed(1)
    p = sample_params(20000, g)
    assert GEOMETRIC["zoom"] == (0.901, 1.099)
    for k, (lo, hi) in GEOMETRIC.items():
        assert p[k].shape == (20000,) and p[k].min() >= lo and p[k].max() <= hi, k
        assert p[k].min() < lo + 0.01 * (hi - lo) and p[k].max() > hi - 0.01 * (hi - lo), k
    assert not torch.allclose(p["shear_x"], p["shear_y"])  # two independent shears
    for k, (lo, hi) in INTENSITY.items():
        assert p[k].shape == () and lo <= p[k].item() <= hi, k


def test_intensity_is_one_draw_for_the_whole_batch():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(1, 3, 8, 8).repeat(6, 1, 1, 1)
    p = sample_params(6, g)
    p["noise_std"] = torch.tensor(0.0)
    y = intensity(x, p, torch.randn(x.shape, generator=g))
    assert torch.allclose(y, y[:1].expand_as(y)) and not torch.allclose(y, x)


def test_brightness_and_contrast_by_hand():
    g = torch.Generator().manual_seed(3)
    x = torch.tensor([0.2, 0.4, 0.6, 0.8]).view(1, 1, 2, 2).repeat(1, 3, 1, 1)  # grey: hue/saturation inert
    p = {"brightness": torch.tensor(0.1), "contrast": torch.tensor(1.5), "hue": torch.tensor(0.05),
         "saturation": torch.tensor(1.2), "noise_std": torch.tensor(0.0)}
    # +0.1 → (0.3, 0.5, 0.7, 0.9), mean 0.6; ×1.5 around the mean → (0.15, 0.45, 0.75, 1.05) → clip
    y = intensity(x, p, torch.randn(x.shape, generator=g))
    assert torch.allclose(y, y[:, :1].expand_as(y))  # stays grey
    assert torch.allclose(y[0, 0].flatten(), torch.tensor([0.15, 0.45, 0.75, 1.0]), atol=1e-6)


def test_hsv_round_trip_and_output_range():
    x = torch.rand(8, 3, 16, 16)
    assert torch.allclose(hsv_to_rgb(rgb_to_hsv(x)), x, atol=1e-5)
    g = torch.Generator().manual_seed(4)
    y = augment(torch.rand(1, 3, 32, 32).repeat(8, 1, 1, 1), g)
    assert y.shape == (8, 3, 32, 32) and y.min() >= 0 and y.max() <= 1
    assert not torch.allclose(y[0], y[1])  # each image its own geometry
