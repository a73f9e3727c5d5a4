import torch

from train.augment import IDENTITY, RANGES, apply, augment, hsv_to_rgb, rgb_to_hsv, sample_params


def test_zero_magnitude_is_identity():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 3, 32, 32)
    assert torch.allclose(augment(x, g, magnitude=0.0), x, atol=1e-5)


def test_parameters_stay_in_their_ranges_and_cover_them():
    g = torch.Generator().manual_seed(1)
    p = sample_params(20000, g)
    for k, (lo, hi) in RANGES.items():
        assert p[k].min() >= lo and p[k].max() <= hi, k
        assert p[k].min() < lo + 0.01 * (hi - lo) and p[k].max() > hi - 0.01 * (hi - lo), k
    half = sample_params(20000, g, magnitude=0.5)
    lo, hi = RANGES["rotation"]
    assert half["rotation"].abs().max() <= hi / 2 + 1e-6


def test_hsv_round_trip():
    x = torch.rand(8, 3, 16, 16)
    assert torch.allclose(hsv_to_rgb(rgb_to_hsv(x)), x, atol=1e-5)


def test_each_image_gets_its_own_transform_and_output_is_valid():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(1, 3, 32, 32).repeat(8, 1, 1, 1)
    y = augment(x, g)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert not torch.allclose(y[0], y[1])


def test_translation_moves_pixels_by_whole_steps():
    g = torch.Generator().manual_seed(3)
    x = torch.zeros(1, 3, 32, 32)
    x[:, :, 10, 10] = 1.0
    p = {k: torch.tensor([float(v)]) for k, v in IDENTITY.items()}
    p["translate_x"] = torch.tensor([3.0])
    y = apply(x, p, g)
    assert y[0, 0, 10, 13] > 0.99 and y[0, 0, 10, 10] < 0.01
