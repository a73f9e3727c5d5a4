"""The benchmarks measure what they say: the plain-PyTorch baseline is the same network, the
FLOP count is the architecture's, and the training-step comparison runs and reports ratios."""
import torch


def test_the_plain_pytorch_baseline_is_the_same_network_and_its_flops_are_worked_by_hand():
    from nws_datasets.cnn import NWSCNN
    from nws_datasets.space import FIXED_ARCHITECTURE
    from train.bench import plain_pytorch_net, trainer_batch, training_flops_per_image

    hp = {**FIXED_ARCHITECTURE, "activation": "relu", "initialization": "glorot_uniform"}
    ours, plain = NWSCNN(hp), plain_pytorch_net(hp)
    shapes = sorted(tuple(p.shape) for p in ours.parameters())
    assert shapes == sorted(tuple(p.shape) for p in plain.parameters())  # 92,372 parameters either way
    x, y = trainer_batch("cpu", 8)
    assert x.is_contiguous(memory_format=torch.channels_last) and plain(x).shape == ours(x).shape == (8, 20)
    # multiply-adds of the fixed architecture (filters 5×5; 8, 16, 32 channels; 2×2 pools; FC 512→128→64→20):
    # 32·32·8·3·25 + 16·16·16·8·25 + 8·8·32·16·25 + 512·128 + 128·64 + 64·20 = 2,327,808
    assert training_flops_per_image(hp) == 3 * 2 * 2_327_808


def test_the_training_step_comparison_reports_its_ratios():
    from train.bench import step_vs_plain_pytorch

    r = step_vs_plain_pytorch(0.3, "cpu", repeats=1)
    ours, plain = r["train_images_per_s_ours"], r["train_images_per_s_plain_pytorch"]
    assert abs(r["train_step_vs_plain_pytorch"] - ours / plain) < 2e-3  # both rates rounded to 0.1 image/s
    assert r["train_images_per_s_ours"] > 0 and 0 < r["matmul_roofline_fraction"] < 1
