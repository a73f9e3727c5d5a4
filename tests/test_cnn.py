"""The CNN of Algorithm 1 with the authors' TensorFlow semantics (nws_datasets.cnn)."""
import math

import numpy as np
import pytest
import torch

from nws_datasets.architecture import KINDS, Layout
from nws_datasets.cnn import NWSCNN, TFBatchNorm, flatten_nhwc, model_from_record
from nws_datasets.space import CONFIGS, FIXED_ARCHITECTURE, sample_hparams

HP = {**FIXED_ARCHITECTURE, "activation": "relu", "initialization": "glorot_normal"}


def test_module_parameter_count_equals_layout():
    torch.manual_seed(0)
    for m in range(20):
        hp = sample_hparams(CONFIGS["c_main"], m)
        net = NWSCNN(hp)
        n_params = sum(p.numel() for p in net.parameters())
        n_buffers = sum(b.numel() for b in net.buffers())
        assert n_params + n_buffers == Layout.for_hparams(hp).n_weights
        assert net(torch.rand(2, 3, 32, 32)).shape == (2, 20)


def test_theta_order_is_layer_by_layer_weight_bias_beta_gamma_mean_var():
    net = NWSCNN(HP)
    with torch.no_grad():
        for b in net.modules():
            if isinstance(b, TFBatchNorm):
                b.running_mean.uniform_()
                b.running_var.uniform_()
                b.bias.uniform_()
    theta = net.theta().numpy()
    b = net.blocks["conv1"]
    expected = np.concatenate([b.linear.weight.detach().numpy().ravel(), b.linear.bias.detach().numpy(),
                               b.bn.bias.detach().numpy(), b.bn.weight.detach().numpy(),
                               b.bn.running_mean.numpy(), b.bn.running_var.numpy()])
    assert np.array_equal(theta[: expected.size], expected)
    assert [e.kind for e in net.layout.entries[:6]] == list(KINDS)
    assert np.array_equal(theta[-20:], net.blocks["fc3"].linear.bias.detach().numpy())


def test_theta_round_trips_exactly():
    src, dst = NWSCNN(HP), NWSCNN({**HP, "initialization": "constant"})
    theta = src.theta()
    dst.load_theta(theta)
    assert torch.equal(dst.theta(), theta)
    table = Layout.from_table(src.layout.table())
    assert table.n_weights == 92_868 and table.n_conv_weights == 16_880
    with pytest.raises(ValueError, match="92868"):
        src.load_theta(np.zeros(10, np.float32))


def test_batch_norm_is_tensorlayers():
    """Hand-worked: batch (1, 2, 3, 6): mean 3, biased variance 14/4 = 3.5 (unbiased would be 4.667)."""
    torch.manual_seed(0)
    bn = TFBatchNorm(1)
    with torch.no_grad():
        bn.weight.fill_(2.0)
        bn.bias.fill_(0.5)
    x = torch.tensor([[1.0], [2.0], [3.0], [6.0]])
    y = bn.train()(x)
    assert y[:, 0].tolist() == pytest.approx([2 * (v - 3) / math.sqrt(3.5 + 1e-5) + 0.5 for v in (1, 2, 3, 6)])
    assert bn.running_mean.item() == pytest.approx(0.1 * 3)  # decay 0.9: 0.9·0 + 0.1·3
    assert bn.running_var.item() == pytest.approx(0.9 * 1 + 0.1 * 3.5)  # biased: 1.25, not 1.3667
    y = bn.eval()(torch.tensor([[1.0]]))
    assert y.item() == pytest.approx(2 * (1 - 0.3) / math.sqrt(1.25 + 1e-5) + 0.5)


def test_gamma_starts_near_one_and_beta_at_zero():
    torch.manual_seed(1)
    net = NWSCNN(HP)
    gammas = torch.cat([b.bn.weight.detach() for b in net.blocks.values() if b.bn is not None])
    assert len(gammas) == 8 + 16 + 32 + 128 + 64
    assert not torch.all(gammas == 1)
    assert abs(gammas.mean().item() - 1) < 0.001 and 0.0015 < gammas.std().item() < 0.0025
    assert all(torch.all(b.bn.bias == 0) for b in net.blocks.values() if b.bn is not None)
    assert all(torch.all(b.bn.running_var == 1) and torch.all(b.bn.running_mean == 0)
               for b in net.blocks.values() if b.bn is not None)


def test_flatten_is_nhwc():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)  # N, C, H, W
    f = flatten_nhwc(x)
    for h, w, c in [(0, 0, 1), (1, 2, 0), (3, 4, 2)]:
        assert f[1, (h * 5 + w) * 3 + c] == x[1, c, h, w]


def test_fc_layers_apply_batch_norm_after_the_activation():
    """In train mode BN's output has batch mean β = 0 per unit; with BN before a sigmoid it could not."""
    torch.manual_seed(2)
    net = NWSCNN({**HP, "activation": "sigmoid"}).train()
    block = net.blocks["fc1"]
    block.dropout = False
    out = block(torch.randn(64, 32, 4, 4))
    assert out.mean(0).abs().max() < 1e-4 and out.min() < -0.5  # a sigmoid output would be in (0, 1)
    conv = net.blocks["conv1"](torch.randn(16, 3, 32, 32))
    assert conv.min() >= 0 and conv.max() <= 1  # conv: BN then sigmoid


@pytest.mark.parametrize("init", ["constant", "random_normal", "glorot_uniform", "glorot_normal"])
def test_initializations_apply_to_weights_only(init):
    torch.manual_seed(3)
    net = NWSCNN({**HP, "initialization": init})
    w = net.blocks["fc1"].linear.weight.detach()  # 128 × 2048
    fan = w.shape[0] + w.shape[1]
    if init == "constant":
        assert torch.all(w == 0.1)
    elif init == "random_normal":
        assert abs(w.std().item() - 1.0) < 0.01 and w.abs().max() > 4
    elif init == "glorot_uniform":
        limit = (6 / fan) ** 0.5
        assert w.abs().max() <= limit and w.abs().max() > 0.99 * limit
    else:  # TF1: truncated at 2σ with σ = sqrt(2/fan)/0.8796, so the std comes back to sqrt(2/fan)
        sigma = (2 / fan) ** 0.5 / 0.87962566103423978
        assert w.abs().max() <= 2 * sigma and w.abs().max() > 1.99 * sigma
        assert abs(w.std().item() / (2 / fan) ** 0.5 - 1) < 0.01
    assert torch.all(net.blocks["fc1"].linear.bias == 0) and torch.all(net.blocks["conv1"].linear.bias == 0)


def test_model_from_record_accepts_class_label_indices_and_checks_the_layout():
    torch.manual_seed(4)
    hp = {**HP, "activation": "tanh"}
    net = NWSCNN(hp).eval()
    record = {"filter_size": 1, "conv_depth": 0, "fc_depth": 0, "conv_width": 1, "fc_width": 1,
              "activation": 3, "weights": net.theta().numpy().tolist(), "layout": net.layout.table()}
    rebuilt = model_from_record(record)
    x = torch.rand(4, 3, 32, 32)
    assert torch.equal(rebuilt(x), net(x))
    with pytest.raises(ValueError, match="layout"):
        model_from_record({**record, "filter_size": 0})


def test_eval_logits_do_not_depend_on_the_evaluation_batch_size():
    """The CPU profiles measure accuracy 200 images at a time (remainders of 100), the paper's
    1,000: in eval mode every image's logits must be the same bit for bit (BN uses its stored
    statistics). Measured: batches of 8 or more agree exactly; batches of 1–7 may differ in the
    last bit (other kernels), which no profile uses."""
    from nws_datasets.cnn import accuracy, to_input
    from nws_datasets.space import PROFILES

    torch.manual_seed(0)
    net = NWSCNN(HP)
    for b in net.blocks.values():  # stored BN statistics away from the initial 0 / 1
        if b.bn is not None:
            b.bn.running_mean.uniform_(-0.5, 0.5)
            b.bn.running_var.uniform_(0.5, 2.0)
    net.eval()
    images = torch.randint(0, 256, (1000, 32, 32, 3), dtype=torch.uint8)
    labels = torch.randint(0, 20, (1000,))
    with torch.inference_mode():
        whole = net(to_input(images))
        for size in (PROFILES["cpu"].eval_batch_size, 100, 64):
            parts = torch.cat([net(to_input(images[i:i + size])) for i in range(0, 1000, size)])
            assert torch.equal(parts, whole), size
    assert accuracy(net, images, labels, 200) == accuracy(net, images, labels, 1000) \
        == int((whole.argmax(1) == labels).sum()) / 1000
