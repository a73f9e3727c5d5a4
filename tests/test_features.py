"""Meta-classifier features: the 16 statistics against scipy, windows, class balancing."""
import numpy as np
import pytest
import scipy.stats

from metaclf.data import WeightSet, balanced_models
from metaclf.features import (FEATURES, gather_windows, layerwise_features, local_features, part_bounds,
                              statistics, window_starts)
from nws_datasets.architecture import Layout
from nws_datasets.space import FIXED_ARCHITECTURE


def test_each_statistic_matches_scipy():
    x = np.random.default_rng(0).gamma(2.0, size=(4, 777))
    f = statistics(x)
    assert f.shape == (4, 16) and len(FEATURES) == 16
    for i, row in enumerate(x):
        for offset, v in ((0, row), (8, np.diff(row))):
            d = scipy.stats.describe(v)
            np.testing.assert_allclose(f[i, offset + 0], d.mean, rtol=1e-10)
            np.testing.assert_allclose(f[i, offset + 1], d.variance * (len(v) - 1) / len(v), rtol=1e-10)
            np.testing.assert_allclose(f[i, offset + 2], d.skewness, rtol=1e-10)
            np.testing.assert_allclose(f[i, offset + 3:offset + 8], scipy.stats.scoreatpercentile(v, [1, 25, 50, 75, 99]))


def test_float32_weights_keep_scipy_accuracy():
    """θ is float32: deviations stay float32 but sums accumulate in float64."""
    x = (np.random.default_rng(5).standard_normal((6, 5000)) * 0.05 + 0.01).astype(np.float32)
    f = statistics(x)
    for i, row in enumerate(x.astype(np.float64)):
        for offset, v in ((0, row), (8, np.diff(x[i]).astype(np.float64))):
            assert abs(f[i, offset + 2] - scipy.stats.skew(v)) < 1e-6
            np.testing.assert_allclose(f[i, offset + 1], v.var(), rtol=1e-6)
            np.testing.assert_allclose(f[i, offset + 3:offset + 8], np.percentile(v, [1, 25, 50, 75, 99]), rtol=1e-12)


def test_statistics_of_rows_in_different_blocks_match_scipy():
    """Rows are processed in cache-sized blocks; every block, the last partial one too, is right."""
    x = np.random.default_rng(6).laplace(size=(300, 1000)).astype(np.float32)  # blocks of 131 rows
    f = statistics(x)
    for i in (0, 130, 131, 262, 299):
        for offset, v in ((0, x[i].astype(np.float64)), (8, np.diff(x[i]).astype(np.float64))):
            np.testing.assert_allclose(f[i, offset], v.mean(), rtol=1e-6, atol=1e-9)
            np.testing.assert_allclose(f[i, offset + 1], v.var(), rtol=1e-6)
            assert abs(f[i, offset + 2] - scipy.stats.skew(v)) < 1e-5
            np.testing.assert_allclose(f[i, offset + 3:offset + 8], np.percentile(v, [1, 25, 50, 75, 99]), rtol=1e-12)


def test_layerwise_features_have_480_columns_for_the_fixed_architecture():
    layout = Layout.for_hparams(FIXED_ARCHITECTURE)
    f, names = layerwise_features(np.random.default_rng(1).standard_normal((3, 92_868)), layout)
    assert f.shape == (3, 480) and len(names) == 480 and names[0] == "conv1.weight.mean"
    assert not any(n.startswith("fc3.") for n in names)


@pytest.mark.parametrize("part", ["conv", "fc", "all"])
def test_windows_never_cross_the_conv_fc_split(part):
    rng = np.random.default_rng(2)
    n_weights = rng.integers(20_000, 40_000, 50)
    n_conv = rng.integers(6_000, 12_000, 50)
    lo, hi = part_bounds(n_weights, n_conv, part)
    u = np.concatenate([np.zeros((50, 1)), np.ones((50, 1)), rng.random((50, 30))], axis=1)
    starts = window_starts(lo, hi, 5000, u)
    assert np.all(starts >= lo[:, None]) and np.all(starts + 5000 <= hi[:, None])
    assert np.all(starts[:, 0] == lo) and np.all(starts[:, 1] + 5000 == hi)  # both ends are reachable
    if part == "conv":
        assert np.all(starts + 5000 <= n_conv[:, None])
    if part == "fc":
        assert np.all(starts >= n_conv[:, None])


def test_gathered_windows_are_the_right_slices_and_short_parts_are_skipped():
    w = np.random.default_rng(3).standard_normal((4, 9000)).astype(np.float32)
    starts = np.array([[0, 10], [5, 4000], [3999, 1], [7, 7]])
    win = gather_windows(w, starts, 5000)
    for i in range(4):
        for k in range(2):
            assert np.array_equal(win[i, k], w[i, starts[i, k]:starts[i, k] + 5000])
    ragged = [w[0], w[1][:6000]]
    assert np.array_equal(gather_windows(ragged, np.array([[0, 10], [5, 1000]]), 5000)[1, 1], w[1][1000:6000])
    f, rows = local_features([w[0], w[1][:4000]], np.array([100, 100]), 5000, 10, "all", 0)
    assert f.shape == (10, 16) and set(rows) == {0}


def test_class_balancing_is_exact_and_random():
    rng = np.random.default_rng(4)
    model_ids = np.repeat(np.arange(100), 2)  # two records per model
    labels = np.repeat(rng.choice(3, 100, p=[0.6, 0.3, 0.1]), 2)
    k = np.bincount(labels[::2]).min()
    masks = [balanced_models(model_ids, labels, np.random.default_rng(s)) for s in range(5)]
    for m in masks:
        kept_models = np.unique(model_ids[m])
        assert np.all(np.bincount(labels[::2][kept_models], minlength=3) == k)
        assert m.sum() == 2 * 3 * k  # every record of a kept model is kept
    assert len({tuple(np.flatnonzero(m)) for m in masks}) > 1


def test_class_balancing_caps_models_per_class_for_learning_curves():
    model_ids = np.repeat(np.arange(30), 3)  # three records per model
    labels = np.repeat(np.array([0] * 12 + [1] * 10 + [2] * 8), 3)  # smallest class: 8 models
    for cap, expected in ((3, 3), (8, 8), (50, 8)):
        m = balanced_models(model_ids, labels, np.random.default_rng(0), per_class=cap)
        kept = np.unique(model_ids[m])
        assert np.bincount(labels[::3][kept], minlength=3).tolist() == [expected] * 3
        assert m.sum() == 3 * 3 * expected
    small = {tuple(np.flatnonzero(balanced_models(model_ids, labels, np.random.default_rng(s), per_class=2)))
             for s in range(5)}
    assert len(small) > 1  # which models is drawn at random
    with pytest.raises(ValueError, match="per_class=0"):
        balanced_models(model_ids, labels, np.random.default_rng(0), per_class=0)
