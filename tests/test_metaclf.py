"""Meta-classifiers: statistics, windows, balancing, DMCs, and an end-to-end run on a tiny NWS."""
import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
import torch

from metaclf.methods import dmc as dmc_mod
from metaclf.data import WeightSet, balanced_models
from metaclf.features import (FEATURES, gather_windows, layerwise_features, local_features, part_bounds,
                              statistics, window_starts)
from nws_datasets.architecture import Layout
from nws_datasets.cnn import TFBatchNorm
from nws_datasets.space import FIXED_ARCHITECTURE

ROOT = Path(__file__).resolve().parents[1]


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


def test_learning_curve_on_a_tiny_nws(tiny_nws, tmp_path):
    from metaclf.learning_curve import main
    from metaclf.store import load_results

    common = ["--config", "c_fixed_mini", "--data-dir", str(tiny_nws), "--out", str(tmp_path), "--target",
              "augmentation", "--include-unconverged"]
    assert main([*common, "--method", "svm-linear-global", "--rounds", "2", "--models", "1,500,1000"]) == 0
    path = tmp_path / "c_fixed_mini" / "learning_curve-svm-linear-global-augmentation.json"
    curve = json.loads(path.read_text())
    pts = curve["points"]
    # 1 model per class, then every model the balance allows; 1000 is never reached
    assert [p["all"] for p in pts] == [False, True] and pts[0]["models_per_class"] == 1
    assert 1 <= pts[1]["models_per_class"] < 500
    assert curve["chance"] == 0.5 and curve["test_models"] == 2 and curve["rounds"] == 2
    assert all(p["ci95"][0] <= p["accuracy_mean"] <= p["ci95"][1] for p in pts)
    assert path.with_suffix(".png").stat().st_size > 1000
    assert load_results(tmp_path) == {}  # not a result of the tables
    # a DMC: one checkpoint per point, reused by another BN evaluation (nothing trained again)
    dmc = [*common, "--method", "dmc-local", "--steps", "2", "--subset-size", "500", "--models", "1,500"]
    assert main(dmc) == 0
    ckpts = sorted((tmp_path / "c_fixed_mini").glob("learning_curve-dmc-local-augmentation.s500.k*.r0.ckpt"))
    assert [c.name.split(".")[2] for c in ckpts] == ["k1", "k500"]
    trained = [c.stat().st_mtime_ns for c in ckpts]
    assert main([*dmc, "--bn-stats", "test-batch"]) == 0
    assert [c.stat().st_mtime_ns for c in ckpts] == trained
    tb = json.loads((tmp_path / "c_fixed_mini" / "learning_curve-dmc-local@test-batch-augmentation.json").read_text())
    assert tb["params"]["bn_stats"] == "test-batch" and [p["models_per_class"] for p in tb["points"]][0] == 1
    assert all(p["train_accuracy"] is not None for p in tb["points"])


def test_preloaded_splits_give_the_same_result_and_a_curve_loads_once(tiny_nws, monkeypatch):
    import metaclf.evaluate as ev

    kw = {"data_dir": str(tiny_nws), "converged_only": False, "rounds": 2}
    splits = ev.load_splits("svm-linear-local", "c_fixed_mini", "augmentation", data_dir=str(tiny_nws),
                            converged_only=False)
    fresh = ev.evaluate("svm-linear-local", "c_fixed_mini", "augmentation", **kw)
    reused = ev.evaluate("svm-linear-local", "c_fixed_mini", "augmentation", splits=splits, **kw)
    for key in ("accuracy_rounds", "ci95", "confusion_matrix", "train", "test"):
        assert reused[key] == fresh[key]
    # splits of another target, or of other snapshots (the global SVM reads every snapshot), are refused
    with pytest.raises(ValueError, match="splits loaded for"):
        ev.evaluate("svm-linear-local", "c_fixed_mini", "optimizer", splits=splits, **kw)
    with pytest.raises(ValueError, match="splits loaded for"):
        ev.evaluate("svm-linear-global", "c_fixed_mini", "augmentation", splits=splits, **kw)
    calls = []
    real = ev.load_split
    monkeypatch.setattr(ev, "load_split", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    from metaclf.analyses.learning_curve import learning_curve

    curve = learning_curve("svm-linear-local", "c_fixed_mini", "augmentation", [1, 2, 1000], data_dir=str(tiny_nws),
                           converged_only=False, rounds=1)
    assert len(curve["points"]) >= 2 and calls == ["train", "test"]  # one load for every point


def test_metaclf_all_loads_each_snapshot_set_once_with_the_same_results(tiny_nws, tmp_path, monkeypatch):
    import metaclf.evaluate as ev
    from metaclf.cli.commands import all_, svm

    common = ["--config", "c_fixed_mini", "--data-dir", str(tiny_nws), "--target", "augmentation",
              "--include-unconverged"]
    assert svm([*common, "--out", str(tmp_path / "alone"), "--features", "local", "--kernel", "rbf"]) == 0
    calls = []
    real = ev.load_split
    monkeypatch.setattr(ev, "load_split", lambda *a, **k: calls.append((a[1], tuple(a[3]))) or real(*a, **k))
    # two local SVMs share their snapshots; the global SVM and the baseline each read another set
    methods = "svm-linear-local,svm-rbf-local,svm-linear-global,hparams-baseline"
    assert all_([*common, "--out", str(tmp_path / "all"), "--methods", methods]) == 0
    snapshot_sets = [(-2, -1), (-4, -3, -2, -1), (-1,)]  # local SVMs, global SVM, baseline (App. E, our recipe)
    assert [tuple(ev.make(m).snapshots) for m in methods.split(",")] == [snapshot_sets[i] for i in (0, 0, 1, 2)]
    assert calls == [(s, snaps) for snaps in snapshot_sets for s in ("train", "test")]
    shared = json.loads((tmp_path / "all" / "c_fixed_mini" / "svm-rbf-local-augmentation.json").read_text())
    alone = json.loads((tmp_path / "alone" / "c_fixed_mini" / "svm-rbf-local-augmentation.json").read_text())
    for key in ("accuracy_rounds", "ci95", "confusion_matrix", "train", "test"):
        assert shared[key] == alone[key]


def test_table_3_weight_counts_and_adaptive_pooling():
    paper = dmc_mod.DMC_PROFILES["paper"]
    assert dmc_mod.n_weights(dmc_mod.local_dmc(5000, 5, paper)) == 10_407_685
    assert dmc_mod.n_weights(dmc_mod.global_dmc(92_868, 5, paper)) == 10_948_997
    assert [p for _, p in dmc_mod.local_conv_spec(5000)] == [p for _, p in dmc_mod.LOCAL_CONV]
    pools = [sum(p for _, p in dmc_mod.local_conv_spec(s)) for s in (100, 1000, 5000, 20000)]
    assert pools == sorted(pools) and pools[0] < pools[-1]
    for s in (100, 500, 20000):  # every size still builds and runs
        m = dmc_mod.local_dmc(s, 3, dmc_mod.DMC_PROFILES["mini"]).eval()
        assert m(torch.randn(2, 1, s)).shape == (2, 3)
    # the mini profile narrows the conv layers 8×, but none below the paper's first (8 channels)
    mini = dmc_mod.local_dmc(5000, 3, dmc_mod.DMC_PROFILES["mini"])
    widths = [x.out_channels for x in mini.net if isinstance(x, torch.nn.Conv1d)]
    assert widths == [8, 8, 8, 8, 16, 32, 32, 32, 32, 32, 32, 32]


def test_dmc_layers_follow_the_authors_model_py():
    """conv + bias → ReLU → TensorLayer BatchNorm (the paper's table says BN, ReLU; the code wins)."""
    from nws_datasets.cnn import TFBatchNorm

    m = dmc_mod.local_dmc(5000, 3, dmc_mod.DMC_PROFILES["paper"])
    kinds = [type(x).__name__ for x in m.net]
    assert kinds[:4] == ["Conv1d", "ReLU", "TFBatchNorm", "PairMaxPool"]
    fc = kinds.index("Linear")
    assert kinds[fc:fc + 4] == ["Linear", "ReLU", "TFBatchNorm", "Dropout"] and kinds[-1] == "Linear"
    bn = next(x for x in m.net if isinstance(x, TFBatchNorm))
    assert abs(float(bn.weight.mean()) - 1) < 0.01 and 0 < float(bn.weight.std()) < 0.01  # γ ~ N(1, 0.002)
    w = m.net[0].weight.detach()
    sigma = (2 / (5 + 8 * 5)) ** 0.5 / 0.87962566  # fan_in 1·5, fan_out 8·5, truncated at 2σ
    assert float(w.abs().max()) <= 2 * sigma + 1e-6


def test_pair_max_pool_gives_torch_max_pool_values_and_gradients_ties_included():
    """The DMC's faster pool against torch's own MaxPool1d(2): ReLU then BN make runs of equal
    values (every zero maps to one value), so ties are the common case, not a corner."""
    rng = np.random.default_rng(0)
    for x0 in (np.zeros((2, 3, 9)), rng.integers(-2, 3, (4, 5, 11)), rng.standard_normal((3, 2, 10))):
        a = torch.tensor(x0, dtype=torch.float32, requires_grad=True)
        b = a.detach().clone().requires_grad_()
        ya, yb = torch.nn.MaxPool1d(2)(a), dmc_mod.PairMaxPool()(b)
        g = torch.from_numpy(rng.standard_normal(ya.shape).astype(np.float32))
        (ya * g).sum().backward()
        (yb * g).sum().backward()
        assert ya.shape == yb.shape == (*x0.shape[:2], x0.shape[2] // 2)
        assert torch.equal(ya, yb) and torch.equal(a.grad, b.grad)


def test_dmc_training_leaves_bn_running_statistics_to_precise_bn_and_matches_torch_layers():
    """Same outputs and gradients as the benchmark's baseline (torch's MaxPool1d, BN that tracks
    moving averages); its BN buffers stay untouched (precise BN sets them after training, so
    updating them every step was wasted work)."""
    from metaclf.bench import with_torch_layers

    torch.manual_seed(0)
    ours = dmc_mod.local_dmc(256, 3, dmc_mod.DMC_PROFILES["mini"])
    pools = sum(isinstance(m, dmc_mod.PairMaxPool) for m in ours.net)
    tracking = with_torch_layers(copy.deepcopy(ours))
    assert pools == sum(isinstance(m, torch.nn.MaxPool1d) for m in tracking.net) == 4  # S = 256: three fixed pools and one adapted
    x = torch.randn(8, 1, 256)
    outs = []
    for net in (ours, tracking):
        torch.manual_seed(1)  # the same dropout masks
        net.train()
        outs.append(net(x))
        outs[-1].sum().backward()
    assert torch.equal(outs[0], outs[1])
    assert all(torch.equal(p.grad, q.grad) for p, q in zip(ours.parameters(), tracking.parameters()))
    bns = [(m, t) for m, t in zip(ours.modules(), tracking.modules()) if isinstance(m, TFBatchNorm)]
    assert all(torch.all(m.running_mean == 0) and torch.all(m.running_var == 1) for m, _ in bns)
    assert all(not torch.all(t.running_mean == 0) for _, t in bns)


def test_precise_bn_sets_the_population_statistics_of_the_training_inputs():
    torch.manual_seed(0)
    model = dmc_mod.local_dmc(256, 2, dmc_mod.DMC_PROFILES["mini"])
    x = (np.random.default_rng(1).standard_normal((16, 256)) * np.repeat([0.05, 1.0], 8)[:, None]).astype(np.float32)
    dmc_mod.precise_bn(model, lambda b, rng: x, 16, np.random.default_rng(0), "cpu", batches=3)
    conv, bn = model.net[0], model.net[2]
    h = torch.relu(torch.nn.functional.conv1d(torch.from_numpy(x)[:, None], conv.weight, conv.bias, padding=2))
    assert torch.allclose(bn.running_mean, h.mean((0, 2)), atol=1e-6)
    assert torch.allclose(bn.running_var, h.var((0, 2), unbiased=False), atol=1e-6)
    assert not model.training


def test_dmc_overfits_a_tiny_separable_set_and_resumes(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((32, 256)).astype(np.float32)
    y = np.repeat([0, 1], 16)
    x[y == 1] += 1.0  # class 1 is shifted
    model = dmc_mod.local_dmc(256, 2, dmc_mod.DMC_PROFILES["mini"])
    ckpt = tmp_path / "c.ckpt"
    settings = {"run": 1}
    first = dmc_mod.train(model, lambda b, r: x[b], y, 16, ckpt, settings, "cpu", 0, batch_size=8)
    assert len(first["history"]) == 4 and first["history"][-1]["step"] == 16 and ckpt.exists()
    again = dmc_mod.train(model, lambda b, r: x[b], y, 16, ckpt, settings, "cpu", 0, batch_size=8)
    assert again["resumed_from_step"] == 16 and again["history"] == first["history"]  # nothing left to do
    longer = dmc_mod.train(model, lambda b, r: x[b], y, 240, ckpt, settings, "cpu", 0, batch_size=8)
    assert longer["resumed_from_step"] == 0 and longer["history"][-1]["step"] == 240  # another schedule: anew
    pred = dmc_mod.predict_proba(model, x, "cpu").argmax(1)
    assert (pred == y).mean() >= 0.95


def test_test_batch_bn_normalizes_each_batch_by_its_own_statistics():
    """With zero biases, ReLU then BN makes a network blind to a common rescaling of its inputs
    when BN uses each batch's statistics (the authors' evaluation), but not with stored
    population statistics; evaluating on test batches leaves the stored statistics alone."""
    torch.manual_seed(0)
    model = dmc_mod.local_dmc(256, 3, dmc_mod.DMC_PROFILES["mini"])
    norms = [m for m in model.modules() if isinstance(m, TFBatchNorm)]
    for m in norms:  # population statistics unlike those of the inputs below
        m.running_mean.fill_(0.1)
        m.running_var.fill_(0.5)
    u = np.random.default_rng(1).standard_normal((200, 256)).astype(np.float32)
    # at 100× and 10,000× BN's ε (1e-5) is negligible against every channel's variance
    batch = dmc_mod.predict_proba(model, 100 * u, "cpu", bn_stats="test-batch", seed=3)
    scaled = dmc_mod.predict_proba(model, 10_000 * u, "cpu", bn_stats="test-batch", seed=3)
    np.testing.assert_allclose(scaled, batch, atol=1e-4)
    population = dmc_mod.predict_proba(model, u, "cpu")
    assert np.abs(dmc_mod.predict_proba(model, 100 * u, "cpu") - population).max() > 0.05
    assert np.abs(dmc_mod.predict_proba(model, u, "cpu", bn_stats="test-batch", seed=3) - population).max() > 0.05
    assert all(float(m.running_mean[0]) == np.float32(0.1) and float(m.running_var[0]) == np.float32(0.5)
               for m in norms) and not model.training
    np.testing.assert_allclose(batch.sum(1), 1, atol=1e-5)
    with pytest.raises(ValueError, match="bn_stats 'moving'"):
        dmc_mod.predict_proba(model, u, "cpu", bn_stats="moving")


def test_test_population_bn_is_one_batch_of_test_statistics_then_each_input_alone():
    """AdaBN (``test-population``): one batch of ≤ 64 test inputs gives BN exactly that batch's
    statistics, so it classifies as the test-batch evaluation does; it is blind to a common
    rescaling like it; with more inputs each one is classified alone (the same prediction
    whichever inputs share its batch), and BN's stored statistics come back untouched."""
    torch.manual_seed(0)
    model = dmc_mod.local_dmc(256, 3, dmc_mod.DMC_PROFILES["mini"])
    norms = [m for m in model.modules() if isinstance(m, TFBatchNorm)]
    for m in norms:
        m.running_mean.fill_(0.1)
        m.running_var.fill_(0.5)
    u = np.random.default_rng(1).standard_normal((200, 256)).astype(np.float32)
    one_batch = 100 * u[:50]
    adabn = dmc_mod.predict_proba(model, one_batch, "cpu", bn_stats="test-population")
    np.testing.assert_allclose(adabn, dmc_mod.predict_proba(model, one_batch, "cpu", bn_stats="test-batch"), atol=1e-4)
    np.testing.assert_allclose(dmc_mod.predict_proba(model, 100 * one_batch, "cpu", bn_stats="test-population"),
                               adabn, atol=1e-4)
    assert np.abs(adabn - dmc_mod.predict_proba(model, one_batch, "cpu")).max() > 0.05
    # 200 inputs: 3 shuffled batches set the statistics; the prediction of an input is then
    # the same in eval mode whether it is evaluated in 4 batches of 64 or 7 of 32
    big = dmc_mod.predict_proba(model, 100 * u, "cpu", batch_size=64, bn_stats="test-population", seed=5)
    small = dmc_mod.predict_proba(model, 100 * u, "cpu", batch_size=32, bn_stats="test-population", seed=5)
    np.testing.assert_allclose(big, small, atol=1e-6)
    assert all(float(m.running_mean[0]) == np.float32(0.1) and float(m.running_var[0]) == np.float32(0.5)
               for m in norms) and not model.training


def test_per_input_normalization_classifies_each_window_alone():
    """``norm="layer"`` (beyond the paper): each conv layer's output is normalized over its own
    channels and positions, worked here in numpy; an input's logits in training mode are the
    same in a batch as alone, where BatchNorm's depend on the batch; Table 3's count loses only
    BN's moving statistics (2 × 6,200 channels); nothing of BN's evaluation applies; untrained,
    it cannot tell a window from the window scaled."""
    from metaclf.methods import make

    torch.manual_seed(0)
    x = torch.as_tensor(np.random.default_rng(2).standard_normal((16, 1, 256)).astype(np.float32))
    ln = dmc_mod.local_dmc(256, 3, dmc_mod.DMC_PROFILES["mini"], norm="layer")
    assert not any(isinstance(m, TFBatchNorm) for m in ln.modules())
    conv, norm = ln.net[0], ln.net[2]
    h = torch.relu(conv(x)).detach().numpy()
    mean, var = h.mean((1, 2), keepdims=True), h.var((1, 2), keepdims=True)
    np.testing.assert_allclose(norm(torch.as_tensor(h)).detach().numpy(), (h - mean) / np.sqrt(var + 1e-5), atol=1e-5)
    bn = dmc_mod.local_dmc(256, 3, dmc_mod.DMC_PROFILES["mini"])
    for net, alone in ((ln, True), (bn, False)):
        net.train()
        for m in net.modules():
            if isinstance(m, torch.nn.Dropout):
                m.eval()
        together = net(x)[:4]
        by_itself = torch.cat([net(x[i:i + 2]) for i in (0, 2)])  # BN needs two inputs to train
        assert (float((together - by_itself).abs().max().detach()) < 1e-5) == alone
    # with zero biases (as initialized) ReLU and the normalization make it blind to a window's
    # scale: it can learn the scale only through its biases
    ln.eval()
    np.testing.assert_allclose(ln(3 * x).detach().numpy(), ln(x).detach().numpy(), atol=1e-4)
    paper = dmc_mod.DMC_PROFILES["paper"]
    assert dmc_mod.n_weights(dmc_mod.local_dmc(5000, 5, paper, norm="layer")) == 10_407_685 - 2 * 6_200
    with pytest.raises(ValueError, match="bn_stats 'test-batch' needs a DMC with BatchNorm"):
        dmc_mod.predict_proba(ln, x.numpy(), "cpu", bn_stats="test-batch")
    w = np.random.default_rng(0).standard_normal((40, 300)).astype(np.float32)
    y = np.arange(40) % 2
    with pytest.raises(ValueError, match="bn_stats 'test-population' needs norm 'batch'"):
        make("dmc-local-ln", subset_size=100, steps=2, bn_stats="test-population").fit(w, y)
    with pytest.raises(ValueError, match="norm 'group' is not valid"):
        make("dmc-local", subset_size=100, steps=2, norm="group").fit(w, y)


def _run(module: str, *args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, env=env)


@pytest.mark.parametrize("module", ["metaclf.svm", "metaclf.local", "metaclf.global", "metaclf.maps"])
def test_bad_target_exits_2_listing_the_valid_ones(module):
    r = _run(module, "--target", "colour")
    assert r.returncode == 2
    assert "unknown target 'colour'; expected one of dataset, batch_size, augmentation" in r.stderr


def test_fixed_architecture_target_and_global_dmc_on_random_architectures_exit_2():
    r = _run("metaclf.svm", "--target", "filter_size", "--config", "c_fixed")
    assert r.returncode == 2 and "fixed to 5 in c_fixed" in r.stderr
    r = _run("metaclf.global", "--target", "dataset", "--config", "c_main_mini")
    assert r.returncode == 2 and "needs a fixed architecture" in r.stderr


def test_end_to_end_on_a_tiny_generated_nws(tiny_nws, tmp_path):
    import os

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    common = ["--target", "augmentation", "--config", "c_fixed_mini", "--data-dir", str(tiny_nws),
              "--out", str(tmp_path), "--include-unconverged"]
    for module, extra in (("metaclf.svm", ["--rounds", "3"]), ("metaclf.svm", ["--kernel", "rbf", "--features", "local"]),
                          ("metaclf.svm", ["--features", "layerwise"]), ("metaclf.local", ["--steps", "4"]),
                          ("metaclf.global", ["--steps", "2"]), ("metaclf.maps", ["--positions", "3", "--steps", "4"]),
                          ("metaclf.local", ["--steps", "2", "--subset-size", "300,1000"]),
                          ("metaclf.all", ["--methods", "baseline"])):
        r = _run(module, *common, *extra, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
    out = tmp_path / "c_fixed_mini"
    for name in ("svm-linear-global", "svm-rbf-local", "svm-linear-layerwise", "dmc-local", "dmc-global",
                 "hparams-baseline"):
        res = json.loads((out / f"{name}-augmentation.json").read_text())
        assert res["ci95"][0] <= res["accuracy_mean"] <= res["ci95"][1]
        assert res["chance"] == 0.5 and res["classes"] == ["off", "on"] and res["test"]["models"] == 2
        assert len(res["confusion_matrix"]) == 2 and res["converged_only"] is False
        assert (out / f"{name}-augmentation.confusion.png").stat().st_size > 1000
    local = json.loads((out / "dmc-local-augmentation.json").read_text())
    assert local["history"][-1]["step"] == 4 and local["test_windows_per_record"] == 10  # the mini profile's
    assert np.asarray(local["confusion_matrix"]).sum() == 10 * local["test"]["records"]  # every window counted
    assert len(json.loads((out / "svm-linear-global-augmentation.json").read_text())["accuracy_rounds"]) == 3
    assert (out / "svm-linear-global-augmentation.importance.png").exists()
    m = json.loads((out / "maps-augmentation.json").read_text())
    assert np.asarray(m["accuracy"]).shape == (20, 3)
    assert (out / "maps-augmentation.png").exists() and (out / "summary.png").exists()
    sweep = json.loads((out / "sweep-dmc-local-augmentation.json").read_text())
    assert [r["subset_size"] for r in sweep["rows"]] == [300, 1000] and (out / "sweep-dmc-local-augmentation.png").exists()
    assert sweep["rows"][0]["n_weights"] != sweep["rows"][1]["n_weights"]
    table = (tmp_path / "results.md").read_text()
    assert "| augmentation | 0.500 | 2 |" in table and "dmc-local" in table and "hparams-baseline" in table
    # the authors' test-batch BN evaluation: the same trained DMC (its checkpoint, not a new
    # training run), saved and tabled beside ours
    ckpt = out / "dmc-local-augmentation.s5000.r0.ckpt"
    trained = ckpt.stat().st_mtime_ns
    r = _run("metaclf.local", *common, "--steps", "4", "--bn-stats", "test-batch", env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert ckpt.stat().st_mtime_ns == trained  # resumed at its last step: nothing trained or saved
    tb = json.loads((out / "dmc-local@test-batch-augmentation.json").read_text())
    assert tb["params"]["bn_stats"] == "test-batch" and local["params"]["bn_stats"] == "population"
    assert tb["history"] == local["history"] and tb["test"] == local["test"]
    assert "| dmc-local | dmc-local@test-batch |" in (tmp_path / "results.md").read_text()
    ours = (out / "maps-augmentation.json").read_text()
    r = _run("metaclf.maps", *common, "--positions", "3", "--steps", "4", "--bn-stats", "test-batch", env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (out / "maps-augmentation.json").read_text() == ours  # never overwritten by the other evaluation
    assert np.asarray(json.loads((out / "maps@test-batch-augmentation.json").read_text())["accuracy"]).shape == (20, 3)
    # the batch-make-up diagnostic: the same checkpoint, four evaluations; ours and the
    # authors' equal the results the local command saved
    r = _run("metaclf.batchmix", *common, "--steps", "4", env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert ckpt.stat().st_mtime_ns == trained
    mix = json.loads((out / "batchmix-augmentation.json").read_text())
    assert mix["steps"] == 4 and mix["test"] == local["test"]
    assert list(mix["evaluations"]) == ["population", "test-population", "test-batch", "test-batch, one class per batch"]
    for name, saved in (("population", local), ("test-batch", tb)):
        assert mix["evaluations"][name]["accuracy_mean"] == saved["accuracy_mean"]
        assert mix["evaluations"][name]["confusion_matrix"] == saved["confusion_matrix"]
    # beside the results, it is not taken for one: the tables are rewritten as before
    r = _run("metaclf.results", "--out", str(tmp_path), env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "results.md").read_text().count("| augmentation |") == table.count("| augmentation |")
    # per-input normalization (beyond the paper): a DMC of its own, filed as dmc-local-ln, with
    # a checkpoint and a map of its own; the paper's checkpoint does not record the option, so
    # checkpoints written before it still resume
    from metaclf.checkpoint import read_state

    assert "norm" not in read_state(ckpt)["settings"]
    for module, extra in (("metaclf.local", []), ("metaclf.maps", ["--positions", "3"])):
        r = _run(module, *common, "--steps", "4", "--norm", "layer", *extra, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
    ln = json.loads((out / "dmc-local-ln-augmentation.json").read_text())
    assert ln["params"]["norm"] == "layer" and ln["test"] == local["test"] and ln["n_weights"] < local["n_weights"]
    assert read_state(out / "dmc-local-ln-augmentation.s5000.r0.ckpt")["settings"]["norm"] == "layer"
    assert (out / "maps-augmentation.json").read_text() == ours
    assert np.asarray(json.loads((out / "maps-ln-augmentation.json").read_text())["accuracy"]).shape == (20, 3)
    assert "dmc-local-ln" in (tmp_path / "results.md").read_text()


def test_score_counts_every_window_balanced_over_classes_and_labels_the_per_model_vote():
    """Worked by hand: 2 positions × 4 records; records 0–1 are model 0 (class a), 2 model 1 (b),
    3 model 2 (b). Windows right: a 3 of 4 (0.75), b 2 of 4 (0.5) → 0.625 (plain accuracy is
    5/8 too, the classes having as many windows). Per model: model 0 sums to (2.8, 1.2) right; model 1 (0.5, 1.5)
    right; model 2 (1.55, 0.45) wrong → a 1/1, b 1/2 → balanced 0.75, where plain would say 2/3."""
    from metaclf.evaluate import score

    probs = np.array([[[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.6, 0.4]],
                      [[0.8, 0.2], [0.7, 0.3], [0.2, 0.8], [0.95, 0.05]]])
    out = score([probs], np.array([0, 0, 1, 1]), np.array([0, 0, 1, 2]), ["a", "b"], seed=0)
    assert out["accuracy_mean"] == pytest.approx(0.625) and out["accuracy_std"] == 0
    assert out["per_model"]["accuracy_mean"] == pytest.approx(0.75)
    assert out["chance"] == out["per_model"]["chance"] == 0.5
    assert np.asarray(out["confusion_matrix"]).tolist() == [[3, 1], [2, 2]]
    assert out["ci95_rounds"] is None  # one round: no interval over rounds
    assert out["ci95"][0] <= 0.625 <= out["ci95"][1]


def test_bootstrap_interval_matches_the_binomial_one():
    """A classifier right with probability 0.7 on each of 2 × 300 single-window test models:
    the 95% interval over test models must be close to the normal-approximation binomial
    interval 0.7 ± 1.96·sqrt(0.7·0.3/600) (± 0.037), worked out independently of the code."""
    from metaclf.evaluate import score

    rng = np.random.default_rng(1)
    n = 600
    labels = np.repeat([0, 1], n // 2)
    right = rng.random(n) < 0.7
    pred = np.where(right, labels, 1 - labels)
    probs = np.eye(2)[pred][None]  # [1 window, n, 2]
    out = score([probs], labels, np.arange(n), ["x", "y"], seed=0)
    half = 1.96 * np.sqrt(0.7 * 0.3 / n)
    lo, hi = out["ci95_test_models"]
    assert hi - lo == pytest.approx(2 * half, rel=0.15)
    assert lo < out["accuracy_mean"] < hi and lo < 0.7 < hi
    # more rounds that disagree widen the interval that resamples rounds, not the per-round one
    other = np.eye(2)[np.where(rng.random(n) < 0.5, labels, 1 - labels)][None]
    two = score([probs, other], labels, np.arange(n), ["x", "y"], seed=0)
    assert two["ci95"][1] - two["ci95"][0] > hi - lo and two["ci95_rounds"] is not None


SMALLEST_ARCHITECTURE = {"filter_size": 3, "conv_depth": 3, "fc_depth": 3, "conv_width": 16, "fc_width": 64}


def _synthetic(n_models: int, snapshots: int, separable: bool, seed: int):
    """Fixed-architecture records whose class-1 models have weights 3× larger (if ``separable``)."""
    from nws_datasets.architecture import Layout

    layout = Layout.for_hparams(SMALLEST_ARCHITECTURE)  # 21,260 weights: a fast global DMC
    rng = np.random.default_rng(seed)
    model_labels = np.arange(n_models) % 2
    rows = np.repeat(np.arange(n_models), snapshots)
    scale = np.where((model_labels[rows] == 1) & separable, 3.0, 1.0)
    w = (rng.standard_normal((len(rows), layout.n_weights)) * 0.05 * scale[:, None]).astype(np.float32)
    lr = rng.uniform(0.0002, 0.005, len(rows))
    hp = {"learning_rate": lr, **{k: rng.integers(0, 2, len(rows)) for k in
                                  ("dataset", "batch_size", "augmentation", "optimizer", "activation",
                                   "initialization", "filter_size", "conv_depth", "fc_depth", "conv_width",
                                   "fc_width")}}
    return WeightSet(w, np.full(len(rows), 15_000), model_labels[rows], rows + 1000 * seed,
                     np.tile(np.arange(snapshots), n_models), json.dumps(layout.table()), hp)


@pytest.mark.parametrize("separable", [True, False])
def test_every_method_reads_a_separable_target_and_none_reads_noise(monkeypatch, separable):
    """Through the one evaluation loop, every weight-space method must score ≥ 0.9 when the
    target scales the weights, and stay near chance (its CI covering 0.5) when nothing does;
    the confound baseline, which never sees weights, stays near chance either way."""
    import metaclf.evaluate as ev

    def fake_load(config, split, target, snapshots, data_dir=None, converged_only=True, min_classes=2):
        return _synthetic(24 if split == "train" else 16, len(snapshots), separable, seed=0 if split == "train" else 1)

    monkeypatch.setattr(ev, "load_split", fake_load)
    fast = {"dmc-local": {"steps": 60, "subset_size": 500}, "dmc-global": {"steps": 100},
            "svm-linear-local": {"subset_size": 500}, "svm-rbf-local": {"subset_size": 500}}
    methods = ("svm-linear-global", "svm-rbf-global", "svm-linear-layerwise", "svm-linear-local", "svm-rbf-local",
               "dmc-local", "hparams-baseline")
    for method in methods + (("dmc-global",) if separable else ()):
        res = ev.evaluate(method, "c_fixed_mini", "augmentation", rounds=2 if method.startswith("svm") else 1,
                          **fast.get(method, {}))
        assert res["test"]["models"] == 16 and res["chance"] == 0.5
        if method == "hparams-baseline" or not separable:
            assert res["ci95"][0] <= 0.5 + 1e-9 or res["accuracy_mean"] < 0.75, (method, res["accuracy_mean"])
        else:
            assert res["accuracy_mean"] >= 0.9, (method, res["accuracy_mean"])


def test_estimators_follow_the_scikit_learn_api():
    from sklearn.base import clone

    from metaclf.methods import METHODS, make

    x = np.random.default_rng(0).standard_normal((40, 300)).astype(np.float32)
    y = np.arange(40) % 2
    x[y == 1] *= 3
    for name in METHODS:
        est = make(name)
        assert clone(est).get_params() == est.get_params()  # parameters live in __init__
    svm = make("svm-linear-global").fit(x, y)  # a bare weight matrix works as input
    assert svm.score(x, y) == 1.0 and svm.predict(x).tolist() == y.tolist()
    proba = svm.predict_proba(x)
    assert proba.shape == (40, 2) and np.allclose(proba.sum(1), 1)
    dmc = make("dmc-local", subset_size=100, steps=200).fit(x, y)
    assert dmc.window_scores(x).shape == (10, 40, 2) and dmc.score(x, y) >= 0.9
    with pytest.raises(ValueError, match="unknown method 'svm-magic'"):
        make("svm-magic")


def test_a_class_with_too_few_training_models_is_left_out_instead_of_shrinking_the_others():
    from metaclf.evaluate import drop_rare_classes
    from metaclf.recipe import MIN_CLASS_MODELS

    n = MIN_CLASS_MODELS
    labels = np.array([0] * n + [1] * (n + 3) + [2] * (n - 1))
    train = WeightSet.from_array(np.zeros((len(labels), 4)), labels)
    test = WeightSet.from_array(np.zeros((6, 4)), np.array([0, 1, 2, 2, 1, 0]))
    tr, te, out = drop_rare_classes(train, test, ["a", "b", "c"])
    assert out == {"c": n - 1}
    assert sorted(set(tr.labels)) == [0, 1] and len(tr) == 2 * n + 3
    assert list(te.labels) == [0, 1, 1, 0]
    small = WeightSet.from_array(np.zeros((n + 1, 4)), np.array([0] * n + [1]))  # too small to leave one out
    assert drop_rare_classes(small, test, ["a", "b", "c"])[2] == {}


def test_second_input_channels_standardize_or_sort_each_window():
    from metaclf.methods.dmc import to_channels

    x = (np.random.default_rng(2).standard_normal((3, 50)) * [[1], [5], [0.1]] + 2).astype(np.float32)
    assert to_channels(x, "raw").shape == (3, 1, 50)
    std = to_channels(x, "raw+standardized")
    np.testing.assert_array_equal(std[:, 0], x)
    np.testing.assert_allclose(std[:, 1].mean(1), 0, atol=1e-5)
    np.testing.assert_allclose(std[:, 1].std(1), 1, atol=1e-4)
    srt = to_channels(x, "raw+sorted")
    np.testing.assert_array_equal(srt[:, 0], x)
    for row, sorted_row in zip(x, srt[:, 1]):
        assert (np.diff(sorted_row) >= 0).all() and sorted(row.tolist()) == sorted_row.tolist()
    with pytest.raises(ValueError, match="'sorted' is not valid"):
        to_channels(x, "sorted")
    with pytest.raises(ValueError, match="relative index of every weight"):
        to_channels(x, "raw+position")


def test_position_channel_is_each_weights_index_over_theta_length():
    """θ_i = i, so the raw channel is the index itself and the position channel must be it over |θ|."""
    from metaclf.methods import make

    length, size = 1000, 100
    records = WeightSet.from_array(np.tile(np.arange(length, dtype=np.float32), (4, 1)), np.array([0, 1, 0, 1]))
    dmc = make("dmc-local-pos", subset_size=size)
    x = dmc.windows(records, np.arange(4), np.array([0.0, 0.5, 1.0, 0.25]))
    assert x.shape == (4, 2, size)
    assert [row[0] for row in x[:, 0]] == [0, 450, 900, 225]  # starts at u·(|θ| − S + 1), floored
    np.testing.assert_allclose(x[:, 1], x[:, 0] / length, rtol=1e-6)
    whole = make("dmc-global-pos").inputs_of(records, np.arange(2))
    np.testing.assert_allclose(whole[:, 1], np.arange(length) / length * np.ones((2, 1)), rtol=1e-6)



def test_batch_dependence_exposes_a_network_that_judges_windows_against_their_batch_mates():
    """Worked by hand. One BN layer (γ 1, β 0, stored mean 1, var 1), then the window mean w
    and logits (−w, w). Class 0 windows are all 0, class 1 all 1, 128 of each.
    - population: class 0 → −1 → class 0; class 1 → 0, a tie → class 0: accuracy 0.5.
    - test-population: statistics of all test windows (mean ≈ 0.5): both right, 1.0.
    - shuffled test batches hold both classes: both right, 1.0.
    - one class per batch: every window equals its batch mean → 0, a tie → class 0: 0.5."""
    from types import SimpleNamespace

    from metaclf.analyses.batchmix import batch_dependence, class_batches

    class Judge(torch.nn.Module):  # a DMC's interface: its layers in ``net``
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(TFBatchNorm(1, track_running_stats=False), torch.nn.AdaptiveAvgPool1d(1),
                                           torch.nn.Flatten(), torch.nn.Linear(1, 2))

        def forward(self, x):
            return self.net(x)

    model = Judge()
    net = model.net
    with torch.no_grad():
        net[0].weight.fill_(1.0)
        net[0].running_mean.fill_(1.0)
        net[-1].weight.copy_(torch.tensor([[-1.0], [1.0]]))
        net[-1].bias.zero_()
    labels = np.repeat([0, 1], 128)
    x = np.repeat(labels.astype(np.float32)[:, None, None], 50, axis=2)  # [256, 1, 50]

    class Records(SimpleNamespace):
        def __len__(self):
            return len(self.labels)

    test = Records(labels=labels, model_id=np.arange(256) // 2)
    dmc = SimpleNamespace(model_=model, classes_=np.array([0, 1]), device="cpu", random_state=0,
                          positions=lambda: np.array([0.0]), windows=lambda records, rows, u: x[rows])
    found = batch_dependence(dmc, test, ["a", "b"])
    assert {k: v["accuracy_mean"] for k, v in found.items()} == {
        "population": 0.5, "test-population": 1.0, "test-batch": 1.0, "test-batch, one class per batch": 0.5}
    assert found["test-batch, one class per batch"]["per_class_accuracy"] == {"a": 1.0, "b": 0.0}
    assert net[0].running_mean.item() == 1.0  # the stored statistics are left as they were
    batches = class_batches(labels, seed=0)
    assert [len(b) for b in batches] == [64, 64, 64, 64]
    assert all(len(set(labels[b])) == 1 for b in batches)
    assert sorted(np.concatenate(batches)) == list(range(256))


def test_dmc_ensemble_averages_its_members_probabilities_and_reuses_their_checkpoints(tiny_nws, tmp_path):
    import metaclf.evaluate as ev
    from metaclf.cli.commands import local

    kw = {"data_dir": str(tiny_nws), "converged_only": False, "seed": 2, "subset_size": 500, "steps": 4}
    plain, fitted = ev.evaluate("dmc-local", "c_fixed_mini", "optimizer", rounds=2, checkpoint=tmp_path / "c",
                                return_estimators=True, **kw)
    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("c.r*.ckpt")}
    assert sorted(stamps) == ["c.r0.ckpt", "c.r1.ckpt"]
    ens = ev.evaluate("dmc-local", "c_fixed_mini", "optimizer", rounds=1, members=2, checkpoint=tmp_path / "c", **kw)
    # the two members are the plain run's two rounds, resumed from their checkpoints, not trained again
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("c.r*.ckpt")} == stamps
    assert ens["members"] == 2 and ens["rounds"] == 1 and len(ens["accuracy_rounds"]) == 1
    assert ens["train_accuracy_rounds"] == plain["train_accuracy_rounds"]
    # by hand: average the members' window probabilities, take the argmax, then the mean over
    # classes of the fraction of that class's test windows predicted right
    test = ev.load_splits("dmc-local", "c_fixed_mini", "optimizer", data_dir=str(tiny_nws), converged_only=False).test
    members = [f.window_scores(test) for f in fitted]
    probs = np.mean(members, axis=0)  # [W, n, C]
    # (the members disagree on some windows, so averaging differs from taking either one)
    assert any((probs.argmax(2) != m.argmax(2)).any() for m in members)
    right = probs.argmax(2) == test.labels[None]
    expected = np.mean([right[:, test.labels == c].mean() for c in np.unique(test.labels)])
    assert ens["accuracy_mean"] == pytest.approx(expected)
    with pytest.raises(ValueError, match="members must be at least 1"):
        ev.evaluate("dmc-local", "c_fixed_mini", "optimizer", members=0, **kw)
    # the command files it apart from the single DMC, and reuses the same checkpoints
    out = tmp_path / "out"
    args = ["--config", "c_fixed_mini", "--data-dir", str(tiny_nws), "--out", str(out), "--target", "optimizer",
            "--include-unconverged", "--seed", "2", "--subset-size", "500", "--steps", "4"]
    assert local([*args, "--rounds", "2"]) == 0
    assert local([*args, "--members", "2", "--bn-stats", "test-population"]) == 0
    saved = json.loads((out / "c_fixed_mini" / "dmc-local-ens2@test-population-optimizer.json").read_text())
    assert saved["members"] == 2 and saved["method"] == "dmc-local-ens2@test-population"
    assert sorted(p.name for p in (out / "c_fixed_mini").glob("*.ckpt")) == [
        "dmc-local-optimizer.s500.r0.ckpt", "dmc-local-optimizer.s500.r1.ckpt"]


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_holdout_test_models_pool_with_the_configs_own_and_the_trained_dmc_serves_them(tiny_nws, tmp_path):
    import shutil

    from sklearn.metrics import balanced_accuracy_score

    import metaclf.evaluate as ev
    from metaclf.cli.commands import local
    from metaclf.data import DataError, load_split
    from train.generate import main as generate

    root = tmp_path / "nws"
    shutil.copytree(tiny_nws / "c_fixed_mini", root / "c_fixed_mini")
    assert generate(["--config", "c_fixed_mini_holdout", "--shard", "0", "--limit", "3", "--max-epochs", "2",
                     "--out", str(root), "--quiet"]) == 0
    kw = {"data_dir": str(root), "converged_only": False, "seed": 1, "subset_size": 500, "steps": 4}
    plain, fitted = ev.evaluate("dmc-local", "c_fixed_mini", "optimizer", checkpoint=tmp_path / "c",
                                return_estimators=True, **kw)
    stamp = (tmp_path / "c.r0.ckpt").stat().st_mtime_ns
    pooled = ev.evaluate("dmc-local", "c_fixed_mini", "optimizer", checkpoint=tmp_path / "c",
                         test_configs=("c_fixed_mini_holdout",), **kw)
    assert (tmp_path / "c.r0.ckpt").stat().st_mtime_ns == stamp  # the trained DMC is reused, not retrained
    assert pooled["train"] == plain["train"]
    by_config = pooled["test"]["configs"]
    assert {k: v["models"] for k, v in by_config.items()} == {"c_fixed_mini": plain["test"]["models"],
                                                               "c_fixed_mini_holdout": 3}
    assert pooled["test"]["models"] == plain["test"]["models"] + 3
    # the config's own share scores as the plain evaluation did
    assert by_config["c_fixed_mini"]["accuracy_mean"] == pytest.approx(plain["accuracy_mean"])
    assert by_config["c_fixed_mini"]["ci95"] == pytest.approx(plain["ci95"])
    # by hand, with scikit-learn: the same DMC predicts each config's test windows, and the
    # pooled accuracy is the class-balanced accuracy over all of those windows together
    y_true, y_pred = [], []
    for config in ("c_fixed_mini", "c_fixed_mini_holdout"):
        test = load_split(config, "test", "optimizer", (-2, -1), str(root), False, min_classes=1)
        pred = fitted[0].window_scores(test).argmax(2)  # [W, n]
        y_true.append(np.broadcast_to(test.labels, pred.shape).ravel())
        y_pred.append(pred.ravel())
    assert pooled["accuracy_mean"] == pytest.approx(
        balanced_accuracy_score(np.concatenate(y_true), np.concatenate(y_pred)))
    assert by_config["c_fixed_mini_holdout"]["accuracy_mean"] == pytest.approx(
        balanced_accuracy_score(y_true[1], y_pred[1]))  # its 3 models hold 2 optimizers
    with pytest.raises(DataError, match="c_fixed_mini_holdout holds test models only"):
        ev.evaluate("svm-linear-global", "c_fixed_mini_holdout", "optimizer", data_dir=str(root), converged_only=False)
    with pytest.raises(ValueError, match="'c_main_mini' does not match 'c_fixed_mini'"):
        ev.evaluate("dmc-local", "c_fixed_mini", "optimizer", test_configs=("c_main_mini",), **kw)
    with pytest.raises(ValueError, match="given twice"):
        ev.evaluate("dmc-local", "c_fixed_mini", "optimizer", test_configs=("c_fixed_mini",), **kw)
    # the command files the pooled result apart, from the same checkpoint
    out = tmp_path / "out"
    args = ["--config", "c_fixed_mini", "--data-dir", str(root), "--out", str(out), "--target", "optimizer",
            "--include-unconverged", "--seed", "1", "--subset-size", "500", "--steps", "4"]
    assert local(args) == 0
    assert local([*args, "--test-config", "c_fixed_mini_holdout", "--bn-stats", "test-population"]) == 0
    saved = json.loads((out / "c_fixed_mini" / "dmc-local@test-population+c_fixed_mini_holdout-optimizer.json")
                       .read_text())
    assert saved["method"] == "dmc-local@test-population+c_fixed_mini_holdout"
    assert saved["test"]["configs"]["c_fixed_mini_holdout"]["models"] == 3
    assert [p.name for p in (out / "c_fixed_mini").glob("*.ckpt")] == ["dmc-local-optimizer.s500.r0.ckpt"]
