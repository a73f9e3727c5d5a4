import numpy as np
import pytest
import torch

from nws_datasets.architecture import KINDS, Layout
from nws_datasets.space import CONFIGS, FIXED_ARCHITECTURE, sample_hparams
from train.model import NWSCNN, make_optimizer

HP = {**FIXED_ARCHITECTURE, "activation": "relu", "initialization": "glorot_normal"}


def test_module_parameter_count_equals_layout():
    torch.manual_seed(0)
    for m in range(20):
        hp = sample_hparams(CONFIGS["c_main"], m)
        net = NWSCNN(hp)
        n_params = sum(p.numel() for p in net.parameters())
        n_buffers = sum(b.numel() for n, b in net.named_buffers() if not n.endswith("num_batches_tracked"))
        assert n_params + n_buffers == Layout.for_hparams(hp).n_weights
        assert net(torch.rand(2, 3, 32, 32)).shape == (2, 20)


def test_theta_order_is_layer_by_layer_weight_bias_beta_gamma_mean_var():
    net = NWSCNN(HP)
    with torch.no_grad():
        for b in net.modules():
            if isinstance(b, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
                b.running_mean.uniform_()
                b.running_var.uniform_()
                b.bias.uniform_()
    theta = net.theta().numpy()
    b = net.blocks["conv1"]
    expected = np.concatenate([b.linear.weight.detach().numpy().ravel(), b.linear.bias.detach().numpy(),
                               b.bn.bias.detach().numpy(), b.bn.weight.detach().numpy(),
                               b.bn.running_mean.numpy(), b.bn.running_var.numpy()])
    assert np.array_equal(theta[: expected.size], expected)
    layout = net.layout
    assert [e.kind for e in layout.entries[:6]] == list(KINDS)
    last = net.blocks["fc3"].linear
    assert np.array_equal(theta[-20:], last.bias.detach().numpy())
    assert layout.entries[-1].key == "fc3.bias"


def test_theta_round_trips_exactly():
    src, dst = NWSCNN(HP), NWSCNN({**HP, "initialization": "constant"})
    theta = src.theta()
    dst.load_theta(theta)
    assert torch.equal(dst.theta(), theta)
    named = src.layout.unflatten(theta.numpy())
    assert np.array_equal(src.layout.flatten(named), theta.numpy())
    stacked = np.stack([theta.numpy()] * 3)
    assert np.array_equal(src.layout.flatten(src.layout.unflatten(stacked)), stacked)
    table = Layout.from_table(src.layout.table())
    assert table.n_weights == 92_868 and table.n_conv_weights == 16_880
    with pytest.raises(ValueError, match="92868"):
        src.layout.unflatten(np.zeros(10))


@pytest.mark.parametrize("init,check", [
    ("constant", lambda w: torch.all(w == 0.1)),
    ("random_normal", lambda w: abs(w.std().item() - 1.0) < 0.05),
    ("glorot_uniform", lambda w: w.abs().max() <= (6 / (w.shape[0] + w.shape[1])) ** 0.5 + 1e-6),
    ("glorot_normal", lambda w: abs(w.std().item() - (2 / (w.shape[0] + w.shape[1])) ** 0.5) < 0.01),
])
def test_initializations_apply_to_weights_only(init, check):
    net = NWSCNN({**HP, "initialization": init})
    w = net.blocks["fc1"].linear.weight.detach()
    assert check(w)
    assert torch.all(net.blocks["fc1"].linear.bias == 0)
    assert torch.all(net.blocks["conv1"].linear.bias == 0)


def test_optimizers_use_tensorflow_defaults():
    p = [torch.nn.Parameter(torch.zeros(1))]
    assert make_optimizer("adam", p, 1e-3).defaults["eps"] == 1e-8
    rms = make_optimizer("rmsprop", p, 1e-3).defaults
    assert (rms["alpha"], rms["eps"], rms["momentum"]) == (0.9, 1e-10, 0.0)
    assert make_optimizer("momentum", p, 1e-3).defaults["momentum"] == 0.95
    with pytest.raises(ValueError, match="adam"):
        make_optimizer("sgd", p, 1e-3)
