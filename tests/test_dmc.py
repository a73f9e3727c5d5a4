"""The DMCs: Table 3's networks, the authors' layers, training and resume, BatchNorm's evaluations."""
import copy

import numpy as np
import pytest
import torch

from metaclf import recipe
from metaclf.methods import dmc as dmc_mod
from metaclf.methods.dmc import network
from nws_datasets.cnn import TFBatchNorm


def test_table_3_weight_counts_and_adaptive_pooling():
    paper = recipe.DMC_PROFILES["paper"]
    assert dmc_mod.n_weights(dmc_mod.local_dmc(5000, 5, paper)) == 10_407_685
    assert dmc_mod.n_weights(dmc_mod.global_dmc(92_868, 5, paper)) == 10_948_997
    assert [p for _, p in dmc_mod.local_conv_spec(5000)] == [p for _, p in network.LOCAL_CONV]
    pools = [sum(p for _, p in dmc_mod.local_conv_spec(s)) for s in (100, 1000, 5000, 20000)]
    assert pools == sorted(pools) and pools[0] < pools[-1]
    for s in (100, 500, 20000):  # every size still builds and runs
        m = dmc_mod.local_dmc(s, 3, recipe.DMC_PROFILES["mini"]).eval()
        assert m(torch.randn(2, 1, s)).shape == (2, 3)
    # the mini profile narrows the conv layers 8×, but none below the paper's first (8 channels)
    mini = dmc_mod.local_dmc(5000, 3, recipe.DMC_PROFILES["mini"])
    widths = [x.out_channels for x in mini.net if isinstance(x, torch.nn.Conv1d)]
    assert widths == [8, 8, 8, 8, 16, 32, 32, 32, 32, 32, 32, 32]


def test_dmc_layers_follow_the_authors_model_py():
    """conv + bias → ReLU → TensorLayer BatchNorm (the paper's table says BN, ReLU; the code wins)."""
    from nws_datasets.cnn import TFBatchNorm

    m = dmc_mod.local_dmc(5000, 3, recipe.DMC_PROFILES["paper"])
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
    ours = dmc_mod.local_dmc(256, 3, recipe.DMC_PROFILES["mini"])
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
    model = dmc_mod.local_dmc(256, 2, recipe.DMC_PROFILES["mini"])
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
    model = dmc_mod.local_dmc(256, 2, recipe.DMC_PROFILES["mini"])
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
    model = dmc_mod.local_dmc(256, 3, recipe.DMC_PROFILES["mini"])
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
    model = dmc_mod.local_dmc(256, 3, recipe.DMC_PROFILES["mini"])
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
    ln = dmc_mod.local_dmc(256, 3, recipe.DMC_PROFILES["mini"], norm="layer")
    assert not any(isinstance(m, TFBatchNorm) for m in ln.modules())
    conv, norm = ln.net[0], ln.net[2]
    h = torch.relu(conv(x)).detach().numpy()
    mean, var = h.mean((1, 2), keepdims=True), h.var((1, 2), keepdims=True)
    np.testing.assert_allclose(norm(torch.as_tensor(h)).detach().numpy(), (h - mean) / np.sqrt(var + 1e-5), atol=1e-5)
    bn = dmc_mod.local_dmc(256, 3, recipe.DMC_PROFILES["mini"])
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
    paper = recipe.DMC_PROFILES["paper"]
    assert dmc_mod.n_weights(dmc_mod.local_dmc(5000, 5, paper, norm="layer")) == 10_407_685 - 2 * 6_200
    with pytest.raises(ValueError, match="bn_stats 'test-batch' needs a DMC with BatchNorm"):
        dmc_mod.predict_proba(ln, x.numpy(), "cpu", bn_stats="test-batch")
    w = np.random.default_rng(0).standard_normal((40, 300)).astype(np.float32)
    y = np.arange(40) % 2
    no_bn = make("dmc-local", subset_size=100, steps=2, norm="layer", bn_stats="test-population").fit(w, y)
    with pytest.raises(ValueError, match="bn_stats 'test-population' needs a DMC with BatchNorm"):
        no_bn.window_scores(w)
    with pytest.raises(ValueError, match="norm 'group' is not valid"):
        make("dmc-local", subset_size=100, steps=2, norm="group").fit(w, y)


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
