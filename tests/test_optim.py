"""TensorFlow 1 optimizers, step by step against the update equations written out by hand.

θ₀ = (1, −2), learning rate 0.1, gradients g₁ = (0.5, −1), g₂ = (0.1, 0.2), g₃ = (−0.3, 0.4).
The expected numbers were worked out from the equations of TensorFlow 1's ``AdamOptimizer``,
``RMSPropOptimizer`` and ``MomentumOptimizer`` in float64, independently of ``train.optim``.
Step 1 by hand:
- Adam: m = (0.05, −0.1), v = (0.00025, 0.001), η₁ = 0.1·√(1−0.999)/(1−0.9) = 0.0316228;
  θ₁ = 1 − 0.0316228·0.05/(0.0158114 + 1e-8) = 0.90000006.
- RMSProp: ms = 0.9·1 + 0.1·0.25 = 0.925 (the slot starts at 1); θ₁ = 1 − 0.1·0.5/√0.925 = 0.94801248;
  ms = 0.9 + 0.1·1 = 1 for the second weight: θ₁ = −2 + 0.1 = −1.9.
- Momentum: a = g₁; θ₁ = (0.95, −1.9).
"""
import pytest
import torch

from train.optim import OPTIMIZERS, TFAdam, TFRMSProp, make_optimizer

GRADS = [(0.5, -1.0), (0.1, 0.2), (-0.3, 0.4)]
EXPECTED = {
    "adam": [(0.9000000632455132, -1.9000000316227665), (0.8196960152288328, -1.8488974397582967),
             (0.7986247312619297, -1.8354734836420912)],
    "rmsprop": [(0.9480124755118065, -1.900000000005), (0.9370591196431858, -1.92103515809942),
                (0.9714907396325188, -1.9649514456058792)],
    "momentum": [(0.95, -1.9), (0.8925, -1.825), (0.867875, -1.79375)],
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_three_steps_match_the_hand_computed_updates(name):
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    opt = make_optimizer(name, [p], 0.1)
    for g, want in zip(GRADS, EXPECTED[name]):
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        assert p.detach().tolist() == pytest.approx(list(want), rel=1e-12, abs=1e-12)


def test_pytorch_rmsprop_would_take_a_much_larger_first_step():
    """Why a TF1 class is needed: torch's RMSprop starts the mean square at 0, not 1."""
    p, q = (torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64)) for _ in range(2))
    tf, pt = TFRMSProp([p], 0.1), torch.optim.RMSprop([q], lr=0.1, alpha=0.9, eps=1e-10)
    for x in (p, q):
        x.grad = torch.tensor([0.01], dtype=torch.float64)
    tf.step()
    pt.step()
    assert abs(1 - q.item()) / abs(1 - p.item()) > 100  # 0.316 vs 0.001


def test_adam_epsilon_is_added_to_the_uncorrected_root():
    """With g tiny, TF1's ε̂ on the uncorrected √v dominates; torch's Adam would step by ≈ η."""
    p = torch.nn.Parameter(torch.tensor([0.0], dtype=torch.float64))
    opt = TFAdam([p], 0.1)
    p.grad = torch.tensor([1e-9], dtype=torch.float64)
    opt.step()
    # m = 1e-10, √v = √(1e-21) = 3.1623e-11; step = 0.0316228·1e-10/(3.1623e-11 + 1e-8)
    assert p.item() == pytest.approx(-0.0316228 * 1e-10 / (3.16228e-11 + 1e-8), rel=1e-4)


def test_learning_rate_decay_reaches_the_step_size():
    p = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = make_optimizer("rmsprop", [p], 0.1)
    torch.optim.lr_scheduler.ExponentialLR(opt, 0.96).step()
    p.grad = torch.tensor([0.5], dtype=torch.float64)
    opt.step()
    assert p.item() == pytest.approx(1 - 0.096 * 0.5 / 0.925 ** 0.5, rel=1e-9)


def test_recorded_semantics_and_unknown_name():
    assert OPTIMIZERS["rmsprop"]["mean_square_init"] == 1.0 and OPTIMIZERS["adam"]["epsilon_hat"] == 1e-8
    with pytest.raises(ValueError, match="adam"):
        make_optimizer("sgd", [torch.nn.Parameter(torch.zeros(1))], 1e-3)


def _reference_step(name, params, state, lr):
    """The rules written out one parameter at a time (a second implementation of the module's
    docstring), against which the vectorized optimizers must agree bit for bit."""
    c = OPTIMIZERS[name]
    for i, p in enumerate(params):
        g, st = p.grad, state.setdefault(i, {"t": 0})
        st["t"] += 1
        if name == "adam":
            st.setdefault("m", torch.zeros_like(p)).mul_(c["beta1"]).add_(g, alpha=1 - c["beta1"])
            st.setdefault("v", torch.zeros_like(p)).mul_(c["beta2"]).addcmul_(g, g, value=1 - c["beta2"])
            lr_t = lr * (1 - c["beta2"] ** st["t"]) ** 0.5 / (1 - c["beta1"] ** st["t"])
            p.data.addcdiv_(st["m"], st["v"].sqrt().add_(c["epsilon_hat"]), value=-lr_t)
        elif name == "rmsprop":
            ms = st.setdefault("ms", torch.ones_like(p)).mul_(c["decay"]).addcmul_(g, g, value=1 - c["decay"])
            p.data.addcdiv_(g, ms.add(c["epsilon"]).sqrt_(), value=-lr)
        else:
            buf = st.setdefault("a", torch.zeros_like(p)).mul_(c["momentum"]).add_(g)
            p.data.add_(buf, alpha=-lr)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_vectorized_optimizers_equal_the_rules_one_parameter_at_a_time_bit_for_bit(name):
    """float32, the shapes of a CNN's tensors, 20 steps: the records' weights do not change."""
    gen = torch.Generator().manual_seed(0)
    shapes = [(8, 3, 5, 5), (8,), (20, 128), (20,)]
    ours = [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in shapes]
    ref = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    opt, state = make_optimizer(name, ours, 3e-3), {}
    for _ in range(20):
        for p, q in zip(ours, ref):
            p.grad = torch.randn(p.shape, generator=gen)
            q.grad = p.grad.clone()
        opt.step()
        _reference_step(name, ref, state, 3e-3)
    assert all(torch.equal(p, q) for p, q in zip(ours, ref))
